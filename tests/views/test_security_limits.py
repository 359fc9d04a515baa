"""Input limits of the RLMS endpoints: start body size, ids per status/multiple call.

A 50 MB start body used to be accepted, stored, read back on every request of that student and
kept an hour; 10**6 ids to status/multiple took half a minute and a gigabyte.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.examples import LiveServer
from tests.support.lab import AUTH, Lab, json_of
from tests.support.rlms_api import assert_nothing_stored, ldl_body
from weblab_ext import InvalidConfigError
from weblab_ext.config import load_settings

MIB = 1024 * 1024


def padded(
    body: dict[str, Any], size: int, where: Callable[[dict[str, Any]], dict[str, Any]]
) -> bytes:
    """``body`` as JSON of exactly ``size`` bytes, padded inside the object ``where`` picks."""
    where(body)["padding"] = ""
    short = len(json.dumps(body).encode())
    where(body)["padding"] = "x" * (size - short)
    raw = json.dumps(body).encode()
    assert len(raw) == size
    return raw


def weblab_start(lab: Lab, size: int) -> bytes:
    return padded(lab.start_body(), size, lambda body: body["client_initial_data"])


def ldl_start(size: int) -> bytes:
    return padded(ldl_body(), size, lambda body: body["request"]["user"])


def post(lab: Lab, path: str, raw: bytes) -> Any:
    return lab.raw_rlms.post(path, data=raw, headers={**AUTH, "Content-Type": "application/json"})


@pytest.mark.parametrize("dialect", ["weblab", "ldl"])
def test_start_body_over_one_mib_is_refused_before_parsing(lab: Lab, dialect: str) -> None:
    raw = weblab_start(lab, MIB + 1) if dialect == "weblab" else ldl_start(MIB + 1)
    reply = post(lab, f"/{dialect}/sessions/", raw)
    assert reply.status_code == 413
    assert reply.json["error"] is True
    assert json_of(reply)["code"] == "body-too-large"
    assert "WEBLAB_MAX_START_BODY" in reply.json["message"]
    assert_nothing_stored(lab)


@pytest.mark.parametrize("dialect", ["weblab", "ldl"])
def test_start_body_of_exactly_the_limit_is_accepted(lab: Lab, dialect: str) -> None:
    raw = weblab_start(lab, MIB) if dialect == "weblab" else ldl_start(MIB)
    reply = post(lab, f"/{dialect}/sessions/", raw)
    assert reply.status_code == 200, reply.json
    assert "session_id" in reply.json


def test_start_body_limit_is_configurable(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_MAX_START_BODY=4000)
    assert post(lab, "/weblab/sessions/", weblab_start(lab, 4001)).status_code == 413
    assert_nothing_stored(lab)
    assert post(lab, "/weblab/sessions/", weblab_start(lab, 4000)).status_code == 200


def test_the_app_wide_limit_still_applies_when_smaller(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(MAX_CONTENT_LENGTH=3000)
    assert post(lab, "/weblab/sessions/", weblab_start(lab, 3001)).status_code == 413
    assert post(lab, "/weblab/sessions/", weblab_start(lab, 3000)).status_code == 200


def test_a_chunked_start_body_is_cut_at_the_limit(make_lab: Callable[..., Lab]) -> None:
    """No Content-Length to check: reading stops past the limit (real HTTP, chunked)."""
    lab = make_lab(WEBLAB_MAX_START_BODY=4000)
    with LiveServer(lab.app) as server:
        for size, status in ((9000, 413), (3900, 200)):
            raw = weblab_start(lab, size)
            connection = http.client.HTTPConnection(
                "127.0.0.1", server.server.server_port, timeout=10
            )
            connection.request(
                "POST",
                "/weblab/sessions/",
                body=iter([raw[:1000], raw[1000:]]),
                headers={
                    **AUTH,
                    "Content-Type": "application/json",
                    "Transfer-Encoding": "chunked",
                },
                encode_chunked=True,
            )
            response = connection.getresponse()
            reply = json.loads(response.read())
            connection.close()
            assert response.status == status, reply
            if status == 413:
                assert reply["code"] == "body-too-large"
                assert lab.state.monitoring.session_counts().total == 0


def test_status_multiple_refuses_more_ids_than_the_cap(lab: Lab) -> None:
    ids = [f"id-{n}" for n in range(10_001)]
    reply = lab.raw_rlms.post(
        "/weblab/sessions/status/multiple", json={"session_ids": ids}, headers=AUTH
    )
    assert reply.status_code == 400
    assert reply.json["error"] is True and reply.json["success"] is False
    assert reply.json["field"] == "session_ids"
    assert "10000" in reply.json["message"] and "WEBLAB_MAX_STATUS_IDS" in reply.json["message"]
    reply = lab.raw_rlms.post(
        "/weblab/sessions/status/multiple", json={"session_ids": ids[:10_000]}, headers=AUTH
    )
    assert reply.status_code == 200
    assert len(reply.json["status"]) == 10_000


def test_status_multiple_cap_is_configurable(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_MAX_STATUS_IDS=3)
    session_id = lab.start_raw()
    path = "/ldl/sessions/status/multiple"
    reply = lab.raw_rlms.post(path, json={"session_ids": ["a", "b", "c", session_id]}, headers=AUTH)
    assert reply.status_code == 400
    reply = lab.raw_rlms.post(path, json={"session_ids": ["a", "b", session_id]}, headers=AUTH)
    assert reply.json["status"][session_id] > 0


def test_status_multiple_body_is_bounded_too(make_lab: Callable[..., Lab]) -> None:
    """A body far larger than any allowed list of ids is refused before it is parsed."""
    lab = make_lab(WEBLAB_MAX_STATUS_IDS=10)
    raw = json.dumps({"session_ids": ["x" * 100_000]}).encode()
    reply = post(lab, "/weblab/sessions/status/multiple", raw)
    assert reply.status_code == 413
    assert json_of(reply)["code"] == "body-too-large"


@pytest.mark.parametrize("key", ["WEBLAB_MAX_START_BODY", "WEBLAB_MAX_STATUS_IDS"])
@pytest.mark.parametrize("value", [0, -1, 1.5, "big", True, None])
def test_limits_must_be_positive_whole_numbers(key: str, value: Any) -> None:
    with pytest.raises(InvalidConfigError, match=key):
        load_settings({"WEBLAB_USERNAME": "u", "WEBLAB_PASSWORD": "p", key: value})


def test_limit_defaults() -> None:
    settings = load_settings({"WEBLAB_USERNAME": "u", "WEBLAB_PASSWORD": "p"})
    assert settings.max_start_body == MIB
    assert settings.max_status_ids == 10_000


# -- every other RLMS call: a small fixed limit ----------------------------------------------

SMALL = 64 * 1024


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/weblab/sessions/{sid}"),
        ("POST", "/ldl/sessions/{sid}"),
        ("DELETE", "/ldl/sessions/{sid}"),
        ("GET", "/weblab/sessions/{sid}/status"),
        ("GET", "/ldl/sessions/{sid}/status"),
        ("GET", "/weblab/sessions/test"),
        ("GET", "/weblab/sessions/api"),
        ("GET", "/ldl/health"),
        ("PUT", "/weblab/sessions/{sid}"),
    ],
)
def test_every_other_rlms_call_refuses_a_large_body(lab: Lab, method: str, path: str) -> None:
    session_id = lab.start_raw()
    raw = json.dumps({"action": "delete", "padding": "x" * SMALL}).encode()
    reply = lab.raw_rlms.open(
        path.format(sid=session_id),
        method=method,
        data=raw,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert reply.status_code == 413
    assert json_of(reply)["code"] == "body-too-large"
    assert f"{SMALL} bytes" in reply.json["message"]
    assert lab.status(session_id) > 0  # not disposed
    assert lab.disposed == []


def test_a_dispose_body_within_the_limit_still_works(lab: Lab) -> None:
    session_id = lab.start_raw()
    raw = padded({"action": "delete"}, SMALL, lambda body: body)
    assert post(lab, f"/weblab/sessions/{session_id}", raw).json["message"] == "Deleted"


class CountingInput:
    """Wraps ``wsgi.input``: how many body bytes the lab read."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.read = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        stream = environ["wsgi.input"]
        outer = self

        class Counted:
            def read(self, *args: Any) -> bytes:
                data: bytes = stream.read(*args)
                outer.read += len(data)
                return data

            def readline(self, *args: Any) -> bytes:
                data: bytes = stream.readline(*args)
                outer.read += len(data)
                return data

        environ["wsgi.input"] = Counted()
        return self.app(environ, start_response)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(("method", "prefix"), [("POST", "/weblab"), ("DELETE", "/ldl")])
