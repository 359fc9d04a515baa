"""The health URL under a burst: 50 concurrent calls to a lab in another process.

The lab (``benchmarks/health_server.py``) runs on 127.0.0.1 under gunicorn (2 gthread
workers, keep-alive), on the real Redis, with its background threads on as deployed; its one
health check takes 1 s, and the checks run in rounds every :data:`INTERVAL` seconds. The
client opens :data:`CALLS` keep-alive connections first (one request each, then
:data:`WARM_BURSTS` bursts, untimed: every server thread has its store connection), then
sends :data:`BURSTS` bursts, :data:`GAP` s apart: each writes one pre-built HTTP/1.1 request
on every connection at once and times each reply from the burst's start (asyncio, raw
sockets: the client's own cost stays small). Budgets (issue 20): every call answers within
50 ms, from the stored result (``success: true``), and the check runs once per interval. An
informational row runs the same bursts against a constant WSGI reply on the same server: the
floor that the server, the client and the machine's load set by themselves.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import subprocess
import time
import urllib.request
import uuid
from typing import Any

import redis

from tests.support.redis_server import end_processes

from .common import INFO, Row, redis_url, verdict
from .gunicorn_server import ROOT, serve_with_gunicorn
from .health_server import runs_key

CALLS = 50
BURSTS = 12
#: Untimed bursts first: the server's threads open their store connections.
WARM_BURSTS = 2
#: Seconds between bursts: the bursts span three intervals, some during a running check.
GAP = 0.5
INTERVAL = 2.0
CHECK_SECONDS = 1.0
LATENCY_BUDGET_MS = 50.0
#: gunicorn's worker processes (one per core) and threads per worker.
WORKERS = int(os.environ.get("BENCH_HEALTH_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_HEALTH_THREADS", "8"))
REQUEST = b"GET /weblab/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


APP = "benchmarks.health_server:create_app()"
FLOOR_APP = "benchmarks.health_server:create_floor_app()"


def _latency(bursts: list[list[float]]) -> str:
    latencies = [ms for burst in bursts for ms in burst]
    per_burst = sorted(max(burst) for burst in bursts)
    within = sum(1 for worst in per_burst if worst <= LATENCY_BUDGET_MS)
    return (
        f"p50 {statistics.median(latencies):.1f} ms, max {per_burst[-1]:.1f} ms "
        f"(burst maxima {per_burst[0]:.1f}-{per_burst[-1]:.1f} ms; "
        f"{within} of {len(bursts)} bursts all within {LATENCY_BUDGET_MS:g} ms)"
    )


def run() -> list[Row]:
    """The latency of the bursts and how often the check ran, then the same bursts on a
    constant reply (the floor set by the server, the client and the machine)."""
    logging.getLogger("weblab_ext").setLevel(logging.ERROR)
    result = measure(redis_url())
    floor = measure(redis_url(), app=FLOOR_APP)
    worst = max(max(burst) for burst in result["bursts"])
    runs, window = result["runs"], result["window"]
    allowed = int(window // INTERVAL) + 1
    return [
        Row(
            f"health: {CALLS} concurrent calls, {CHECK_SECONDS:g} s check "
            f"(gunicorn {WORKERS}x{THREADS} gthread, {BURSTS} bursts)",
            _latency(result["bursts"]),
            f"max <= {LATENCY_BUDGET_MS:g} ms",
            verdict(worst <= LATENCY_BUDGET_MS),
        ),
        Row(
            "health: the same bursts on a constant WSGI reply (server + client floor)",
            _latency(floor["bursts"]),
            "-",
            INFO,
        ),
        Row(
            f"health: replies of those {CALLS * BURSTS} calls",
            f"{result['successes']} success, {result['stored_results']} stored results seen",
            "all success, from the stored result",
            verdict(result["successes"] == CALLS * BURSTS),
        ),
        Row(
            f"health: check runs while bursting ({window:.1f} s, interval {INTERVAL:g} s)",
            f"{runs}",
            f"once per interval (<= {allowed})",
            verdict(1 <= runs <= allowed),
        ),
    ]


def _start(store_url: str, base: str, app: str) -> tuple[subprocess.Popen[str], int]:
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        BENCH_REDIS_URL=store_url,
        BENCH_REDIS_BASE=base,
        BENCH_HEALTH_INTERVAL=str(INTERVAL),
        BENCH_CHECK_SECONDS=str(CHECK_SECONDS),
    )
    options = ("--workers", str(WORKERS), "--worker-class", "gthread", "--threads", str(THREADS))
    return serve_with_gunicorn(app, [*options, "--keep-alive", "60"], env)


async def _reply(reader: asyncio.StreamReader) -> dict[str, object]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return dict(json.loads(await reader.readexactly(length)))


async def _bursts(port: int) -> tuple[list[list[float]], list[dict[str, object]], float]:
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(CALLS)]
    try:
        for reader, writer in connections:  # each connection accepted and kept alive
            writer.write(REQUEST)
            await _reply(reader)
        bursts: list[list[float]] = []
        replies: list[dict[str, object]] = []
        for _ in range(WARM_BURSTS):  # untimed: every thread's store connection opened
            for _, writer in connections:
                writer.write(REQUEST)
            await asyncio.gather(*(_reply(reader) for reader, _ in connections))
        first = time.perf_counter()
        for index in range(BURSTS):
            await asyncio.sleep(max(0.0, first + index * GAP - time.perf_counter()))

            async def timed(reader: asyncio.StreamReader, started: float) -> float:
                replies.append(await _reply(reader))
                return (time.perf_counter() - started) * 1000

            started = time.perf_counter()
            for _, writer in connections:
                writer.write(REQUEST)
            bursts.append(
                list(await asyncio.gather(*(timed(reader, started) for reader, _ in connections)))
            )
        return bursts, replies, time.perf_counter() - first
    finally:
        for _, writer in connections:
            writer.close()


def _first_answer(port: int) -> None:
    url = f"http://127.0.0.1:{port}/weblab/health"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=10) as reply:
            if json.load(reply)["success"] is True:
                return
        time.sleep(0.2)
    raise RuntimeError("the lab never answered success")


def measure(store_url: str, app: str = APP) -> dict[str, Any]:
    """Serve the lab under gunicorn and burst its health URL.

    :param app: the gunicorn app to serve (:data:`APP`, or :data:`FLOOR_APP`).
    :returns: ``bursts`` (each call's latency in ms, per burst), ``successes``, how many
        distinct ``stored_results`` (``checked_at``) the replies carried, the check's
        ``runs`` during the bursts and their ``window`` in seconds.
    """
    base = f"bench-{uuid.uuid4().hex[:12]}"
    counter = redis.Redis.from_url(store_url)
    process, port = _start(store_url, base, app)
    try:
        _first_answer(port)  # the first round ran (in a worker's background thread)
        before = int(counter.get(runs_key(base)) or 0)
        bursts, replies, window = asyncio.run(_bursts(port))
        runs = int(counter.get(runs_key(base)) or 0) - before
    finally:
        end_processes([process])
        counter.close()
    return {
        "bursts": bursts,
        "successes": sum(1 for reply in replies if reply.get("success") is True),
        "stored_results": len({reply.get("checked_at") for reply in replies}),
        "runs": runs,
        "window": window,
    }
