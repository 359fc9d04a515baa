"""Tests of weblab_ext.protocol.start: body decoding and both start-request dialects."""

from __future__ import annotations

import copy
import datetime
import json
import urllib.parse
from typing import Any

import pytest

from weblab_ext.protocol import (
    ProtocolError,
    StartRequest,
    decode_body,
    parse_ldl_start,
    parse_weblab_start,
)

PLUS2 = datetime.timezone(datetime.timedelta(hours=2))
UTC = datetime.timezone.utc
BACK = "http://wld.example/weblab/client/?finished=true"
TS = 1493901234.57


def wld_server_data() -> dict[str, Any]:
    """server_initial_data as WebLab-Deusto (Python 2) sends it today."""
    return {
        "priority.queue.slot.length": "200",
        "priority.queue.slot.start": "2017-05-04 14:33:54.570000",
        "priority.queue.slot.start.utc": "2017-05-04 12:33:54.570000",
        "priority.queue.slot.start.timestamp": "1493901234.57",
        "priority.queue.slot.start.timezone": "-7200",
        "priority.queue.slot.initialization_in_accounting": True,
        "request.experiment_id.experiment_name": "robot",
        "request.experiment_id.category_name": "Robot experiments",
        "request.username": "porduna",
        "request.username.unique": "porduna",
        "request.full_name": "porduna",
        "request.locale": "es",
        "weblab_reservation_id": "abc",
    }


def wld_body(**server_overrides: Any) -> dict[str, Any]:
    server = wld_server_data()
    for key, value in server_overrides.items():
        if value is None:
            server.pop(key, None)
        else:
            server[key] = value
    return {"back": BACK, "client_initial_data": {"back": BACK}, "server_initial_data": server}


def parse(body: object) -> StartRequest:
    return parse_weblab_start(body, local_tz=PLUS2)


def error_of(func: Any, body: object) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        func(body, local_tz=PLUS2)
    return info.value


# --------------------------------------------------------------------------- decode_body


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "text/plain", "application/x-www-form-urlencoded"]
)
def test_decode_body_json_regardless_of_content_type(content_type: str | None) -> None:
    assert decode_body(b'{"action": "delete"}', content_type) == {"action": "delete"}


