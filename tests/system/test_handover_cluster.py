"""Device states on a real Redis Cluster: every script of the lifecycle declares its keys,
which share the lab's hash tag, so states, resets, maintenance, stored health and the devices
list work unchanged there."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.devices import dispose_on, start_on, status_of
from tests.support.lab import AUTH, Lab, json_of
from weblab_ext.states import DeviceState

pytestmark = pytest.mark.slow


@pytest.fixture
def store_url(request: pytest.FixtureRequest) -> str:
    """Overrides the suite's ``store_url``: this module's labs run on the cluster."""
    return str(request.getfixturevalue("redis_cluster").url)


def test_the_device_lifecycle_on_a_cluster(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_DEVICES=["board-1", "board-2"], WEBLAB_HEALTH_CHECK_INTERVAL=1)
    lab.weblab.on_reset(lambda device: None)
    session_id = start_on(lab, "board-1").json["session_id"]
    assert status_of(lab, "board-1").state == DeviceState.IN_USE

    def on_dispose() -> None:
        raise RuntimeError("stuck")

    lab.weblab.callbacks.on_dispose = on_dispose
    assert dispose_on(lab, "board-1", session_id)["message"] == "Deleted"
    assert status_of(lab, "board-1").state == DeviceState.BROKEN
    lab.weblab.clean_expired_users()  # resets it (and board-2, which has no record)
    assert status_of(lab, "board-1").state == DeviceState.IDLE
    assert status_of(lab, "board-1").repairs == 1
    lifecycle = lab.state.devices.lifecycle
    lifecycle.set_maintenance("board-2", "work")
    lifecycle.set_maintenance(None, "lab work")
    assert lifecycle.notice("board-2") == "lab work"
    lifecycle.set_maintenance(None, None)
    assert start_on(lab, "board-2").json["code"] == "device-maintenance"
    lifecycle.set_maintenance("board-2", None)
    monitor = lab.state.threads.health
    assert monitor is not None
    assert monitor.run_once() == 2
    report = json_of(lab.app.test_client().get("/devices/board-1/weblab/health"))
    assert report["success"] is True and report["checked_at"] is not None
    rows = lab.raw_rlms.get("/weblab/devices", headers=AUTH).json["devices"]
    assert [row["state"] for row in rows] == ["idle", "idle"]
    assert len(lifecycle.states.history("board-1")) >= 4
