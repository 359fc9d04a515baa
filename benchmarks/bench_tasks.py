"""Task system benchmark: pickup latency, join wake-up, throughput, Redis commands per task,
dead-worker detection; printed against the DESIGN.md budgets.

Run from the repository root: ``python -m benchmarks.bench_tasks [--tasks 300]``. It starts
its own redis-server on 127.0.0.1 (tests/support/redis_server.py) and removes it at the end.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from flask import Flask

from benchmarks.common import INFO, Row, redis_url, verdict
from tests.support.redis_server import RedisServer
from weblab_ext import WebLab
from weblab_ext.context import session_context
from weblab_ext.runtime.workers import HeartbeatLoop

SESSION = "bench-session"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Bench:
    """One lab app with ``threads`` in-process workers on the benchmark Redis."""

    def __init__(self, url: str, threads: int, heartbeat: float = 5.0) -> None:
        self.app = Flask(f"bench_{uuid.uuid4().hex[:6]}")
        self.app.config.update(
            SECRET_KEY="x",
            WEBLAB_USERNAME="u",
            WEBLAB_PASSWORD="p",
            WEBLAB_REDIS_URL=url,
            WEBLAB_REDIS_BASE=f"bench-{uuid.uuid4().hex[:8]}",
            WEBLAB_NO_THREAD=threads == 0,
            WEBLAB_TASK_THREADS_PROCESS=threads,
            WEBLAB_AUTOCLEAN_THREAD=False,
            WEBLAB_HEARTBEAT_INTERVAL=heartbeat,
            WEBLAB_LOG_SESSION_LIFECYCLE=False,
        )
        if threads == 0:
            del self.app.config["WEBLAB_TASK_THREADS_PROCESS"]
            del self.app.config["WEBLAB_AUTOCLEAN_THREAD"]
        self.weblab = WebLab(self.app)
        self.started: dict[int, float] = {}
        self.ended: dict[int, float] = {}
        started, ended = self.started, self.ended

        @self.weblab.task
        def probe(index: int) -> int:
            started[index] = time.perf_counter()
            ended[index] = time.perf_counter()
            return index

        self.probe = probe

    @contextmanager
    def running(self) -> Iterator[None]:
        with self.app.app_context(), session_context(SESSION):
            self.weblab.start_threads()
            time.sleep(0.2)  # let every runner block on the queue
            try:
                yield
            finally:
                self.app.extensions["weblab"].tasks.shutdown_grace = 0
                self.weblab.stop_threads()


def bench_latency(url: str, count: int) -> dict[str, float]:
    """Pickup latency (delay → task body starts) and join wake-up (task end → join returns),
    one task at a time on an idle worker."""
    bench = Bench(url, threads=1)
    pickups, wakeups = [], []
    with bench.running():
        for index in range(count):
            before = time.perf_counter()
            task = bench.probe.delay(index)
            task.join(timeout=5)
            joined = time.perf_counter()
            pickups.append(bench.started[index] - before)
            wakeups.append(joined - bench.ended[index])
    ms = 1000.0
    return {
        "pickup_p50": statistics.median(pickups) * ms,
        "pickup_p95": _percentile(pickups, 0.95) * ms,
        "join_p50": statistics.median(wakeups) * ms,
        "join_p95": _percentile(wakeups, 0.95) * ms,
    }


def bench_throughput(url: str, threads: int, count: int) -> float:
    """Tasks per second with ``threads`` runners: submit ``count`` tasks, wait for all."""
    bench = Bench(url, threads=threads)
    with bench.running():
        begin = time.perf_counter()
        tasks = [bench.probe.delay(index) for index in range(count)]
        for task in tasks:
            task.join(timeout=30)
        elapsed = time.perf_counter() - begin
    return count / elapsed


def _commandstats(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name[len("cmdstat_") :]: int(value["calls"]) for name, value in stats.items()}


def bench_commands(url: str, count: int) -> tuple[float, float, dict[str, float]]:
    """Redis commands per task (delay + run + one join): server-side from INFO commandstats
    deltas (commands inside scripts included), and client round trips."""
    bench = Bench(url, threads=1)
    client = redis.Redis.from_url(url, decode_responses=True)
    app_client = bench.app.extensions["weblab"].client
    original = app_client.execute_command
    trips = [0]
    lock = threading.Lock()

    def counting(*args: Any, **kwargs: Any) -> Any:
        with lock:
            trips[0] += 1
        return original(*args, **kwargs)

    with bench.running():
        time.sleep(0.1)
        before = _commandstats(client)
        app_client.execute_command = counting
        for index in range(count):
            bench.probe.delay(index).join(timeout=5)
        app_client.execute_command = original
        after = _commandstats(client)
    client.close()
    delta = {name: (after.get(name, 0) - before.get(name, 0)) / count for name in after}
    delta = {name: calls for name, calls in delta.items() if calls > 0.01 and name != "info"}
    return sum(delta.values()), trips[0] / count, delta


def bench_dead_worker(url: str, heartbeat: float = 0.2) -> float:
    """Seconds from a worker's last lease renewal to its task failed as worker-lost."""
    bench = Bench(url, threads=0, heartbeat=heartbeat)
    runtime = bench.app.extensions["weblab"].tasks
    with bench.app.app_context(), session_context(SESSION):
        task = bench.probe.delay(0)
        runtime.store.pop_from_queue("dead")
        claimed_at = time.time()
        runtime.store.claim(
            task.task_id, "dead", now=claimed_at, lease=2 * heartbeat, ttl=60, duplicate_error={}
        )
        stop = threading.Event()
        runtime.shutdown_grace = 0
        HeartbeatLoop(runtime, stop, 0, store_label="bench").start()
        task.join(timeout=10)
        detected = time.time() - claimed_at
        stop.set()
    assert task.error and task.error["code"] == "worker-lost"
    return detected


