"""A health URL in maintenance and back, as an RLMS that follows it sees it: the lab served by
a real gunicorn process on a real Redis, the operator's ``flask weblab maintenance`` run as
processes of their own, and the RLMS (LabDiscoveryEngine's profile, following the health
URL) calling over HTTP.

Maintenance answers ``success: false`` on the very next reading; "back" is polled for a
bounded time, since the health URL may answer from a stored background check (with
``WEBLAB_HEALTH_CHECK_INTERVAL``) that is not there yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fault_lab import Browser, FaultLab
from tests.support.socketio_processes import wait_until
from weblab_ext.rlms import ResourceBroken, RLMSClient, RLMSError

pytestmark = pytest.mark.slow

MESSAGE = "New camera until 14:00"
BOARDS = ["board-1", "board-2"]


def _available(rlms: RLMSClient) -> bool:
    return rlms.health().success


@pytest.fixture(params=["checks-per-call", "stored-checks"])
def checks(request: pytest.FixtureRequest) -> dict[str, str]:
    """How the health URL gets its verdict: the checks run on each call, or background
    checks every half second, read from the store."""
    return {} if request.param == "checks-per-call" else {"WEBLAB_HEALTH_CHECK_INTERVAL": "0.5"}


@pytest.fixture
def lab_of(redis_server: Any, tmp_path: Path, checks: dict[str, str]) -> Iterator[Any]:
    started: list[FaultLab] = []

    def start(devices: list[str]) -> FaultLab:
        lab = FaultLab(tmp_path, redis_server.url, devices, config=checks)
        started.append(lab)
        return lab.start()

    yield start
    for lab in started:
        lab.stop()


@pytest.mark.parametrize(
    ("devices", "scope"),
    [([], "lab"), (BOARDS, "lab"), (BOARDS, "device")],
    ids=["no-devices", "devices-lab-wide", "devices-one-device"],
)
def test_maintenance_and_back_as_a_following_rlms_sees_it(
    lab_of: Any, devices: list[str], scope: str
) -> None:
    lab: FaultLab = lab_of(devices)
    device = devices[0] if devices else None
    rlms = lab.rlms(device)
    # The RLMS reads the resource as available, and books a student there.
    wait_until(lambda: _available(rlms), 20, f"health of {lab.url}: {rlms.last_health}")
    session = rlms.start(username="ana", slot_length=600)
    ana = Browser(session.url)
    assert ana.open("/lab") == (200, f"lab of ana on {device or '-'}")

    # The operator, in a terminal of their own.
    where = ["--device", device] if scope == "device" and device else []
    result = lab.flask("weblab", "maintenance", "on", *where, "--message", MESSAGE)
    assert result.returncode == 0, result.stdout + result.stderr

    # The very next reading marks the resource broken, with the operator's message...
    reading = rlms.health()
    assert (reading.success, reading.message) == (False, MESSAGE), reading
    assert reading.reply["state"] == "maintenance" and reading.reply["found"] is True
    # ...so the RLMS sends no new student there, and the lab would refuse one anyway.
    with pytest.raises(ResourceBroken, match="New camera"):
        rlms.start(username="bob")
    with pytest.raises(RLMSError):
        lab.rlms(device).start(username="bob")  # a client that does not follow it
    # The lab author's fake RLMS, in a terminal, reads the same.
    device_option = ["--device", device] if device else []
    fake = lab.flask("weblab", "fake", "health", "--url", lab.url, *device_option)
    assert fake.returncode == 1, fake.stdout + fake.stderr
    assert "success false" in fake.stdout and f"message: {MESSAGE}" in fake.stdout
    # The student in session keeps the slot: time left, and the lab still answers.
    assert rlms.status(session.session_id) > 0
    assert ana.open("/lab") == (200, f"lab of ana on {device or '-'}")
    neighbour = lab.rlms("board-2") if devices else None
    if neighbour is not None:
        if scope == "device":  # only board-1 is out of service
            wait_until(lambda: _available(neighbour), 20, f"board-2: {neighbour.last_health}")
            assert neighbour.start(username="carl").session_id
        else:
            assert not neighbour.health().success

    result = lab.flask("weblab", "maintenance", "off", *where)
    assert result.returncode == 0, result.stdout + result.stderr
    # Back: a reading says success true within a bounded time (the next check round)...
    wait_until(lambda: _available(rlms), 20, f"back: {rlms.last_health}")
    assert ana.open("/lab")[0] == 200 and rlms.status(session.session_id) > 0
    # ...and booking works again once ana's slot is over (a device holds one student).
    assert rlms.dispose_until_finished(session.session_id).finished
    wait_until(lambda: _available(rlms), 20, f"after ana: {rlms.last_health}")
    bob = rlms.start(username="bob")
    assert Browser(bob.url).open("/lab") == (200, f"lab of bob on {device or '-'}")
