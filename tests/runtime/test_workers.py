"""Worker threads in-process: blocking pickup, stop, unique locks, leases and reaping."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.support.lab import Lab
from weblab_ext import current_task, current_task_stopping
from weblab_ext.context import session_context
from weblab_ext.store.records import TaskRecord

THREADS = {
    "WEBLAB_NO_THREAD": False,
    "WEBLAB_TASK_THREADS_PROCESS": 2,
    "WEBLAB_AUTOCLEAN_THREAD": False,
    "WEBLAB_HEARTBEAT_INTERVAL": 0.1,
}


@pytest.fixture
def worker_lab(make_lab: Callable[..., Lab]) -> Iterator[tuple[Lab, dict[str, Any]]]:
    lab = make_lab(**THREADS)
    weblab = lab.weblab
    events: dict[str, Any] = {"started": threading.Event()}

    @weblab.task
    def quick(x: int) -> int:
        return x * 2

    @weblab.task
    def sleeper(seconds: float) -> str:
        time.sleep(seconds)
        return "slept"

    @weblab.task
    def until_stopped() -> float:
        events["started"].set()
        begun = time.monotonic()
        while not current_task_stopping:
            time.sleep(0.005)
            if time.monotonic() - begun > 5:
                return -1.0
        events["stopped_at"] = time.monotonic()
        return 1.0

    @weblab.task(unique="global")
    def exclusive() -> str:
        while not current_task_stopping:
            time.sleep(0.005)
        return "exclusive"

    @weblab.task(unique="user")
    def mine() -> str:
        while not current_task_stopping:
            time.sleep(0.005)
        return "mine"

    @weblab.task
    def progress() -> int:
        for step in range(3):
            current_task.data["step"] = step
            current_task.store()
        return 3

    events["tasks"] = {
        f.name: f for f in (quick, sleeper, until_stopped, exclusive, mine, progress)
    }
    lab.state.tasks.shutdown_grace = 0.5
    lab.state.tasks.queue_block = 0.1
    with lab.app.app_context():
        weblab.start_threads()
        yield lab, events
        weblab.stop_threads()


def _as(lab: Lab, session_id: str) -> Any:
    return session_context(session_id)


def test_threads_run_tasks(worker_lab: tuple[Lab, dict[str, Any]]) -> None:
    lab, events = worker_lab
    tasks = events["tasks"]
    session_id = lab.start_raw()
    with _as(lab, session_id):
        assert tasks["quick"].run_sync(21).result == 42
        slow = tasks["sleeper"].run_sync(0.4, timeout=0.1)
        assert not slow.finished
        assert slow.join(timeout=3).done and slow.result == "slept"
        task = tasks["progress"].delay()
        assert task.join(3).data == {"step": 2}
        # pickup latency on an idle worker
        started = time.monotonic()
        tasks["quick"].run_sync(1)
        assert time.monotonic() - started < 0.5


def test_running_status_and_stop(worker_lab: tuple[Lab, dict[str, Any]]) -> None:
    lab, events = worker_lab
    session_id = lab.start_raw()
    with _as(lab, session_id):
        task = events["tasks"]["until_stopped"].delay()
        assert events["started"].wait(3)
        assert task.retrieve().running
        asked = time.monotonic()
        task.stop()
        assert task.join(3).result == 1.0
        assert events["stopped_at"] - asked < 0.2  # learnt through the stop listener


def test_unique_with_threads(worker_lab: tuple[Lab, dict[str, Any]]) -> None:
    lab, events = worker_lab
    tasks = events["tasks"]
    first_sid, second_sid = lab.start_raw(), lab.start_raw()
    with _as(lab, first_sid):
        first = tasks["exclusive"].delay()
        mine = tasks["mine"].delay()
        deadline = time.monotonic() + 3
        while not (first.retrieve().running and mine.retrieve().running):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        duplicate = tasks["exclusive"].delay()
        assert duplicate.join(1).failed
        assert duplicate.error["class"] == "AlreadyRunningError"
        assert tasks["mine"].delay().join(1).error["class"] == "AlreadyRunningError"
    with _as(lab, second_sid):
        assert tasks["exclusive"].delay().join(1).failed
        other_mine = tasks["mine"].delay()  # another session: allowed
    with _as(lab, first_sid):
        first.stop()
        mine.stop()
        assert first.join(3).done and mine.join(3).done
    with _as(lab, second_sid):
        other_mine.stop()
        assert other_mine.join(3).done


@contextmanager
def _claimed_then_silent(
    make_lab: Callable[..., Lab], worker_id: str
) -> Iterator[tuple[Lab, Any, Any, float]]:
    """A unique task taken and claimed by ``worker_id`` on a 0.2 s lease; no one beats."""
    lab = make_lab(WEBLAB_HEARTBEAT_INTERVAL=0.1)

    @lab.weblab.task(unique="global")
    def held() -> None: ...

    store = lab.state.tasks.store
    with lab.app.app_context(), session_context(lab.start_raw()):
        task = held.delay()
        assert store.pop_from_queue(worker_id) == task.task_id
        now = time.time()
        claimed = store.claim(
            task.task_id, worker_id, now=now, lease=0.2, ttl=60, duplicate_error={}
        )
        assert isinstance(claimed, TaskRecord)
        yield lab, held, task, now


def test_lapsed_lease_is_reaped(make_lab: Callable[..., Lab]) -> None:
    with _claimed_then_silent(make_lab, "dead-worker") as (lab, held, task, now):
        runtime = lab.state.tasks
        woken: list[Any] = []
        joiner = threading.Thread(target=lambda: woken.append(task.join(timeout=3)))
        joiner.start()
        assert runtime.heartbeat_tick(now=now + 0.1).lapsed == []
        assert held.delay().failed  # lock still held by the dead worker's task
        report = runtime.heartbeat_tick(now=now + 0.3)
        assert report.lapsed == [task.task_id]
        joiner.join(3)
        assert woken and woken[0].failed and woken[0].error["code"] == "worker-lost"
        assert held.delay().submitted  # lock freed
        # the dead worker finishing late changes nothing
        assert not runtime.store.finish(
            task.task_id, task.session_id, status="done", owner="dead-worker", ttl=60, now=now + 1
        )


def test_dead_worker_queue_is_requeued(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_HEARTBEAT_INTERVAL=0.1)

    @lab.weblab.task
    def noop() -> int:
        return 1

    runtime = lab.state.tasks
    store = runtime.store
    session_id = lab.start_raw()
    with lab.app.app_context(), session_context(session_id):
        task = noop.delay()
        now = time.time()
        store.heartbeat("ghost", [], now=now, lease=0.2, ttl=60, info={})
        assert store.pop_from_queue("ghost") == task.task_id  # taken, never claimed
        assert store.queue_length() == 0
        report = runtime.heartbeat_tick(now=now + 0.5)
        assert report.dead_workers == ["ghost"]
        assert store.queue_length() == 1
        assert lab.weblab.run_tasks() == 1
        assert task.join(1).done


def test_store_data_after_reap_is_ignored(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()

    @lab.weblab.task
    def noop() -> None: ...

    store = lab.state.tasks.store
    session_id = lab.start_raw()
    with lab.app.app_context():
        with session_context(session_id):
            task = noop.delay()
        assert not store.store_data(
            task.task_id, "{}", owner=lab.state.tasks.worker_id, now=time.time()
        )  # not running: nothing written


def test_stopping_flag_needs_no_round_trip_with_listener(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    runtime = lab.state.tasks

    def no_redis(task_id: str) -> bool:
        raise AssertionError("current_task_stopping went to Redis")

    runtime.store.is_stopping = no_redis  # type: ignore[method-assign]
    runtime.listener_alive.set()
    assert runtime.is_stopping("some-task") is False
    runtime._running["some-task"] = None
    runtime.mark_stopping("some-task")  # what the listener does on a stop message
    assert runtime.is_stopping("some-task") is True
    # A lease that ran out is known locally too: a worker back from a pause stops at once.
    runtime._running["paused"] = None
    runtime._lease_granted("paused", time.monotonic(), 60)
    assert runtime.is_stopping("paused") is False
    runtime._lease_granted("paused", time.monotonic() - 1, 0.5)  # renewal sent 1 s ago
    assert runtime.is_stopping("paused") is True


def test_threads_start_lazily_not_at_init(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(**THREADS)

    @lab.weblab.task
    def hello() -> str:
        return "hello"

    lab.state.tasks.queue_block = 0.1
    assert lab.state.threads.running == []  # nothing at init
    with lab.app.app_context(), session_context(lab.start_raw()):
        try:
            assert hello.run_sync(timeout=5).result == "hello"
        finally:
            lab.weblab.stop_threads()


def test_lapsed_lease_fences_its_worker(make_lab: Callable[..., Lab]) -> None:
    with _claimed_then_silent(make_lab, "w1") as (lab, held, task, now):
        runtime = lab.state.tasks
        store, tid = runtime.store, task.task_id
        assert store.store_data(tid, '{"step": 1}', owner="w1", now=now + 0.1)
        assert not store.store_data(tid, '{"step": 9}', owner="w2", now=now + 0.1)
        late = now + 0.3  # past the lease; nobody has reaped the task yet
        assert not store.store_data(tid, '{"step": 2}', owner="w1", now=late)
        assert not store.finish(
            tid, task.session_id, status="done", result_json="1", owner="w1", ttl=60, now=late
        )
        claimed = store.load(tid)
        assert claimed is not None and claimed.lock  # a unique task: its lock is declared too
        report = store.heartbeat("w1", [(tid, claimed.lock)], now=late, lease=0.2, ttl=60, info={})
        assert report.lost == [tid] and report.lapsed == [tid]  # not renewed: lost for good
        stored = store.load(tid)
        assert stored is not None and stored.status == "running" and stored.data == {"step": 1}
        runtime.clock = lambda: late
        # The first read reports it failed and fails it for good (lock freed, joiners woken).
        assert task.retrieve().failed and task.error["code"] == "worker-lost"
        assert [t.status for t in lab.weblab.tasks] == ["failed"]
        assert held.delay().submitted
