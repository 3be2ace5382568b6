"""Words users see (issue 10, item 13, and the launch-failure sentences of item 11), checked where they are
produced: a real service on a real store, the fake cloud with real fake engines, the local launcher."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.slack.blocks import status_card, to_dicts
from bot.text import STATE_WORDS
from core.clock import ManualClock
from core.db import Database
from core.endpoints import messaging
from core.endpoints.states import EndpointState as S
from core.errors import PermissionDenied
from core.launcher.local import LocalLauncher
from core.tls import client_context
from core.watchdog.runner import Watchdog
from tests.core.endpoints.lifecycle_fixtures import Lifecycle, make_settings, sqlite_lifecycle, up_request

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def lc(tmp_path: Path) -> Iterator[Lifecycle]:
    with sqlite_lifecycle(tmp_path / "bot.db") as lifecycle:
        yield lifecycle


def _ready(lc: Lifecycle, name: str, owner: str = "U_OWNER") -> str:
    lc.service.up(request=up_request(max_model_len=8192, name=name, owner_id=owner))
    lc.join()
    assert lc.state(name) is S.READY
    [(_view, key)] = [payload for payload in lc.notifier.of("ready") if payload[0].name == name]
    return key


def test_a_stop_names_the_person_as_a_slack_mention(lc: Lifecycle) -> None:
    _ready(lc, "mine", owner="U0ALICE")
    lc.service.down(name="mine", actor="U0ALICE")
    lc.join()
    view = lc.service.status(name="mine")
    assert view.stop_reason == "stopped by <@U0ALICE>"
    card = str(to_dicts(status_card(view, now=lc.clock.now())))
    assert "<@U0ALICE>" in card and "&lt;@U0ALICE&gt;" not in card, "Slack shows the name, not the id"
    assert any("Stopping (stopped by <@U0ALICE>)" in text for text in lc.notifier.thread_texts("mine"))


def test_refusals_read_as_english(lc: Lifecycle) -> None:
    _ready(lc, "theirs")
    with pytest.raises(PermissionDenied) as err:
        lc.service.keep_alive(name="theirs", actor="U_STRANGER")
    assert str(err.value).endswith("may keep it alive.")
    with pytest.raises(PermissionDenied, match=r"may stop it\.$"):
        lc.service.down(name="theirs", actor="U_STRANGER")


def test_state_words_fit_after_is() -> None:
    for state, words in STATE_WORDS.items():
        sentence = f"`x` is {words}."
        assert "is engine" not in sentence, (state, sentence)


def test_the_launch_failed_is_said_once() -> None:
    view = None  # launch_failed does not read the view
    generic = "The launch failed (SomeError): boom. Check the bot's logs, then try `up` again."
    assert messaging.launch_failed(view, reason=generic).count("The launch failed") == 1  # type: ignore[arg-type]
    said = messaging.launch_failed(view, reason=messaging.restarted_during_launch())  # type: ignore[arg-type]
    assert "was torn down" not in said and said.count("The launch failed") == 1


def test_a_missing_engine_program_says_so_without_retrying_may_help(tmp_path: Path) -> None:
    settings = make_settings(
        local_engine_command="/nonexistent/engine-program", local_state_dir=tmp_path / "state"
    )
    database = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    database.upgrade()
    lc = Lifecycle(database=database, cloud=LocalLauncher(settings), clock=ManualClock(), settings=settings)
    try:
        view = lc.service.up(request=up_request(max_model_len=8192, name="nobin"))
        lc.join()
        assert lc.state(view.name) is S.FAILED
        [failed] = [t for t in lc.notifier.thread_texts("nobin") if "launch failed" in t.lower()]
        assert failed.count("The launch failed") == 1
        assert "could not be started (exit code 127)" in failed and "/nonexistent/engine-program" in failed
        assert "ENDPOINT_BOT_LOCAL_ENGINE_COMMAND" in failed
        assert "retrying may help" not in failed and "no longer exists" not in failed
    finally:
        lc.close()
        database.dispose()


def test_usage_does_not_count_the_bots_own_readiness_completion(lc: Lifecycle) -> None:
    key = _ready(lc, "used")
    view = lc.service.status(name="used")
    url = view.url
    for _ in range(2):  # what a user sends once the URL is posted
        reply = httpx.post(
            f"{url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "Qwen/Qwen2.5-7B-Instruct", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
            verify=client_context(view.tls.ca_cert_pem),  # HTTPS: trust the endpoint's own CA
        )
        assert reply.status_code == 200
    Watchdog(lc.settings, lc.database, lc.service, lc.notifier, lc.clock).tick()
    usage = lc.service.status(name="used").usage
    assert usage is not None and usage.requests == 2, "the readiness completion is not a user's request"


def test_idle_time_under_a_minute_is_not_rounded_up_to_a_minute() -> None:
    from datetime import timedelta

    from core.watchdog.messaging import _minutes

    assert _minutes(timedelta(seconds=24)) == "24s"
    assert _minutes(timedelta(seconds=61)) == "1 min"
