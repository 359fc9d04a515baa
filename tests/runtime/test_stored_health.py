"""Stored health: checks run in background rounds (``WEBLAB_HEALTH_CHECK_INTERVAL``), the
health URL reads their result, and a device broken by its checks comes back when they pass.

Each test runs on a real Redis and on the embedded store (``store_url``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support.devices import dispose_on, start_on, status_of
from tests.support.lab import Lab, json_of
from tests.support.round_trips import RoundTrips, count_round_trips
from weblab_ext.runtime.health_monitor import FAILURES_TO_BROKEN, HealthLoop
from weblab_ext.states import DeviceState

BOARDS = ["board-1", "board-2"]


def health(lab: Lab, path: str) -> dict[str, Any]:
    return dict(json_of(lab.app.test_client().get(path)))


@pytest.fixture
def pool(make_lab: Callable[..., Lab]) -> Lab:
    lab = make_lab(WEBLAB_DEVICES=BOARDS, WEBLAB_HEALTH_CHECK_INTERVAL=1)
    lab.calls = []  # type: ignore[attr-defined]
    lab.healthy = {name: True for name in BOARDS}  # type: ignore[attr-defined]

    @lab.weblab.health_check
    def board_ok(device: str) -> bool:
        lab.calls.append(device)  # type: ignore[attr-defined]
        return lab.healthy[device]  # type: ignore[attr-defined, no-any-return]

    for device in BOARDS:  # seen once: idle
        lab.state.devices.lifecycle.first_seen(device)
    return lab


def monitor(lab: Lab) -> Any:
    return lab.state.threads.health


def test_the_health_url_reads_the_stored_result_and_runs_no_check(pool: Lab) -> None:
    # No background thread (WEBLAB_NO_THREAD): the first call waits for a first round,
    # which checks every idle device.
    first = health(pool, "/devices/board-1/weblab/health")
    assert first["success"] is True and first["message"] == "ok: store, board_ok (board-1)"
    assert first["state"] == "idle" and abs(first["checked_at"] - time.time()) < 60
    assert monitor(pool).wait_for_round(10)
    assert sorted(pool.calls) == BOARDS  # type: ignore[attr-defined]
    for _ in range(20):
        report = health(pool, "/devices/board-2/weblab/health")
    assert report["success"] is True
    assert report["message"] == "ok: store, board_ok (board-2)"
    assert sorted(pool.calls) == BOARDS  # type: ignore[attr-defined]
    assert monitor(pool).run_once(claim=False) == 2
    assert health(pool, "/devices/board-1/weblab/health")["checked_at"] > first["checked_at"]


def test_a_round_runs_once_per_interval_across_processes(pool: Lab) -> None:
    assert monitor(pool).run_once() == 2
    assert monitor(pool).run_once() == 0  # another process (or this one) ran it already


def test_failed_checks_in_a_row_break_an_idle_device_and_a_pass_brings_it_back(
    pool: Lab,
) -> None:
    pool.healthy["board-2"] = False  # type: ignore[attr-defined]
    for _ in range(FAILURES_TO_BROKEN - 1):
        monitor(pool).run_once(claim=False)
        assert status_of(pool, "board-2").state == DeviceState.IDLE
    report = health(pool, "/devices/board-2/weblab/health")
    assert report["success"] is False and "returned false" in report["message"]
    monitor(pool).run_once(claim=False)
    status = status_of(pool, "board-2")
    assert status.state == DeviceState.BROKEN and "health checks failed" in status.reason
    assert start_on(pool, "board-2").json["code"] == "device-broken"
    pool.healthy["board-2"] = True  # type: ignore[attr-defined]
    monitor(pool).run_once(claim=False)
    assert status_of(pool, "board-2").state == DeviceState.IDLE
    assert health(pool, "/devices/board-2/weblab/health")["success"] is True
    assert start_on(pool, "board-2").status_code == 200


def test_a_device_in_use_is_not_checked_and_reads_healthy(pool: Lab) -> None:
    start_on(pool, "board-1")
    monitor(pool).run_once(claim=False)
    assert pool.calls == ["board-2"]  # type: ignore[attr-defined]
    report = health(pool, "/devices/board-1/weblab/health")
    assert report["state"] == "in-use"
    assert report["success"] is True and report["message"] == "busy: in-use"


def test_fifty_concurrent_calls_with_a_slow_check_answer_from_the_stored_result(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab(WEBLAB_HEALTH_CHECK_INTERVAL=1)
    runs: list[float] = []

    @lab.weblab.health_check
    def slow() -> bool:
        runs.append(time.monotonic())
        time.sleep(1)
        return True

    stop = threading.Event()
    loop = HealthLoop(monitor(lab), stop, store_label="test")
    thread = loop.start()
    try:
        deadline = time.monotonic() + 10
        while health(lab, "/weblab/health")["checked_at"] is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)

        def call(_: int) -> tuple[float, dict[str, Any]]:
            client = lab.app.test_client()
            started = time.perf_counter()
            reply = json_of(client.get("/weblab/health"))
            return time.perf_counter() - started, reply

        with ThreadPoolExecutor(50) as pool:
            results = list(pool.map(call, range(50)))
        slowest = max(took for took, _ in results)
        assert all(reply["success"] is True for _, reply in results)
        assert slowest < 0.25, slowest  # 50 ms budget; margin for a loaded 2-core machine
        window = runs[-1] - runs[0] if len(runs) > 1 else 0.0
        assert len(runs) <= 2 + window  # once per interval (each run lasts 1 s)
    finally:
        stop.set()
        thread.join(5)


def test_a_stored_health_call_is_one_store_round_trip(
    pool: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = "/devices/board-1/weblab/health"
    monitor(pool).run_once(claim=False)
    client = pool.app.test_client()
    client.get(path)  # scripts loaded, connections open
    counter: RoundTrips = count_round_trips(monkeypatch, this_thread_only=True)
    for _ in range(3):
        assert counter.of(lambda: client.get(path)) == 1, counter.commands


def test_a_check_may_ask_to_run_while_the_device_is_busy(pool: Lab) -> None:
    watched: list[str] = []

    @pool.weblab.health_check(while_busy=True)
    def temperature(device: str) -> bool:
        watched.append(device)
        return False

    session_id = start_on(pool, "board-1").json["session_id"]
    pool.calls.clear()  # type: ignore[attr-defined]
    for _ in range(FAILURES_TO_BROKEN):
        monitor(pool).run_once(claim=False)
    assert watched.count("board-1") == FAILURES_TO_BROKEN
    assert "board-1" not in pool.calls  # type: ignore[attr-defined]
    # Its failures count, but a device a student holds is never made broken under them.
    assert status_of(pool, "board-1").state == DeviceState.IN_USE
    assert health(pool, "/devices/board-1/weblab/health")["success"] is True
    dispose_on(pool, "board-1", session_id)
    monitor(pool).run_once(claim=False)
    assert status_of(pool, "board-1").state == DeviceState.BROKEN
