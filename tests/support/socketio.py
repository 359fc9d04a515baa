"""Lab apps with Socket.IO handlers that record what ran, with and without server push."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.lab import Lab
from weblab_ext import poll, socket_requires_active, socket_requires_login, weblab_user

flask_socketio = pytest.importorskip("flask_socketio")


class SocketLab:
    """A lab app with Socket.IO handlers that record what ran."""

    def __init__(self, lab: Lab, *, guard_connect: Callable[..., Any] | None = None) -> None:
        self.lab = lab
        self.calls: list[tuple[str, Any]] = []
        self.socketio = flask_socketio.SocketIO(lab.app, async_mode="threading")
        socketio = self.socketio
        calls = self.calls

        if guard_connect is not None:

            @socketio.on("connect")
            @guard_connect
            def connect() -> None:
                calls.append(("connect", weblab_user.session_id))

        @socketio.on("login-only")
        @socket_requires_login
        def login_only(payload: Any) -> None:
            calls.append(("login-only", payload))
            flask_socketio.emit("ok", {"user": weblab_user.username})

        @socketio.on("active-only")
        @socket_requires_active
        def active_only(payload: Any) -> None:
            calls.append(("active-only", payload))
            weblab_user.data["counter"] = weblab_user.data.get("counter", 0) + 1
            flask_socketio.emit("ok", {"counter": weblab_user.data["counter"]})

        @socketio.on("unguarded-poll")
        def unguarded_poll() -> None:
            calls.append(("unguarded-poll", None))
            poll()

    def client(self, session_id: str | None = None) -> Any:
        http = self.lab.browser(session_id) if session_id else self.lab.app.test_client()
        return self.socketio.test_client(self.lab.app, flask_test_client=http)


class PushLab(SocketLab):
    def __init__(self, lab: Lab) -> None:
        super().__init__(lab)
        from weblab_ext.socketio import init_socketio

        self.push = init_socketio(self.socketio, lab.weblab, lab.app, poll_timeout=0.05)

    def connected(self, session_id: str) -> Any:
        client = self.client(session_id)
        assert client.is_connected()
        assert self.push.ready.wait(5), "the push listener never subscribed"
        return client


def wait_for(client: Any, name: str, timeout: float = 5.0) -> list[Any]:
    """Wait for an event called ``name``; return every such event received so far.

    Reads the test client's queue directly: ``get_received()`` refuses once disconnected.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [item["args"][0] for item in list(client.queue) if item["name"] == name]
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError(f"no {name} event; got {client.queue}")
