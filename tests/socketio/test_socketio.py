"""Socket.IO guards and server push, through Flask-SocketIO's test client."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.lab import Lab
from tests.support.socketio import PushLab, SocketLab, wait_for
from weblab_ext import socket_requires_active, socket_requires_login
from weblab_ext.socketio.push import SESSION_ENDED, TASK_DONE, TASK_PROGRESS

flask_socketio = pytest.importorskip("flask_socketio")


def events(client: Any, name: str) -> list[Any]:
    return [item["args"][0] for item in client.get_received() if item["name"] == name]


def test_active_user_runs_handler_and_data_is_stored(lab: Lab) -> None:
    app = SocketLab(lab)
    sid = lab.start_raw()
    client = app.client(sid)
    client.emit("active-only", {"x": 1})
    client.emit("active-only", {"x": 2})
    assert app.calls == [("active-only", {"x": 1}), ("active-only", {"x": 2})]
    assert [e["counter"] for e in events(client, "ok")] == [1, 2]
    # Stored straight away: no HTTP response was there to do it.
    assert json.loads(lab.record(sid).data_json) == {"counter": 2}


def test_guarded_event_counts_as_activity(lab: Lab) -> None:
    app = SocketLab(lab)
    sid = lab.start_raw()
    client = app.client(sid)
    before = lab.record(sid).last_poll
    lab.state.clock = lambda: before + 10  # within WEBLAB_TIMEOUT (15 s)
    client.emit("active-only", {})
    assert lab.record(sid).last_poll == before + 10


def test_poll_inside_unguarded_handler_is_immediate(lab: Lab) -> None:
    app = SocketLab(lab)
    sid = lab.start_raw()
    client = app.client(sid)
    before = lab.record(sid).last_poll
    lab.state.clock = lambda: before + 10
    client.emit("unguarded-poll")
    assert app.calls == [("unguarded-poll", None)]
    assert lab.record(sid).last_poll == before + 10


def test_anonymous_socket_is_disconnected_and_handler_not_run(lab: Lab) -> None:
    app = SocketLab(lab)
    for event in ("login-only", "active-only"):
        client = app.client()
        assert client.is_connected()
        client.emit(event, {"x": 1})
        assert not client.is_connected()
    assert app.calls == []


def test_logged_out_user_login_only_runs_active_only_refused(lab: Lab) -> None:
    app = SocketLab(lab)
    sid = lab.start_raw()
    client = app.client(sid)
    lab.state.service.logout(sid)
    client.emit("login-only", "a")
    assert app.calls == [("login-only", "a")]
    assert events(client, "ok") == [{"user": "john.smith"}]
    client.emit("active-only", "b")
    assert app.calls == [("login-only", "a")]
    assert not client.is_connected()


def test_expired_user_refused_by_active_guard(lab: Lab) -> None:
    app = SocketLab(lab)
    sid = lab.start_raw()
    client = app.client(sid)
    lab.dispose(sid)
    client.emit("active-only", "x")
    assert app.calls == []
    assert not client.is_connected()


@pytest.mark.parametrize("guard", [socket_requires_login, socket_requires_active])
def test_guarded_connect_refuses_anonymous(lab: Lab, guard: Callable[..., Any]) -> None:
    app = SocketLab(lab, guard_connect=guard)
    client = app.client()
    assert not client.is_connected()
    assert app.calls == []


def test_guarded_connect_accepts_active_user(lab: Lab) -> None:
    app = SocketLab(lab, guard_connect=socket_requires_active)
    sid = lab.start_raw()
    client = app.client(sid)
    assert client.is_connected()
    assert app.calls == [("connect", sid)]


def test_without_flask_socketio_decorators_warn_and_return_function(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "flask_socketio", None)

    def handler() -> str:
        return "ran"

    with caplog.at_level(logging.WARNING, logger="weblab_ext"):
        assert socket_requires_active(handler) is handler
        assert socket_requires_login(handler) is handler
    assert "Flask-SocketIO is not installed" in caplog.text


# -- server push --------------------------------------------------------------------------


@pytest.fixture
def push_lab(lab: Lab) -> Any:
    app = PushLab(lab)
    yield app
    app.push.stop()


def test_logout_pushes_session_ended_and_disconnects(push_lab: PushLab) -> None:
    lab = push_lab.lab
    sid = lab.start_raw()
    client = push_lab.connected(sid)
    student = lab.browser(sid)
    assert student.get(f"/callback/{sid}/logout").json == {"success": True}
    assert wait_for(client, SESSION_ENDED) == [
        {"reason": "logout", "back": "http://rlms.example/back"}
    ]
    deadline = time.monotonic() + 5
    while client.is_connected() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not client.is_connected()


def test_dispose_pushes_session_ended_to_that_session_only(push_lab: PushLab) -> None:
    lab = push_lab.lab
    sid, other = lab.start_raw(), lab.start_raw()
    client, other_client = push_lab.connected(sid), push_lab.connected(other)
    lab.dispose(sid)
    assert wait_for(client, SESSION_ENDED) == [
        {"reason": "disposed", "back": "http://rlms.example/back"}
    ]
    assert lab.disposed == [sid]
    assert other_client.is_connected()
    assert other_client.queue == []


def test_expiry_by_cleaner_pushes_session_ended(push_lab: PushLab) -> None:
    lab = push_lab.lab
    sid = lab.start_raw()
    client = push_lab.connected(sid)
    now = time.time()
    lab.state.clock = lambda: now + 1000
    assert lab.weblab.clean_expired_users() == 1
    assert wait_for(client, SESSION_ENDED)[0]["reason"] == "disposed"


def test_task_events_are_forwarded(push_lab: PushLab) -> None:
    lab = push_lab.lab
    sid = lab.start_raw()
    client = push_lab.connected(sid)
    channel = lab.state.keys.task_progress()
    progress = {
        "task_id": "t1",
        "session_id": sid,
        "name": "measure",
        "status": "running",
        "data": {"progress": 40},
    }
    done = {
        "task_id": "t1",
        "session_id": sid,
        "name": "measure",
        "status": "done",
        "result": 42,
        "error": None,
    }
    lab.state.client.publish(channel, json.dumps(progress))
    lab.state.client.publish(channel, json.dumps({**done, "session_id": "someone-else"}))
    lab.state.client.publish(channel, "not json")
    lab.state.client.publish(channel, json.dumps(done))
    assert wait_for(client, TASK_DONE) == [{k: v for k, v in done.items() if k != "session_id"}]
    names = [item["name"] for item in client.queue]
    assert names == [TASK_PROGRESS, TASK_DONE]
    assert client.queue[0]["args"][0] == {k: v for k, v in progress.items() if k != "session_id"}


def test_listener_stops(push_lab: PushLab) -> None:
    sid = push_lab.lab.start_raw()
    push_lab.connected(sid)
    worker = push_lab.push._worker
    assert isinstance(worker, threading.Thread) and worker.is_alive()
    push_lab.push.stop(timeout=5)
    assert not worker.is_alive()


def test_without_autopoll_guarded_event_does_not_poll(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_AUTOPOLL=False)
    app = SocketLab(lab)
    sid = lab.start_raw()
    client = app.client(sid)
    before = lab.record(sid).last_poll
    lab.state.clock = lambda: before + 10
    client.emit("active-only", {})
    assert app.calls == [("active-only", {})]
    assert lab.record(sid).last_poll == before


def test_guarded_connect_with_logged_out_user(lab: Lab) -> None:
    sid = lab.start_raw()
    lab.state.service.logout(sid)
    assert not SocketLab(lab, guard_connect=socket_requires_active).client(sid).is_connected()
    login_app = SocketLab(make_twin(lab), guard_connect=socket_requires_login)
    assert login_app.client(sid).is_connected()


def make_twin(lab: Lab) -> Lab:
    """Another app on the same store (a fresh Flask app can get new Socket.IO handlers)."""
    from flask import Flask

    from weblab_ext import WebLab

    app = Flask("twin")
    app.config.update(lab.app.config)
    # A second browser (this app's test client) enters a session the first app launched.
    app.config["WEBLAB_LAUNCH_ONCE"] = False
    weblab = WebLab(app)

    @weblab.initial_url
    def initial_url() -> str:
        return "/lab"

    return Lab(app, weblab)


def test_handler_metadata_is_kept() -> None:
    def my_handler() -> None:
        """Docs."""

    wrapped = socket_requires_active(my_handler)
    assert wrapped.__name__ == "my_handler" and wrapped.__doc__ == "Docs."


def test_push_keeps_the_labs_own_connect_handler(lab: Lab) -> None:
    from weblab_ext.socketio import init_socketio

    app = SocketLab(lab, guard_connect=socket_requires_active)
    push = init_socketio(app.socketio, lab.weblab, lab.app, poll_timeout=0.05)
    try:
        sid = lab.start_raw()
        client = app.client(sid)
        assert app.calls == [("connect", sid)]  # ours, not the default one
        assert push.ready.wait(5)
        lab.state.service.logout(sid)
        assert wait_for(client, SESSION_ENDED)[0]["reason"] == "logout"
    finally:
        push.stop()


def test_the_socketio_client_is_served_by_the_package(lab: Lab) -> None:
    """Pages load the Socket.IO client from the lab itself (offline too), in the version that
    speaks the protocol of the server: JavaScript client 4.x for python-socketio 5.x."""
    from importlib.metadata import version

    with lab.app.test_client().get("/weblab_ext/static/socket.io.min.js") as reply:
        assert reply.status_code == 200
        assert reply.mimetype == "text/javascript"
        header = reply.get_data(as_text=True)[:120]
    assert "Socket.IO v4." in header and "MIT License" in header  # its licence kept
    assert version("python-socketio").startswith("5.")
