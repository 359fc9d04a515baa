"""``examples/socketio`` served by real processes on 127.0.0.1, with real Socket.IO clients
(python-socketio over WebSocket): the development server as the example's README runs it, and
two gunicorn processes (as the ``Procfile`` runs one) sharing the suite's Redis as their store
and as Flask-SocketIO's message queue. Every process is a child of the test, ended by PID."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.examples import rlms_headers
from tests.support.lab import real_redis_only
from tests.support.redis_server import RedisServer, free_port
from tests.support.socketio_processes import (
    EXAMPLE,
    Server,
    Student,
    example_env,
    gaps,
    gunicorn,
    wait_until,
)

if os.environ.get("CI", "").lower() in ("1", "true", "yes"):  # the test extra has them: run
    import socketio
    import websocket  # noqa: F401  (python-socketio's WebSocket transport)
else:
    socketio = pytest.importorskip("socketio")
    pytest.importorskip("websocket", reason="pip install 'python-socketio[client]'")

pytestmark = pytest.mark.slow


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """The test's servers, each ended at teardown (by the PID the test started)."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


# -- the development server -------------------------------------------------------------


def test_closing_a_socket_on_the_development_server_logs_no_error(
    servers: list[Server], tmp_path: Path
) -> None:
    """``FLASK_DEBUG=1 python examples/socketio/app.py`` (the README's way): sockets that close
    normally leave no 500 and no traceback in the log."""
    port = free_port()
    env = example_env(DEBUG="1", WEBLAB_REDIS_URL=f"fakeredis://{uuid.uuid4().hex}")
    env["PORT"] = str(port)
    server = Server(tmp_path, [sys.executable, str(EXAMPLE / "app.py")], env, port)
    servers.append(server)  # ended whatever happens, even if the start fails
    server.start()
    student = Student(server)
    for _ in range(2):
        socket = student.socket(server)
        assert socket.wait_for("state")[0]["heater"] is False
        socket.close()
    time.sleep(2)  # the error, when there was one, came within a second of the close
    log = server.text()
    assert "Debug mode: on" in log
    assert " 500 " not in log and "Traceback" not in log, log
    assert "ERROR" not in log, log  # nor the client's closing frame read as an HTTP request


# -- several web processes ----------------------------------------------------------------


def test_two_processes_share_pushes_and_a_reconnect_gets_the_full_state(
    servers: list[Server], redis_server: RedisServer, tmp_path: Path
) -> None:
    """Two gunicorn processes of the example, one Redis for the store and the queue. A push
    emitted in one process reaches the student's socket held by the other exactly once, and
    no other student's socket; both processes stream the same plate; a socket whose process
    restarted reconnects and receives the full state, changes made meanwhile included."""
    base = f"multi-{uuid.uuid4().hex[:8]}"
    one = gunicorn(tmp_path, redis_server.url, base)
    two = gunicorn(tmp_path, redis_server.url, base)
    servers.extend([one, two])  # ended whatever happens, even if a start fails
    one.start(), two.start()
    ana, bob = Student(one, "ana"), Student(two, "bob")
    ana_on_two = ana.socket(two, reconnection=True, reconnection_delay=0.2)
    ana_on_one, bob_on_one, bob_on_two = ana.socket(one), bob.socket(one), bob.socket(two)
    for socket in (ana_on_two, ana_on_one, bob_on_one, bob_on_two):
        assert socket.wait_for("state")[0]["heater"] is False

    ana_on_one.client.emit("heater", {"on": True})  # handled by process one
    assert ana_on_two.wait_for("heater") == [{"on": True}]
    # Process two streams ana's plate from the shared store: it is heating there too.
    heated = lambda: [r for r in ana_on_two.named("sensor") if r["heater"]]  # noqa: E731
    wait_until(lambda: len(heated()) >= 4, what=f"heated readings: {ana_on_two.events}")
    assert heated()[-1]["temperature"] > heated()[0]["temperature"]
    assert ana_on_two.named("heater") == [{"on": True}]  # once, though two processes listen
    assert ana_on_one.named("heater") == [{"on": True}]
    assert min(gaps(ana_on_two.named("sensor"))) > 0.25  # one stream per socket, not two
    for socket in (bob_on_one, bob_on_two):  # the other student saw none of it
        assert socket.named("heater") == []
        assert socket.named("sensor") and not any(r["heater"] for r in socket.named("sensor"))

    two.stop()  # process two restarts; ana's socket there is cut off
    wait_until(lambda: not ana_on_two.client.connected, what="socket of a stopped process")
    ana_on_one.client.emit("heater", {"on": False})  # pushed while that socket is away
    assert ana_on_one.wait_for("heater", 2)[-1] == {"on": False}
    two.start()
    states = ana_on_two.wait_for("state", 2, timeout=30)  # reconnected by itself
    assert states[-1]["heater"] is False  # the change it missed, in the full state
    assert ana_on_two.named("heater") == [{"on": True}]  # the push itself was lost
    for student in (ana, bob):
        for socket in student.sockets:
            socket.close()


# -- session records ------------------------------------------------------------------------


@real_redis_only
def test_each_socket_of_a_session_is_recorded_once_across_processes(
    servers: list[Server], redis_server: RedisServer, tmp_path: Path, make_lab: Any
) -> None:
    """Two gunicorn processes of the example (a guarded ``connect``, an unguarded
    ``disconnect``). One socket closed by the browser, one ended by the server after the
    RLMS disposed the session through the other process: the session's record holds one
    connect and one disconnect for each."""
    base = f"records-{uuid.uuid4().hex[:8]}"
    one = gunicorn(tmp_path, redis_server.url, base)
    two = gunicorn(tmp_path, redis_server.url, base)
    servers.extend([one, two])
    one.start(), two.start()
    student = Student(one)
    closed_by_browser, ended_by_server = student.socket(one), student.socket(two)
    for socket in (closed_by_browser, ended_by_server):
        assert socket.wait_for("state")[0]["heater"] is False
    closed_by_browser.close()
    dispose = urllib.request.Request(
        f"{one.url}/weblab/sessions/{student.session_id}",
        data=json.dumps({"action": "delete"}).encode(),
        method="POST",
    )
    for name, value in rlms_headers().items():
        dispose.add_header(name, value)
    with urllib.request.urlopen(dispose, timeout=10) as reply:
        assert reply.status == 200
    assert ended_by_server.wait_for("weblab:session-ended")[0]["reason"] == "disposed"
    wait_until(lambda: not ended_by_server.client.connected, what="the server ends the socket")

    reader = make_lab(WEBLAB_REDIS_URL=redis_server.url, WEBLAB_REDIS_BASE=base)

    def socket_events() -> list[str]:
        events = reader.state.journal.timeline(student.session_id)[0]
        return [event["e"] for event in events if event["e"].startswith("socket_")]

    wait_until(lambda: len(socket_events()) >= 4, what="four socket events")
    time.sleep(0.5)  # nothing more comes
    assert sorted(socket_events()) == ["socket_connect"] * 2 + ["socket_disconnect"] * 2
    assert socket_events()[:2] == ["socket_connect"] * 2
