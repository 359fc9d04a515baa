"""Real processes of ``examples/socketio`` on 127.0.0.1 and Socket.IO clients for them: the
pieces the process tests and the browser test share."""

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
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from tests.support.examples import RLMS_PASSWORD, RLMS_USER, SECRET_KEY, rlms_headers, start_body
from tests.support.redis_server import free_port

REPO = Path(__file__).resolve().parents[2]


EXAMPLE = REPO / "examples" / "socketio"


def wait_until(condition: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)
    return value


class Server:
    """One process serving the example, in a process group of its own (the development
    server's reloader runs a child): ended with its group, by the PID the test started.

    :param probe: the path that answers 200 once the lab is up.
    """

    def __init__(
        self,
        folder: Path,
        argv: list[str],
        env: dict[str, str],
        port: int,
        probe: str = "/demo-back",
    ) -> None:
        self.argv, self.env, self.port, self.probe = argv, env, port, probe
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
            with urllib.request.urlopen(self.url + self.probe, timeout=2):
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


def example_env(**config: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "WEBLAB_"))}
    config = {
        "SECRET_KEY": SECRET_KEY,  # made per run (examples_support): published nowhere
        "WEBLAB_USERNAME": RLMS_USER,
        "WEBLAB_PASSWORD": RLMS_PASSWORD,
        "SESSION_COOKIE_SECURE": "false",  # plain HTTP on 127.0.0.1 here
        "WEBLAB_LOG_SESSION_LIFECYCLE": "false",
        # Two students at once on the example's one heater, on purpose: the tests check that
        # no push reaches another student (the example refuses that by default).
        "WEBLAB_DEVICES": "[]",
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
        import socketio  # python-socketio's client: the test modules skip without it

        self.events: list[tuple[str, Any]] = []
        self.client = socketio.Client(**{"reconnection": False, **options})
        self.client.on("*", lambda name, data=None: self.events.append((name, data)))
        self.client.connect(
            server.url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=10
        )

    def named(self, name: str) -> list[Any]:
        return [data for event, data in list(self.events) if event == name]

    def wait_for(self, name: str, count: int = 1, timeout: float = 15.0) -> list[Any]:
        return cast(
            list[Any],
            wait_until(
                lambda: len(found := self.named(name)) >= count and found,
                timeout,
                f"{count} {name} event(s); got {self.events}",
            ),
        )

    def close(self) -> None:
        self.client.disconnect()


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
