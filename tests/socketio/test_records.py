"""Session records of Socket.IO: connects, disconnects and the lab's events from handlers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.lab import Lab
from weblab_ext import socket_requires_active

flask_socketio = pytest.importorskip("flask_socketio")


def test_connects_disconnects_and_handler_events_are_recorded(lab: Lab) -> None:
    from weblab_ext.socketio import init_socketio

    socketio = flask_socketio.SocketIO(lab.app, async_mode="threading")

    @socketio.on("switch")
    @socket_requires_active
    def switch(payload: Any) -> None:
        lab.weblab.record("switch", on=bool(payload))

    push = init_socketio(socketio, lab.weblab, lab.app, poll_timeout=0.05)
    try:
        sid = lab.start_raw()
        client = socketio.test_client(lab.app, flask_test_client=lab.browser(sid))
        assert client.is_connected()
        client.emit("switch", 1)
        client.disconnect()
        events = lab.state.journal.timeline(sid)[0]
        names = [event["e"] for event in events]
        assert names[-3:] == ["socket_connect", "lab", "socket_disconnect"], names
        assert events[-2]["fields"] == {"on": True}
        # A socket without a session records nothing, and is not refused.
        anonymous = socketio.test_client(lab.app)
        assert anonymous.is_connected()
        anonymous.disconnect()
    finally:
        push.stop()


def test_a_guarded_disconnect_handler_of_the_lab_is_recorded(lab: Lab) -> None:
    from weblab_ext import socket_requires_login

    socketio = flask_socketio.SocketIO(lab.app, async_mode="threading")
    seen: list[str] = []

    @socketio.on("connect")
    @socket_requires_login
    def connect() -> None:
        seen.append("connect")

    @socketio.on("disconnect")
    @socket_requires_login
    def disconnect(*reason: Any) -> None:
        seen.append("disconnect")

    sid = lab.start_raw()
    client = socketio.test_client(lab.app, flask_test_client=lab.browser(sid))
    assert client.is_connected()
    client.disconnect()
    assert seen == ["connect", "disconnect"]
    names = [event["e"] for event in lab.state.journal.timeline(sid)[0]]
    assert names[-2:] == ["socket_connect", "socket_disconnect"], names
