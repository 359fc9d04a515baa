"""The RLMS client follows a health URL as LabDiscoveryEngine's health checker does: a GET
without credentials, ``success: false`` (or no reading at all) marks the resource broken and
no start is sent there until a reading says ``success: true`` again."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.lab import Lab
from tests.support.rlms_stub import ClientFactory, Reply, StubLab
from weblab_ext.rlms import HealthReading, ResourceBroken, RLMSClient
from weblab_ext.rlms.health import read_health
from weblab_ext.rlms.transport import RequestsTransport


def test_a_reading_is_taken_without_credentials_and_kept(make_client: ClientFactory) -> None:
    lab = StubLab()
    client = make_client(lab, now=lambda: 1_700_000_000.0)
    lab.set_default("health", {"found": True, "success": True, "message": "", "state": "idle"})
    reading = client.health()
    assert reading == client.last_health
    assert (reading.success, reading.message, reading.at) == (True, "", 1_700_000_000.0)
    assert reading.reply["state"] == "idle"
    [call] = lab.calls
    assert (call.endpoint, call.method, call.path) == ("health", "GET", "/weblab/health")
    assert "Authorization" not in call.headers  # the RLMS sends none to the health URL
    assert client.start(username="ana").session_id == "sid-1"


@pytest.mark.parametrize(
    ("profile", "prefix"), [("ldl", "/ldl"), ("labdiscoveryengine", "/weblab")]
)
def test_the_default_url_follows_the_profile_prefix(
    make_client: ClientFactory, profile: str, prefix: str
) -> None:
    lab = StubLab(prefix=prefix)
    assert make_client(lab, profile=profile).health().success
    assert lab.calls[0].path == f"{prefix}/health"


def test_a_failed_reading_refuses_starts_until_a_good_one(make_client: ClientFactory) -> None:
    lab = StubLab()
    client = make_client(lab)
    lab.set_default("health", {"found": True, "success": False, "message": "New camera"})
    reading = client.health()
    assert (reading.success, reading.message) == (False, "New camera")
    with pytest.raises(ResourceBroken, match="New camera") as refused:
        client.start(username="ana")
    assert refused.value.reading is reading
    assert "start" not in lab.endpoints()  # the lab was not even called
    lab.set_default("health", {"found": True, "success": True, "message": ""})
    assert client.health().success
    assert client.start(username="ana").session_id == "sid-1"


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (Reply({"message": "down"}, status=503), "HTTP 503"),
        (Reply(raw="<html>ok</html>", content_type="text/html"), "no JSON object"),
        (Reply(["success", True]), "no JSON object"),
        (Reply({"found": True, "success": "true", "message": "x"}), "x"),
        (Reply({"found": True, "message": "no verdict"}), "no verdict"),
    ],
)
def test_what_is_not_a_clear_success_counts_as_failed(
    make_client: ClientFactory, reply: Reply, why: str
) -> None:
    lab = StubLab()
    lab.set_default("health", reply)
    reading = make_client(lab).health()
    assert not reading.success and why in reading.message


def test_an_unreachable_health_url_is_a_failed_reading() -> None:
    reading = read_health(RequestsTransport(retries=0), "http://127.0.0.1:9/weblab/health", "t")
    assert isinstance(reading, HealthReading)
    assert not reading.success and "not reachable" in reading.message


def test_an_explicit_health_url(make_client: ClientFactory) -> None:
    lab = StubLab(prefix="/other")
    client: RLMSClient = make_client(lab)
    assert client.health(client.url.rstrip("/") + "/other/health").success
    assert lab.calls[0].path == "/other/health"


def test_a_lab_in_maintenance_as_its_rlms_sees_it(make_lab: Callable[..., Lab]) -> None:
    """The harness's RLMS client on a real lab: one device under maintenance is refused, its
    neighbour is not, and the student already in session keeps the slot."""
    lab = make_lab(WEBLAB_DEVICES=["board-1", "board-2"])
    rlms = lab.rlms(device="board-1")
    student = lab.student(rlms)
    lab.state.devices.lifecycle.set_maintenance("board-1", "New camera until 14:00")
    reading = rlms.health()
    assert (reading.success, reading.message) == (False, "New camera until 14:00")
    assert reading.reply["state"] == "maintenance"
    with pytest.raises(ResourceBroken):
        rlms.start(username="bob")
    assert student.status() > 0 and student.get("/lab").status_code == 200
    assert lab.rlms(device="board-2").health().success
    lab.state.devices.lifecycle.set_maintenance("board-1", None)
    assert rlms.health().success
    student.dispose()
    assert rlms.start(username="bob").session_id
