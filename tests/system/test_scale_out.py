"""Redis Cluster and Sentinel, configured only through ``WEBLAB_REDIS_URL``: sessions, tasks
(in a separate ``flask weblab loop`` process) and Socket.IO push on a real local cluster
(several labs spread over its masters) and a real Sentinel; a cluster failover under load."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from tests.support.lab import AUTH, Lab
from tests.support.paths import REPO
from tests.support.redis_cluster import RedisClusterNodes, RedisSentinelSet, running, wait_until
from tests.support.redis_server import end_processes, free_port
from tests.support.socketio import PushLab, wait_for
from weblab_ext.context import session_context
from weblab_ext.errors import InvalidConfigError, StoreUnavailableError
from weblab_ext.store.connection import STORE_ERRORS, connect, describe
from weblab_ext.store.keys import Keys

pytestmark = pytest.mark.slow


@pytest.fixture(params=["cluster", "sentinel"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Overrides the suite's ``store_url``: this module's labs run on each deployment
    (``own-sentinel``: a Sentinel deployment of the test's own, which it may break)."""
    if request.param == "cluster":
        return str(request.getfixturevalue("redis_cluster").url)
    if request.param == "own-sentinel":
        return str(request.getfixturevalue("own_sentinel").url())
    return str(request.getfixturevalue("redis_sentinel").url())


@pytest.fixture
def own_sentinel() -> Iterator[RedisSentinelSet]:
    with running(RedisSentinelSet()) as sentinel:
        yield sentinel


def bases_on_masters(cluster: RedisClusterNodes) -> list[str]:
    """One ``WEBLAB_REDIS_BASE`` per master: labs whose keys live on different nodes."""
    found: dict[int, str] = {}
    for number in range(1000):
        base = f"spread-{os.getpid()}-{number}"
        found.setdefault(cluster.master_port_of(Keys(base).session("x")), base)
        if len(found) == cluster.masters:
            return list(found.values())
    raise AssertionError("no base found for every master")


def lab_bases(store_url: str, request: pytest.FixtureRequest) -> list[str]:
    if store_url.startswith("redis+cluster"):
        return bases_on_masters(request.getfixturevalue("redis_cluster"))
    return [f"sentinel-{os.getpid()}-{n}-{time.monotonic_ns()}" for n in range(2)]


# -- URLs -----------------------------------------------------------------------------------


def test_cluster_and_sentinel_urls_are_parsed_and_masked() -> None:
    assert describe("redis+cluster://:s3cret@h1:7000,h2:7001") == (
        "redis+cluster://:***@h1:7000,h2:7001"
    )
    assert describe("redis+sentinel://user:s3cret@h1:26379,h2:26379/lab/2") == (
        "redis+sentinel://user:***@h1:26379,h2:26379/lab/2"
    )
    for bad in (
        "redis+cluster://h1",
        "redis+cluster://h1:70a0",
        "redis+cluster://h1:7000/3",
        "redis+sentinel://h1:26379",
        "redis+sentinel://h1:26379/svc/x",
        "redis+sentinel://h1:26379/a/1/2",
    ):
        with pytest.raises(InvalidConfigError, match="WEBLAB_REDIS_URL") as error:
            connect(bad.replace("h1", "127.0.0.1"))
        assert "s3cret" not in str(error.value)


def test_an_unreachable_cluster_is_named_without_its_password() -> None:
    with pytest.raises(StoreUnavailableError, match="at least one of the nodes") as error:
        connect(f"redis+cluster://:s3cret@127.0.0.1:{free_port()},127.0.0.1:{free_port()}")
    assert "s3cret" not in str(error.value) and ":***@" in str(error.value)


def test_failover_errors_mean_store_unavailable() -> None:
    for error in (
        redis.exceptions.ClusterDownError,
        redis.exceptions.TryAgainError,
        redis.exceptions.ReadOnlyError,
        redis.exceptions.SlotNotCoveredError,
        redis.sentinel.MasterNotFoundError,
    ):
        assert issubclass(error, STORE_ERRORS), error


# -- sessions ---------------------------------------------------------------------------------


def test_sessions_of_several_labs(
    make_lab: Callable[..., Lab], store_url: str, request: pytest.FixtureRequest
) -> None:
    for base in lab_bases(store_url, request):
        lab = make_lab(WEBLAB_REDIS_BASE=base)
        ended, disposed = lab.start_raw(), lab.start_raw()
        student = lab.browser(ended)
        assert student.get("/lab").get_data(as_text=True) == "lab of john.smith"
        assert lab.status(ended) == 5
        reply = lab.raw_rlms.post(
            "/weblab/sessions/status/multiple",
            headers=AUTH,
            json={"session_ids": [ended, disposed, "unknown"]},
        )
        assert reply.json == {"status": {ended: 5, disposed: 5, "unknown": -1}}
        assert student.get(f"/callback/{ended}/logout").json == {"success": True}
        with lab.app.app_context():
            assert lab.weblab.clean_expired_users() == 1
            assert lab.weblab.clean_expired_users() == 0
        assert lab.dispose(disposed)["message"] == "Deleted"
        assert lab.dispose(disposed)["message"] == "Deleted"
        assert [lab.status(ended), lab.status(disposed)] == [-1, -1]
        assert lab.disposed == [ended, disposed]  # on_dispose exactly once each
        assert student.get("/lab").status_code == 302  # back to the RLMS
        assert student.get("/results").status_code == 200  # still readable


