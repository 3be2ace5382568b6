"""`bot.outcomes`: the service calls behind each command and button, on a real service and store
(the fake cloud underneath), and the outcome each one reports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot import outcomes as oc
from bot.commands import parse_command
from core.endpoints import store
from core.endpoints.states import EndpointState as S
from core.errors import PermissionDenied
from tests.core.endpoints.lifecycle_fixtures import Lifecycle, sqlite_lifecycle

pytestmark = pytest.mark.timeout(120)

MODEL = "Qwen/Qwen2.5-7B-Instruct"


@pytest.fixture
def lc(tmp_path: Path) -> Iterator[Lifecycle]:
    with sqlite_lifecycle(tmp_path / "bot.db") as lifecycle:
        yield lifecycle


def _run(lc: Lifecycle, text: str, user_id: str = "U_OWNER") -> oc.Outcome:
    return oc.run_command(parse_command(text), service=lc.service, user_id=user_id, channel_id="C1")


def _press(lc: Lifecycle, kind: str, user_id: str = "U_OWNER") -> oc.Outcome:
    return oc.press(kind, service=lc.service, name="qwen", user_id=user_id)  # type: ignore[arg-type]


def test_commands_make_their_service_calls(lc: Lifecycle) -> None:
    assert _run(lc, "help down") == oc.Helped("down")
    launched = _run(lc, f"up {MODEL} L4:1 ctx=8k name=qwen")
    assert isinstance(launched, oc.Launched) and launched.view.name == "qwen"
    lc.join()
    assert lc.state("qwen") == S.READY

    fitted = _run(lc, f"fit {MODEL} L4:1 ctx=8k")
    assert isinstance(fitted, oc.Fitted) and fitted.model == MODEL and fitted.plans[0].fits
    listed = _run(lc, "list all")
    assert isinstance(listed, oc.Listed) and listed.include_terminal
    assert [v.name for v in listed.views] == ["qwen"]
    assert _run(lc, "status qwen") == oc.Shown(lc.service.status(name="qwen"))

    before = lc.service.status(name="qwen").expires_at
    extended = _run(lc, "extend qwen 2h")
    assert isinstance(extended, oc.Extended) and extended.view.expires_at - before == timedelta(hours=2)

    assert isinstance(_run(lc, "down qwen"), oc.Stopping)
    lc.join()
    downs = len(lc.cloud.calls_to("down"))
    again = _run(lc, "down qwen")
    assert isinstance(again, oc.AlreadyOver) and again.view.state == S.STOPPED
    assert len(lc.cloud.calls_to("down")) == downs, "a second down changes nothing"


def test_buttons_act_on_the_current_state(lc: Lifecycle) -> None:
    _run(lc, f"up {MODEL} L4:1 ctx=8k name=qwen")
    lc.join()
    with pytest.raises(PermissionDenied):
        _press(lc, "stop", user_id="U_STRANGER")
    lc.clock.advance(timedelta(minutes=5))
    kept = _press(lc, "keep_alive")
    assert isinstance(kept, oc.KeptAlive) and kept.view.last_activity_at == lc.clock.now()
    before = lc.service.status(name="qwen").expires_at
    extended = _press(lc, "extend_4h")
    assert (
        isinstance(extended, oc.Extended) and extended.view.expires_at - before == oc.EXTENSIONS["extend_4h"]
    )

    # A Stop pressed while the teardown is already under way answers instead of acting twice.
    with lc.database.session() as session:
        endpoint = store.get_by_name(session=session, name="qwen")
        store.transition(
            session=session,
            endpoint=endpoint,
            to=S.STOPPING,
            actor="test",
            message="held",
            now=lc.clock.now(),
        )
    assert isinstance(_press(lc, "stop"), oc.AlreadyStopping)
    assert lc.cloud.calls_to("down") == []
