"""Students in session hear of maintenance: the poll reply's ``notice``, the Socket.IO
``weblab:notice`` event, and the poll script's banner in Chromium (CSP-safe)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from weblab_ext.socketio.push import NOTICE

from .conftest import Lab
from .e2e.conftest import Shots, browser, page, shots  # noqa: F401 - the browser fixtures
from .examples_support import EXAMPLES, LiveServer, example_env, load_module, wait_until
from .test_handover_states import start_on

BOARDS = ["board-1", "board-2"]


def _poll(lab: Lab, student: Any, session_id: str) -> dict[str, Any]:
    return dict(student.get(f"/callback/{session_id}/poll").json)


def test_the_poll_reply_carries_the_notice_of_the_session_device(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab(WEBLAB_DEVICES=BOARDS)
    one = start_on(lab, "board-1").json["session_id"]
    two = start_on(lab, "board-2").json["session_id"]
    first, second = lab.student(one), lab.student(two)
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
    session_id = lab.start()
    student = lab.student(session_id)
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
        client = socketio.test_client(lab.app, flask_test_client=lab.student(session_id))
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


@pytest.fixture
def quickstart(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, LiveServer]]:
    example_env(monkeypatch, WEBLAB_TIMEOUT=2, WEBLAB_CLEANER_INTERVAL=0.2)
    module = load_module(EXAMPLES / "quickstart" / "app.py")
    with LiveServer(module.app) as server:
        yield module, server
    module.weblab.stop_threads()


@pytest.mark.browser
@pytest.mark.slow
def test_the_maintenance_banner_in_chromium(
    quickstart: tuple[ModuleType, LiveServer],
    page: Any,  # noqa: F811
    shots: Shots,  # noqa: F811
) -> None:
    module, server = quickstart
    launch = server.start_session()
    page.goto(launch)
    page.wait_for_selector("#press")
    runner = module.app.test_cli_runner()
    result = runner.invoke(args=["weblab", "maintenance", "on", "--message", "Back at <14:00>"])
    assert result.exit_code == 0, result.output
    banner = page.wait_for_selector("#weblab-notice", timeout=10_000)
    assert banner.inner_text() == "Back at <14:00>"  # text, never markup
    assert banner.get_attribute("role") == "status"
    shots("maintenance-banner")
    # The student keeps the slot: the lab still answers.
    page.click("#press")
    page.wait_for_selector("#presses:text('1')")
    assert runner.invoke(args=["weblab", "maintenance", "off"]).exit_code == 0
    page.wait_for_selector("#weblab-notice", state="detached", timeout=10_000)
    shots("banner-gone")
    session_id = launch.rstrip("/").rsplit("/", 1)[-1]
    wait_until(lambda: module.app.extensions["weblab"].sessions.load(session_id) is not None)
    assert module.app.extensions["weblab"].sessions.load(session_id).state == "active"
    assert page.js_errors == []
