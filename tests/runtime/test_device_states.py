"""Safe hand-over: device states in the store, starts only on ``idle``, and a dispose that
answers "finished" only once the clean-up ended (or the device is known broken).

Each test runs on a real Redis and on the embedded store (``store_url``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.devices import _url, dispose_on, start_on, states, status_of
from tests.support.lab import AUTH, Lab
from weblab_ext import requires_active, weblab_user
from weblab_ext.states import DeviceState
from weblab_ext.store.device_states import HISTORY_LENGTH

BOARDS = ["board-1", "board-2"]


@pytest.fixture
def pool(make_lab: Callable[..., Lab]) -> Lab:
    return make_lab(WEBLAB_DEVICES=BOARDS, WEBLAB_DISPOSE_WAIT=0.2)


def test_a_device_goes_idle_starting_in_use_cleaning_idle(pool: Lab) -> None:
    seen: list[str] = []

    def on_start(client: Any, server: Any) -> None:
        seen.append(states(pool)["board-1"])

    def on_dispose() -> None:
        seen.append(states(pool)["board-1"])

    pool.weblab.callbacks.on_start = on_start
    pool.weblab.callbacks.on_dispose = on_dispose
    reply = start_on(pool, "board-1")
    assert reply.status_code == 200
    session_id = reply.json["session_id"]
    assert states(pool)["board-1"] == "in-use"
    assert dispose_on(pool, "board-1", session_id)["message"] == "Deleted"
    assert seen == ["starting", "cleaning"]
    status = status_of(pool, "board-1")
    assert status.state == DeviceState.IDLE
    assert status.since is not None and abs(status.since - time.time()) < 60
    history = [entry["state"] for entry in pool.state.devices.lifecycle.states.history("board-1")]
    assert history == ["idle", "cleaning", "in-use", "starting", "idle"]


def test_starts_are_accepted_only_on_an_idle_device(pool: Lab) -> None:
    first = start_on(pool, "board-1")
    assert first.status_code == 200
    refused = start_on(pool, "board-1")
    assert refused.status_code == 409
    assert refused.json["code"] == "device-busy"
    assert start_on(pool, "board-2").status_code == 200


def test_on_dispose_raising_leaves_the_device_broken_and_the_rlms_told_it_is_over(
    pool: Lab,
) -> None:
    def on_dispose() -> None:
        raise RuntimeError("arm stuck")

    pool.weblab.callbacks.on_dispose = on_dispose
    session_id = start_on(pool, "board-1").json["session_id"]
    assert dispose_on(pool, "board-1", session_id)["message"] == "Deleted"
    status = status_of(pool, "board-1")
    assert status.state == DeviceState.BROKEN
    assert "on_dispose raised RuntimeError" in status.reason
    refused = start_on(pool, "board-1")
    assert refused.status_code == 409
    assert refused.json["code"] == "device-broken"
    # The status call of the old session says it is over.
    status_reply = pool.raw_rlms.get(f"{_url('board-1')}{session_id}/status", headers=AUTH)
    assert status_reply.json["should_finish"] == -1


def test_on_start_raising_leaves_the_device_broken(pool: Lab) -> None:
    def on_start(client: Any, server: Any) -> None:
        raise RuntimeError("board did not answer")

    pool.weblab.callbacks.on_start = on_start
    assert start_on(pool, "board-1").status_code == 500
    status = status_of(pool, "board-1")
    assert status.state == DeviceState.BROKEN
    assert status.reason == "on_start raised"


def test_the_history_is_bounded(pool: Lab) -> None:
    for _ in range(HISTORY_LENGTH // 4 + 2):
        session_id = start_on(pool, "board-1").json["session_id"]
        assert dispose_on(pool, "board-1", session_id)["message"] == "Deleted"
    history = pool.state.devices.lifecycle.states.history("board-1")
    assert len(history) == HISTORY_LENGTH
    assert history[0]["state"] == "idle"
    assert all("session" not in entry for entry in history)  # ids are credentials


def test_a_device_with_no_record_and_no_on_reset_is_taken_for_idle_loudly(
    pool: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="weblab_ext"):
        assert start_on(pool, "board-2").status_code == 200
    assert any(
        "board-2 has no record" in r.getMessage() and r.levelno == logging.ERROR
        for r in caplog.records
    )


# -- hand-over only when clean --------------------------------------------------------------


class Stubborn:
    """A task that ignores its stop flag until released, run by a thread of the test."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.running, self.release = threading.Event(), threading.Event()
        self.ended = threading.Event()

        @lab.weblab.task()
        def program_board() -> str:
            self.running.set()
            self.release.wait(20)  # does not check current_task_stopping
            self.ended.set()
            return "programmed"

        @lab.app.route("/program")
        @requires_active
        def program() -> str:
            return str(program_board.delay().task_id)

        self._runner = threading.Thread(target=lab.weblab.run_tasks, daemon=True)

    def start(self, student: Any) -> None:
        assert student.get("/program").status_code == 200
        self._runner.start()
        assert self.running.wait(10)

    def finish(self) -> None:
        self.release.set()
        self._runner.join(10)