@pytest.mark.parametrize("raw", [b"", b"   ", b"\n"])
def test_decode_body_empty(raw: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_body(raw, "application/json")
    assert info.value.code == "invalid-json"
    assert info.value.message == "The request body is empty; a JSON object is expected"
    assert info.value.status == 400


@pytest.mark.parametrize("raw", [b"{", b"not json", b'{"a": NaN}', b"\xff\xfe\xfa", b"[" * 100000])
def test_decode_body_invalid_json(raw: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_body(raw, "application/json")
    assert info.value.code == "invalid-json"


def test_decode_body_form_wld_request_format() -> None:
    body = wld_body()
    form = urllib.parse.urlencode(
        {
            "back": BACK,
            "client_initial_data": json.dumps(body["client_initial_data"]),
            "server_initial_data": json.dumps(body["server_initial_data"]),
        }
    ).encode()
    decoded = decode_body(form, "application/x-www-form-urlencoded; charset=UTF-8")
    assert isinstance(decoded, dict)
    assert decoded["back"] == BACK
    assert parse(decoded) == parse(body)
    assert decode_body(b"action=delete", "application/x-www-form-urlencoded") == {
        "action": "delete"
    }


# --------------------------------------------------------------------------- weblab dialect


def test_weblab_start_from_current_wld() -> None:
    start = parse(wld_body())
    assert start.dialect == "weblab"
    assert start.back == BACK
    assert start.start_date == pytest.approx(TS)
    assert start.slot_length == 200.0
    assert start.max_date == pytest.approx(TS + 200)
    assert (start.username, start.username_unique, start.full_name) == ("porduna",) * 3
    assert start.locale == "es"
    assert start.experiment_name == "robot"
    assert start.category_name == "Robot experiments"
    assert start.experiment_id == "robot@Robot experiments"
    assert start.client_data == {"back": BACK}
    assert start.request_client_data == {"back": BACK}
    assert start.server_data == wld_server_data()
    # unknown keys are kept
    assert start.request_server_data["weblab_reservation_id"] == "abc"
    assert start.request_server_data["priority.queue.slot.start.timezone"] == "-7200"


def test_weblab_stored_data_is_a_copy() -> None:
    start = parse(wld_body())
    start.client_data["x"] = 1
    assert "x" not in start.request_client_data


@pytest.mark.parametrize(
    ("overrides", "expected_start"),
    [
        # pre-2019 WLD: no timestamp, local time with and without fraction
        ({"priority.queue.slot.start.timestamp": None}, TS),
        (
            {
                "priority.queue.slot.start.timestamp": None,
                "priority.queue.slot.start": "2017-05-04 14:33:54",
            },
            TS - 0.57,
        ),
        # a falsy timestamp falls back to the start string
        ({"priority.queue.slot.start.timestamp": ""}, TS),
        ({"priority.queue.slot.start.timestamp": 0}, TS),
        # LDE: float timestamp, ISO start with offset
        (
            {
                "priority.queue.slot.start.timestamp": 1701904438.076302,
                "priority.queue.slot.start": "2023-12-06T23:13:58.076302+00:00",
            },
            1701904438.076302,
        ),
        (
            {
                "priority.queue.slot.start.timestamp": None,
                "priority.queue.slot.start": "2023-12-06T23:13:58.076302+00:00",
            },
            1701904438.076302,
        ),
        (
            {
                "priority.queue.slot.start.timestamp": None,
                "priority.queue.slot.start": "2023-12-06T23:13:58Z",
            },
            1701904438.0,
        ),
        # the timestamp wins over the start string
        ({"priority.queue.slot.start": "2000-01-01 00:00:00"}, TS),
    ],
)
def test_weblab_start_time_formats(overrides: dict[str, Any], expected_start: float) -> None:
    body = wld_body()
    for key, value in overrides.items():
        if value is None:
            del body["server_initial_data"][key]
        else:
            body["server_initial_data"][key] = value
    assert parse(body).start_date == pytest.approx(expected_start, abs=1e-6)


@pytest.mark.parametrize("length", ["200", "200.0", 200, 200.0])
def test_weblab_slot_length_string_or_number(length: object) -> None:
    assert parse(wld_body(**{"priority.queue.slot.length": length})).slot_length == 200.0


def test_weblab_initial_data_as_json_strings() -> None:
    body = wld_body()
    as_strings = {
        "back": BACK,
        "client_initial_data": json.dumps(body["client_initial_data"]),
        "server_initial_data": json.dumps(body["server_initial_data"]),
    }
    assert parse(as_strings) == parse(body)


def test_weblab_defaults_for_old_servers() -> None:
    server = wld_server_data()
    for key in (
        "request.username.unique",
        "request.full_name",
        "request.locale",
        "request.experiment_id.category_name",
    ):
        del server[key]
    start = parse({"back": BACK, "client_initial_data": {}, "server_initial_data": server})
    assert start.username_unique == "porduna"
    assert start.full_name == "porduna"
    assert start.locale is None
    assert start.category_name is None
    assert start.experiment_id == "robot"


def test_weblab_empty_locale_is_none_and_unique_kept() -> None:
    start = parse(wld_body(**{"request.locale": "", "request.username.unique": "ext@porduna"}))
    assert start.locale is None
    assert start.username_unique == "ext@porduna"


@pytest.mark.parametrize(
    ("body", "expected_back"),
    [
        ({"client_initial_data": {"back": "http://c/"}}, "http://c/"),
        ({"back": "", "client_initial_data": {"back": "http://c/"}}, "http://c/"),
        ({"back": "", "client_initial_data": {}}, ""),  # WLD sends "" when it has none
        ({"back": "http://top/", "client_initial_data": {"back": "http://c/"}}, "http://top/"),
    ],
)
def test_weblab_back(body: dict[str, Any], expected_back: str) -> None:
    body["server_initial_data"] = wld_server_data()
    assert parse(body).back == expected_back


@pytest.mark.parametrize(
    ("remove", "field"),
    [
        ("priority.queue.slot.length", "priority.queue.slot.length"),
        ("request.username", "request.username"),
        ("request.experiment_id.experiment_name", "request.experiment_id.experiment_name"),
    ],
)
def test_weblab_missing_server_field(remove: str, field: str) -> None:
    body = wld_body()
    del body["server_initial_data"][remove]
    error = error_of(parse_weblab_start, body)
    assert (error.code, error.field) == ("missing-field", field)
    assert error.message == f"Field '{field}' is required in server_initial_data"
    assert error.to_json() == {
        "error": True,
        "code": "missing-field",
        "message": error.message,
        "field": field,
    }


def test_weblab_missing_start() -> None:
    body = wld_body()
    del body["server_initial_data"]["priority.queue.slot.start"]
    del body["server_initial_data"]["priority.queue.slot.start.timestamp"]
    error = error_of(parse_weblab_start, body)
    assert (error.code, error.field) == ("missing-field", "priority.queue.slot.start")
    assert "priority.queue.slot.start.timestamp" in error.message


@pytest.mark.parametrize("field", ["client_initial_data", "server_initial_data"])
def test_weblab_missing_initial_data(field: str) -> None:
    body = wld_body()
    del body[field]
    error = error_of(parse_weblab_start, body)
    assert (error.code, error.field) == ("missing-field", field)


def test_weblab_missing_back() -> None:
    body = wld_body()
    del body["back"]
    body["client_initial_data"] = {}
    error = error_of(parse_weblab_start, body)
    assert (error.code, error.field) == ("missing-field", "back")


@pytest.mark.parametrize(
    ("top", "value"),
    [
        ("client_initial_data", "not json"),
        ("client_initial_data", "[1, 2]"),
        ("client_initial_data", 5),
        ("server_initial_data", '"a string"'),
        ("server_initial_data", [1]),
        ("back", 7),
    ],
)
def test_weblab_invalid_top_level(top: str, value: object) -> None:
    body = wld_body()
    body[top] = value
    error = error_of(parse_weblab_start, body)
    assert (error.code, error.field) == ("invalid-field", top)
    assert f"'{top}'" in error.message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("request.username", 5),
        ("request.username", ["porduna"]),
        ("request.username", ""),
        ("request.username.unique", 5),
        ("request.full_name", {"a": 1}),
        ("request.locale", 1),
        ("request.experiment_id.experiment_name", 3),
        ("request.experiment_id.category_name", True),
        ("priority.queue.slot.length", "two hundred"),
        ("priority.queue.slot.length", -5),
        ("priority.queue.slot.start.timestamp", "yesterday"),
    ],
)
def test_weblab_wrong_types(key: str, value: object) -> None:
    error = error_of(parse_weblab_start, wld_body(**{key: value}))
    assert (error.code, error.field) == ("invalid-field", key)
    assert f"'{key}'" in error.message
    assert "must be" in error.message


