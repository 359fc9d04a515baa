"""The background-loop base: one failure policy for every loop, ticks without threads."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import pytest
import redis

from weblab_ext.runtime.loops import MAX_BACKOFF, Loop, PerProcess, backoff
from weblab_ext.store.connection import connect, describe
from weblab_ext.store.keys import Keys
from weblab_ext.store.locks import Lock


class Scripted(Loop):
    """A loop whose ticks raise or return what a script says."""

    def __init__(self, script: list[Any]) -> None:
        super().__init__(
            "weblab-test-loop", threading.Event(), store_label="redis://user:***@db.example:6379/0"
        )
        self.script = script
        self.initialized = self.resets = 0
        self.times: list[float] = []

    def initialize(self) -> None:
        self.initialized += 1

    def reset(self) -> None:
        self.resets += 1

    def clock(self) -> float:
        return 1000.0

    def tick(self, now: float) -> float:
        self.times.append(now)
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        if not self.script:
            self.stop_event.set()
        return float(step)


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [0.1, 0.2, 0.4]
    assert backoff(50) == MAX_BACKOFF


def test_store_error_backs_off_and_names_the_store_without_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="weblab_ext")
    loop = Scripted([redis.ConnectionError("down"), redis.TimeoutError("slow"), 2.5])
    assert loop.step() == backoff(1)
    assert loop.step() == backoff(2)
    assert loop.step() == 2.5
    assert loop.failures == 0
    assert loop.times == [1000.0] * 3  # tick gets the loop's clock
    # Each failure forgets the connection-bound resource; the next step prepares it again.
    assert loop.initialized == 3 and loop.resets == 2
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith(
        "weblab-test-loop cannot reach the store at redis://user:***@db.example:6379/0 (attempt 1"
    )
    assert "secret" not in caplog.text


def test_other_errors_are_logged_with_traceback_and_back_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = Scripted([ValueError("bug"), 0])
    assert loop.step() == backoff(1)
    record = caplog.records[-1]
    assert record.exc_info is not None and "weblab-test-loop failed" in record.getMessage()


def test_run_stops_on_request_and_shuts_down() -> None:
    events: list[str] = []

    class Once(Scripted):
        def shutdown(self) -> None:
            events.append("shutdown")

    loop = Once([0, 0])
    thread = loop.start()
    thread.join(5)
    assert not thread.is_alive()
    assert events == ["shutdown"] and loop.resets == 1  # reset once at the end


def test_per_process_runs_once_per_process_until_forgotten() -> None:
    calls: list[int] = []
    once = PerProcess(lambda: calls.append(os.getpid()))
    assert once.ensure() and not once.ensure()
    assert once.started and calls == [os.getpid()]
    once.forget()
    assert once.ensure() and len(calls) == 2


def test_describe_masks_passwords() -> None:
    assert describe("redis://:s3cret@host:6379/0") == "redis://:***@host:6379/0"
    assert describe("rediss://user:s3cret@host/1") == "rediss://user:***@host/1"
    assert describe("redis://host:6379/0") == "redis://host:6379/0"
    assert describe(None) == "the embedded store"


def test_lock_has_one_owner_and_a_lifetime_in_seconds(store_url: str) -> None:
    client = connect(store_url)
    lock = Lock(client, Keys(f"locks-{os.getpid()}").unique_lock("calibrate"))
    assert lock.acquire("a", ttl=5)
    assert not lock.acquire("b", ttl=5)
    assert 4000 < client.pttl(lock.key) <= 5000
    assert not lock.release("b")  # only the owner releases
    assert lock.release("a")
    with lock.held("c", ttl=1) as acquired:
        assert acquired
        with lock.held("d", ttl=1) as again:
            assert not again
    assert lock.acquire("e", ttl=1)  # released at the end of the block
    lock.release("e")
