"""A task still queued when its session ends never starts: nothing waits for a worker that
may never come, and no task of the last student runs on the device after the hand-over."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.support.devices import dispose_on, start_on, status_of
from tests.support.lab import Lab, json_of
from weblab_ext import session_context


def _queue_a_task(lab: Lab, session_id: str) -> Any:
    ran: list[str] = []

    @lab.weblab.task()
    def program_board() -> None:
        ran.append("ran")

    with lab.app.app_context(), session_context(session_id):
        task = program_board.delay()
    return task, ran


def test_a_queued_task_is_stopped_before_it_starts(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_DEVICES=["board-1"], WEBLAB_DISPOSE_WAIT=2)
    session_id = json_of(start_on(lab, "board-1"))["session_id"]
    task, ran = _queue_a_task(lab, session_id)
    started = time.monotonic()
    assert dispose_on(lab, "board-1", session_id)["finished"] is True
    assert time.monotonic() - started < 2  # no wait for a worker that never came
    assert status_of(lab, "board-1").state == "idle"  # handed over: nothing left to run
    record = lab.state.tasks.load(task.task_id)
    assert record is not None and record.status == "failed"
    assert record.error is not None and record.error["code"] == "stopped-before-start"
    assert lab.weblab.run_tasks() == 0 and ran == []  # a worker coming later skips it


def test_a_lab_without_devices_does_not_run_it_either(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_DISPOSE_WAIT=2)
    session_id = lab.start_raw()
    task, ran = _queue_a_task(lab, session_id)
    assert lab.state.service.dispose(session_id, wait=2, caller="rlms").name == "DONE"
    assert lab.weblab.run_tasks() == 0 and ran == []
    assert task.join(1).status == "failed"