def test_weblab_bad_start_string() -> None:
    body = wld_body(
        **{"priority.queue.slot.start.timestamp": None, "priority.queue.slot.start": "tomorrow"}
    )
    error = error_of(parse_weblab_start, body)
    assert (error.code, error.field) == ("invalid-field", "priority.queue.slot.start")


@pytest.mark.parametrize("body", [None, [], "x", 5])
@pytest.mark.parametrize("func", [parse_weblab_start, parse_ldl_start])
def test_body_must_be_object(func: Any, body: object) -> None:
    assert error_of(func, body).code == "invalid-body"


# --------------------------------------------------------------------------- ldl dialect


def ldl_body() -> dict[str, Any]:
    """A start request as LabDiscoveryEngine sends it to an ldl lab."""
    return {
        "request": {
            "locale": "es",
            "ldeReservationId": "r1",
            "user": {"color": "blue"},
            "server": {"group": "g1"},
            "backUrl": "http://lde/back",
        },
        "laboratory": {"name": "robot", "category": "Robots"},
        "user": {"username": "ana", "unique": "ana@lde", "fullName": "Ana Pérez"},
        "schedule": {"start": "2023-12-06T23:13:58.076302+00:00", "length": 300},
        "back": "http://ignored/",
    }


def test_ldl_start() -> None:
    body = ldl_body()
    start = parse_ldl_start(copy.deepcopy(body))
    assert start.dialect == "ldl"
    assert start.back == "http://lde/back"
    assert start.locale == "es"
    assert start.client_data == {"color": "blue"}
    assert start.server_data == {"group": "g1"}
    assert start.request_client_data == {"color": "blue"}
    assert start.request_server_data == body
    assert start.experiment_id == "robot@Robots"
    assert (start.username, start.username_unique, start.full_name) == (
        "ana",
        "ana@lde",
        "Ana Pérez",
    )
    assert start.start_date == pytest.approx(1701904438.076302)
    assert start.slot_length == 300.0


