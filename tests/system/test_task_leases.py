"""Task leases under real faults: ``kill -9`` of the only worker, ``SIGSTOP``/``SIGCONT`` of a
worker while its replacement runs, and the keys such a run leaves behind.

Each test starts real ``flask weblab loop`` processes on the real Redis and ends them by PID.
The measured numbers are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from tests.support.lab import Lab, real_redis_only
from tests.support.workers import Workers, lab_with_workers, wait_running
from weblab_ext.context import session_context
from weblab_ext.runtime.cleaner import CleanerLoop
from weblab_ext.tasks.task import WebLabTask

pytestmark = [pytest.mark.slow, real_redis_only]

#: A heartbeat long enough that "within 3 heartbeat intervals" is measurable on a busy machine.
BEAT = 1.0


@pytest.fixture
def beat_lab(
    make_lab: Callable[..., Lab], store_url: str, tmp_path: Path
) -> Iterator[tuple[Lab, dict[str, Any], Workers]]:
    yield from lab_with_workers(make_lab, store_url, tmp_path, BEAT)


def _raw(workers: Workers, lab: Lab, task_id: str) -> dict[str, str]:
    """The stored hash, read directly: what every process sees, not one process's judgement."""
    return cast(dict[str, str], workers.client.hgetall(lab.state.keys.task(task_id)))


def _status_command(lab: Lab) -> str:
    result = lab.app.test_cli_runner().invoke(args=["weblab", "status"])
    assert result.exit_code == 0, result.output
    return str(result.output)


def _kill(process: Any) -> float:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    return time.monotonic()


def test_cleaner_fails_a_dead_workers_task_with_no_worker_left(
    beat_lab: tuple[Lab, dict[str, Any], Workers],
) -> None:
    lab, tasks, workers = beat_lab
    process = workers.start("--threads", "1")
    runtime = lab.state.tasks
    lock_key = lab.state.keys.unique_lock("exclusive")
    with lab.app.app_context(), session_context(lab.start_raw()):
        task = tasks["exclusive"].delay(60)
        wait_running(task)
        # The web process runs the cleaner (WEBLAB_AUTOCLEAN_THREAD) and no task worker.
        stop = threading.Event()
        cleaner = CleanerLoop(lab.state.service, stop, store_label="test", tasks=runtime)
        thread = cleaner.start()
        try:
            killed = _kill(process)  # the only worker
            while _raw(workers, lab, task.task_id)["status"] == "running":
                assert time.monotonic() - killed < 10, "never failed"
                time.sleep(0.01)
            detected = time.monotonic() - killed
        finally:
            stop.set()
            thread.join(5)
        stored = _raw(workers, lab, task.task_id)
        assert stored["status"] == "failed"
        assert json.loads(stored["error"])["code"] == "worker-lost"
        assert workers.client.get(lock_key) is None  # its unique lock is free
        print(
            f"\n[fault] kill -9 of the only worker: task failed by the cleaner after "
            f"{detected:.2f} s = {detected / BEAT:.2f} heartbeat intervals"
        )
        assert detected < 3 * BEAT
        assert tasks["exclusive"].delay(0).submitted  # a new copy is accepted


def test_reads_report_a_dead_workers_task_as_failed(
    beat_lab: tuple[Lab, dict[str, Any], Workers],
) -> None:
    lab, tasks, workers = beat_lab
    process = workers.start("--threads", "1")
    weblab = lab.weblab
    with lab.app.app_context(), session_context(lab.start_raw()):
        task = tasks["exclusive"].delay(60)
        wait_running(task)
        assert [t.status for t in weblab.running_tasks] == ["running"]
        status = _status_command(lab)
        assert "Tasks: 0 queued, 1 running\n" in status and "\nLive workers: 1\n" in status
        assert re.search(r"^[0-9a-f]{10} +exclusive +running ", status, re.M), status
        killed = _kill(process)
        # Nobody sweeps here: no worker, no cleaner. The read itself judges the lease.
        joined = task.join(timeout=10)
        detected = time.monotonic() - killed
        assert joined.failed and joined.error["code"] == "worker-lost"
        print(
            f"\n[fault] kill -9, no worker and no cleaner: join() returned failed after "
            f"{detected:.2f} s = {detected / BEAT:.2f} heartbeat intervals"
        )
        assert detected < 3 * BEAT
        assert (WebLabTask(task.task_id).error or {}).get("code") == "worker-lost"
        assert [t.status for t in weblab.tasks] == ["failed"]
        assert weblab.running_tasks == [] and weblab.get_running_task("exclusive") is None
        assert cast(WebLabTask, weblab.get_task(task.task_id)).failed
        assert "Tasks: 0 queued, 0 running\nLive workers: 0" in _status_command(lab)  # judged too
        # The first read failed it for good: its lock is free, the hash says so too.
        assert _raw(workers, lab, task.task_id)["status"] == "failed"
        assert tasks["exclusive"].delay(0).submitted


def _log_lines(path: Path) -> list[tuple[int, int, float]]:
    """The steps a ``fenced`` body ran: (pid, step, when it checked the stop flag)."""
    if not path.exists():
        return []
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [(int(pid), int(step), float(when)) for pid, step, when in lines if step != "stop"]


