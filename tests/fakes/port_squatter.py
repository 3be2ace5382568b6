"""A program that takes a port and pretends to be an engine: `/health` and `/ready` answer 200, and a chat
completion answers with one choice after writing the Authorization header it got to `--record`.

Run as `python -m tests.fakes.port_squatter --port N --record FILE`; prints `listening` once bound. It is
what the local launcher must never hand an API key to (issue 10, item 6).
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", type=Path, required=True)
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send({"status": "ok"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            with open(args.record, "a") as f:
                f.write(f"{self.path} {self.headers.get('Authorization')}\n")
            self._send({"choices": [{"index": 0, "message": {"role": "assistant", "content": "OK"}}]})

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("0.0.0.0", args.port), Handler)
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