def test_operator_commands(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(SECRET_KEY="x")
    lab.start_raw()
    runner = lab.app.test_cli_runner()
    with lab.app.app_context():  # as `flask` provides it
        result = runner.invoke(args=["weblab", "check"])
        # The node that holds the lab's keys answered (a cluster's is one of its masters).
        assert re.search(r"Store reachable at \S+ \(Redis 7", result.output), result.output
        result = runner.invoke(args=["weblab", "status"])
    assert result.exit_code == 0, result.output
    assert "Sessions: 1 active, 0 exited, 0 disposing" in result.output


# -- tasks, in a separate worker process --------------------------------------------------------

WORKER_APP = """
import os, time
from flask import Flask
from weblab_ext import WebLab, current_task, current_task_stopping

app = Flask("scale_worker")
app.config.update(
    SECRET_KEY="x", WEBLAB_USERNAME="u", WEBLAB_PASSWORD="p",
    WEBLAB_REDIS_URL=os.environ["TEST_REDIS_URL"], WEBLAB_REDIS_BASE=os.environ["TEST_BASE"],
    WEBLAB_NO_THREAD=True, WEBLAB_HEARTBEAT_INTERVAL=0.2, WEBLAB_LOG_SESSION_LIFECYCLE=False,
    WEBLAB_CLEANER_INTERVAL=0.2,
)
weblab = WebLab(app)


@weblab.task(unique="user")
def cooperative():
    current_task.data["state"] = "waiting"
    current_task.store()
    while not current_task_stopping:
        time.sleep(0.01)
    return os.getpid()


@weblab.task
def double(x):
    return 2 * x
"""


@pytest.fixture
def worker(tmp_path: Path, store_url: str) -> Iterator[Callable[[str], subprocess.Popen[str]]]:
    (tmp_path / "scale_worker.py").write_text(textwrap.dedent(WORKER_APP))
    started: list[subprocess.Popen[str]] = []

    def start(base: str) -> subprocess.Popen[str]:
        env = dict(
            os.environ,
            TEST_REDIS_URL=store_url,
            TEST_BASE=base,
            PYTHONPATH=os.pathsep.join([str(REPO), str(tmp_path)]),
        )
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "scale_worker",
                "weblab",
                "loop",
                "--no-reload",
                "--threads",
                "2",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        return process

    yield start
    end_processes(started)


def test_tasks_run_in_a_worker_process(
    make_lab: Callable[..., Lab], store_url: str, worker: Callable[[str], subprocess.Popen[str]]
) -> None:
    lab = make_lab(WEBLAB_HEARTBEAT_INTERVAL=0.2)

    @lab.weblab.task(unique="user")
    def cooperative() -> None: ...

    @lab.weblab.task
    def double(x: int) -> None: ...

    process = worker(lab.app.config["WEBLAB_REDIS_BASE"])
    session_id = lab.start_raw()
    with lab.app.app_context(), session_context(session_id):
        assert double.delay(21).join(30).result == 42  # waits for the worker to come up
        task = cooperative.delay()
        wait_until(lambda: task.retrieve().data == {"state": "waiting"}, 15, "the task to run")
        assert cooperative.delay().join(5).error["class"] == "AlreadyRunningError"
        # The stop request reaches the worker over (sharded) pub/sub.
        task.stop()
        assert task.join(10).done and task.result == process.pid
        again = cooperative.delay()  # the unique lock was freed
        wait_until(lambda: again.retrieve().running, 15, "the second run")
    # Disposing the session stops its tasks (and on_dispose runs once).
    assert lab.dispose(session_id)["message"] == "Deleted"
    with lab.app.app_context():
        assert again.join(10).done
    assert lab.disposed == [session_id]


# -- Socket.IO push -------------------------------------------------------------------------------


def test_push_reaches_the_sockets_of_each_lab(
    make_lab: Callable[..., Lab], store_url: str, request: pytest.FixtureRequest
) -> None:
    for base in lab_bases(store_url, request)[:2]:
        lab = make_lab(WEBLAB_REDIS_BASE=base)

        @lab.weblab.task
        def measure() -> None:
            from weblab_ext import current_task

            current_task.data["progress"] = 50
            current_task.store()

        push = PushLab(lab)
        try:
            logged_out, disposed = lab.start_raw(), lab.start_raw()
            first, second = push.connected(logged_out), push.connected(disposed)
            lab.browser(logged_out).get(f"/callback/{logged_out}/logout")
            assert wait_for(first, "weblab:session-ended")[0]["reason"] == "logout"
            with lab.app.app_context(), session_context(disposed):
                task = measure.delay()
                lab.weblab.run_tasks()
            progress = wait_for(second, "weblab:task-progress")
            assert progress[0]["task_id"] == task.task_id
            assert progress[0]["data"] == {"progress": 50}
            assert wait_for(second, "weblab:task-done")[0]["status"] == "done"
            lab.dispose(disposed)
            assert wait_for(second, "weblab:session-ended")[0]["reason"] == "disposed"
        finally:
            push.push.stop()


# -- failover ---------------------------------------------------------------------------------


class Load:
    """An RLMS polling the status of a session, and a student using the lab, in a loop."""

    def __init__(self, lab: Lab, session_id: str) -> None:
        self.lab = lab
        self.session_id = session_id
        self.replies: list[tuple[float, int, Any]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rlms = self.lab.app.test_client()
        path = f"/weblab/sessions/{self.session_id}/status"
        while not self.stop.is_set():
            reply = rlms.get(path, headers=AUTH)
            body = reply.get_json(silent=True)
            self.replies.append((time.monotonic(), reply.status_code, body))
            time.sleep(0.02)

    def codes_since(self, moment: float) -> list[int]:
        return [code for when, code, _body in self.replies if when >= moment]


@pytest.mark.parametrize("store_url", ["cluster"], indirect=True)
def test_cluster_failover_answers_503_then_recovers(
    redis_cluster: RedisClusterNodes, make_lab: Callable[..., Lab]
) -> None:
    """Kill the master of a lab's slot while an RLMS polls: calls answer 503 JSON
    ``store-unavailable`` during the switch, then everything works again by itself."""
    cluster = redis_cluster
    base = bases_on_masters(cluster)[0]
    victim = cluster.master_port_of(Keys(base).session("x"))
    lab = make_lab(WEBLAB_REDIS_URL=cluster.url, WEBLAB_REDIS_BASE=base, WEBLAB_TIMEOUT=600)
    push = PushLab(lab)
    session_id = lab.start_raw()
    socket = push.connected(session_id)
    # Let the replica catch up before the crash (replication is asynchronous).
    wait_until(lambda: cluster.client(victim).wait(1, 1000) >= 1, 10, "the replica to sync")
    load = Load(lab, session_id)
    load.thread.start()
    try:
        wait_until(lambda: load.codes_since(0).count(200) >= 5, 10, "answers before the crash")
        killed = time.monotonic()
        cluster.kill(victim)
        wait_until(lambda: 503 in load.codes_since(killed), 20, "a 503 during the switch")
        wait_until(
            lambda: load.codes_since(time.monotonic() - 0.5)[-3:] == [200] * 3,
            60,
            "answers after the failover",
        )
    finally:
        load.stop.set()
        load.thread.join(10)
    unavailable = [body for _w, code, body in load.replies if code == 503]
    assert unavailable
    assert {body["code"] for body in unavailable} == {"store-unavailable"}
    assert {code for _w, code, _b in load.replies} <= {200, 503}, "never a 500"
    recovered = time.monotonic() - killed
    assert recovered < 60, recovered
    # The session survived on the promoted replica; the push listener subscribed again on
    # the new master, and a new session works end to end.
    assert lab.status(session_id) == 5
    fresh = lab.start_raw()
    assert lab.browser(fresh).get("/lab").status_code == 200
    wait_until(lambda: push.push.ready.is_set(), 20, "the push listener to subscribe again")
    lab.browser(session_id).get(f"/callback/{session_id}/logout")
    assert wait_for(socket, "weblab:session-ended", timeout=20)[0]["reason"] == "logout"
    push.push.stop()
    # Leave the cluster whole for the tests that follow: the old master rejoins as a replica.
    cluster.restart(victim)
    cluster.wait_healthy()
    assert key_slot(Keys(base).session("x").encode()) == key_slot(Keys(base).task_queue().encode())


@pytest.mark.parametrize("store_url", ["own-sentinel"], indirect=True)
def test_sentinel_failover_answers_503_then_recovers(
    make_lab: Callable[..., Lab], own_sentinel: RedisSentinelSet
) -> None:
    """Kill the master Sentinel watches: RLMS calls answer 503 JSON until Sentinel has
    promoted the replica, then work again without a restart."""
    sentinel = own_sentinel
    lab = make_lab(WEBLAB_TIMEOUT=600)
    session_id = lab.start_raw()
    assert redis.Redis(port=sentinel.master_port).wait(1, 2000) >= 1
    load = Load(lab, session_id)
    load.thread.start()
    try:
        wait_until(lambda: load.codes_since(0).count(200) >= 5, 10, "answers before")
        killed = time.monotonic()
        sentinel.kill(sentinel.master_port)
        wait_until(lambda: 503 in load.codes_since(killed), 20, "a 503 during the switch")
        wait_until(
            lambda: sentinel.current_master() == sentinel.replica_port,
            60,
            "Sentinel to promote the replica",
        )
        wait_until(
            lambda: load.codes_since(time.monotonic() - 0.5)[-3:] == [200] * 3,
            30,
            "answers after the failover",
        )
    finally:
        load.stop.set()
        load.thread.join(10)
    assert {code for _w, code, _b in load.replies} <= {200, 503}, "never a 500"
    assert lab.status(session_id) == 5
    assert lab.dispose(session_id)["message"] == "Deleted"
    assert lab.disposed == [session_id]
