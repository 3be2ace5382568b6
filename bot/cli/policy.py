"""`endpoint-bot policy check [FILE]` and `endpoint-bot policy show [--user U]`: the team policy at
the terminal. `check` validates a file before it is deployed (the line and the reason, exit 1);
`show` prints what `/endpoint policy` answers, for you (an admin at the terminal) or for `--user`."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    policy = subparsers.add_parser("policy", help="check the team policy file, or show its effect")
    actions = policy.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="validate a policy file (default: ENDPOINT_BOT_POLICY_FILE)")
    check.add_argument("file", nargs="?", help="the YAML file")
    check.set_defaults(func=run_check)
    show = actions.add_parser("show", help="the rules and current use, as /endpoint policy says them")
    show.add_argument("--user", help="whose view (default: yours, an admin's: every scope and live endpoint)")
    show.set_defaults(func=run_show)


def run_check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.policy.loader import PolicyError, load_policy

    if args.file:
        path = Path(args.file)
    else:
        import os

        named = os.environ.get("ENDPOINT_BOT_POLICY_FILE")
        if not named:
            print("No file given and ENDPOINT_BOT_POLICY_FILE is not set.", file=sys.stderr)
            return 2
        path = Path(named)
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(
        f"{path}: OK ({len(policy.groups)} group(s), {len(policy.users)} user entr{'y' if len(policy.users) == 1 else 'ies'}, "
        f"keys go {'by DM' if policy.key_delivery == 'dm' else 'in the thread'})"
    )
    return 0


def run_show(args: argparse.Namespace) -> int:
    from bot.cli.endpoints import start_runtime
    from bot.text import plain
    from core.policy.explain import report

    try:
        runtime, me = start_runtime()
    except Exception as exc:  # pydantic names the variable (a bad policy file: its line)
        print(f"The bot could not start: {exc}", file=sys.stderr)
        return 1
    try:
        service = runtime.service
        shown = report(service.policy, service.database, user=args.user or me, now=service.clock.now())
        for text in shown.lines:
            for line in text.splitlines():
                print(plain(line))
    finally:
        runtime.close()
    return 0