@pytest.fixture
def stubborn_pool(make_lab: Callable[..., Lab]) -> Iterator[tuple[Lab, Stubborn]]:
    lab = make_lab(WEBLAB_DEVICES=BOARDS, WEBLAB_DISPOSE_WAIT=0.1, WEBLAB_DISPOSE_MAX=30)
    stubborn = Stubborn(lab)
    yield lab, stubborn
    stubborn.finish()
    assert lab.state.service.disposer.wait_idle(10)


def _student(lab: Lab, device: str, session_id: str) -> Any:
    """The browser of a session of ``device`` (its launch URL is the lab's, as without)."""
    del device
    client = lab.app.test_client()
    assert client.get(f"/callback/{session_id}").status_code == 302
    return client


def test_no_hand_over_while_a_task_ignoring_its_stop_flag_runs(
    stubborn_pool: tuple[Lab, Stubborn],
) -> None:
    lab, stubborn = stubborn_pool
    session_id = start_on(lab, "board-1").json["session_id"]
    stubborn.start(_student(lab, "board-1", session_id))
    for _ in range(3):
        reply = dispose_on(lab, "board-1", session_id)
        assert reply["finished"] is False  # ask again: the board is still being programmed
        assert states(lab)["board-1"] == "cleaning"
        assert start_on(lab, "board-1").json["code"] == "device-busy"
    status = lab.raw_rlms.get(f"{_url('board-1')}{session_id}/status", headers=AUTH).json
    assert status["should_finish"] != -1
    stubborn.finish()
    assert stubborn.ended.is_set()
    assert lab.state.service.disposer.wait_idle(10)
    assert dispose_on(lab, "board-1", session_id)["message"] == "Deleted"
    assert states(lab)["board-1"] == "idle"
    assert start_on(lab, "board-1").status_code == 200


def test_a_clean_up_past_dispose_max_leaves_the_device_broken(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab(WEBLAB_DEVICES=BOARDS, WEBLAB_DISPOSE_WAIT=0.1, WEBLAB_DISPOSE_MAX=0.5)
    stubborn = Stubborn(lab)
    try:
        session_id = start_on(lab, "board-1").json["session_id"]
        stubborn.start(_student(lab, "board-1", session_id))
        assert dispose_on(lab, "board-1", session_id)["finished"] is False
        deadline = time.monotonic() + 10
        while dispose_on(lab, "board-1", session_id).get("finished") is False:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert not stubborn.ended.is_set()  # the RLMS is told it is over; the task still runs
        status = status_of(lab, "board-1")
        assert status.state == DeviceState.BROKEN
        assert "WEBLAB_DISPOSE_MAX" in status.reason
        assert start_on(lab, "board-1").json["code"] == "device-broken"
    finally:
        stubborn.finish()
        assert lab.state.service.disposer.wait_idle(10)
    # The task ending late does not make the device idle: only a reset does.
    assert status_of(lab, "board-1").state == DeviceState.BROKEN


def test_without_devices_an_overrun_is_reported_finished_and_logged(
    make_lab: Callable[..., Lab], caplog: pytest.LogCaptureFixture
) -> None:
    lab = make_lab(WEBLAB_DISPOSE_WAIT=0.1, WEBLAB_DISPOSE_MAX=0.5)
    stubborn = Stubborn(lab)
    try:
        session_id = lab.start_raw()
        stubborn.start(lab.browser(session_id))
        with caplog.at_level(logging.ERROR, logger="weblab_ext"):
            assert lab.dispose(session_id)["finished"] is False
            deadline = time.monotonic() + 10
            while lab.dispose(session_id).get("finished") is False:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert not stubborn.ended.is_set()
        assert lab.status(session_id) == -1
        assert any("WEBLAB_DISPOSE_MAX" in r.getMessage() for r in caplog.records)
        # Overlapping sessions stay allowed without devices.
        assert lab.start_raw()
    finally:
        stubborn.finish()
        assert lab.state.service.disposer.wait_idle(10)


def test_without_devices_dispose_waits_for_a_stubborn_task(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_DISPOSE_WAIT=0.1, WEBLAB_DISPOSE_MAX=30)
    stubborn = Stubborn(lab)
    try:
        session_id = lab.start_raw()
        stubborn.start(lab.browser(session_id))
        assert lab.dispose(session_id)["finished"] is False
        assert lab.dispose(session_id)["finished"] is False
    finally:
        stubborn.finish()
        assert lab.state.service.disposer.wait_idle(10)
    assert lab.dispose(session_id)["message"] == "Deleted"


def test_device_state_is_a_str_enum() -> None:
    stored: str = "in-use"  # as read back from Redis
    assert stored == DeviceState.IN_USE
    assert f"{DeviceState.BROKEN}" == "broken"
    assert {d.value for d in DeviceState} == {
        "idle",
        "starting",
        "in-use",
        "cleaning",
        "broken",
        "maintenance",
    }


def test_weblab_user_sees_its_device(pool: Lab) -> None:
    @pool.app.route("/which")
    @requires_active
    def which() -> str:
        return str(weblab_user.device)

    session_id = start_on(pool, "board-2").json["session_id"]
    assert _student(pool, "board-2", session_id).get("/which").get_data(as_text=True) == ("board-2")
