"""Deeply nested bodies (hundreds of levels, found by fuzzing) are a 400 JSON, never a 500."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.lab import AUTH, Lab
from tests.support.rlms_api import assert_nothing_stored, ldl_body


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def weblab_body_text(client_data: str, as_string: bool = False) -> str:
    server = {
        "priority.queue.slot.start.timestamp": repr(time.time()),
        "priority.queue.slot.length": "200",
        "request.username": "u",
        "request.experiment_id.experiment_name": "lab",
    }
    client = json.dumps(client_data) if as_string else client_data
    return (
        '{"back": "http://rlms.example/back", "client_initial_data": '
        + client
        + ', "server_initial_data": '
        + json.dumps(server)
        + "}"
    )


@pytest.mark.parametrize("depth", [101, 500, 800, 989, 5000])
@pytest.mark.parametrize("as_string", [False, True])
def test_weblab_start_with_deep_initial_data(lab: Lab, depth: int, as_string: bool) -> None:
    client_data = '{"deep": ' + nested(depth) + "}"
    reply = lab.raw_rlms.post(
        "/weblab/sessions/",
        data=weblab_body_text(client_data, as_string),
        content_type="application/json",
        headers=AUTH,
    )
    assert reply.status_code == 400, reply.get_data(as_text=True)[:200]
    assert reply.is_json and reply.json["error"] is True
    if depth <= 800:
        assert reply.json["field"] == "client_initial_data.deep"
    elif reply.json["code"] != "invalid-json":  # past what the JSON decoder itself accepts
        assert reply.json["field"].startswith("client_initial_data")
    assert_nothing_stored(lab)


def test_weblab_start_at_the_depth_limit_is_accepted(lab: Lab) -> None:
    client_data = '{"deep": ' + nested(99) + "}"  # 100 levels with the object around it
    reply = lab.raw_rlms.post(
        "/weblab/sessions/",
        data=weblab_body_text(client_data),
        content_type="application/json",
        headers=AUTH,
    )
    assert reply.status_code == 200, reply.get_data(as_text=True)[:200]


@pytest.mark.parametrize("depth", [500, 800])
def test_ldl_start_with_deep_data(lab: Lab, depth: int) -> None:
    body = json.dumps(ldl_body()).replace('"color": "blue"', f'"color": {nested(depth)}')
    reply = lab.raw_rlms.post(
        "/ldl/sessions/", data=body, content_type="application/json", headers=AUTH
    )
    assert reply.status_code == 400 and reply.is_json
    assert reply.json["field"] == "request.user"
    assert_nothing_stored(lab)
    # An unknown extra section is stored too (the whole body is kept): it is checked as well.
    body = json.dumps(ldl_body())[:-1] + f', "extra": {nested(depth)}}}'
    reply = lab.raw_rlms.post(
        "/ldl/sessions/", data=body, content_type="application/json", headers=AUTH
    )
    assert reply.status_code == 400 and reply.json["field"] == "extra"
    assert_nothing_stored(lab)


@pytest.mark.parametrize("depth", [500, 989, 5000])
def test_status_multiple_and_dispose_with_deep_bodies(lab: Lab, depth: int) -> None:
    body = '{"session_ids": ["a"], "timeout": ' + nested(depth) + "}"
    reply = lab.raw_rlms.post(
        "/weblab/sessions/status/multiple", data=body, content_type="application/json", headers=AUTH
    )
    assert reply.status_code in (200, 400) and reply.is_json
    body = '{"session_ids": ' + nested(depth) + "}"
    reply = lab.raw_rlms.post(
        "/weblab/sessions/status/multiple", data=body, content_type="application/json", headers=AUTH
    )
    assert reply.status_code in (200, 400) and reply.is_json
    body = '{"action": ' + nested(depth) + "}"
    for path, method in (("/weblab/sessions/x", "POST"), ("/ldl/sessions/x", "POST")):
        reply = lab.raw_rlms.open(
            path, method=method, data=body, content_type="application/json", headers=AUTH
        )
        assert reply.status_code in (200, 400) and reply.is_json
