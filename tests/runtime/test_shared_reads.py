"""Health calls arriving together share one store read, never one older than the call."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from weblab_ext.runtime.shared_reads import SharedReads


def test_calls_one_after_another_each_read() -> None:
    reads: SharedReads[int] = SharedReads()
    count = iter(range(1, 100))
    assert [reads.read("lab", lambda: next(count)) for _ in range(3)] == [1, 2, 3]


def test_a_burst_shares_a_few_reads_each_started_after_its_call() -> None:
    reads: SharedReads[float] = SharedReads()
    started: list[float] = []

    def fetch() -> float:
        at = time.monotonic()
        started.append(at)
        time.sleep(0.02)  # a store round trip on a busy machine
        return at

    def call(_: int) -> tuple[float, float]:
        arrived = time.monotonic()
        return arrived, reads.read("board-1", fetch)

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(call, range(50)))
    assert all(read_at >= arrived for arrived, read_at in results)  # never an older answer
    assert len(started) <= 10  # instead of 50


def test_keys_do_not_share() -> None:
    reads: SharedReads[str] = SharedReads()
    assert reads.read("board-1", lambda: "one") == "one"
    assert reads.read("board-2", lambda: "two") == "two"


def test_a_failed_read_fails_its_sharers_and_the_next_call_reads_again() -> None:
    reads: SharedReads[str] = SharedReads()
    gate, calls = threading.Event(), []

    def failing() -> str:
        calls.append("read")
        gate.wait(5)
        raise ConnectionError("store down")

    errors: list[BaseException] = []

    def call() -> None:
        try:
            reads.read("lab", failing)
        except ConnectionError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for thread in threads:
        thread.start()
    time.sleep(0.05)
    gate.set()
    for thread in threads:
        thread.join(5)
    assert len(errors) == 5 and len(calls) <= 2
    assert reads.read("lab", lambda: "back") == "back"
    with pytest.raises(ValueError):
        reads.read("lab", lambda: str(int("x")))
