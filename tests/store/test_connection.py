"""Connections: explicit socket timeouts, and blocking commands that always fit them.

redis-py 8 gives clients a 5 s socket timeout by default (5.x gave none); a blocking command
that asks the server to wait longer than the socket timeout dies with ``TimeoutError``. These
tests run on the real server with the redis-py that is installed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask

from tests.support.lab import Lab, base_config
from tests.support.redis_server import RedisServer
from weblab_ext import WebLab
from weblab_ext.context import session_context
from weblab_ext.store import connection
from weblab_ext.store.connection import connect, max_block_seconds, socket_timeout_of

pytestmark = pytest.mark.slow


def test_connect_sets_an_explicit_socket_timeout(redis_server: RedisServer) -> None:
    client = connect(redis_server.url)
    try:
        assert socket_timeout_of(client) == connection.SOCKET_TIMEOUT
        assert max_block_seconds(client) == connection.SOCKET_TIMEOUT / 2
        assert client.ping()
    finally:
        client.close()
    short = connect(redis_server.url + "?socket_timeout=1")  # the URL wins
    try:
        assert socket_timeout_of(short) == 1.0
        assert max_block_seconds(short) == 0.5
    finally:
        short.close()


def test_block_limits_follow_the_client() -> None:
    assert max_block_seconds(redis.Redis(socket_timeout=None)) == connection.MAX_BLOCK
    assert max_block_seconds(redis.Redis(socket_timeout=0.2)) == pytest.approx(0.1)
    assert max_block_seconds(object()) <= 2.5  # unknown client: assume redis-py 8's 5 s


def _threaded_lab(client: redis.Redis, **config: Any) -> Lab:
    app = Flask(f"lab_{uuid.uuid4().hex[:8]}")
    app.config.update(base_config("redis://unused"))
    app.config.update(
        WEBLAB_NO_THREAD=False,
        WEBLAB_TASK_THREADS_PROCESS=2,
        WEBLAB_AUTOCLEAN_THREAD=False,
        WEBLAB_HEARTBEAT_INTERVAL=0.2,
        **config,
    )
    weblab = WebLab(app, backend=client)

    @weblab.initial_url
    def initial_url() -> str:
        return "/"

    return Lab(app, weblab)


@pytest.fixture
def short_timeout_lab(redis_server: RedisServer) -> Iterator[Lab]:
    """A lab whose client (passed as ``backend=``) times out reads after 1 s."""
    client = redis.Redis.from_url(redis_server.url, decode_responses=True, socket_timeout=1)
    lab = _threaded_lab(client, WEBLAB_DISPOSE_WAIT=3)
    lab.state.tasks.shutdown_grace = 0.5
    yield lab
    client.close()


def test_join_longer_than_the_socket_timeout(
    short_timeout_lab: Lab, redis_server: RedisServer
) -> None:
    lab = short_timeout_lab
    assert lab.state.store_label == f"redis://127.0.0.1:{redis_server.port}/0"  # logs name it

    @lab.weblab.task
    def slow(seconds: float) -> str:
        time.sleep(seconds)
        return "slow done"

    with lab.app.app_context():
        lab.weblab.start_threads()
        try:
            with session_context(lab.start_raw()):
                started = time.monotonic()
                task = slow.run_sync(3)  # no timeout: waits as long as it takes
                assert task.done and task.result == "slow done"
                assert time.monotonic() - started >= 3
                assert slow.delay(2.5).join(timeout=10).result == "slow done"
                unfinished = slow.delay(3).join(timeout=1.5, error_on_timeout=False)
                assert not unfinished.finished
                joined = lab.weblab.join_tasks(slow)
                assert [t.status for t in joined] == ["done"]
        finally:
            lab.weblab.stop_threads()


def test_dispose_waits_on_tasks_longer_than_the_socket_timeout(short_timeout_lab: Lab) -> None:
    lab = short_timeout_lab
    released: list[float] = []

    @lab.weblab.task
    def stubborn() -> None:
        time.sleep(2.5)  # ignores the stop request the dispose sends
        released.append(time.monotonic())

    with lab.app.app_context():
        lab.weblab.start_threads()
        try:
            session_id = lab.start_raw()
            with session_context(session_id):
                task = stubborn.delay()
            deadline = time.monotonic() + 5
            while not task.retrieve().running:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            assert lab.dispose(session_id)["message"] == "Deleted"
            assert released  # the dispose call waited for the task, 2.5 s in one wait
        finally:
            lab.weblab.stop_threads()
