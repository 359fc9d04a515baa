"""Metrics with several processes on one Redis: two web processes (real HTTP servers in
child processes) and a ``flask weblab loop`` worker. Sessions start and end through either
web process, the worker runs a task, and a scrape of either web process gives the same
numbers: nothing is counted per process."""

from __future__ import annotations

import base64
import http.cookiejar
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.admin import ADMIN_AUTH, ADMIN_PASSWORD, ADMIN_USER, parse_metrics, sample
from tests.support.paths import REPO
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.slow

RLMS = {
    "Authorization": "Basic " + base64.b64encode(b"rlms:rlms-pw").decode(),
    "Content-Type": "application/json",
}

LAB_APP = f'''
import os
from flask import Flask
from weblab_ext import WebLab, requires_active

app = Flask("shared_lab")
app.config.update(
    SECRET_KEY="shared-key", WEBLAB_USERNAME="rlms", WEBLAB_PASSWORD="rlms-pw",
    WEBLAB_ADMIN_USERNAME="{ADMIN_USER}", WEBLAB_ADMIN_PASSWORD="{ADMIN_PASSWORD}",
    WEBLAB_REDIS_URL=os.environ["TEST_REDIS_URL"], WEBLAB_REDIS_BASE=os.environ["TEST_BASE"],
    WEBLAB_TASK_THREADS_PROCESS=0, WEBLAB_AUTOCLEAN_THREAD=False,
    WEBLAB_HEARTBEAT_INTERVAL=0.5, WEBLAB_LOG_SESSION_LIFECYCLE=False,
)
weblab = WebLab(app)


@weblab.initial_url
def initial_url():
    return "/lab"


@weblab.task
def double(n):
    return 2 * n


@app.get("/lab")
@requires_active
def lab():
    return "lab"


@app.post("/lab/double")
@requires_active
def submit_double():
    return {{"task_id": double.delay(21).task_id}}


if __name__ == "__main__":
    from werkzeug.serving import make_server

    make_server("127.0.0.1", int(os.environ["TEST_PORT"]), app, threaded=True).serve_forever()
'''


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Processes:
    """The child processes of one test, ended by PID whatever happens."""

    def __init__(self, folder: Path, redis_url: str) -> None:
        (folder / "shared_lab.py").write_text(textwrap.dedent(LAB_APP))
        self.folder = folder
        self.env = dict(
            os.environ,
            TEST_REDIS_URL=redis_url,
            TEST_BASE=uuid.uuid4().hex[:12],
            PYTHONPATH=os.pathsep.join([str(REPO), str(folder)]),
        )
        self.children: list[subprocess.Popen[bytes]] = []

    def spawn(self, args: list[str], **env: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"child-{len(self.children)}.log").open("wb")
        child = subprocess.Popen(
            args, cwd=self.folder, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.children.append(child)
        return child

    def web(self) -> str:
        port = free_port()
        child = self.spawn([sys.executable, "shared_lab.py"], TEST_PORT=str(port))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/weblab/sessions/api", timeout=2):
                    return url
            except OSError:
                assert child.poll() is None, self.logs()
                assert time.monotonic() < deadline, self.logs()
                time.sleep(0.1)

    def worker(self) -> None:
        self.spawn(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "shared_lab",
                "weblab",
                "loop",
                "--no-reload",
                "--threads",
                "2",
            ]
        )

    def logs(self) -> str:
        return "\n".join(
            path.read_text(errors="replace") for path in sorted(self.folder.glob("child-*.log"))
        )

    def stop(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait(10)


@pytest.fixture
def processes(redis_server: RedisServer, tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path, redis_server.url)
    try:
        yield started
    finally:
        started.stop()


def call(
    url: str, *, body: Any = None, headers: dict[str, str] | None = None, opener: Any = None
) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers=headers or {}, method="GET" if body is None else "POST"
    )
    with (opener or urllib.request.build_opener()).open(request, timeout=10) as reply:
        text = reply.read().decode()
    return json.loads(text) if text.startswith("{") else text


def start_body() -> dict[str, Any]:
    return {
        "client_initial_data": {},
        "back": "http://rlms.example/back",
        "server_initial_data": {
            "priority.queue.slot.start.timestamp": repr(time.time()),
            "priority.queue.slot.length": "200",
            "request.username": "john.smith",
            "request.experiment_id.experiment_name": "lab",
        },
    }


def scrape(url: str) -> dict[Any, float]:
    return parse_metrics(call(url + "/weblab/metrics", headers=ADMIN_AUTH))


def test_every_web_process_reports_the_same_numbers(processes: Processes) -> None:
    one, two = processes.web(), processes.web()
    processes.worker()
    launches = [
        call(f"{web}/weblab/sessions/", body=start_body(), headers=RLMS)["url"]
        for web in (one, one, one, two)
    ]
    ended = launches[1].rsplit("/", 1)[-1]
    assert (
        call(f"{two}/weblab/sessions/{ended}", body={"action": "delete"}, headers=RLMS)["finished"]
        is True
    )
    # A student enters through the first process and submits a task the worker runs.
    student = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    call(launches[0], opener=student)
    call(f"{one}/lab/double", body={}, opener=student)
    deadline = time.monotonic() + 30
    while sample(scrape(two), "weblab_tasks_total", state="done") < 1:
        assert time.monotonic() < deadline, processes.logs()
        time.sleep(0.1)

    first, second = scrape(one), scrape(two)
    assert first == second
    assert sample(first, "weblab_store_up") == 1
    assert sample(first, "weblab_sessions_active") == 3
    assert sample(first, "weblab_session_starts_total") == 4
    assert sample(first, "weblab_session_disposals_total", reason="rlms") == 1
    assert sample(first, "weblab_dispose_seconds_count") == 1
    assert sample(first, "weblab_tasks_total", state="done") == 1
    assert sample(first, "weblab_task_seconds_count") == 1
    assert sample(first, "weblab_task_queue_depth") == 0
    assert sample(first, "weblab_tasks_running") == 0
    assert sample(first, "weblab_workers_alive") == 1
    assert sample(first, "weblab_cleaner_lag_seconds") == 0
