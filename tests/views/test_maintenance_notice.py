"""Students in session hear of maintenance: the poll reply's ``notice``, the Socket.IO
``weblab:notice`` event, and the poll script's banner in Chromium (CSP-safe)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.devices import start_on
from tests.support.lab import Lab
from weblab_ext.socketio.push import NOTICE

BOARDS = ["board-1", "board-2"]


def _poll(lab: Lab, student: Any, session_id: str) -> dict[str, Any]:
    return dict(student.get(f"/callback/{session_id}/poll").json)


def test_the_poll_reply_carries_the_notice_of_the_session_device(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab(WEBLAB_DEVICES=BOARDS)
    one = start_on(lab, "board-1").json["session_id"]
    two = start_on(lab, "board-2").json["session_id"]
    first, second = lab.browser(one), lab.browser(two)
    assert _poll(lab, first, one) == {"success": True}
    lifecycle = lab.state.devices.lifecycle
    lifecycle.set_maintenance("board-1", "Back at <3>")
    assert _poll(lab, first, one) == {"success": True, "notice": "Back at <3>"}
    assert _poll(lab, second, two) == {"success": True}
    lifecycle.set_maintenance(None, "Whole lab")
    assert _poll(lab, second, two)["notice"] == "Whole lab"
    lifecycle.set_maintenance(None, None)
    lifecycle.set_maintenance("board-1", None)
    assert _poll(lab, first, one) == {"success": True}


def test_a_lab_without_devices_gets_the_notice_too(lab: Lab) -> None:
    session_id = lab.start_raw()
    student = lab.browser(session_id)
    lab.state.devices.lifecycle.set_maintenance(None, "")
    assert _poll(lab, student, session_id) == {
        "success": True,
        "notice": "The lab is under maintenance",
    }
    assert lab.status(session_id) > 0


def test_sockets_get_the_notice_event(make_lab: Callable[..., Lab]) -> None:
    flask_socketio = pytest.importorskip("flask_socketio")
    from weblab_ext.socketio import init_socketio

    lab = make_lab(WEBLAB_DEVICES=BOARDS)
    socketio = flask_socketio.SocketIO(lab.app, async_mode="threading")
    push = init_socketio(socketio, lab.weblab, lab.app, poll_timeout=0.05)
    try:
        session_id = start_on(lab, "board-1").json["session_id"]
        client = socketio.test_client(lab.app, flask_test_client=lab.browser(session_id))
        assert push.ready.wait(5)
        lab.state.devices.lifecycle.set_maintenance("board-1", "Camera swap")
        deadline = time.monotonic() + 5
        while not any(item["name"] == NOTICE for item in client.queue):
            assert time.monotonic() < deadline, client.queue
            time.sleep(0.01)
        [event] = [item["args"][0] for item in client.queue if item["name"] == NOTICE]
        assert event == {"device": "board-1", "message": "Camera swap"}
    finally:
        push.stop()


# -- in Chromium --------------------------------------------------------------------------------
