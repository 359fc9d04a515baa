"""Device pools and Socket.IO: handlers know their device; pushes stay on their device."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.lab import AUTH, Lab
from weblab_ext import socket_requires_active, weblab_user
from weblab_ext.socketio.push import SESSION_ENDED
from weblab_ext.testing.harness import LabUnderTest

flask_socketio = pytest.importorskip("flask_socketio")


def _start(lab: Lab, device: str) -> str:
    reply = lab.raw_rlms.post(
        f"/devices/{device}/weblab/sessions/", json=lab.start_body(), headers=AUTH
    )
    assert reply.status_code == 200, reply.json
    return str(reply.json["session_id"])


def _wait_for(client: Any, name: str, timeout: float = 5.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [item["args"][0] for item in list(client.queue) if item["name"] == name]
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError(f"no {name} event; got {client.queue}")


def test_sockets_know_their_device_and_pushes_stay_on_it(make_lab: Callable[..., Lab]) -> None:
    from weblab_ext.socketio import init_socketio

    lab = make_lab(WEBLAB_DEVICES=["board-1", "board-2"])
    socketio = flask_socketio.SocketIO(lab.app, async_mode="threading")

    @socketio.on("which")
    @socket_requires_active
    def which() -> None:
        flask_socketio.emit("device", weblab_user.device)

    push = init_socketio(socketio, lab.weblab, lab.app, poll_timeout=0.05)
    try:
        one, two = _start(lab, "board-1"), _start(lab, "board-2")
        sockets = {
            sid: socketio.test_client(lab.app, flask_test_client=lab.browser(sid))
            for sid in (one, two)
        }
        assert push.ready.wait(5)
        for sid, device in ((one, "board-1"), (two, "board-2")):
            sockets[sid].emit("which")
            assert _wait_for(sockets[sid], "device") == [device]
            sockets[sid].queue.clear()
        reply = lab.raw_rlms.post(
            f"/devices/board-1/weblab/sessions/{one}", json={"action": "delete"}, headers=AUTH
        )
        assert reply.json["message"] == "Deleted"
        assert _wait_for(sockets[one], SESSION_ENDED)[0]["reason"] == "disposed"
        assert sockets[two].is_connected()
        assert sockets[two].queue == []
        assert LabUnderTest(lab.app).user(two).active
    finally:
        push.stop()
