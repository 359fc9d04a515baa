"""What an operator sees of a device pool: ``flask weblab status``, the admin page, the
metrics, ``fake new --device``, and the test harness starting sessions on a device."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import pytest

from tests.support.admin import ADMIN, ADMIN_AUTH, sample, scrape
from tests.support.lab import Lab
from weblab_ext.cli.devices import device_url
from weblab_ext.protocol import printable
from weblab_ext.testing.harness import LabUnderTest

BOARDS = ["board-1", "board-2", "board-3"]


@pytest.fixture
def pool(make_lab: Callable[..., Lab]) -> Lab:
    return make_lab(WEBLAB_DEVICES=BOARDS, **ADMIN)


def _start(lab: Lab, device: str, **start: Any) -> str:
    return LabUnderTest(lab.app).start(device=device, **start).session_id


def test_status_lists_every_device_with_its_session(pool: Lab) -> None:
    _start(pool, "board-2", username="ann\x1b[31m\u202e")
    result = pool.app.test_cli_runner().invoke(args=["weblab", "status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Devices: 1 in use, 2 free"
    assert lines[1].split() == ["device", "session", "user", "state", "time", "left"]
    board_1 = next(line for line in lines if line.startswith("board-1"))
    board_2 = next(line for line in lines if line.startswith("board-2"))
    assert board_1.split()[1:] == ["-", "-", "free", "-"]
    assert "ann\\x1b[31m\\u202e" in board_2 and "active" in board_2
    assert "\x1b" not in result.output and "\u202e" not in result.output


def test_status_of_a_lab_without_devices_has_no_devices_table(lab: Lab) -> None:
    result = lab.app.test_cli_runner().invoke(args=["weblab", "status"])
    assert "Devices" not in result.output


def test_the_admin_page_lists_the_devices(pool: Lab) -> None:
    _start(pool, "board-3", username="<b>bob</b>")
    page = pool.app.test_client().get("/weblab/admin/", headers=ADMIN_AUTH)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="devices"' in html
    for board in BOARDS:
        assert f"<code>{board}</code>" in html
    assert "&lt;b&gt;bob&lt;/b&gt;" in html and "<b>bob</b>" not in html


def test_metrics_carry_a_device_label(pool: Lab) -> None:
    _start(pool, "board-1")
    samples = scrape(pool.app.test_client())
    assert sample(samples, "weblab_device_in_use", device="board-1") == 1
    assert sample(samples, "weblab_device_in_use", device="board-2") == 0
    assert 0 < sample(samples, "weblab_device_session_seconds_left", device="board-1") <= 300


def test_fake_new_names_a_declared_device() -> None:
    assert device_url("http://lab:5000", None, ("a",)) == "http://lab:5000"
    assert device_url("http://lab:5000/", "a", ("a",)) == "http://lab:5000/devices/a"
    with pytest.raises(click.ClickException, match="No device 'b' in this lab; its devices: a"):
        device_url("http://lab:5000", "b", ("a",))


def test_fake_new_refuses_an_unknown_device(pool: Lab) -> None:
    result = pool.app.test_cli_runner().invoke(
        args=["weblab", "fake", "new", "--device", "board-9", "--dont-open-browser"]
    )
    assert result.exit_code != 0
    assert "No device 'board-9'" in result.output


def test_the_harness_starts_students_on_a_device(pool: Lab) -> None:
    under_test = LabUnderTest(pool.app)
    student = under_test.student(device="board-3")
    assert student.user().device == "board-3"  # type: ignore[attr-defined]
    assert student.status() > 0
    assert student.dispose().finished


def test_printable_escapes_control_and_format_characters() -> None:
    assert printable("ok name") == "ok name"
    # One escaping for every output (weblab_ext.protocol.printable): \x-style escapes.
    assert printable("a\nb\x1b\u202e") == "a\\x0ab\\x1b\\u202e"