def _stopped_at(path: Path) -> float | None:
    """When a ``fenced`` body checked ``current_task_stopping`` and saw it true, if it did."""
    for line in path.read_text().splitlines():
        _pid, step, when = line.split()
        if step == "stop":
            return float(when)
    return None


#: The paused-worker test's heartbeat: short, so the pause is many leases long.
PAUSE_BEAT = 0.2


@pytest.fixture
def pause_lab(
    make_lab: Callable[..., Lab], store_url: str, tmp_path: Path
) -> Iterator[tuple[Lab, dict[str, Any], Workers]]:
    yield from lab_with_workers(make_lab, store_url, tmp_path, PAUSE_BEAT)


def test_paused_worker_stops_at_once_and_its_writes_are_refused(
    pause_lab: tuple[Lab, dict[str, Any], Workers],
    tmp_path: Path,
) -> None:
    lab, tasks, workers = pause_lab
    beat = PAUSE_BEAT
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    paused = workers.start("--threads", "1")
    with lab.app.app_context(), session_context(lab.start_raw()):
        first = tasks["fenced"].delay(str(first_log), 100_000)
        wait_running(first)
        while len(_log_lines(first_log)) < 3:
            time.sleep(0.01)
        replacement = workers.start("--threads", "1")  # its heartbeat will sweep
        os.kill(paused.pid, signal.SIGSTOP)
        stopped_at = time.time()
        try:
            while _raw(workers, lab, first.task_id)["status"] == "running":
                assert time.time() - stopped_at < 15, "the paused worker's task never failed"
                time.sleep(0.01)
            steps_before = _log_lines(first_log)
            second = tasks["fenced"].delay(str(second_log), 100_000)
            wait_running(second)  # the replacement runs a new copy
            assert second.retrieve().running
            while not _log_lines(second_log):
                time.sleep(0.01)
            while time.time() - stopped_at < 5 * beat:  # paused well past its lease
                time.sleep(0.01)
        finally:
            resumed_at = time.time()
            os.kill(paused.pid, signal.SIGCONT)
        # Give the resumed body ample time to run more steps, were it going to.
        time.sleep(1.0)
        # A step whose stop check ran after SIGCONT would have been a step too many.
        late = [line for line in _log_lines(first_log) if line[2] >= resumed_at]
        print(
            f"\n[fault] SIGSTOP for {resumed_at - stopped_at:.2f} s (lease "
            f"{2 * beat:.1f} s): steps the first body ran after SIGCONT: {len(late)}"
        )
        assert late == [] and _stopped_at(first_log) is not None  # the first check said stop
        assert len(_log_lines(first_log)) == len(steps_before) + len(late)
        stored = _raw(workers, lab, first.task_id)
        assert stored["status"] == "failed"
        assert json.loads(stored["error"])["code"] == "worker-lost"
        # ...and what it tried to write after its lease lapsed was refused.
        assert json.loads(stored["data"])["step"] <= steps_before[-1][1]
        assert stored["result"] == ""
        assert {pid for pid, _, _ in _log_lines(second_log)} == {replacement.pid}
        assert second.retrieve().running  # the replacement is untouched
        owner = workers.client.get(lab.state.keys.unique_lock("fenced"))
        assert owner == second.task_id
        second.stop()
        assert second.join(10).done


def test_every_key_has_a_ttl_after_killed_workers(
    beat_lab: tuple[Lab, dict[str, Any], Workers],
) -> None:
    lab, tasks, workers = beat_lab
    first = workers.start("--threads", "2")
    second = workers.start("--threads", "1")
    weblab = lab.weblab
    with lab.app.app_context():
        sessions = [lab.start_raw() for _ in range(3)]
        with session_context(sessions[0]):
            done = [tasks["whoami"].delay(0) for _ in range(4)]
            for task in done:
                assert task.join(10).done
            duplicate = tasks["exclusive"].delay(60), tasks["exclusive"].delay(60)
            assert duplicate[1].failed
            wait_running(duplicate[0])
            tasks["mine"].delay(0.1)
        lab.browser(sessions[1]).get(f"/callback/{sessions[1]}/logout")
        lab.dispose(sessions[0])  # stops its tasks
        _kill(first)
        _kill(second)  # every worker killed with kill -9
        with session_context(sessions[2]):
            tasks["whoami"].delay(0)  # queued with no worker left
        assert weblab.clean_expired_users() == 1  # the logged-out session
        time.sleep(2 * BEAT + 0.1)  # every lease lapsed
        lab.state.tasks.sweep()
    client = workers.client
    keys = list(client.scan_iter(match=lab.state.keys.prefix + ":*", count=1000))
    families = {key.split(":")[2] for key in keys}
    assert {"worker", "tasks", "task", "session", "sessions"} <= families, families
    without_ttl = [key for key in keys if client.ttl(key) < 0 and client.exists(key)]
    assert without_ttl == []
    print(
        f"\n[fault] keys after killed workers, disposed sessions and finished tasks: "
        f"{len(keys)}, without a TTL: {len(without_ttl)}"
    )
