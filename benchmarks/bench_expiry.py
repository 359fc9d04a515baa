"""Mass expiry: many sessions due at once, disposed by real ``flask weblab loop`` processes.

Budgets: 2,000 sessions due at once with an ``on_dispose`` of 10 ms, all disposed within 5 s
by one worker process; 20,000 within 30 s by two. ``on_dispose`` must run exactly once per
session. The sessions are created with the real START script and all end at the same
instant; the clock starts then (the workers' cleaner interval, 0.5 s here, is part of it).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis

from tests.support.redis_server import end_processes

from .common import INFO, Row, create_bulk, make_lab, redis_url, template_record, verdict

ROOT = Path(__file__).resolve().parent.parent
#: (sessions, worker processes, budget in seconds)
SCENARIOS = ((2_000, 1, 5.0), (20_000, 2, 30.0))
DISPOSE_SECONDS = 0.01
CLEANER_INTERVAL = 0.5
#: Seconds a scenario may run before it is called failed.
GIVE_UP = 120.0


def run() -> list[Row]:
    """One row per scenario, plus the exactly-once check."""
    logging.getLogger("weblab_ext").setLevel(logging.ERROR)
    url = redis_url()
    rows = []
    for sessions, workers, budget in SCENARIOS:
        rows.extend(scenario(url, sessions, workers, budget))
    return rows


def _start_workers(url: str, base: str, counts: str, workers: int) -> list[subprocess.Popen[bytes]]:
    env = dict(
        os.environ,
        BENCH_REDIS_URL=url,
        BENCH_BASE=base,
        BENCH_COUNTS=counts,
        BENCH_DISPOSE_SECONDS=repr(DISPOSE_SECONDS),
        BENCH_CLEANER_INTERVAL=repr(CLEANER_INTERVAL),
        PYTHONPATH=str(ROOT),
    )
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "benchmarks.expiry_app",
                "weblab",
                "loop",
                "--no-reload",
                "--threads",
                "1",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(workers)
    ]


def scenario(url: str, sessions: int, workers: int, budget: float) -> list[Row]:
    client = redis.Redis.from_url(url, decode_responses=True)
    app, _ = make_lab(url)
    state = app.extensions["weblab"]
    template = template_record(app)
    # The template session is ended here, by this process, so that only the bulk sessions
    # below are left for the workers (and counted): it would otherwise time out mid-run.
    state.service.dispose(template.session_id, wait=5.0, background=False)
    indexes = (state.keys.sessions_by_deadline(), state.keys.sessions_by_poll())
    if any(client.zcard(index) for index in indexes):
        raise RuntimeError("the template session is still indexed after its disposal")
    counts = f"bench-expiry-counts-{uuid.uuid4().hex}"
    processes = _start_workers(url, state.settings.redis_base, counts, workers)
    try:
        deadline = time.monotonic() + 60
        while client.zcard(state.keys.workers()) < workers:  # their heartbeats registered
            for process in processes:
                if process.poll() is not None:
                    error = process.stderr.read().decode() if process.stderr else ""
                    raise RuntimeError(f"a worker exited: {error[-500:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start")
            time.sleep(0.05)
        # Every session ends at the same instant, a little after they are all created.
        due_at = time.time() + 2.0 + sessions / 5_000
        create_bulk(client, state, template, sessions, max_date=due_at)
        if time.time() >= due_at:
            raise RuntimeError("creating the sessions took longer than planned")
        time.sleep(max(0.0, due_at - time.time()))
        started = time.monotonic()
        give_up = started + GIVE_UP
        while client.zcard(state.keys.sessions_by_deadline()) > 0:
            if time.monotonic() > give_up:
                break
            time.sleep(0.02)
        elapsed = time.monotonic() - started
        left = client.zcard(state.keys.sessions_by_deadline())
        calls = client.hvals(counts)
    finally:
        end_processes(processes, grace=20)
        client.delete(counts)
        client.close()
    once = len(calls) == sessions and set(calls) == {"1"}
    rate = (sessions - left) / elapsed if elapsed else 0.0
    label = f"{sessions:,} sessions due at once, on_dispose 10 ms, {workers} worker process"
    label += "es" if workers > 1 else ""
    return [
        Row(
            label,
            f"{elapsed:.2f} s ({rate:,.0f}/s){f', {left} left' if left else ''}",
            f"<= {budget:.0f} s",
            verdict(left == 0 and elapsed <= budget),
        ),
        Row(
            f"on_dispose exactly once ({sessions:,} sessions)",
            "yes" if once else f"no: {len(calls)} sessions, counts {sorted(set(calls))}",
            "exactly once",
            verdict(once) if left == 0 else INFO,
        ),
    ]
