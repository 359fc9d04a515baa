"""examples/pool in Chromium: two students on two boards at once, served by two web
processes and a worker that share one Redis (weblab_ext's store and Flask-SocketIO's message
queue). Each student gets each push of their own board exactly once, and none of the other's.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.examples import EXAMPLES, RLMS_PASSWORD, RLMS_USER, SECRET_KEY, rlms_headers
from tests.support.redis_server import RedisServer
from tests.support.screenshots import Shots

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = EXAMPLES.parent
APP = EXAMPLES / "pool" / "app.py"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_up(url: str, process: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"the lab process exited with {process.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        assert time.monotonic() < deadline, f"{url} never answered"
        time.sleep(0.1)


class Deployment:
    """Two web processes and one worker process of examples/pool on one Redis."""

    def __init__(self, redis_url: str, tmp_path: Path) -> None:
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "FLASK_SECRET_KEY": SECRET_KEY,
            "FLASK_WEBLAB_USERNAME": RLMS_USER,
            "FLASK_WEBLAB_PASSWORD": RLMS_PASSWORD,
            "FLASK_WEBLAB_REDIS_URL": redis_url,
            "FLASK_WEBLAB_REDIS_BASE": f"pool-e2e-{uuid.uuid4().hex[:8]}",
            "FLASK_SOCKETIO_MESSAGE_QUEUE": redis_url,
            "FLASK_SESSION_COOKIE_SECURE": "false",
            # Tasks run in the worker only: every push crosses processes.
            "FLASK_WEBLAB_TASK_THREADS_PROCESS": "0",
            "FLASK_WEBLAB_LOG_SESSION_LIFECYCLE": "false",
        }
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen[str]] = []
        self.logs: list[Any] = []
        self.urls: list[str] = []

    def _spawn(self, args: list[str], **env: str) -> subprocess.Popen[str]:
        log = open(self.tmp_path / f"process-{len(self.processes)}.log", "w")  # noqa: SIM115
        self.logs.append(log)
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.processes.append(process)
        return process

    def start(self) -> None:
        for _ in range(2):
            port = _free_port()
            process = self._spawn([sys.executable, str(APP)], PORT=str(port))
            url = f"http://127.0.0.1:{port}"
            _wait_up(f"{url}/devices/board-1/weblab/sessions/api", process)
            self.urls.append(url)
        worker = [sys.executable, "-m", "flask", "--app", str(APP), "weblab", "loop"]
        self._spawn(
            [*worker, "--threads", "2", "--no-reload"], FLASK_WEBLAB_TASK_THREADS_PROCESS="2"
        )

    def start_session(self, url: str, device: str, username: str) -> str:
        body = {
            "client_initial_data": {},
            "server_initial_data": {
                "priority.queue.slot.start.timestamp": repr(time.time()),
                "priority.queue.slot.length": "120",
                "request.username": username,
                "request.username.unique": f"{username}@example",
                "request.full_name": username.title(),
                "request.locale": "en",
                "request.experiment_id.experiment_name": "pool",
                "request.experiment_id.category_name": "Examples",
            },
            "back": "http://rlms.example/back",
        }
        request = urllib.request.Request(
            f"{url}/devices/{device}/weblab/sessions/",
            data=json.dumps(body).encode(),
            headers=rlms_headers(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            return str(json.loads(reply.read())["url"])

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for log in self.logs:
            log.close()


@pytest.fixture
def deployment(redis_server: RedisServer, tmp_path: Path) -> Iterator[Deployment]:
    deployed = Deployment(str(redis_server.url), tmp_path)
    try:
        deployed.start()
        yield deployed
    finally:
        deployed.stop()


def _pushes(page: Any) -> list[dict[str, Any]]:
    return list(page.evaluate("window.poolEvents"))


def test_two_students_on_two_boards_each_get_their_own_pushes_once(
    deployment: Deployment, browser: Any, tmp_path: Path
) -> None:
    pages = {}
    for board, username, url in (
        ("board-1", "ann", deployment.urls[0]),
        ("board-2", "bob", deployment.urls[1]),
    ):
        launch = deployment.start_session(url, board, username)
        context = browser.new_context(viewport={"width": 700, "height": 600})
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.js_errors = []
        page.on("pageerror", lambda error, page=page: page.js_errors.append(str(error)))
        page.goto(launch)
        assert page.url == f"{url}/lab"
        assert page.locator("#board").inner_text() == board
        page.wait_for_selector("#connection:text('live')")
        pages[board] = page
    for page in pages.values():
        page.click("#self-test")
    for board, page in pages.items():
        page.wait_for_selector("#self-test-status:text('done')")
        page.wait_for_selector("#led-3:text('on')")
        Shots(page, f"pool-{board}")("self-test-done")
    time.sleep(1)  # a duplicate would arrive now
    tasks = {}
    for board, page in pages.items():
        pushes = _pushes(page)
        boards = [push for push in pushes if push["name"] == "board"]
        assert [push["board"] for push in boards] == [board] * 4, pushes
        assert [push["step"] for push in boards] == [1, 2, 3, 4], pushes
        progress = [push for push in pushes if push["name"] == "progress"]
        assert [push["done"] for push in progress] == [1, 2, 3, 4], pushes
        done = [push for push in pushes if push["name"] == "done"]
        assert [push["status"] for push in done] == ["done"], pushes
        tasks[board] = {push["task"] for push in progress + done}
        assert len(tasks[board]) == 1, pushes
        assert page.js_errors == []
    assert tasks["board-1"] != tasks["board-2"]
