"""A task that outlives its session's record (the store was flushed under it, or its worker
was paused past its lease) may go on driving its device: the device is held (``cleaning``)
until the task ends, then ``broken`` until a reset returns.

Each test runs on a real Redis and on the embedded store (``store_url``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.devices import start_on, status_of
from tests.support.lab import AUTH, Lab
from tests.support.workers import wait_running
from weblab_ext import current_task_stopping
from weblab_ext.context import session_context
from weblab_ext.states import DeviceState

BOARDS = ["board-1", "board-2"]


@pytest.fixture
def driving(make_lab: Callable[..., Lab]) -> Iterator[tuple[Lab, list[str], threading.Event]]:
    """A lab whose task ``drive`` keeps the board busy after it is told to stop, until the
    test lets it go; the resets the lab ran."""
    lab = make_lab(WEBLAB_DEVICES=BOARDS)
    resets: list[str] = []
    lab.weblab.on_reset(resets.append)
    let_go, started = threading.Event(), threading.Event()

    @lab.weblab.task
    def drive() -> str:
        started.set()
        while not current_task_stopping:
            time.sleep(0.01)
        let_go.wait(10)  # still driving the board a while after the stop
        return "done"

    lab.drive = drive  # type: ignore[attr-defined]
    lab.drive_started = started  # type: ignore[attr-defined]
    yield lab, resets, let_go
    let_go.set()


def _run_drive(lab: Lab, session_id: str) -> threading.Thread:
    with lab.app.app_context(), session_context(session_id):
        task = lab.drive.delay()  # type: ignore[attr-defined]
    runner = threading.Thread(target=lab.state.tasks.run_tasks, daemon=True)
    runner.start()
    wait_running(task)
    assert lab.drive_started.wait(10)  # type: ignore[attr-defined]
    return runner


def _ends_broken(lab: Lab, let_go: threading.Event, runner: threading.Thread) -> None:
    """The task ends: board-1, held for it, is broken (the session's clean-up never ran)."""
    let_go.set()
    runner.join(10)
    assert status_of(lab, "board-1").state == DeviceState.BROKEN


def _board_1_row(lab: Lab) -> dict[str, object]:
    rows = lab.raw_rlms.get("/weblab/devices", headers=AUTH).json["devices"]
    return dict(next(row for row in rows if row["name"] == "board-1"))


def test_a_task_that_outlives_a_flushed_store_holds_its_device(
    driving: tuple[Lab, list[str], threading.Event],
) -> None:
    lab, resets, let_go = driving
    session_id = start_on(lab, "board-1").json["session_id"]
    runner = _run_drive(lab, session_id)
    lab.state.client.flushdb()  # the store loses everything under the running task
    lab.state.tasks.heartbeat_tick()  # the worker's next beat: the task is gone
    # The task was told to stop but still drives board-1: not offered, not reset.
    assert status_of(lab, "board-1").state == DeviceState.CLEANING
    assert start_on(lab, "board-1").json["code"] == "device-busy"
    lab.state.devices.lifecycle.retry_broken(monotonic=time.monotonic())  # the cleaner
    assert resets.count("board-1") == 1  # its first start's only
    row = _board_1_row(lab)
    assert row["state"] == "cleaning" and row["cleanup_finished"] is False
    assert row["session"] is None and "still runs" in str(row["reason"])
    # Once it ends, its session's clean-up never ran: broken until a reset returns.
    _ends_broken(lab, let_go, runner)
    assert start_on(lab, "board-1").json["code"] == "device-broken"
    lab.weblab.clean_expired_users()  # the cleaner's reset
    assert resets.count("board-1") == 2
    assert start_on(lab, "board-1").status_code == 200


def test_a_device_reset_before_the_worker_noticed_is_taken_back(
    driving: tuple[Lab, list[str], threading.Event],
) -> None:
    """The cleaner reset board-1 (no record) before the worker's next beat: the beat takes
    the idle device back until the task ends."""
    lab, _resets, let_go = driving
    runner = _run_drive(lab, start_on(lab, "board-1").json["session_id"])
    lab.state.client.flushdb()
    lab.state.devices.lifecycle.retry_broken(monotonic=time.monotonic())
    assert status_of(lab, "board-1").state == DeviceState.IDLE
    lab.state.tasks.heartbeat_tick()
    assert status_of(lab, "board-1").state == DeviceState.CLEANING
    _ends_broken(lab, let_go, runner)


def test_a_task_that_ends_normally_leaves_the_device_alone(
    driving: tuple[Lab, list[str], threading.Event],
) -> None:
    lab, _resets, let_go = driving
    session_id = start_on(lab, "board-1").json["session_id"]
    let_go.set()
    runner = _run_drive(lab, session_id)
    lab.state.tasks.heartbeat_tick()  # its record is there: nothing is lost
    assert status_of(lab, "board-1").state == DeviceState.IN_USE
    assert (
        lab.raw_rlms.post(
            f"/devices/board-1/weblab/sessions/{session_id}",
            json={"action": "delete"},
            headers=AUTH,
        ).json["message"]
        == "Deleted"
    )
    runner.join(10)
    assert status_of(lab, "board-1").state == DeviceState.IDLE


def test_a_beat_between_a_task_end_and_its_worker_forgetting_it_holds_nothing(
    driving: tuple[Lab, list[str], threading.Event],
) -> None:
    """A task that ended by itself reads as no longer running before its worker forgets it:
    a beat in between must not take the device that was handed over meanwhile."""
    lab, _resets, let_go = driving
    let_go.set()
    session_id = start_on(lab, "board-1").json["session_id"]
    runner = _run_drive(lab, session_id)
    engine = lab.state.tasks
    paused, proceed = threading.Event(), threading.Event()
    finish = engine._finish

    def late(*args: Any, **kwargs: Any) -> None:
        finish(*args, **kwargs)  # the record reads done; the worker still lists the task
        paused.set()
        proceed.wait(10)

    engine._finish = late  # type: ignore[method-assign]
    reply = lab.raw_rlms.post(
        f"/devices/board-1/weblab/sessions/{session_id}", json={"action": "delete"}, headers=AUTH
    )
    assert reply.json["message"] == "Deleted"  # the task ended, on_dispose ran
    assert paused.wait(10)
    assert status_of(lab, "board-1").state == DeviceState.IDLE
    engine.heartbeat_tick()  # the task is still in the worker's list, its record is done
    proceed.set()
    runner.join(10)
    assert status_of(lab, "board-1").state == DeviceState.IDLE
    assert start_on(lab, "board-1").status_code == 200


def test_a_device_held_while_it_is_being_reset_is_not_made_idle(
    driving: tuple[Lab, list[str], threading.Event],
) -> None:
    """The worker's beat holds board-1 while the cleaner's on_reset runs: the reset that
    returns afterwards does not make it idle under the task."""
    lab, resets, let_go = driving
    runner = _run_drive(lab, start_on(lab, "board-1").json["session_id"])
    lab.state.client.flushdb()

    def reset_during_a_beat(device: str) -> None:
        resets.append(device)
        if device == "board-1":
            lab.state.tasks.heartbeat_tick()  # the beat lands while on_reset runs

    lab.weblab.callbacks.on_reset = reset_during_a_beat
    lab.state.devices.lifecycle.retry_broken(monotonic=time.monotonic())
    assert status_of(lab, "board-1").state == DeviceState.CLEANING
    assert status_of(lab, "board-2").state == DeviceState.IDLE
    _ends_broken(lab, let_go, runner)


def test_the_cleaner_does_not_reset_a_device_held_since_its_pass_began(
    driving: tuple[Lab, list[str], threading.Event],
) -> None:
    """The cleaner's pass read board-1 with no record; the worker's beat held it before the
    pass got to it: the pass leaves it alone."""
    lab, resets, let_go = driving
    runner = _run_drive(lab, start_on(lab, "board-1").json["session_id"])
    lab.state.client.flushdb()
    lifecycle = lab.state.devices.lifecycle
    read = lifecycle.states.read

    def read_then_beat(names: Any) -> Any:
        statuses = read(names)
        if len(names) > 1:  # the pass's own read: the beat lands right after it
            lab.state.tasks.heartbeat_tick()
        return statuses

    lifecycle.states.read = read_then_beat  # type: ignore[method-assign,assignment]
    lifecycle.retry_broken(monotonic=time.monotonic())
    assert "board-1" not in resets[1:]  # only board-2 was reset
    assert status_of(lab, "board-1").state == DeviceState.CLEANING
    _ends_broken(lab, let_go, runner)
