"""Worker processes (``flask weblab loop``) for one lab on the real Redis, and the tasks they
run (declared in the child app and, by name only, in the parent that submits them)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis

from tests.support.lab import Lab
from tests.support.paths import REPO

HEARTBEAT = 0.2

WORKER_APP = """
import os, time
from flask import Flask
from weblab_ext import WebLab, current_task, current_task_stopping

app = Flask("worker_app")
app.config.update(
    SECRET_KEY="x", WEBLAB_USERNAME="u", WEBLAB_PASSWORD="p",
    WEBLAB_REDIS_URL=os.environ["TEST_REDIS_URL"], WEBLAB_REDIS_BASE=os.environ["TEST_BASE"],
    WEBLAB_NO_THREAD=True, WEBLAB_HEARTBEAT_INTERVAL=float(os.environ["TEST_HEARTBEAT"]),
    WEBLAB_LOG_SESSION_LIFECYCLE=False, WEBLAB_CLEANER_INTERVAL=60,
)
weblab = WebLab(app)


@weblab.task(unique="global")
def exclusive(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end and not current_task_stopping:
        time.sleep(0.01)
    return os.getpid()


@weblab.task
def cooperative():
    while not current_task_stopping:
        time.sleep(0.01)
    return "stopped"


@weblab.task
def stubborn():
    time.sleep(30)


@weblab.task(unique="user")
def mine(seconds):
    time.sleep(seconds)
    return os.getpid()


@weblab.task
def whoami(seconds):
    time.sleep(seconds)
    return os.getpid()


@weblab.task(unique="global")
def fenced(log_path, steps):
    # One line per stop check: the step it allowed (or "stop"), the process, when it checked.
    for step in range(steps):
        checked = time.time()
        stopping = bool(current_task_stopping)
        with open(log_path, "a") as log:
            log.write(f"{os.getpid()} {'stop' if stopping else step} {checked!r}\\n")
        if stopping:
            break
        current_task.data["step"] = step
        current_task.store()
        time.sleep(0.05)
    return os.getpid()
"""


def _declare(lab: Lab) -> dict[str, Any]:
    """The parent declares the same names (it only submits; the children run them)."""
    weblab = lab.weblab
    found: dict[str, Any] = {}
    for name, unique in (
        ("exclusive", "global"),
        ("cooperative", None),
        ("stubborn", None),
        ("whoami", None),
        ("mine", "user"),
        ("fenced", "global"),
    ):

        def func(*args: Any) -> None: ...

        func.__name__ = name
        found[name] = weblab.task(unique=unique)(func)
    return found


class Workers:
    """Starts ``flask weblab loop`` child processes for one lab."""

    def __init__(self, tmp_path: Path, url: str, base: str, heartbeat: float = HEARTBEAT) -> None:
        (tmp_path / "worker_app.py").write_text(textwrap.dedent(WORKER_APP))
        self.tmp_path = tmp_path
        self.env = dict(
            os.environ,
            TEST_REDIS_URL=url,
            TEST_BASE=base,
            TEST_HEARTBEAT=str(heartbeat),
            PYTHONPATH=os.pathsep.join([str(REPO), str(tmp_path)]),
        )
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.workers_key = "{" + base + "}:weblab:workers"
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, *extra: str, wait: bool = True) -> subprocess.Popen[str]:
        before = self.client.zcard(self.workers_key)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "worker_app",
                "weblab",
                "loop",
                "--no-reload",
                *extra,
            ],
            cwd=self.tmp_path,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.processes.append(process)
        deadline = time.monotonic() + 20
        while wait and self.client.zcard(self.workers_key) <= before:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "worker did not register"
            time.sleep(0.02)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(10)
            if process.stdout:
                process.stdout.close()
        self.client.close()


def lab_with_workers(
    make_lab: Callable[..., Lab], store_url: str, tmp_path: Path, heartbeat: float
) -> Iterator[tuple[Lab, dict[str, Any], Workers]]:
    """A lab, its declared tasks and a starter of worker processes (tests using it are
    marked ``real_redis_only``: the embedded store lives inside one process)."""
    assert store_url.startswith("redis://"), "worker processes need the real server"
    lab = make_lab(WEBLAB_HEARTBEAT_INTERVAL=heartbeat)
    workers = Workers(tmp_path, store_url, lab.app.config["WEBLAB_REDIS_BASE"], heartbeat)
    try:
        yield lab, _declare(lab), workers
    finally:
        workers.stop_all()


def wait_running(task: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not task.retrieve().running:
        assert not task.finished, task.error
        assert time.monotonic() < deadline, "task never started"
        time.sleep(0.01)
