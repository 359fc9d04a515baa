"""A session's record tells the device states it went through (pools with device states)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.devices import dispose_on, start_on
from tests.support.lab import Lab, json_of


def device_states(lab: Lab, session_id: str) -> list[tuple[str, str]]:
    events, _dropped = lab.state.journal.timeline(session_id)
    return [(e["device"], e["state"]) for e in events if e["e"] == "device_state"]


def test_a_clean_session_records_in_use_cleaning_idle(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_DEVICES=["board-1", "board-2"], WEBLAB_DISPOSE_WAIT=1)
    session_id = json_of(start_on(lab, "board-2"))["session_id"]
    assert dispose_on(lab, "board-2", session_id)["finished"] is True
    assert device_states(lab, session_id) == [
        ("board-2", "in-use"),
        ("board-2", "cleaning"),
        ("board-2", "idle"),
    ]


def test_a_failed_clean_up_records_the_device_broken(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_DEVICES=["board-1"], WEBLAB_DISPOSE_WAIT=1)

    def on_dispose() -> Any:
        raise RuntimeError("the board did not answer")

    lab.weblab.callbacks.on_dispose = on_dispose
    session_id = json_of(start_on(lab, "board-1"))["session_id"]
    dispose_on(lab, "board-1", session_id)
    assert lab.state.service.disposer.wait_idle(5)
    assert device_states(lab, session_id)[-1] == ("board-1", "broken")


def test_a_lab_that_records_nothing_records_no_device_state(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab(WEBLAB_DEVICES=["board-1"], WEBLAB_RECORD=False, WEBLAB_DISPOSE_WAIT=1)
    session_id = json_of(start_on(lab, "board-1"))["session_id"]
    dispose_on(lab, "board-1", session_id)
    assert lab.state.journal.timeline(session_id)[0] == []
