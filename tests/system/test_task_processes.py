"""Worker processes (``flask weblab loop``) on the real Redis: kill -9, SIGTERM, several
processes, a Redis restart, and the task CLI commands."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.lab import Lab, real_redis_only
from tests.support.redis_server import RedisServer
from tests.support.workers import HEARTBEAT, Workers, lab_with_workers, wait_running
from weblab_ext.context import session_context
from weblab_ext.runtime.workers import HeartbeatLoop


@pytest.fixture
def proc_lab(
    make_lab: Callable[..., Lab], store_url: str, tmp_path: Path
) -> Iterator[tuple[Lab, dict[str, Any], Workers]]:
    yield from lab_with_workers(make_lab, store_url, tmp_path, HEARTBEAT)


@real_redis_only
def test_kill_9_worker_mid_task(proc_lab: tuple[Lab, dict[str, Any], Workers]) -> None:
    lab, tasks, workers = proc_lab
    process = workers.start("--threads", "1")
    session_id = lab.start_raw()
    runtime = lab.state.tasks
    stop = threading.Event()
    with lab.app.app_context(), session_context(session_id):
        task = tasks["exclusive"].delay(30)
        wait_running(task)
        assert tasks["exclusive"].delay(1).failed  # the lock is held
        os.kill(process.pid, signal.SIGKILL)
        killed = time.monotonic()
        # A live worker process's heartbeat notices the lapsed lease.
        runtime.shutdown_grace = 0
        heartbeat = HeartbeatLoop(runtime, stop, 0, store_label="test").start()
        try:
            task.join(timeout=5)
            detected = time.monotonic() - killed
            assert task.failed and task.error["code"] == "worker-lost"
            assert detected < 3 * HEARTBEAT + 0.1, detected
            assert tasks["exclusive"].delay(0).submitted  # lock freed
        finally:
            stop.set()
            heartbeat.join(5)


@real_redis_only
def test_sigterm_stops_tasks_then_fails_stubborn_ones(
    proc_lab: tuple[Lab, dict[str, Any], Workers],
) -> None:
    lab, tasks, workers = proc_lab
    process = workers.start("--threads", "2", "--grace", "0.5")
    session_id = lab.start_raw()
    with lab.app.app_context(), session_context(session_id):
        polite = tasks["cooperative"].delay()
        rude = tasks["stubborn"].delay()
        wait_running(polite)
        wait_running(rude)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        output = process.stdout.read() if process.stdout else ""
        assert "Running 2 threads" in output and "Waiting..." in output
        assert polite.join(1).done and polite.result == "stopped"
        assert rude.join(1).failed and rude.error["code"] == "worker-lost"
        assert workers.client.zcard(workers.workers_key) == 0  # deregistered


@real_redis_only
def test_several_worker_processes(proc_lab: tuple[Lab, dict[str, Any], Workers]) -> None:
    lab, tasks, workers = proc_lab
    first = workers.start("--threads", "1")
    second = workers.start("--threads", "1")
    session_id = lab.start_raw()
    with lab.app.app_context(), session_context(session_id):
        batch = [tasks["whoami"].delay(0.1) for _ in range(6)]
        exclusive = tasks["exclusive"].delay(0.3)
        duplicate = tasks["exclusive"].delay(0.3)
        pids = {task.join(10).result for task in batch}
        assert pids == {first.pid, second.pid}
        assert exclusive.join(10).done and exclusive.result in pids
        assert duplicate.join(1).error["class"] == "AlreadyRunningError"
        mine = tasks["mine"].delay(0.3)
        assert tasks["mine"].delay(0).join(1).error["class"] == "AlreadyRunningError"
    with lab.app.app_context(), session_context(lab.start_raw()):
        theirs = tasks["mine"].delay(0.3)  # another session runs in parallel
        assert theirs.join(10).done and mine.join(10).done


@real_redis_only
def test_worker_survives_redis_restart(make_lab: Callable[..., Lab]) -> None:
    server = RedisServer()
    server.start()
    try:
        lab = make_lab(
            WEBLAB_REDIS_URL=server.url,
            WEBLAB_NO_THREAD=False,
            WEBLAB_TASK_THREADS_PROCESS=1,
            WEBLAB_AUTOCLEAN_THREAD=False,
            WEBLAB_HEARTBEAT_INTERVAL=0.1,
        )

        @lab.weblab.task
        def double(x: int) -> int:
            return 2 * x

        @lab.weblab.task
        def nap(seconds: float) -> None:
            time.sleep(seconds)

        runtime = lab.state.tasks
        runtime.queue_block = 0.2
        runtime.shutdown_grace = 0.2
        with lab.app.app_context():
            lab.weblab.start_threads()
            try:
                with session_context(lab.start_raw()):
                    assert double.run_sync(1, timeout=5).result == 2
                    wait_running(nap.delay(0.5))
                server.restart()  # during a task: all data lost, connections dropped
                time.sleep(0.3)
                with session_context(lab.start_raw()):
                    assert double.run_sync(2, timeout=10).result == 4
                assert runtime.listener_alive.wait(5)
            finally:
                lab.weblab.stop_threads()
    finally:
        server.cleanup()


def test_cli_commands(
    make_lab: Callable[..., Lab], store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = make_lab()

    @lab.weblab.task
    def triple(x: int) -> int:
        return 3 * x

    runner = lab.app.test_cli_runner()
    session_id = lab.start_raw()
    with lab.app.app_context(), session_context(session_id):
        task = triple.delay(2)
    result = runner.invoke(args=["weblab", "run-tasks"])
    assert result.exit_code == 0, result.output
    with lab.app.app_context():
        assert task.retrieve().result == 6
    result = runner.invoke(args=["weblab", "loop", "--threads", "2", "--max-seconds", "0.2"])
    if store_url.startswith("redis://"):
        assert result.exit_code == 0, result.output
        assert "Running 2 threads" in result.output
        calls: list[Any] = []
        monkeypatch.setattr("werkzeug._reloader.run_with_reloader", calls.append)
        result = runner.invoke(args=["weblab", "loop", "--reload"])
        assert "Running 5 threads" in result.output
        assert "Running with reloader. Don't use this in production mode." in result.output
        assert len(calls) == 1
    else:
        assert result.exit_code != 0
        assert "WEBLAB_REDIS_URL" in result.output
