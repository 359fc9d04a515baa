"""Start bodies per profile: exact keys and value formats (RLMS_CLIENTS.md §1.5, §1.10)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest

from weblab_ext.rlms import PROFILES, StartParams, build_start_body, get_profile
from weblab_ext.rlms.payloads import iso_utc, py2_str, wld_local_time, wld_timestamp, wld_utc_time

START = 1493901234.567891  # 2017-05-04T12:33:54.567891Z
WHOLE = 1700000000.0  # microseconds == 0

WLD_BASE_KEYS = {
    "priority.queue.slot.length",
    "priority.queue.slot.start",
    "priority.queue.slot.initialization_in_accounting",
    "request.experiment_id.experiment_name",
    "request.experiment_id.category_name",
    "request.username",
    "request.username.unique",
    "request.full_name",
    "request.locale",
}
WLD_MODERN_KEYS = {
    "priority.queue.slot.start.utc",
    "priority.queue.slot.start.timestamp",
    "priority.queue.slot.start.timezone",
    "weblab_reservation_id",
}


def _request(**kwargs: object) -> StartParams:
    fields: dict[str, object] = {
        "username": "john",
        "start": START,
        "full_name": "John Smith",
        "reservation_id": "res-1",
        "back": "http://rlms/back",
    }
    fields.update(kwargs)
    return StartParams(**fields)  # type: ignore[arg-type]


def test_py2_formatting_helpers() -> None:
    assert py2_str(200) == "200"
    assert py2_str(200.0) == "200.0"
    assert py2_str(1493901234.567891) == "1493901234.57"
    assert py2_str(1e16) == "1e+16"
    assert wld_timestamp(START) == "1493901234.57"
    assert wld_timestamp(START) == "%.12g" % START  # noqa: UP031 - the Py2 format itself
    assert wld_local_time(WHOLE) == str(datetime.fromtimestamp(WHOLE))
    assert "." not in wld_local_time(WHOLE)
    assert wld_local_time(START).endswith(".567891")
    assert wld_utc_time(START) == "2017-05-04 12:33:54.567891"
    assert wld_utc_time(WHOLE) == "2023-11-14 22:13:20"
    assert iso_utc(START) == "2017-05-04T12:33:54.567891+00:00"


def test_weblabdeusto_body() -> None:
    body = build_start_body(PROFILES["weblabdeusto"], _request(client_data={"k": 1}))
    assert set(body) == {"back", "client_initial_data", "server_initial_data"}
    assert body["back"] == "http://rlms/back"
    assert body["client_initial_data"] == {"k": 1, "back": "http://rlms/back"}
    server = body["server_initial_data"]
    assert set(server) == WLD_BASE_KEYS | WLD_MODERN_KEYS
    assert server["priority.queue.slot.length"] == "300"
    assert server["priority.queue.slot.start"] == str(datetime.fromtimestamp(START))
    assert server["priority.queue.slot.start.utc"] == "2017-05-04 12:33:54.567891"
    assert server["priority.queue.slot.start.timestamp"] == "1493901234.57"
    assert server["priority.queue.slot.start.timezone"] == str(time.timezone or time.altzone)
    assert server["priority.queue.slot.initialization_in_accounting"] is False
    assert server["request.username"] == "john"
    assert server["request.username.unique"] == "john"
    assert server["request.full_name"] == "john"  # WLD sends the login, not the real name
    assert server["request.locale"] == "en"
    assert server["weblab_reservation_id"] == "res-1"
    assert server["request.experiment_id.experiment_name"] == "mylab"
    assert server["request.experiment_id.category_name"] == "Lab experiments"
    assert "reservation_id" not in server
    assert all(
        isinstance(v, str)
        for k, v in server.items()
        if k != "priority.queue.slot.initialization_in_accounting"
    )


def test_weblabdeusto_value_details() -> None:
    profile = PROFILES["weblabdeusto"]
    server = build_start_body(profile, _request(start=WHOLE, slot_length=200.0))[
        "server_initial_data"
    ]
    assert server["priority.queue.slot.length"] == "200.0"
    assert "." not in server["priority.queue.slot.start"]
    assert server["priority.queue.slot.start.timestamp"] == "1700000000"
    body = build_start_body(
        profile, _request(client_data={"back": "http://client/back"}, username_unique="ext@john")
    )
    assert body["back"] == "http://client/back"  # the client's own back wins
    assert body["server_initial_data"]["request.username.unique"] == "ext@john"
    assert build_start_body(profile, _request(back=None))["back"] == ""


def test_server_extra_is_merged_last() -> None:
    body = build_start_body(
        PROFILES["weblabdeusto"],
        _request(server_extra={"request.conversations": [1], "request.locale": None}),
    )
    assert body["server_initial_data"]["request.conversations"] == [1]
    assert body["server_initial_data"]["request.locale"] is None


def test_weblabdeusto_2017_body_has_local_time_only() -> None:
    server = build_start_body(PROFILES["weblabdeusto-2017"], _request())["server_initial_data"]
    assert set(server) == WLD_BASE_KEYS
    assert server["priority.queue.slot.start"] == str(datetime.fromtimestamp(START))


def test_weblabdeusto_api0_sends_json_strings() -> None:
    body = build_start_body(PROFILES["weblabdeusto-api0"], _request())
    assert isinstance(body["client_initial_data"], str)
    assert isinstance(body["server_initial_data"], str)
    assert body["back"] == "http://rlms/back"
    server = json.loads(body["server_initial_data"])
    assert set(server) == WLD_BASE_KEYS | WLD_MODERN_KEYS
    assert server["priority.queue.slot.length"] == "300"
    assert json.loads(body["client_initial_data"]) == {"back": "http://rlms/back"}


def test_api_zero_reply_switches_to_strings() -> None:
    body = build_start_body(PROFILES["weblabdeusto"], _request(), as_strings=True)
    assert isinstance(body["server_initial_data"], str)


def test_labdiscoveryengine_body() -> None:
    body = build_start_body(PROFILES["labdiscoveryengine"], _request(client_data={"k": 1}))
    assert set(body) == {"back", "client_initial_data", "server_initial_data"}
    assert body["back"] == "http://rlms/back"
    assert body["client_initial_data"] == {
        "k": 1,
        "back": "http://rlms/back",
        "back_url": "http://rlms/back",
        "backUrl": "http://rlms/back",
    }
    server = body["server_initial_data"]
    assert server["priority.queue.slot.length"] == 300
    assert server["priority.queue.slot.start"] == "2017-05-04T12:33:54.567891+00:00"
    assert server["priority.queue.slot.start.utc"] == "2017-05-04T12:33:54.567891+00:00"
    start = datetime.fromisoformat(server["priority.queue.slot.start"])
    assert start.utcoffset() is not None
    assert start == datetime.fromtimestamp(START, timezone.utc)
    assert server["priority.queue.slot.start.timestamp"] == START
    assert isinstance(server["priority.queue.slot.start.timestamp"], float)
    assert server["request.full_name"] == "John Smith"
    assert server["reservation_id"] == "res-1"
    assert "weblab_reservation_id" not in server


def test_ldl_body() -> None:
    body = build_start_body(PROFILES["ldl"], _request(client_data={"k": 1}, server_extra={"s": 2}))
    assert body == {
        "request": {
            "locale": "en",
            "user": {"k": 1},
            "server": {"s": 2},
            "backUrl": "http://rlms/back",
            "ldeReservationId": "res-1",
        },
        "laboratory": {"name": "mylab", "category": "Lab experiments"},
        "user": {"username": "john", "unique": "john", "fullName": "John Smith"},
        "schedule": {"start": "2017-05-04T12:33:54.567891+00:00", "length": 300},
    }


def test_reservation_id_defaults_to_a_fresh_uuid() -> None:
    first = StartParams(username="a", start=0.0).reservation_id
    assert first != StartParams(username="a", start=0.0).reservation_id
    assert len(first) == 36


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_profile_body_is_json(name: str) -> None:
    json.dumps(build_start_body(PROFILES[name], _request()))


def test_aliases_resolve() -> None:
    assert get_profile("wld-2021") is PROFILES["weblabdeusto"]
    assert get_profile("lde-ldl") is PROFILES["ldl"]
    assert get_profile(PROFILES["ldl"]) is PROFILES["ldl"]
