"""``examples/socketio`` served by real processes on 127.0.0.1, with real Socket.IO clients
(python-socketio over WebSocket): the development server as the example's README runs it, and
two gunicorn processes (as the ``Procfile`` runs one) sharing the suite's Redis as their store
and as Flask-SocketIO's message queue. Every process is a child of the test, ended by PID."""

from __future__ import annotations

import contextlib
import http.cookiejar
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .examples_support import RLMS_PASSWORD, RLMS_USER, SECRET_KEY, rlms_headers, start_body
from .redis_server import RedisServer, free_port

if os.environ.get("CI", "").lower() in ("1", "true", "yes"):  # the test extra has them: run
    import socketio
    import websocket  # noqa: F401  (python-socketio's WebSocket transport)
else:
    socketio = pytest.importorskip("socketio")
    pytest.importorskip("websocket", reason="pip install 'python-socketio[client]'")

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "socketio"


def wait_until(condition: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)
    return value


class Server:
    """One process serving the example, in a process group of its own (the development
    server's reloader runs a child): ended with its group, by the PID the test started."""

    def __init__(self, folder: Path, argv: list[str], env: dict[str, str], port: int) -> None:
        self.argv, self.env, self.port = argv, env, port
        self.url = f"http://127.0.0.1:{port}"
        self.log = folder / f"server-{port}-{uuid.uuid4().hex[:6]}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self._answers, 30, f"{self.url} did not answer: {self.text()}")
        return self

    def _answers(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.text()
        try:
            with urllib.request.urlopen(self.url + "/demo-back", timeout=2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """End the process group: SIGTERM, then SIGKILL for what is left of it (a worker,
        the reloader's child) once the leader exited or after 10 s."""
        if self.process is None:
            return
        pid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """The test's servers, each ended at teardown (by the PID the test started)."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def example_env(**config: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "WEBLAB_"))}
    config = {
        "SECRET_KEY": SECRET_KEY,  # made per run (examples_support): published nowhere
        "WEBLAB_USERNAME": RLMS_USER,
        "WEBLAB_PASSWORD": RLMS_PASSWORD,
        "SESSION_COOKIE_SECURE": "false",  # plain HTTP on 127.0.0.1 here
        "WEBLAB_LOG_SESSION_LIFECYCLE": "false",
        **config,
    }
    env["PYTHONPATH"] = str(REPO)
    env.update({f"FLASK_{key}": value for key, value in config.items()})
    return env


class Student:
    """A student's browser: launched through one server; its sockets go to any server."""

    def __init__(self, server: Server, username: str = "john.smith") -> None:
        self.session_id = self.start(server, username)
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(f"{server.url}/callback/{self.session_id}", timeout=10) as page:
            assert page.geturl().endswith("/lab")
        self.cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
        self.sockets: list[Socket] = []

    @staticmethod
    def start(server: Server, username: str = "john.smith") -> str:
        """Start a session through ``server`` as an RLMS does; returns its id."""
        body = start_body(server.url + "/demo-back")
        body["server_initial_data"]["request.username"] = username
        request = urllib.request.Request(
            server.url + "/weblab/sessions/", data=json.dumps(body).encode(), method="POST"
        )
        for name, value in rlms_headers().items():
            request.add_header(name, value)
        with urllib.request.urlopen(request, timeout=10) as reply:
            return str(json.loads(reply.read())["session_id"])

    def socket(self, server: Server, **options: Any) -> Socket:
        socket = Socket(server, self.cookie, **options)
        self.sockets.append(socket)
        return socket


class Socket:
    """A python-socketio client that records every event it receives, in order."""

    def __init__(self, server: Server, cookie: str, **options: Any) -> None:
        self.events: list[tuple[str, Any]] = []
        self.client = socketio.Client(**{"reconnection": False, **options})
        self.client.on("*", lambda name, data=None: self.events.append((name, data)))
        self.client.connect(
            server.url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=10
        )

    def named(self, name: str) -> list[Any]:
        return [data for event, data in list(self.events) if event == name]

    def wait_for(self, name: str, count: int = 1, timeout: float = 15.0) -> list[Any]:
        return wait_until(
            lambda: len(found := self.named(name)) >= count and found,
            timeout,
            f"{count} {name} event(s); got {self.events}",
        )

    def close(self) -> None:
        self.client.disconnect()


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


def gunicorn(tmp_path: Path, redis_url: str, base: str, port: int | None = None) -> Server:
    """One web process as the ``Procfile`` runs it, on the shared store and message queue."""
    port = port or free_port()
    env = example_env(
        WEBLAB_REDIS_URL=redis_url,
        WEBLAB_REDIS_BASE=base,
        SOCKETIO_MESSAGE_QUEUE=redis_url,
        WEBLAB_TASK_THREADS_PROCESS="0",
        WEBLAB_AUTOCLEAN_THREAD="false",
    )
    argv = [sys.executable, "-m", "gunicorn", "--chdir", str(EXAMPLE)]
    argv += ["--worker-class", "gthread", "--workers", "1", "--threads", "100"]
    argv += ["--graceful-timeout", "1", "--bind", f"127.0.0.1:{port}", "app:app"]
    return Server(tmp_path, argv, env, port)


def gaps(readings: list[Any]) -> list[float]:
    times = sorted(reading["t"] for reading in readings)
    return [later - earlier for earlier, later in itertools.pairwise(times)]


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
