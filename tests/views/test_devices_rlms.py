"""Device pools over the RLMS protocol: one resource per device, both dialects, ownership.

Each test runs on a real Redis and on the embedded store (``store_url``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.lab import AUTH, Lab, json_of
from weblab_ext import weblab_user
from weblab_ext.rlms import LabStartFailed, RLMSClient, RLMSHTTPError
from weblab_ext.testing.harness import LabUnderTest

BOARDS = ["board-1", "board-2", "board-3"]
PROFILES = ["weblabdeusto", "weblabdeusto-2017", "weblabdeusto-api0", "labdiscoveryengine", "ldl"]


def _pool(make_lab: Callable[..., Lab], devices: list[str] = BOARDS, **config: Any) -> Lab:
    lab = make_lab(WEBLAB_DEVICES=devices, **config)
    lab.devices_seen = []  # type: ignore[attr-defined]

    @lab.app.route("/device")
    def device_view() -> str:
        from weblab_ext import requires_active

        @requires_active
        def inner() -> str:
            return str(weblab_user.device)

        return inner()

    return lab


def _ldl_body() -> dict[str, Any]:
    from weblab_ext.rlms.payloads import StartParams, build_start_body
    from weblab_ext.rlms.profiles import get_profile

    return dict(build_start_body(get_profile("ldl"), StartParams(username="x", start=time.time())))


def _rlms(lab: Lab, device: str | None, profile: str = "weblabdeusto") -> RLMSClient:
    under_test = LabUnderTest(lab.app)
    url = under_test.base_url + (f"/devices/{device}" if device else "")
    return under_test.rlms(profile, url=url)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_device_serves_both_dialects_at_once(
    make_lab: Callable[..., Lab], profile: str
) -> None:
    lab = _pool(make_lab)
    started = {device: _rlms(lab, device, profile).start() for device in BOARDS}
    for device, session in started.items():
        rlms = _rlms(lab, device, profile)
        assert rlms.status(session.session_id) > 0
        user = LabUnderTest(lab.app).user(session.session_id)
        assert user.device == device  # type: ignore[attr-defined]
    for device, session in started.items():
        assert _rlms(lab, device, profile).dispose_until_finished(session.session_id).finished
    assert sorted(lab.disposed) == sorted(s.session_id for s in started.values())


def test_the_device_is_known_in_on_start_views_and_on_dispose(
    make_lab: Callable[..., Lab],
) -> None:
    lab = _pool(make_lab)
    seen: list[tuple[str, Any]] = []
    lab.weblab.callbacks.on_start = lambda client, server: seen.append(
        ("start", weblab_user.device)
    )
    lab.weblab.callbacks.on_dispose = lambda: seen.append(("dispose", weblab_user.device))
    under_test = LabUnderTest(lab.app)
    student = under_test.student(_rlms(lab, "board-2"))
    assert student.get("/device").get_data(as_text=True) == "board-2"
    student.dispose()
    assert seen == [("start", "board-2"), ("dispose", "board-2")]


def test_sessions_of_another_device_read_as_unknown(make_lab: Callable[..., Lab]) -> None:
    lab = _pool(make_lab)
    one = _rlms(lab, "board-1").start().session_id
    two = _rlms(lab, "board-2").start().session_id
    other = _rlms(lab, "board-2")
    assert other.status(one) == -1
    assert other.status(two) > 0
    reply = lab.raw_rlms.post(
        "/devices/board-2/weblab/sessions/status/multiple",
        json={"session_ids": [one, two]},
        headers=AUTH,
    )
    assert reply.json["status"][one] == -1 and reply.json["status"][two] > 0
    reply = lab.raw_rlms.post(
        f"/devices/board-2/weblab/sessions/{one}", json={"action": "delete"}, headers=AUTH
    )
    assert reply.json["message"] == "Not found"
    assert lab.raw_rlms.delete(f"/devices/board-2/ldl/sessions/{one}", headers=AUTH).json[
        "message"
    ] == ("Not found")
    assert _rlms(lab, "board-1").status(one) > 0  # untouched on its own device
    assert lab.disposed == []


def test_a_busy_device_refuses_a_start_until_disposed(
    make_lab: Callable[..., Lab], caplog: pytest.LogCaptureFixture
) -> None:
    lab = _pool(make_lab)
    session = _rlms(lab, "board-1").start()
    with pytest.raises(RLMSHTTPError) as info:
        _rlms(lab, "board-1").start()
    assert info.value.status == 409
    reply = lab.raw_rlms.post(
        "/devices/board-1/weblab/sessions/", json=lab.start_body(), headers=AUTH
    )
    assert reply.status_code == 409
    assert reply.json["error"] is True and reply.json["code"] == "device-busy"
    assert "board-1" in reply.json["message"] and "success" not in reply.json
    with pytest.raises((RLMSHTTPError, LabStartFailed)):
        _rlms(lab, "board-1", "ldl").start()
    ldl = lab.raw_rlms.post("/devices/board-1/ldl/sessions/", json=_ldl_body(), headers=AUTH)
    assert ldl.status_code == 409 and ldl.json["success"] is False, ldl.json
    assert "Refused a start on device board-1" in caplog.text
    assert session.session_id not in caplog.text
    # Another device is free; the busy one is free again once its session is disposed.
    _rlms(lab, "board-2").start()
    assert _rlms(lab, "board-1").dispose_until_finished(session.session_id).finished
    assert _rlms(lab, "board-1").start().session_id


def test_a_start_waits_for_the_clean_up_to_finish(make_lab: Callable[..., Lab]) -> None:
    lab = _pool(make_lab, WEBLAB_DISPOSE_WAIT=0)
    release = threading.Event()
    lab.weblab.callbacks.on_dispose = lambda: release.wait(10)
    session = _rlms(lab, "board-1").start()
    first = _rlms(lab, "board-1").dispose(session.session_id)
    assert not first.finished
    with pytest.raises(RLMSHTTPError):
        _rlms(lab, "board-1").start()
    release.set()
    assert _rlms(lab, "board-1").dispose_until_finished(session.session_id).finished
    assert _rlms(lab, "board-1").start()


def test_a_logged_out_session_still_holds_its_device(make_lab: Callable[..., Lab]) -> None:
    lab = _pool(make_lab)
    student = LabUnderTest(lab.app).student(_rlms(lab, "board-3"))
    student.logout()
    with pytest.raises(RLMSHTTPError):
        _rlms(lab, "board-3").start()
    assert lab.weblab.clean_expired_users() == 1
    assert _rlms(lab, "board-3").start()


def test_two_racing_starts_on_one_device_get_one_session(make_lab: Callable[..., Lab]) -> None:
    lab = _pool(make_lab)
    barrier = threading.Barrier(8)
    codes: list[int] = []

    def start() -> None:
        client = lab.app.test_client()
        barrier.wait()
        reply = client.post(
            "/devices/board-1/weblab/sessions/", json=lab.start_body(), headers=AUTH
        )
        codes.append(reply.status_code)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(codes) == [200] + [409] * 7
    assert len(lab.started) == 1


def test_unprefixed_paths_list_the_devices(make_lab: Callable[..., Lab]) -> None:
    lab = _pool(make_lab)
    for method, path in [
        ("GET", "/weblab/sessions/api"),
        ("GET", "/weblab/sessions/test"),
        ("POST", "/weblab/sessions/"),
        ("GET", "/weblab/sessions/x/status"),
        ("GET", "/ldl/sessions/api"),
        ("GET", "/weblab/health"),
        ("DELETE", "/ldl/sessions/x"),
    ]:
        reply = lab.raw_rlms.open(path, method=method, json={}, headers=AUTH)
        assert reply.status_code == 404, path
        assert reply.json["code"] == "device-required"
        assert reply.json["devices"] == [f"http://localhost:5000/devices/{d}" for d in BOARDS]
    assert lab.started == []


def test_an_unknown_device_is_a_json_404(make_lab: Callable[..., Lab]) -> None:
    lab = _pool(make_lab)
    reply = lab.raw_rlms.get("/devices/board-9/weblab/sessions/api", headers=AUTH)
    assert reply.status_code == 404 and reply.json["code"] == "unknown-device"
    reply = lab.raw_rlms.get("/devices/board-1/weblab/nowhere", headers=AUTH)
    assert reply.status_code == 404 and reply.json["error"] is True


def test_device_paths_need_the_rlms_credentials(make_lab: Callable[..., Lab]) -> None:
    lab = _pool(make_lab)
    assert lab.raw_rlms.get("/devices/board-1/weblab/sessions/api").status_code == 200
    assert lab.raw_rlms.post("/devices/board-1/weblab/sessions/", json={}).status_code == 401
    assert lab.raw_rlms.get("/devices/board-1/ldl/sessions/x/status").status_code == 401


def test_one_device_is_served_on_the_unprefixed_paths_too(make_lab: Callable[..., Lab]) -> None:
    lab = _pool(make_lab, ["only"])
    session_id = lab.start_raw()  # as the RLMS was configured before the lab had devices
    assert LabUnderTest(lab.app).user(session_id).device == "only"  # type: ignore[attr-defined]
    with pytest.raises(RLMSHTTPError):
        _rlms(lab, "only").start()
    assert _rlms(lab, "only").status(session_id) > 0
    assert lab.dispose(session_id)["message"] == "Deleted"
    assert _rlms(lab, "only").start()


def test_without_devices_there_are_no_device_paths(lab: Lab) -> None:
    assert lab.raw_rlms.get("/devices/board-1/weblab/sessions/api").status_code == 404
    one, two = lab.start_raw(), lab.start_raw()  # sessions overlap, as in weblablib
    assert LabUnderTest(lab.app).user(one).device == ""  # type: ignore[attr-defined]
    assert lab.status(one) > 0 and lab.status(two) > 0


def test_health_checks_may_take_the_device(make_lab: Callable[..., Lab]) -> None:
    lab = _pool(make_lab)
    asked: list[str] = []

    @lab.weblab.health_check
    def board_ok(device: str) -> bool:
        asked.append(device)
        return device != "board-2"

    @lab.weblab.health_check
    def power() -> bool:
        return True

    client = lab.app.test_client()  # no credentials, as LabDiscoveryEngine sends
    one = client.get("/devices/board-1/weblab/health").json
    assert one is not None
    assert one.pop("state") == "unknown" and one.pop("since") is None  # never started
    assert one.pop("checked_at") is not None  # the first call waited for the first round
    assert one == {
        "found": True,
        "success": True,
        "message": "ok: store, board_ok (board-1), power",
    }
    two = json_of(client.get("/devices/board-2/ldl/health"))
    assert two["success"] is False and two["message"] == "board_ok (board-2): returned false"
    assert lab.state.threads.health is not None
    assert lab.state.threads.health.wait_for_round(10)
    assert sorted(asked) == sorted(lab.state.settings.devices)  # one round checked each device once


def test_a_device_check_in_a_lab_without_devices_gets_an_empty_name(lab: Lab) -> None:
    asked: list[str] = []

    @lab.weblab.health_check
    def board_ok(device: str) -> bool:
        asked.append(device)
        return True

    assert json_of(lab.app.test_client().get("/weblab/health"))["success"] is True
    assert asked == [""]