#: Heartbeat used for the dead-worker measurement (short, so the run stays quick).
HEARTBEAT = 0.2


def measure(url: str, tasks: int = 300) -> tuple[list[tuple[str, str, str, bool | None]], str]:
    """Run every task measurement against ``url``.

    :returns: rows ``(what, measured, budget, ok or None)`` and the per-command breakdown.
    """
    latency = bench_latency(url, tasks)
    rates = {n: bench_throughput(url, n, tasks * 2) for n in (1, 2, 4)}
    per_task, trips, breakdown = bench_commands(url, tasks)
    detected = bench_dead_worker(url, HEARTBEAT)
    rows: list[tuple[str, str, str, bool | None]] = [
        (
            "task pickup latency p50 (idle worker)",
            f"{latency['pickup_p50']:.2f} ms",
            "< 5 ms",
            latency["pickup_p50"] < 5,
        ),
        ("task pickup latency p95", f"{latency['pickup_p95']:.2f} ms", "-", None),
        (
            "join() wake-up p50 (task end → join returns)",
            f"{latency['join_p50']:.2f} ms",
            "< 5 ms",
            latency["join_p50"] < 5,
        ),
        ("join() wake-up p95", f"{latency['join_p95']:.2f} ms", "-", None),
        (
            f"dead worker detected (heartbeat {HEARTBEAT} s)",
            f"{detected:.2f} s",
            f"< {3 * HEARTBEAT:.1f} s",
            detected < 3 * HEARTBEAT,
        ),
        *(
            (f"throughput, {n} worker thread(s)", f"{rate:.0f} tasks/s", "-", None)
            for n, rate in rates.items()
        ),
        ("Redis commands per task, server side (delay+run+join)", f"{per_task:.1f}", "-", None),
        ("Redis round trips per task, client side", f"{trips:.1f}", "-", None),
    ]
    details = ", ".join(
        f"{name} {calls:.2f}" for name, calls in sorted(breakdown.items(), key=lambda i: -i[1])
    )
    return rows, details


def run() -> list[Row]:
    """Entry point of ``python -m benchmarks``: the task rows on the shared server."""
    rows, _ = measure(redis_url())
    return [
        Row(what, measured, budget, INFO if ok is None else verdict(ok))
        for what, measured, budget, ok in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=300, help="tasks per measurement")
    options = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    server = RedisServer()
    server.start()
    try:
        rows, details = measure(server.url, options.tasks)
    finally:
        server.cleanup()
    width = max(len(row[0]) for row in rows)
    print(f"{'measure':<{width}}  {'value':>14}  {'budget':>8}  ok")
    for name, value, budget, ok in rows:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"{name:<{width}}  {value:>14}  {budget:>8}  {mark}")
    print("\ncommands per task: " + details)


if __name__ == "__main__":
    main()
