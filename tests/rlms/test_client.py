"""RLMSClient over both transports: requests, headers, probing, errors, retries."""

from __future__ import annotations

import base64
import json
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from tests.support.rlms_stub import ClientFactory, Reply, Sleeper, StubLab
from weblab_ext import __version__
from weblab_ext.rlms import (
    PROFILES,
    WLD_INVALID_SESSION_ID,
    WLD_INVALID_URL,
    LabStartFailed,
    RLMSClient,
    RLMSConnectionError,
    RLMSHTTPError,
    RLMSProtocolError,
)
from weblab_ext.rlms.transport import tls_context

NO_CONFIG: dict[str, Any] = {
    "environ": {},
    "dotenv_path": "/nonexistent",
    "netrc_path": "/nonexistent",
}


def lab_for(profile: str) -> StubLab:
    return StubLab(prefix=PROFILES[profile].prefix)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_headers_on_every_call(make_client: ClientFactory, profile: str) -> None:
    lab = lab_for(profile)
    client = make_client(lab, profile=profile)
    sid = client.start(username="john", start=1700000000.0).session_id
    client.status(sid)
    client.dispose(sid)
    expected_auth = "Basic " + base64.b64encode(b"weblab:secret").decode()
    for call in lab.calls:
        assert call.headers["User-Agent"] == f"weblab_ext/{__version__} (+rlms-profile {profile})"
        assert call.headers["Authorization"] == expected_auth
        accept = PROFILES[profile].accept
        assert call.headers.get("Accept") == accept
        if call.body:
            assert call.headers["Content-Type"] == "application/json"
    assert [c.endpoint for c in lab.calls][-3:] == ["start", "status", "dispose"]


def test_weblabdeusto_probes_api_then_test_once(make_client: ClientFactory) -> None:
    lab = StubLab()
    client = make_client(lab)
    client.start()
    client.start()
    assert lab.endpoints() == ["api", "test", "start", "start"]
    assert [c.method for c in lab.calls] == ["GET", "GET", "POST", "POST"]
    assert [c.path for c in lab.calls[:3]] == [
        "/weblab/sessions/api",
        "/weblab/sessions/test",
        "/weblab/sessions/",
    ]
    body = lab.calls[2].json
    assert isinstance(body["server_initial_data"], dict)
    assert body["server_initial_data"]["priority.queue.slot.length"] == "300"
    assert client.api_version == "1"


@pytest.mark.parametrize("profile", ["weblabdeusto-api0", "labdiscoveryengine", "ldl"])
def test_other_profiles_never_probe(make_client: ClientFactory, profile: str) -> None:
    lab = lab_for(profile)
    make_client(lab, profile=profile).start()
    assert lab.endpoints() == ["start"]


def test_api0_profile_sends_strings(make_client: ClientFactory) -> None:
    lab = StubLab()
    make_client(lab, profile="weblabdeusto-api0").start()
    body = lab.calls[0].json
    assert isinstance(body["client_initial_data"], str)
    assert json.loads(body["server_initial_data"])["request.username"] == "john"


def test_lab_announcing_api_zero_gets_strings(make_client: ClientFactory) -> None:
    lab = StubLab()
    lab.script("api", {"api_version": "0"})
    make_client(lab).start()
    assert isinstance(lab.calls[-1].json["server_initial_data"], str)


