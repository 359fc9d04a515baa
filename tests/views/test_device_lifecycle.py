"""Maintenance, the reconciliation list and a health URL that knows the device's state, as an
operator and an RLMS that follows the health URL see them.

Each test runs on a real Redis and on the embedded store (``store_url``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.admin import ADMIN, ADMIN_AUTH
from tests.support.devices import dispose_on, start_on
from tests.support.lab import AUTH, Lab, json_of

BOARDS = ["board-1", "board-2"]


@pytest.fixture
def pool(make_lab: Callable[..., Lab]) -> Lab:
    return make_lab(WEBLAB_DEVICES=BOARDS, **ADMIN)


def cli(lab: Lab, *args: str) -> Any:
    return lab.app.test_cli_runner().invoke(args=["weblab", *args])


def health(lab: Lab, path: str = "/weblab/health") -> dict[str, Any]:
    return dict(json_of(lab.app.test_client().get(path)))  # no credentials, as an RLMS polls


# -- maintenance ----------------------------------------------------------------------------


def test_device_maintenance_refuses_starts_and_keeps_sessions(pool: Lab) -> None:
    session_id = start_on(pool, "board-1").json["session_id"]
    student = pool.browser(session_id)
    result = cli(pool, "maintenance", "on", "--device", "board-1", "--message", "New camera")
    assert result.exit_code == 0, result.output
    # The student in session keeps the slot.
    assert student.get("/lab").status_code == 200
    status = pool.raw_rlms.get(
        f"/devices/board-1/weblab/sessions/{session_id}/status", headers=AUTH
    )
    assert status.json["should_finish"] > 0
    # Health, as an RLMS following it sees it.
    report = health(pool, "/devices/board-1/weblab/health")
    assert report["success"] is False and report["message"] == "New camera"
    assert report["state"] == "maintenance" and report["since"] is not None
    assert health(pool, "/devices/board-2/weblab/health")["success"] is True
    # The session ends; the device stays out of service.
    assert dispose_on(pool, "board-1", session_id)["message"] == "Deleted"
    refused = start_on(pool, "board-1")
    assert refused.status_code == 409 and refused.json["code"] == "device-maintenance"
    assert start_on(pool, "board-2").status_code == 200
    # Back in service.
    assert cli(pool, "maintenance", "off", "--device", "board-1").exit_code == 0
    report = health(pool, "/devices/board-1/weblab/health")
    assert report["success"] is True and report["state"] == "idle"
    assert start_on(pool, "board-1").status_code == 200


def test_lab_wide_maintenance_without_devices(lab: Lab) -> None:
    session_id = lab.start_raw()
    before = health(lab)
    assert before["success"] is True and before["message"] == "ok: store"
    assert before["state"] == "idle" and before["since"] is None
    assert cli(lab, "maintenance", "on").exit_code == 0
    report = health(lab)
    assert report["success"] is False
    assert report["message"] == "The lab is under maintenance"
    assert report["state"] == "maintenance"
    reply = lab.raw_rlms.post("/weblab/sessions/", json=lab.start_body(), headers=AUTH)
    assert reply.status_code == 409 and reply.json["code"] == "maintenance"
    assert lab.status(session_id) > 0  # the session in progress keeps its slot
    assert cli(lab, "maintenance", "off").exit_code == 0
    assert health(lab) == before  # the stored result, unchanged by maintenance
    assert lab.start_raw()


def test_lab_wide_maintenance_covers_every_device(pool: Lab) -> None:
    assert cli(pool, "maintenance", "on", "--message", "Power work <b>").exit_code == 0
    for device in BOARDS:
        assert start_on(pool, device).json["code"] == "device-maintenance"
        report = health(pool, f"/devices/{device}/weblab/health")
        assert report["success"] is False and report["message"] == "Power work <b>"
    assert cli(pool, "maintenance", "off").exit_code == 0
    assert start_on(pool, "board-1").status_code == 200


def test_maintenance_of_an_unknown_device_is_refused(pool: Lab) -> None:
    result = cli(pool, "maintenance", "on", "--device", "board-9")
    assert result.exit_code != 0 and "board-1, board-2" in result.output


# -- health knows the state -----------------------------------------------------------------


def test_health_is_true_while_busy_and_false_while_broken(pool: Lab) -> None:
    session_id = start_on(pool, "board-1").json["session_id"]
    report = health(pool, "/devices/board-1/weblab/health")
    assert report["success"] is True and report["state"] == "in-use"

    def on_dispose() -> None:
        raise RuntimeError("stuck")

    pool.weblab.callbacks.on_dispose = on_dispose
    dispose_on(pool, "board-1", session_id)
    report = health(pool, "/devices/board-1/weblab/health")
    assert report["success"] is False and report["state"] == "broken"
    assert "on_dispose raised RuntimeError" in report["message"]


# -- reconciliation -------------------------------------------------------------------------


def test_the_devices_list_says_who_holds_what(pool: Lab) -> None:
    session_id = start_on(pool, "board-1").json["session_id"]
    reply = pool.raw_rlms.get("/weblab/devices", headers=AUTH)
    assert reply.status_code == 200
    rows = {row["name"]: row for row in reply.json["devices"]}
    assert list(rows) == BOARDS
    one = rows["board-1"]
    assert one["state"] == "in-use" and one["cleanup_finished"] is None
    assert one["session"]["username"] == "john.smith"
    assert set(one["session"]) == {"id_hash", "username", "started", "deadline"}
    assert session_id not in reply.get_data(as_text=True)  # an id is a credential
    two = rows["board-2"]
    assert two["state"] == "unknown" and two["session"] is None
    assert two["cleanup_finished"] is False  # nobody knows what it holds
    dispose_on(pool, "board-1", session_id)
    rows = {
        row["name"]: row
        for row in pool.raw_rlms.get("/weblab/devices", headers=AUTH).json["devices"]
    }
    assert rows["board-1"]["state"] == "idle" and rows["board-1"]["cleanup_finished"] is True
    assert rows["board-1"]["session"] is None


def test_the_devices_list_takes_admin_credentials_and_refuses_others(pool: Lab) -> None:
    client = pool.app.test_client()
    assert client.get("/weblab/devices", headers=ADMIN_AUTH).status_code == 200
    refused = client.get("/weblab/devices")
    assert refused.status_code == 401 and json_of(refused)["code"] == "unauthorized"
    wrong = {"Authorization": "Basic d3Jvbmc6d3Jvbmc="}
    assert client.get("/weblab/devices", headers=wrong).status_code == 401


def test_the_devices_list_without_devices_is_empty(lab: Lab) -> None:
    reply = lab.raw_rlms.get("/weblab/devices", headers=AUTH)
    assert reply.status_code == 200 and reply.json == {"devices": []}
    assert lab.app.test_client().get("/weblab/devices").status_code == 401


def test_the_devices_list_without_devices_names_each_session(lab: Lab) -> None:
    """A lab that declares no device still answers who is in it and whether each clean-up
    finished: a row per session not disposed yet."""
    held = lab.start_raw()
    [row] = json_of(lab.test_client().get("/weblab/devices", headers=AUTH))["devices"]
    assert row["name"] == "" and row["state"] == "in-use"
    assert row["cleanup_finished"] is None and row["session"]["username"]
    assert row["session"]["id_hash"] != held and held not in str(row)  # never the id itself
    lab.state.service.dispose(held, wait=1, caller="rlms")
    assert json_of(lab.test_client().get("/weblab/devices", headers=AUTH)) == {"devices": []}


def test_flask_weblab_devices_prints_the_same_table(pool: Lab) -> None:
    start_on(pool, "board-1")
    result = cli(pool, "devices")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["device", "state", "since", "session", "user", "clean-up", "reason"]
    assert "board-1" in lines[2] and "in-use" in lines[2] and "john.smith" in lines[2]
    assert "board-2" in lines[3] and "unknown" in lines[3] and "NOT finished" in lines[3]
