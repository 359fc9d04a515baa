"""The device lifecycle on the admin page (states, numbers, reset and maintenance buttons,
CSRF-safe) and in the metrics (availability, time to repair, starts refused).

Each test runs on a real Redis and on the embedded store (``store_url``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.admin import ADMIN, ADMIN_AUTH, page_token, sample, scrape
from tests.support.devices import dispose_on, start_on, status_of
from tests.support.lab import Lab
from weblab_ext.states import DeviceState

BOARDS = ["board-1", "board-2"]
ORIGIN = {"Origin": "http://localhost:5000"}


@pytest.fixture
def pool(make_lab: Callable[..., Lab]) -> Lab:
    lab = make_lab(WEBLAB_DEVICES=BOARDS, **ADMIN)
    lab.weblab.on_reset(lambda device: None)
    return lab


def _break(lab: Lab, device: str) -> None:
    def on_dispose() -> None:
        raise RuntimeError("stuck <b>")

    saved = lab.weblab.callbacks.on_dispose
    lab.weblab.callbacks.on_dispose = on_dispose
    session_id = start_on(lab, device).json["session_id"]
    dispose_on(lab, device, session_id)
    lab.weblab.callbacks.on_dispose = saved


def page(lab: Lab) -> str:
    reply = lab.app.test_client().get("/weblab/admin/", headers=ADMIN_AUTH)
    assert reply.status_code == 200
    return str(reply.get_data(as_text=True))


def post(lab: Lab, path: str, data: dict[str, str], **headers: str) -> Any:
    return lab.app.test_client().post(
        f"/weblab/admin/devices/{path}", data=data, headers={**ADMIN_AUTH, **headers}
    )


def test_the_page_shows_each_device_state_and_a_reset_button_that_works(pool: Lab) -> None:
    _break(pool, "board-1")
    html = page(pool)
    assert 'id="lifecycle"' in html
    assert '<span class="state broken">broken</span>' in html
    assert "RuntimeError" in html
    token = page_token(html)
    reply = post(pool, "reset", {"device": "board-1", "token": token}, **ORIGIN)
    assert reply.status_code == 303
    assert status_of(pool, "board-1").state == DeviceState.IDLE
    shown = pool.app.test_client().get(reply.headers["Location"], headers=ADMIN_AUTH)
    assert "The device was reset" in shown.get_data(as_text=True)


def test_device_forms_without_the_page_token_are_refused(pool: Lab) -> None:
    _break(pool, "board-1")
    reply = post(pool, "reset", {"device": "board-1", "token": "forged"}, **ORIGIN)
    assert reply.status_code == 403
    token = page_token(page(pool))
    reply = post(
        pool, "reset", {"device": "board-1", "token": token}, Origin="http://attacker.example"
    )
    assert reply.status_code == 403
    data = {"device": "board-2", "switch": "on", "token": "forged"}
    assert post(pool, "maintenance", data, **ORIGIN).status_code == 403
    assert status_of(pool, "board-1").state == DeviceState.BROKEN
    assert status_of(pool, "board-2").shown_state != "maintenance"


def test_maintenance_buttons_for_a_device_and_the_lab(pool: Lab) -> None:
    token = page_token(page(pool))
    data = {"device": "board-2", "switch": "on", "message": "Camera <swap>", "token": token}
    assert post(pool, "maintenance", data, **ORIGIN).status_code == 303
    assert status_of(pool, "board-2").maintenance == "Camera <swap>"
    html = page(pool)
    assert "Camera &lt;swap&gt;" in html and "Camera <swap>" not in html
    assert start_on(pool, "board-2").json["code"] == "device-maintenance"
    data = {"device": "board-2", "switch": "off", "token": token}
    assert post(pool, "maintenance", data, **ORIGIN).status_code == 303
    assert status_of(pool, "board-2").maintenance == ""
    lab_wide = {"device": "", "switch": "on", "message": "", "token": token}
    assert post(pool, "maintenance", lab_wide, **ORIGIN).status_code == 303
    assert "The lab is under maintenance" in page(pool)
    assert start_on(pool, "board-1").json["code"] == "device-maintenance"
    bad = {"device": "board-9", "switch": "on", "token": token}
    assert post(pool, "maintenance", bad, **ORIGIN).status_code == 303  # "nothing to do"


def test_metrics_report_state_availability_repairs_and_refused_starts(pool: Lab) -> None:
    start_on(pool, "board-2")
    _break(pool, "board-1")
    start_on(pool, "board-1")  # refused: broken
    start_on(pool, "board-2")  # refused: in use
    samples = scrape(pool.app.test_client())
    assert sample(samples, "weblab_device_state", device="board-1", state="broken") == 1
    assert sample(samples, "weblab_device_state", device="board-1", state="idle") == 0
    assert sample(samples, "weblab_device_state", device="board-2", state="in-use") == 1
    assert (
        sample(samples, "weblab_device_starts_refused_total", device="board-1", state="broken") == 1
    )
    assert (
        sample(samples, "weblab_device_starts_refused_total", device="board-2", state="in-use") == 1
    )
    assert sample(samples, "weblab_device_repairs_total", device="board-1") == 0
    assert 0 <= sample(samples, "weblab_device_availability_ratio", device="board-1") < 1
    pool.state.devices.lifecycle.reset("board-1")
    samples = scrape(pool.app.test_client())
    assert sample(samples, "weblab_device_repairs_total", device="board-1") == 1
    assert sample(samples, "weblab_device_repair_seconds_total", device="board-1") >= 0
    assert sample(samples, "weblab_device_availability_ratio", device="board-2") == 1


def test_availability_counts_broken_and_maintenance_time(pool: Lab) -> None:
    lifecycle = pool.state.devices.lifecycle
    clock = [1000.0]
    pool.state.clock = lambda: clock[0]
    lifecycle.first_seen("board-1")  # created at 1000, idle
    clock[0] = 1100.0
    lifecycle.mark_broken("board-1", "test")
    clock[0] = 1150.0
    lifecycle.reset("board-1")  # 50 s broken
    lifecycle.set_maintenance("board-1", "work")
    clock[0] = 1200.0
    lifecycle.set_maintenance("board-1", None)  # 50 s in maintenance
    [status] = lifecycle.read(["board-1"])
    assert status.repairs == 1 and status.broken_seconds == pytest.approx(50)
    assert status.maintenance_seconds == pytest.approx(50)
    assert status.availability(1400.0) == pytest.approx(1 - 100 / 400)