def test_a_large_dispose_body_is_never_read_whole(
    lab: Lab, chunked: bool, method: str, prefix: str
) -> None:
    """Over real HTTP: 8 MiB sent to the dispose call; the lab reads at most the limit."""
    session_id = lab.start_raw()
    counting = CountingInput(lab.app.wsgi_app)
    lab.app.wsgi_app = counting  # type: ignore[method-assign]
    block = b" " * MIB
    with LiveServer(lab.app) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.server.server_port, timeout=30)
        headers = {**AUTH, "Content-Type": "application/json"}
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
            connection.request(
                method,
                f"{prefix}/sessions/{session_id}",
                body=iter([block] * 8),
                headers=headers,
                encode_chunked=True,
            )
        else:
            headers["Content-Length"] = str(8 * MIB)
            connection.putrequest(method, f"{prefix}/sessions/{session_id}")
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.endheaders()
            try:
                for _ in range(8):
                    connection.send(block)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the lab answered and closed without reading the rest
        response = connection.getresponse()
        reply = json.loads(response.read())
        connection.close()
    assert response.status == 413, reply
    assert reply["code"] == "body-too-large"
    assert counting.read <= SMALL + 64 * 1024  # the limit and a read buffer, never the body
    assert lab.status(session_id) > 0


def test_the_admin_actions_refuse_a_large_body(make_lab: Callable[..., Lab]) -> None:
    from tests.support.admin import ADMIN, ADMIN_AUTH

    lab = make_lab(**ADMIN)
    reply = lab.app.test_client().post(
        "/weblab/admin/sessions/end", data={"session": "x" * SMALL}, headers=ADMIN_AUTH
    )
    assert reply.status_code == 413
    assert json_of(reply)["code"] == "body-too-large"
