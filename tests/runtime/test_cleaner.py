"""The expiry cleaner: which sessions a pass disposes, its lock, and the background thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from tests.support.lab import Lab
from weblab_ext.runtime.cleaner import CleanerLoop


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def clean(lab: Lab) -> int:
    with lab.app.app_context():
        return int(lab.weblab.clean_expired_users())


def start_at(lab: Lab, clock: Clock, length: float = 200) -> str:
    return lab.start_raw(
        server={
            "priority.queue.slot.start.timestamp": repr(clock.now),
            "priority.queue.slot.length": repr(length),
        }
    )


def test_pass_disposes_exactly_the_due_sessions(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_TIMEOUT=10)
    clock = Clock()
    lab.state.clock = clock
    short = start_at(lab, clock, length=5)
    silent = start_at(lab, clock)
    exited = start_at(lab, clock)
    busy = start_at(lab, clock)
    lab.browser(exited).get(f"/callback/{exited}/logout")
    assert clean(lab) == 1  # only the logged-out one is due yet
    assert lab.disposed == [exited]
    clock.now += 6
    lab.browser(busy).get("/lab")  # `busy` keeps polling; `silent` does not.
    assert clean(lab) == 1
    assert lab.disposed[-1] == short
    clock.now += 5
    lab.browser(busy).get("/lab")
    clock.now += 5
    assert clean(lab) == 1
    assert lab.disposed[-1] == silent
    assert clean(lab) == 0
    assert lab.status(busy) == 5
    assert sorted(lab.disposed) == sorted([short, silent, exited])
    assert lab.state.monitoring.session_counts().total == 1


@pytest.mark.parametrize("timeout", [0, -1])
def test_no_timeout_disposes_no_silent_session(
    make_lab: Callable[..., Lab], timeout: float
) -> None:
    lab = make_lab(WEBLAB_TIMEOUT=timeout)
    clock = Clock()
    lab.state.clock = clock
    session_id = start_at(lab, clock)
    clock.now += 199
    assert clean(lab) == 0
    assert lab.status(session_id) >= 1
    clock.now += 2
    assert clean(lab) == 1
    assert lab.disposed == [session_id]


def test_runtime_timeout_applies_to_the_cleaner(lab: Lab) -> None:
    clock = Clock()
    lab.state.clock = clock
    session_id = start_at(lab, clock)
    clock.now += 1
    assert clean(lab) == 0
    with lab.app.app_context():
        lab.weblab.timeout = 0.5
    assert clean(lab) == 1
    assert lab.disposed == [session_id]


def test_disposed_by_cleaner_then_rlms(lab: Lab) -> None:
    session_id = lab.start_raw()
    lab.browser(session_id).get(f"/callback/{session_id}/logout")
    assert clean(lab) == 1
    assert lab.status(session_id) == -1
    assert lab.dispose(session_id)["message"] == "Deleted"
    assert lab.disposed == [session_id]


def test_index_entry_without_record_is_dropped(lab: Lab) -> None:
    session_id = lab.start_raw()
    lab.browser(session_id).get(f"/callback/{session_id}/logout")
    lab.state.client.delete(lab.state.keys.session(session_id))
    assert clean(lab) == 0
    assert lab.state.monitoring.session_counts().total == 0
    assert lab.disposed == []


def test_on_dispose_error_does_not_stop_the_pass(lab: Lab) -> None:
    calls: list[str] = []

    def on_dispose() -> None:
        from weblab_ext import weblab_user

        calls.append(weblab_user.session_id)
        raise RuntimeError("broken")

    lab.weblab.callbacks.on_dispose = on_dispose
    ids = [lab.start_raw() for _ in range(3)]
    for session_id in ids:
        lab.browser(session_id).get(f"/callback/{session_id}/logout")
    assert clean(lab) == 3
    assert sorted(calls) == sorted(ids)


class FakeState:
    def __init__(self, failures: list[BaseException | None]) -> None:
        self.failures = failures
        self.cleaner_interval = 0.01
        self.calls = 0
        self.done = threading.Event()

    def clean_expired(self, *, should_stop: Any = None) -> int:
        self.calls += 1
        failure = self.failures.pop(0) if self.failures else None
        if not self.failures:
            self.done.set()
        if failure is not None:
            raise failure
        return 0


def test_cleaner_thread_survives_errors(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import weblab_ext.runtime.loops

    monkeypatch.setattr(weblab_ext.runtime.loops, "MAX_BACKOFF", 0.02)
    caplog.set_level(logging.WARNING, logger="weblab_ext")
    state: Any = FakeState([redis.ConnectionError("down"), ValueError("bug"), None])
    stop = threading.Event()
    thread = CleanerLoop(state, stop, store_label="redis://:***@store").start()
    try:
        assert state.done.wait(5)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert state.calls >= 3
    assert "weblab-cleaner cannot reach the store at redis://:***@store" in caplog.text
    assert "weblab-cleaner failed" in caplog.text


def test_cleaner_thread_disposes_in_background(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(
        WEBLAB_NO_THREAD=False,
        WEBLAB_AUTOCLEAN_THREAD=True,
        WEBLAB_TASK_THREADS_PROCESS=0,
        WEBLAB_CLEANER_INTERVAL=0.02,
    )
    gone = threading.Event()
    lab.weblab.callbacks.on_dispose = gone.set
    session_id = lab.start_raw()  # the first request starts the thread
    try:
        lab.browser(session_id).get(f"/callback/{session_id}/logout")
        assert gone.wait(5)
    finally:
        with lab.app.app_context():
            lab.weblab.stop_threads(2)
    assert lab.status(session_id) == -1


# -- mass expiry: batches, a bounded pool, several cleaners ---------------------------------------


class DisposeProbe:
    """An ``on_dispose`` that takes a while and records how many ran at the same time."""

    def __init__(self, seconds: float = 0.02) -> None:
        self.seconds = seconds
        self.calls: list[str] = []
        self.threads: set[str] = set()
        self.running = self.most = 0
        self.lock = threading.Lock()

    def __call__(self) -> None:
        from weblab_ext import weblab_user

        with self.lock:
            self.calls.append(weblab_user.session_id)
            self.threads.add(threading.current_thread().name)
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1


def due_sessions(lab: Lab, count: int) -> list[str]:
    ids = [lab.start_raw() for _ in range(count)]
    for session_id in ids:
        lab.state.service.logout(session_id)
    return ids


def test_pass_runs_on_dispose_in_a_bounded_pool(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_CLEANER_CONCURRENCY=4, WEBLAB_CLEANER_BATCH=3)
    probe = DisposeProbe()
    lab.weblab.callbacks.on_dispose = probe
    ids = due_sessions(lab, 25)
    assert clean(lab) == 25  # one pass, many batches: it keeps going while sessions are due
    assert sorted(probe.calls) == sorted(ids)  # each exactly once
    assert 1 < probe.most <= 4
    assert all(name.startswith("weblab-dispose") for name in probe.threads)
    assert clean(lab) == 0
    assert {lab.status(session_id) for session_id in ids} == {-1}
    assert lab.state.monitoring.session_counts().total == 0


def test_concurrency_one_disposes_in_the_calling_thread(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_CLEANER_CONCURRENCY=1, WEBLAB_CLEANER_BATCH=2)
    probe = DisposeProbe(0)
    lab.weblab.callbacks.on_dispose = probe
    due_sessions(lab, 5)
    assert clean(lab) == 5
    assert probe.threads == {threading.current_thread().name}


def test_several_cleaners_share_the_work_exactly_once(make_lab: Callable[..., Lab]) -> None:
    """Cleaners of several processes (here: apps on one store) claim disjoint batches."""
    first = make_lab(WEBLAB_CLEANER_CONCURRENCY=2, WEBLAB_CLEANER_BATCH=4)
    second = make_lab(
        WEBLAB_REDIS_BASE=first.app.config["WEBLAB_REDIS_BASE"],
        WEBLAB_CLEANER_CONCURRENCY=2,
        WEBLAB_CLEANER_BATCH=4,
    )
    probes = [DisposeProbe(0.01), DisposeProbe(0.01)]
    first.weblab.callbacks.on_dispose, second.weblab.callbacks.on_dispose = probes
    ids = due_sessions(first, 60)
    counts: list[int] = []
    go = threading.Barrier(2)

    def run(lab: Lab) -> None:
        go.wait()
        counts.append(clean(lab))

    threads = [threading.Thread(target=run, args=(lab,)) for lab in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(counts) == 60
    assert sorted(probes[0].calls + probes[1].calls) == sorted(ids)
    assert probes[0].calls and probes[1].calls  # both did part of it


def test_stop_ends_the_pass_after_what_was_claimed(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_CLEANER_CONCURRENCY=2, WEBLAB_CLEANER_BATCH=4)
    probe = DisposeProbe(0)
    lab.weblab.callbacks.on_dispose = probe
    due_sessions(lab, 10)
    asked: list[int] = []

    def stop_after_one_batch() -> bool:
        asked.append(1)
        return len(asked) > 1

    assert lab.state.service.clean_expired(should_stop=stop_after_one_batch) == 4
    assert len(probe.calls) == 4
    assert clean(lab) == 6


def test_cleaner_finishes_a_disposal_whose_disposer_died(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    clock = Clock()
    lab.state.clock = clock
    session_id = start_at(lab, clock)
    # A process won the disposal, then died before finishing it: the session is `disposing`.
    outcome, _record = lab.state.sessions.begin_dispose(
        session_id, now=clock.now, timeout=0, only_if_due=False
    )
    assert outcome == "won"
    assert clean(lab) == 0
    assert lab.status(session_id) == 2  # ask again
    clock.now += 601
    assert clean(lab) == 1
    assert lab.status(session_id) == -1
    assert lab.disposed == []  # on_dispose may have run already: never twice
    assert lab.state.monitoring.session_counts().total == 0