def test_ldl_defaults() -> None:
    body = ldl_body()
    for section, key in [
        ("request", "locale"),
        ("request", "user"),
        ("request", "server"),
        ("laboratory", "category"),
        ("user", "unique"),
        ("user", "fullName"),
    ]:
        del body[section][key]
    body["schedule"]["start"] = "2023-12-06T23:13:58"  # naive: UTC in the ldl dialect
    start = parse_ldl_start(body, local_tz=PLUS2)
    assert start.locale == "en"
    assert start.client_data is None
    assert start.server_data is None
    assert start.request_client_data == {}
    assert start.experiment_id == "robot"
    assert start.category_name is None
    assert start.username_unique == start.full_name == "ana"
    assert start.start_date == datetime.datetime(2023, 12, 6, 23, 13, 58, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "path",
    [
        "request",
        "laboratory",
        "user",
        "schedule",
        "request.backUrl",
        "laboratory.name",
        "user.username",
        "schedule.start",
        "schedule.length",
    ],
)
def test_ldl_missing_field(path: str) -> None:
    body = ldl_body()
    *parents, last = path.split(".")
    target = body
    for parent in parents:
        target = target[parent]
    del target[last]
    error = error_of(parse_ldl_start, body)
    assert (error.code, error.field) == ("missing-field", path)
    assert f"'{path}'" in error.message


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("request", "x"),
        ("schedule", [1]),
        ("request.user", "blue"),
        ("request.server", 5),
        ("request.backUrl", 5),
        ("request.locale", 5),
        ("laboratory.name", ""),
        ("laboratory.category", 1),
        ("user.username", 7),
        ("user.unique", 7),
        ("user.fullName", []),
        ("schedule.start", "soon"),
        ("schedule.length", "long"),
    ],
)
def test_ldl_invalid_field(path: str, value: object) -> None:
    body = ldl_body()
    *parents, last = path.split(".")
    target = body
    for parent in parents:
        target = target[parent]
    target[last] = value
    error = error_of(parse_ldl_start, body)
    assert (error.code, error.field) == ("invalid-field", path)


def test_ldl_rejects_old_flat_schema() -> None:
    error = error_of(parse_ldl_start, wld_body())
    assert (error.code, error.field) == ("missing-field", "request")


def _nest(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def test_deep_initial_data_is_refused_naming_the_field() -> None:
    body = {
        "back": BACK,
        "client_initial_data": {"ok": 1, "deep": {"x": _nest(2000)}},
        "server_initial_data": wld_server_data(),
    }
    with pytest.raises(ProtocolError) as caught:
        parse_weblab_start(body)
    assert caught.value.code == "invalid-field" and caught.value.status == 400
    assert caught.value.field == "client_initial_data.deep"
    body["client_initial_data"] = {"fine": _nest(99)}  # 100 levels with the object around
    assert parse_weblab_start(body).client_data == {"fine": _nest(99)}
    server = {**wld_server_data(), "extra": _nest(101)}
    with pytest.raises(ProtocolError) as caught:
        parse_weblab_start({"back": BACK, "client_initial_data": {}, "server_initial_data": server})
    assert caught.value.field == "server_initial_data.extra"
