"""``flask weblab loop`` and ``flask weblab run-tasks`` (Flask layer, thin)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from ..app_state import LabState
from ..context import lab_state
from ..protocol import printable
from ..runtime.cleaner import CleanerLoop
from ..runtime.health_monitor import HealthLoop
from ..runtime.task_runs import TaskRun
from ..runtime.workers import start_task_threads
from .embedded_store import embedded_note, refuse_embedded


def run_loop(
    state: LabState, threads: int, max_seconds: float | None = None, grace: float | None = None
) -> None:
    """Run task threads (plus heartbeat, stop listener, cleaner and the health checks, once
    per ``WEBLAB_HEALTH_CHECK_INTERVAL``) until SIGTERM/SIGINT.

    :param max_seconds: stop by itself after this long (tests).
    :param grace: seconds running tasks get to stop at shutdown.
    """
    engine = state.tasks
    if grace is not None:
        engine.shutdown_grace = grace
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        started = start_task_threads(engine, stop, threads, store_label=state.store_label)
        started.append(
            CleanerLoop(state.service, stop, store_label=state.store_label, tasks=engine).start()
        )
        health = state.threads.health  # the stored health checks
        if health is not None:
            started.append(HealthLoop(health, stop, store_label=state.store_label).start())
        end = None if max_seconds is None else time.monotonic() + max_seconds
        while not stop.wait(0.2):
            if end is not None and time.monotonic() >= end:
                stop.set()
        click.echo("Waiting...")
        # The heartbeat drains (stop requests, grace, worker-lost); after it only runners
        # stuck in a task that ignores stop requests are left, and they are daemons.
        started[0].join(engine.shutdown_grace + 3)
        deadline = time.monotonic() + 1.5
        for thread in started[1:]:
            thread.join(max(0.0, deadline - time.monotonic()))
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@click.command("loop")
@click.option(
    "--threads", default=5, show_default=True, type=int, help="Task threads in this process."
)
@click.option(
    "--reload/--no-reload",
    default=None,
    help="Restart on code changes (default: the app's debug flag).",
)
@click.option(
    "--max-seconds", type=float, default=None, hidden=True, envvar="WEBLAB_LOOP_MAX_SECONDS"
)
@click.option("--grace", type=float, default=10.0, hidden=True)
@with_appcontext
def loop_command(
    threads: int, reload: bool | None, max_seconds: float | None, grace: float
) -> None:
    """Run background tasks (and the expiry cleaner) in this process until stopped."""
    state = lab_state()
    refuse_embedded(state)
    _show_task_log()
    if reload is None:
        reload = bool(current_app.debug)
    click.echo(f"Running {threads} threads")
    if reload:
        from werkzeug._reloader import run_with_reloader

        click.echo("Running with reloader. Don't use this in production mode.")
        run_with_reloader(lambda: run_loop(state, threads, max_seconds, grace))
    else:
        run_loop(state, threads, max_seconds, grace)


def _show_task_log() -> None:
    """Make the worker's INFO lines (each task's start and end) visible on stderr, unless the
    app configured logging itself."""
    package = logging.getLogger("weblab_ext")
    if logging.getLogger().handlers or package.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    package.addHandler(handler)
    package.setLevel(logging.INFO)


def _describe(run: TaskRun) -> str:
    what = f" ({printable(run.error)})" if run.error else ""
    return f"  {run.name} [{run.task_id[:8]}]: {run.status}{what} in {run.seconds:.2f} s"


@click.command("run-tasks")
@with_appcontext
def run_tasks_command() -> None:
    """Run every queued task once, in this process, then exit."""
    state = lab_state()
    embedded_note(state)
    runs: list[TaskRun] = []
    listener = runs.append
    engine = state.tasks
    engine.run_listeners.append(listener)
    try:
        engine.run_tasks()
    finally:
        engine.run_listeners.remove(listener)
    if not runs:
        click.echo("No task was queued.")
        return
    click.echo(f"Ran {len(runs)} task(s):")
    for run in runs:
        click.echo(_describe(run))
