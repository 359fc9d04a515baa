"""Device pools inside the lab: the device of a session in views and tasks, isolation of
tasks between devices, what ``unique`` means on a pool, and the cost of a request."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.lab import Lab
from tests.support.round_trips import RoundTrips, count_round_trips
from weblab_ext import requires_active, weblab_user
from weblab_ext.testing.harness import LabUnderTest

BOARDS = ["board-1", "board-2"]


@pytest.fixture
def pool(make_lab: Callable[..., Lab]) -> Lab:
    lab = make_lab(WEBLAB_DEVICES=BOARDS)
    weblab = lab.weblab
    gate = threading.Event()
    lab.gate = gate  # type: ignore[attr-defined]

    @weblab.task(unique="global")
    def per_device() -> str:
        return str(weblab_user.device)

    @weblab.task(unique="pool")
    def whole_pool() -> str:
        return str(weblab_user.device)

    @lab.app.route("/submit/<name>")
    @requires_active
    def submit(name: str) -> Any:
        task = {"per_device": per_device, "whole_pool": whole_pool}[name].delay()
        return {"task_id": task.task_id, "status": task.status, "error": task.error}

    @lab.app.route("/task/<task_id>")
    @requires_active
    def task_view(task_id: str) -> Any:
        task = weblab.get_task(task_id)
        return {"found": task is not None, "device": weblab_user.device}

    @lab.app.route("/whoami")
    @requires_active
    def whoami() -> str:
        return str(weblab_user.device)

    return lab


def _student(lab: Lab, device: str) -> Any:
    under_test = LabUnderTest(lab.app)
    return under_test.student(under_test.rlms(url=f"{under_test.base_url}/devices/{device}"))


def test_views_and_tasks_see_the_device_of_their_session(pool: Lab) -> None:
    one, two = _student(pool, "board-1"), _student(pool, "board-2")
    assert one.get("/whoami").get_data(as_text=True) == "board-1"
    assert two.get("/whoami").get_data(as_text=True) == "board-2"
    first = one.get("/submit/per_device").json["task_id"]
    second = two.get("/submit/per_device").json["task_id"]
    pool.weblab.run_tasks()
    with pool.app.app_context():
        engine = pool.state.tasks
        assert engine.load(first).result == "board-1"  # type: ignore[union-attr]
        assert engine.load(second).result == "board-2"  # type: ignore[union-attr]


def test_tasks_of_one_device_are_not_visible_from_another(pool: Lab) -> None:
    one, two = _student(pool, "board-1"), _student(pool, "board-2")
    task_id = one.get("/submit/per_device").json["task_id"]
    assert one.get(f"/task/{task_id}").json["found"] is True
    assert two.get(f"/task/{task_id}").json["found"] is False


def test_unique_global_is_per_device(pool: Lab) -> None:
    one, two = _student(pool, "board-1"), _student(pool, "board-2")
    assert one.get("/submit/per_device").json["status"] == "submitted"
    # Still queued on board-1: board-1 refuses a second run, board-2 takes its own.
    assert two.get("/submit/per_device").json["status"] == "submitted"
    duplicate = one.get("/submit/per_device").json
    assert duplicate["status"] == "failed"
    assert duplicate["error"]["class"] == "AlreadyRunningError"
    pool.weblab.run_tasks()
    assert one.get("/submit/per_device").json["status"] == "submitted"  # lock freed


def test_unique_pool_spans_every_device(pool: Lab) -> None:
    one, two = _student(pool, "board-1"), _student(pool, "board-2")
    assert one.get("/submit/whole_pool").json["status"] == "submitted"
    assert two.get("/submit/whole_pool").json["status"] == "failed"
    pool.weblab.run_tasks()
    assert two.get("/submit/whole_pool").json["status"] == "submitted"


def test_unique_pool_is_unique_in_a_lab_without_devices(lab: Lab) -> None:
    @lab.weblab.task(unique="pool")
    def solo() -> None:
        return None

    @lab.app.route("/solo")
    @requires_active
    def solo_view() -> Any:
        return {"status": solo.delay().status}

    one, two = lab.browser(lab.start_raw()), lab.browser(lab.start_raw())
    assert one.get("/solo").json["status"] == "submitted"
    assert two.get("/solo").json["status"] == "failed"


def test_a_direct_call_of_a_global_task_locks_its_device_only(pool: Lab) -> None:
    inside, release = threading.Event(), threading.Event()

    @pool.weblab.task(unique="global")
    def slow() -> None:
        if weblab_user.device == "board-1":
            inside.set()
            release.wait(5)

    @pool.app.route("/slow")
    @requires_active
    def slow_view() -> str:
        try:
            slow()
        except Exception as error:
            return type(error).__name__
        return "ran"

    one, two = _student(pool, "board-1"), _student(pool, "board-2")
    replies: list[str] = []
    holder = threading.Thread(
        target=lambda: replies.append(one.get("/slow").get_data(as_text=True))
    )
    holder.start()
    assert inside.wait(5)
    try:
        assert two.get("/slow").get_data(as_text=True) == "ran"
    finally:
        release.set()
        holder.join(5)
    assert replies == ["ran"]


@pytest.mark.parametrize("devices", [0, 100])
def test_requires_active_costs_one_round_trip_on_a_pool(
    make_lab: Callable[..., Lab], monkeypatch: pytest.MonkeyPatch, devices: int
) -> None:
    names = [f"d{i}" for i in range(devices)]
    lab = make_lab(**({"WEBLAB_DEVICES": names} if names else {}))
    under_test = LabUnderTest(lab.app)
    url = under_test.base_url + (f"/devices/{names[-1]}" if names else "")
    student = under_test.student(under_test.rlms(url=url))
    student.get("/lab")  # warm up: the first call of a script loads it
    counter: RoundTrips = count_round_trips(monkeypatch, this_thread_only=True)
    assert counter.of(lambda: student.get("/lab")) == 1, counter.commands


def test_lifecycle_lines_name_the_device(
    make_lab: Callable[..., Lab], caplog: pytest.LogCaptureFixture
) -> None:
    import json
    import logging

    lab = make_lab(WEBLAB_DEVICES=BOARDS, WEBLAB_LOG_SESSION_LIFECYCLE=True)
    student = _student(lab, "board-2")
    with caplog.at_level(logging.INFO):
        student.dispose()
    lines = [json.loads(r.getMessage()) for r in caplog.records if "lifecycle" in r.getMessage()]
    assert lines and all(line["device"] == "board-2" for line in lines), lines


def test_a_lab_without_devices_never_reads_a_device_for_its_locks(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    import weblab_ext.runtime.unique_locks as devices

    def refuse(*args: Any) -> str:
        raise AssertionError("a lab without devices read a session's device")

    monkeypatch.setattr(devices, "session_device", refuse)

    @lab.weblab.task(unique="global")
    def solo() -> None:
        return None

    @lab.app.route("/solo-global")
    @requires_active
    def solo_view() -> Any:
        solo()
        return {"status": solo.delay().status}

    assert lab.browser(lab.start_raw()).get("/solo-global").json["status"] == "submitted"
