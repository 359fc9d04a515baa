"""The health URL of a lab served by gunicorn (two worker processes, threads on, as
deployed) on a real Redis: a burst of concurrent calls answers from one stored result, and the
1 s check runs once per interval across both processes. Speed is the benchmark's business
(``python -m benchmarks health``); this test asserts what the replies say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.redis_server import RedisServer, free_port

GUNICORN = Path(sys.executable).with_name("gunicorn")
CALLS = 50
INTERVAL = 3

LAB = """
import os
import time

import redis
from flask import Flask
from weblab_ext import WebLab

app = Flask("health_lab")
app.config.update(SECRET_KEY="s", WEBLAB_USERNAME="weblabdeusto",
                  WEBLAB_PASSWORD="rlms-s3cret")
app.config.from_prefixed_env()
weblab = WebLab(app)
counter = redis.Redis.from_url(app.config["WEBLAB_REDIS_URL"])


@weblab.health_check
def hardware():
    counter.incr(app.config["WEBLAB_REDIS_BASE"] + ":check-runs")
    time.sleep(1)  # slow hardware
    return True
"""


@pytest.fixture
def served(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[str, Any, str]]:
    """The lab under gunicorn: its URL, a Redis client and the key counting check runs."""
    (tmp_path / "health_lab.py").write_text(textwrap.dedent(LAB))
    base = f"health-{os.urandom(4).hex()}"
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    process = subprocess.Popen(
        [
            str(GUNICORN),
            *("--workers", "2", "--worker-class", "gthread", "--threads", "8"),
            *("--bind", f"127.0.0.1:{port}", "--chdir", str(tmp_path)),
            *("--graceful-timeout", "2", "health_lab:app"),
        ],
        env={
            **environment,
            "FLASK_WEBLAB_REDIS_URL": redis_server.url,
            "FLASK_WEBLAB_REDIS_BASE": base,
            "FLASK_WEBLAB_HEALTH_CHECK_INTERVAL": str(INTERVAL),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        yield f"http://127.0.0.1:{port}/weblab/health", client, f"{base}:check-runs"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        client.close()


def health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.status == 200
        return dict(json.load(reply))


def first_answer(url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        try:
            return health(url)  # the first call waits for the first round
        except OSError:
            assert time.monotonic() < deadline, "gunicorn did not answer"
            time.sleep(0.1)


@pytest.mark.skipif(not GUNICORN.exists(), reason="pip install gunicorn")
@pytest.mark.slow
def test_concurrent_calls_answer_one_stored_result_and_the_check_runs_once_per_interval(
    served: tuple[str, Any, str],
) -> None:
    url, client, runs_key = served
    first = first_answer(url)
    started = time.monotonic()
    assert first["success"] is True and first["message"] == "ok: store, hardware"
    # Just after the next round stored its result, the following one is an interval away.
    deadline = time.monotonic() + 30
    while health(url)["checked_at"] == first["checked_at"]:
        assert time.monotonic() < deadline, "no second round"
        time.sleep(0.05)
    barrier = threading.Barrier(CALLS)

    def call(_: int) -> dict[str, Any]:
        barrier.wait(10)
        return health(url)

    with ThreadPoolExecutor(CALLS) as pool:
        replies = list(pool.map(call, range(CALLS)))
    assert all(reply["success"] is True for reply in replies), replies
    assert len({reply["checked_at"] for reply in replies}) == 1  # one stored result
    assert {reply["state"] for reply in replies} == {"idle"}
    elapsed = time.monotonic() - started
    runs = int(client.get(runs_key))
    # Both worker processes run the rounds in their threads: once per interval in all.
    assert 2 <= runs <= elapsed / INTERVAL + 2, (runs, elapsed)