def test_failed_probe_still_starts_with_objects(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    lab = StubLab()
    lab.script(
        "test",
        Reply({"valid": False, "error_messages": ["bad creds"]}, status=401),
        {"valid": False, "error_messages": ["still bad"]},
    )
    client = make_client(lab)
    with caplog.at_level(logging.WARNING, logger="weblab_ext"):
        client.start()
        client.start()
    assert lab.endpoints() == ["api", "test", "start", "api", "test", "start"]
    assert isinstance(lab.calls[2].json["server_initial_data"], dict)
    assert client.api_version is None
    assert "HTTP 401" in caplog.text and "still bad" in caplog.text


def test_api_and_test(make_client: ClientFactory) -> None:
    lab = StubLab()
    lab.script("api", Reply(raw="ok", content_type="text/plain"), {"api_version": ""})
    lab.script("test", Reply(raw="", content_type="text/html"), {"valid": False})
    client = make_client(lab)
    with pytest.raises(RLMSProtocolError, match="api_version"):
        client.api()  # "ok" is tolerated as {} but has no version
    with pytest.raises(RLMSProtocolError):
        client.api()
    assert client.api() == "1"
    assert client.test() is False
    assert client.test() is False
    assert client.test() is True


def test_http_error_carries_status_and_body_and_is_not_retried(
    make_client: ClientFactory,
) -> None:
    # 500 is never retried; 502/503/504 are, on calls safe to repeat (test_rlms_transport)
    lab = StubLab()
    lab.script("status", Reply({"error": "boom"}, status=500))
    client = make_client(lab)
    with pytest.raises(RLMSHTTPError) as info:
        client.status("abc")
    assert info.value.status == 500
    assert json.loads(info.value.body) == {"error": "boom"}
    assert info.value.url.endswith("/weblab/sessions/abc/status")
    assert info.value.method == "GET"
    assert "HTTP 500" in str(info.value)
    assert lab.endpoints() == ["status"]
    assert client.sleep.calls == []  # type: ignore[attr-defined]


def test_redirects_are_not_followed(make_client: ClientFactory) -> None:
    lab = StubLab()
    lab.script("status", Reply(raw="", status=308, content_type="text/html"))
    with pytest.raises(RLMSHTTPError) as info:
        make_client(lab).status("abc")
    assert info.value.status == 308


def test_invalid_json_is_a_protocol_error(make_client: ClientFactory) -> None:
    lab = StubLab()
    lab.script("start", Reply(raw="<html>", content_type="text/html"))
    with pytest.raises(RLMSProtocolError, match="not valid JSON") as info:
        make_client(lab, profile="weblabdeusto-api0").start()
    assert info.value.body == "<html>"


def test_lde_requires_json_content_type(make_client: ClientFactory) -> None:
    lab = StubLab()
    lab.script("status", Reply(raw='{"should_finish": 5}', content_type="text/plain"))
    client = make_client(lab, profile="labdiscoveryengine")
    with pytest.raises(RLMSProtocolError, match="Content-Type"):
        client.status("abc")
    assert client.status("abc") == 5.0


def test_weblabdeusto_ignores_start_errors(make_client: ClientFactory) -> None:
    lab = StubLab()
    lab.script("start", {"error": True, "message": "Error initializing laboratory"})
    session = make_client(lab, profile="weblabdeusto-api0").start()
    assert session.url == WLD_INVALID_URL
    assert session.session_id == WLD_INVALID_SESSION_ID
    assert session.reply["error"] is True


@pytest.mark.parametrize(
    "reply", [{"error": True, "message": "nope"}, {"success": False, "url": "u", "session_id": "s"}]
)
@pytest.mark.parametrize("profile", ["labdiscoveryengine", "ldl"])
def test_lde_start_failure(make_client: ClientFactory, profile: str, reply: dict[str, Any]) -> None:
    lab = lab_for(profile)
    lab.script("start", reply)
    with pytest.raises(LabStartFailed) as info:
        make_client(lab, profile=profile).start()
    assert info.value.reply == reply


def test_lde_start_needs_url_and_session_id(make_client: ClientFactory) -> None:
    lab = StubLab()
    lab.script("start", {"url": "http://x"})
    with pytest.raises(RLMSProtocolError, match="session_id"):
        make_client(lab, profile="labdiscoveryengine").start()


def test_start_reply_is_returned(make_client: ClientFactory) -> None:
    lab = StubLab(prefix="/ldl")
    session = make_client(lab, profile="ldl").start(username="ana", full_name="Ana B")
    assert session.session_id == "sid-1"
    assert session.url == "http://lab.example/callback/sid-1"
    assert lab.calls[0].json["user"] == {"username": "ana", "unique": "ana", "fullName": "Ana B"}


def test_start_defaults_to_now(make_client: ClientFactory) -> None:
    lab = StubLab()
    make_client(lab, profile="labdiscoveryengine", now=lambda: 1700000000.5).start()
    server = lab.calls[0].json["server_initial_data"]
    assert server["priority.queue.slot.start.timestamp"] == 1700000000.5


@pytest.mark.parametrize(
    ("profile", "method", "path", "body"),
    [
        ("weblabdeusto", "POST", "/weblab/sessions/s1", {"action": "delete"}),
        ("labdiscoveryengine", "POST", "/weblab/sessions/s1", {"action": "delete"}),
        ("ldl", "DELETE", "/ldl/sessions/s1", None),
    ],
)
def test_dispose_request(
    make_client: ClientFactory, profile: str, method: str, path: str, body: object
) -> None:
    lab = lab_for(profile)
    outcome = make_client(lab, profile=profile).dispose("s1")
    assert outcome.finished and outcome.calls == 1
    call = lab.calls[0]
    assert (call.method, call.path) == (method, path)
    assert (call.json if call.body else None) == body


@pytest.mark.parametrize("raw", ["ok", "", "deleted"])
def test_weblabdeusto_tolerates_literal_dispose_bodies(
    make_client: ClientFactory, raw: str
) -> None:
    lab = StubLab()
    lab.script("dispose", Reply(raw=raw, content_type="text/plain"))
    outcome = make_client(lab).dispose("s1")
    assert outcome.finished and outcome.reply == {} and outcome.error is None


def test_weblabdeusto_counts_a_failed_dispose_as_finished(make_client: ClientFactory) -> None:
    lab = StubLab()
    lab.script("dispose", Reply({"finished": False}, status=500))
    outcome = make_client(lab).dispose("s1")
    assert outcome.finished
    assert isinstance(outcome.error, RLMSHTTPError) and outcome.error.status == 500


def test_lde_dispose_errors_propagate(make_client: ClientFactory) -> None:
    lab = StubLab()
    lab.script("dispose", Reply(raw="ok", content_type="text/plain"))
    with pytest.raises(RLMSProtocolError):
        make_client(lab, profile="labdiscoveryengine").dispose("s1")


# -- network failures (real sockets only) ---------------------------------------------------


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def test_connection_errors_are_retried_with_backoff(closed_port: int) -> None:
    sleeper = Sleeper()
    client = RLMSClient(
        url=f"http://127.0.0.1:{closed_port}", sleep=sleeper, retries=3, backoff=0.25, **NO_CONFIG
    )
    with pytest.raises(RLMSConnectionError) as info:
        client.status("abc")
    assert sleeper.calls == [0.25, 0.5, 1.0]
    assert not info.value.timed_out
    assert info.value.url == f"http://127.0.0.1:{closed_port}/weblab/sessions/abc/status"


def test_no_retries_when_disabled(closed_port: int) -> None:
    sleeper = Sleeper()
    client = RLMSClient(
        url=f"http://127.0.0.1:{closed_port}", sleep=sleeper, retries=0, **NO_CONFIG
    )
    with pytest.raises(RLMSConnectionError):
        client.api()
    assert sleeper.calls == []


def test_retry_recovers_when_the_lab_comes_back(closed_port: int) -> None:
    lab = StubLab()
    servers: list[BaseWSGIServer] = []

    def sleep(seconds: float) -> None:
        sleeper.calls.append(seconds)
        if not servers:  # the lab comes up during the first backoff
            servers.append(make_server("127.0.0.1", closed_port, lab.app))
            threading.Thread(target=servers[0].handle_request, daemon=True).start()

    sleeper = Sleeper()
    client = RLMSClient(url=f"http://127.0.0.1:{closed_port}", sleep=sleep, **NO_CONFIG)
    try:
        assert client.api() == "1"
    finally:
        for server in servers:
            server.server_close()
    assert sleeper.calls == [0.5]
    assert lab.endpoints() == ["api"]


def test_timeout_is_reported_and_not_retried(silent_port: int) -> None:
    sleeper = Sleeper()
    client = RLMSClient(
        url=f"http://127.0.0.1:{silent_port}", timeout=0.2, sleep=sleeper, **NO_CONFIG
    )
    with pytest.raises(RLMSConnectionError, match="would block") as info:
        client.status("abc")
    assert info.value.timed_out
    assert sleeper.calls == []


def test_weblabdeusto_dispose_survives_an_unreachable_lab(closed_port: int) -> None:
    client = RLMSClient(url=f"http://127.0.0.1:{closed_port}", sleep=Sleeper(), **NO_CONFIG)
    outcome = client.dispose("abc")
    assert outcome.finished and isinstance(outcome.error, RLMSConnectionError)


def test_sessions_url_keeps_weblabdeusto_double_slash() -> None:
    wld = RLMSClient(url="http://h/lab/", **NO_CONFIG)
    lde = RLMSClient(url="http://h/lab/", profile="labdiscoveryengine", **NO_CONFIG)
    assert wld.sessions_url("api") == "http://h/lab//weblab/sessions/api"
    assert lde.sessions_url("x/status") == "http://h/lab/weblab/sessions/x/status"


def test_tls_verification_per_profile() -> None:
    assert tls_context(False).verify_mode == ssl.CERT_NONE
    assert not tls_context(False).check_hostname
    assert tls_context(True).verify_mode == ssl.CERT_REQUIRED
    assert not PROFILES["weblabdeusto"].verify_tls
    assert PROFILES["weblabdeusto-2017"].verify_tls
    assert PROFILES["labdiscoveryengine"].verify_tls


def test_repr() -> None:
    assert (
        repr(RLMSClient(url="http://h", profile="ldl", **NO_CONFIG)) == "<RLMSClient ldl http://h>"
    )
