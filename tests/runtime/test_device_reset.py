"""``@weblab.on_reset``: a device with no record, a broken device and an operator's request.

Each test runs on a real Redis and on the embedded store (``store_url``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import current_app

from tests.support.devices import dispose_on, start_on, status_of
from tests.support.lab import AUTH, Lab
from weblab_ext.runtime.device_lifecycle import RESET_BACKOFF_FIRST
from weblab_ext.states import DeviceState

BOARDS = ["board-1", "board-2"]


@pytest.fixture
def pool(make_lab: Callable[..., Lab]) -> Lab:
    lab = make_lab(WEBLAB_DEVICES=BOARDS, WEBLAB_DISPOSE_WAIT=1)
    lab.resets = []  # type: ignore[attr-defined]
    lab.reset_fails = False  # type: ignore[attr-defined]

    @lab.weblab.on_reset
    def reset(device: str) -> None:
        assert current_app  # lab code runs in the app context
        lab.resets.append(device)  # type: ignore[attr-defined]
        if lab.reset_fails:  # type: ignore[attr-defined]
            raise RuntimeError("board does not answer")

    return lab


def _break(lab: Lab, device: str) -> None:
    """Leave ``device`` broken the way a lab does: ``on_dispose`` raises."""
    saved = lab.weblab.callbacks.on_dispose

    def on_dispose() -> None:
        raise RuntimeError("stuck")

    lab.weblab.callbacks.on_dispose = on_dispose
    session_id = start_on(lab, device).json["session_id"]
    assert dispose_on(lab, device, session_id)["message"] == "Deleted"
    lab.weblab.callbacks.on_dispose = saved
    assert status_of(lab, device).state == DeviceState.BROKEN


def test_the_first_start_on_a_device_with_no_record_resets_it(pool: Lab) -> None:
    assert start_on(pool, "board-1").status_code == 200
    assert pool.resets == ["board-1"]  # type: ignore[attr-defined]
    history = pool.state.devices.lifecycle.states.history("board-1")
    assert [entry["state"] for entry in history] == ["in-use", "starting", "idle"]
    assert history[2]["by"] == "no-record"


def test_a_store_flushed_under_a_session_means_no_start_until_a_reset(pool: Lab) -> None:
    start_on(pool, "board-1")
    pool.state.client.flushdb()  # the store lost everything
    pool.reset_fails = True  # type: ignore[attr-defined]
    refused = start_on(pool, "board-1")
    assert refused.status_code == 409 and refused.json["code"] == "device-broken"
    assert status_of(pool, "board-1").state == DeviceState.BROKEN
    assert start_on(pool, "board-1").json["code"] == "device-broken"  # still
    pool.reset_fails = False  # type: ignore[attr-defined]
    pool.state.devices.lifecycle.retry_broken(monotonic=time.monotonic())  # the cleaner
    assert start_on(pool, "board-1").status_code == 200
    assert pool.resets.count("board-1") == 3  # type: ignore[attr-defined]
    # The cleaner also resets a device the store does not know, before anyone asks for it.
    assert status_of(pool, "board-2").state == DeviceState.IDLE


def test_a_broken_device_is_reset_by_the_cleaner_with_backoff(pool: Lab) -> None:
    start_on(pool, "board-2")  # board-2 is seen (and reset) first
    _break(pool, "board-1")
    pool.resets.clear()  # type: ignore[attr-defined]
    lifecycle = pool.state.devices.lifecycle
    pool.reset_fails = True  # type: ignore[attr-defined]
    now = time.monotonic()
    assert lifecycle.retry_broken(monotonic=now) == 0
    assert pool.resets == ["board-1"]  # type: ignore[attr-defined]
    assert "on_reset raised RuntimeError" in status_of(pool, "board-1").reason
    # Not again before the backoff ends; then again, and it doubles.
    assert lifecycle.retry_broken(monotonic=now + RESET_BACKOFF_FIRST / 2) == 0
    assert pool.resets == ["board-1"]  # type: ignore[attr-defined]
    lifecycle.retry_broken(monotonic=now + RESET_BACKOFF_FIRST + 0.1)
    assert pool.resets == ["board-1", "board-1"]  # type: ignore[attr-defined]
    lifecycle.retry_broken(monotonic=now + RESET_BACKOFF_FIRST * 2)
    assert len(pool.resets) == 2  # type: ignore[attr-defined]
    pool.reset_fails = False  # type: ignore[attr-defined]
    assert lifecycle.retry_broken(monotonic=now + RESET_BACKOFF_FIRST * 4) == 1
    assert status_of(pool, "board-1").state == DeviceState.IDLE
    assert start_on(pool, "board-1").status_code == 200


def test_a_cleaner_pass_resets_broken_devices(pool: Lab) -> None:
    _break(pool, "board-1")
    pool.weblab.clean_expired_users()
    assert status_of(pool, "board-1").state == DeviceState.IDLE


def test_an_operator_reset_from_the_command_line(pool: Lab) -> None:
    _break(pool, "board-1")
    runner = pool.app.test_cli_runner()
    result = runner.invoke(args=["weblab", "devices", "reset", "board-1"])
    assert result.exit_code == 0, result.output
    assert "idle" in result.output
    assert status_of(pool, "board-1").state == DeviceState.IDLE
    assert pool.state.devices.lifecycle.states.history("board-1")[0]["by"] == "operator"


def test_an_operator_reset_that_raises_keeps_the_device_broken(pool: Lab) -> None:
    _break(pool, "board-1")
    pool.reset_fails = True  # type: ignore[attr-defined]
    result = pool.app.test_cli_runner().invoke(args=["weblab", "devices", "reset", "board-1"])
    assert result.exit_code != 0
    assert "still broken" in result.output
    assert status_of(pool, "board-1").state == DeviceState.BROKEN


def test_a_device_in_use_is_not_reset(pool: Lab) -> None:
    start_on(pool, "board-1")
    result = pool.app.test_cli_runner().invoke(args=["weblab", "devices", "reset", "board-1"])
    assert result.exit_code != 0
    assert "in-use" in result.output
    assert status_of(pool, "board-1").state == DeviceState.IN_USE


def test_reset_of_an_unknown_device_names_the_devices(pool: Lab) -> None:
    result = pool.app.test_cli_runner().invoke(args=["weblab", "devices", "reset", "nope\x1b"])
    assert result.exit_code != 0
    assert "board-1, board-2" in result.output
    assert "\x1b" not in result.output


def test_without_on_reset_a_broken_device_waits_for_the_operator(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab(WEBLAB_DEVICES=BOARDS)
    _break(lab, "board-1")
    assert lab.state.devices.lifecycle.retry_broken(monotonic=time.monotonic()) == 0
    assert status_of(lab, "board-1").state == DeviceState.BROKEN
    result = lab.app.test_cli_runner().invoke(args=["weblab", "devices", "reset", "board-1"])
    assert result.exit_code == 0, result.output
    assert status_of(lab, "board-1").state == DeviceState.IDLE


def test_an_abandoned_clean_up_leaves_the_device_broken(pool: Lab) -> None:
    """The process running ``on_dispose`` died: the session is finished later (stale), and
    the device is not offered until a reset ran."""
    from weblab_ext.runtime.disposal import STALE_DISPOSING_SECONDS

    session_id = start_on(pool, "board-1").json["session_id"]
    service = pool.state.service
    # What a killed disposer leaves: the session claimed (disposing), nothing else done.
    outcome, record = service.store.begin_dispose(
        session_id, now=time.time(), timeout=service.timeout, only_if_due=False
    )
    assert outcome == "won" and record is not None
    pool.state.devices.lifecycle.cleaning(record)
    assert start_on(pool, "board-1").json["code"] == "device-busy"
    later = time.time() + STALE_DISPOSING_SECONDS + 1
    reply: Any = pool.state.devices.on("board-1").dispose(session_id, wait=0, now=later)
    assert reply.value == "done"
    status = status_of(pool, "board-1")
    assert status.state == DeviceState.BROKEN and "abandoned" in status.reason
    pool.state.devices.lifecycle.retry_broken(monotonic=time.monotonic())
    assert status_of(pool, "board-1").state == DeviceState.IDLE
    status_reply = pool.raw_rlms.get(
        f"/devices/board-1/weblab/sessions/{session_id}/status", headers=AUTH
    )
    assert status_reply.json["should_finish"] == -1
