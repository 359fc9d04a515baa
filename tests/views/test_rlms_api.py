"""Every RLMS endpoint in both dialects: authentication, start, status, dispose, bad input."""

from __future__ import annotations

import base64
import datetime
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.lab import AUTH, PASSWORD, USERNAME, Lab
from tests.support.rlms_api import assert_nothing_stored, ldl_body

DIALECTS = ["weblab", "ldl"]


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# -- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_api_version_needs_no_credentials(lab: Lab, dialect: str) -> None:
    reply = lab.raw_rlms.get(f"/{dialect}/sessions/api")
    assert reply.status_code == 200
    assert reply.json == {"api_version": "1"}
    assert lab.raw_rlms.get(f"/{dialect}/sessions/api", headers=AUTH).json == {"api_version": "1"}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_test_endpoint(lab: Lab, dialect: str) -> None:
    url = f"/{dialect}/sessions/test"
    assert lab.raw_rlms.get(url, headers=AUTH).json == {"valid": True}

    no_header = lab.raw_rlms.get(url)
    assert no_header.status_code == 200  # WebLab-Deusto reads only 2xx replies
    assert no_header.json["valid"] is False
    assert "no username" in no_header.json["error_messages"][0]

    for headers in (basic("nobody", PASSWORD), basic(USERNAME, "wrong")):
        reply = lab.raw_rlms.get(url, headers=headers)
        assert reply.status_code == 200
        assert reply.json["valid"] is False
        assert "wrong username" in reply.json["error_messages"][0]


AUTHENTICATED = [
    ("GET", "/sessions/SID/status", None),
    ("POST", "/sessions/status/multiple", {"session_ids": ["SID"]}),
    ("POST", "/sessions/SID", {"action": "delete"}),
    ("POST", "/sessions/", {}),
    ("POST", "/sessions", {}),
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("method", "path", "body"), AUTHENTICATED)
@pytest.mark.parametrize(
    "headers",
    [{}, basic("nobody", PASSWORD), basic(USERNAME, "wrong"), basic("", "")],
    ids=["no-header", "wrong-user", "wrong-password", "empty"],
)
def test_other_endpoints_refuse_wrong_credentials(
    lab: Lab,
    dialect: str,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    reply = lab.raw_rlms.open(f"/{dialect}{path}", method=method, json=body, headers=headers)
    assert reply.status_code == 401
    assert reply.mimetype == "application/json"
    assert reply.json["error"] is True
    assert "seem to be" in reply.json["message"]
    assert reply.headers["WWW-Authenticate"].startswith("Basic")
    assert USERNAME not in caplog.text
    assert PASSWORD not in caplog.text
    assert_nothing_stored(lab)


def test_ldl_delete_refuses_wrong_credentials(lab: Lab) -> None:
    session_id = lab.start_raw()
    reply = lab.raw_rlms.delete(f"/ldl/sessions/{session_id}")
    assert reply.status_code == 401
    assert lab.disposed == []
    assert lab.status(session_id) == 5


@pytest.mark.parametrize("dialect", DIALECTS)
def test_api_suffix_in_query_string_is_no_bypass(lab: Lab, dialect: str) -> None:
    start = lab.raw_rlms.post(f"/{dialect}/sessions/?x=/api", json=lab.start_body())
    assert start.status_code == 401
    assert_nothing_stored(lab)
    session_id = lab.start_raw()
    status = lab.raw_rlms.get(f"/{dialect}/sessions/{session_id}/status?x=/api")
    assert status.status_code == 401
    dispose = lab.raw_rlms.post(
        f"/{dialect}/sessions/{session_id}?x=/api", json={"action": "delete"}
    )
    assert dispose.status_code == 401
    assert lab.disposed == []
    assert lab.state.monitoring.session_counts().total == 1
    # The `api` route itself is exempt by endpoint, not by URL suffix: a query string is fine.
    assert lab.raw_rlms.get(f"/{dialect}/sessions/api?x=1").json == {"api_version": "1"}


def test_post_to_api_is_not_an_unauthenticated_dispose(lab: Lab) -> None:
    reply = lab.raw_rlms.post("/weblab/sessions/api", json={"action": "delete"})
    assert reply.status_code in (401, 405)


def test_credentials_are_read_per_request(lab: Lab) -> None:
    assert lab.raw_rlms.get("/weblab/sessions/test", headers=AUTH).json == {"valid": True}


# -- start ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/weblab/sessions/", "/weblab/sessions"])
def test_start_with_and_without_slash(lab: Lab, path: str) -> None:
    reply = lab.raw_rlms.post(path, json=lab.start_body(), headers=AUTH)
    assert reply.status_code == 200, reply.get_data(as_text=True)
    assert set(reply.json) == {"url", "session_id"}
    session_id = reply.json["session_id"]
    assert len(session_id) == 43
    assert reply.json["url"] == f"http://localhost:5000/callback/{session_id}"
    assert lab.started == [
        (
            {"in_test": True},
            lab.start_body()["server_initial_data"]
            | {
                "priority.queue.slot.start.timestamp": lab.started[0][1][
                    "priority.queue.slot.start.timestamp"
                ]
            },
        )
    ]


def test_start_url_honours_scheme_and_server_name(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_SCHEME="https", SERVER_NAME="lab.example.org")
    reply = lab.raw_rlms.post(
        "/weblab/sessions/", json=lab.start_body(), headers=AUTH, base_url="http://lab.example.org"
    )
    session_id = reply.json["session_id"]
    assert reply.json["url"] == f"https://lab.example.org/callback/{session_id}"


def student_user(lab: Lab, session_id: str) -> Any:
    with lab.app.app_context():
        return lab.state.service.load_user(session_id, poll=False)


def test_start_with_objects(lab: Lab) -> None:
    now = time.time()
    session_id = lab.start_raw(
        server={"priority.queue.slot.start.timestamp": repr(now), "weblab_reservation_id": "r-1"}
    )
    user = student_user(lab, session_id)
    assert user.username == "john.smith"
    assert user.username_unique == "john.smith@institution"
    assert user.full_name == "John Smith"
    assert user.locale == "es_ES"
    assert user.experiment_id == "mylab@Lab experiments"
    assert user.back == "http://rlms.example/back"
    assert user.start_date == pytest.approx(now)
    assert user.max_date == pytest.approx(now + 200)
    assert user.request_client_data == {"in_test": True}
    assert user.request_server_data["weblab_reservation_id"] == "r-1"  # unknown keys kept
    assert dict(user.data) == {}


def test_start_with_json_strings(lab: Lab) -> None:
    body = lab.start_body()
    body["client_initial_data"] = json.dumps(body["client_initial_data"])
    body["server_initial_data"] = json.dumps(body["server_initial_data"])
    reply = lab.raw_rlms.post("/weblab/sessions/", json=body, headers=AUTH)
    assert reply.status_code == 200, reply.json
    assert lab.started[0][0] == {"in_test": True}
    user = student_user(lab, reply.json["session_id"])
    assert user.request_client_data == {"in_test": True}
    assert user.username == "john.smith"


def test_start_form_encoded(lab: Lab) -> None:
    body = lab.start_body()
    form = {
        "client_initial_data": json.dumps(body["client_initial_data"]),
        "server_initial_data": json.dumps(body["server_initial_data"]),
        "back": body["back"],
    }
    reply = lab.raw_rlms.post("/weblab/sessions/", data=form, headers=AUTH)
    assert reply.status_code == 200, reply.json
    assert student_user(lab, reply.json["session_id"]).back == body["back"]


@pytest.mark.parametrize(
    ("server", "expected_start"),
    [
        ({"priority.queue.slot.start.timestamp": 1700000000.5}, 1700000000.5),
        ({"priority.queue.slot.start.timestamp": "1700000000.5"}, 1700000000.5),
        (
            {
                "priority.queue.slot.start.timestamp": None,
                "priority.queue.slot.start": "2023-11-14T22:13:20+00:00",
            },
            1700000000.0,
        ),
        (
            {
                "priority.queue.slot.start.timestamp": "",
                "priority.queue.slot.start": "2023-11-14T23:13:20.500000+01:00",
            },
            1700000000.5,
        ),
    ],
    ids=["float", "string", "iso-utc", "iso-offset"],
)
def test_start_time_formats(lab: Lab, server: dict[str, Any], expected_start: float) -> None:
    session_id = lab.start_raw(server=server)
    assert student_user(lab, session_id).start_date == pytest.approx(expected_start)


def test_start_local_time_format(lab: Lab) -> None:
    local = datetime.datetime(2023, 11, 14, 12, 0, 0, 250000)
    session_id = lab.start_raw(
        server={
            "priority.queue.slot.start.timestamp": None,
            "priority.queue.slot.start": str(local),
        }
    )
    assert student_user(lab, session_id).start_date == pytest.approx(local.timestamp())
    no_fraction = local.replace(microsecond=0)
    session_id = lab.start_raw(
        server={
            "priority.queue.slot.start.timestamp": None,
            "priority.queue.slot.start": str(no_fraction),
        }
    )
    assert student_user(lab, session_id).start_date == pytest.approx(no_fraction.timestamp())


@pytest.mark.parametrize(
    "field",
    [
        "client_initial_data",
        "server_initial_data",
        "priority.queue.slot.length",
        "request.username",
        "request.experiment_id.experiment_name",
    ],
)
def test_start_missing_field_names_it_and_stores_nothing(lab: Lab, field: str) -> None:
    body = lab.start_body()
    if field in body:
        del body[field]
    else:
        del body["server_initial_data"][field]
    reply = lab.raw_rlms.post("/weblab/sessions/", json=body, headers=AUTH)
    assert reply.status_code == 400
    assert reply.json["error"] is True
    assert field in reply.json["message"]
    assert reply.json.get("field") == field
    assert_nothing_stored(lab)


def test_start_missing_start_time(lab: Lab) -> None:
    body = lab.start_body()
    del body["server_initial_data"]["priority.queue.slot.start.timestamp"]
    reply = lab.raw_rlms.post("/weblab/sessions/", json=body, headers=AUTH)
    assert reply.status_code == 400
    assert "priority.queue.slot.start" in reply.json["message"]
    assert_nothing_stored(lab)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(client_initial_data=5), "client_initial_data"),
        (lambda b: b.update(server_initial_data=[1]), "server_initial_data"),
        (lambda b: b.update(server_initial_data="not json"), "server_initial_data"),
        (lambda b: b.update(server_initial_data='"a string"'), "server_initial_data"),
        (
            lambda b: b["server_initial_data"].update({"priority.queue.slot.length": "long"}),
            "priority.queue.slot.length",
        ),
        (
            lambda b: b["server_initial_data"].update({"priority.queue.slot.length": [1]}),
            "priority.queue.slot.length",
        ),
        (lambda b: b["server_initial_data"].update({"request.username": 7}), "request.username"),
        (
            lambda b: b["server_initial_data"].update(
                {"priority.queue.slot.start.timestamp": "yesterday"}
            ),
            "priority.queue.slot.start.timestamp",
        ),
        (lambda b: b.update(back=12), "back"),
    ],
)
def test_start_wrong_types_are_refused(
    lab: Lab, mutate: Callable[[dict[str, Any]], Any], field: str
) -> None:
    body = lab.start_body()
    mutate(body)
    reply = lab.raw_rlms.post("/weblab/sessions/", json=body, headers=AUTH)
    assert reply.status_code == 400, reply.json
    assert reply.json["error"] is True
    assert field in reply.json["message"]
    assert_nothing_stored(lab)


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]", b"null", b"NaN", b'"text"'])
@pytest.mark.parametrize("dialect", DIALECTS)
def test_start_bad_json(lab: Lab, raw: bytes, dialect: str) -> None:
    reply = lab.raw_rlms.post(
        f"/{dialect}/sessions/", data=raw, headers=AUTH, content_type="application/json"
    )
    assert reply.status_code == 400
    assert reply.mimetype == "application/json"
    assert reply.json["error"] is True
    assert reply.json["message"]
    assert_nothing_stored(lab)


def test_on_start_returning_dict_becomes_data(lab: Lab) -> None:
    lab.weblab.callbacks.on_start = lambda client, server: {"answer": 42}
    session_id = lab.start_raw()
    assert dict(student_user(lab, session_id).data) == {"answer": 42}


def test_on_start_mutating_data_is_persisted(lab: Lab) -> None:
    from weblab_ext import weblab_user

    def on_start(client: Any, server: Any) -> None:
        weblab_user.data["mutated"] = True

    lab.weblab.callbacks.on_start = on_start
    session_id = lab.start_raw()
    assert dict(student_user(lab, session_id).data) == {"mutated": True}


@pytest.mark.parametrize("failure", ["raise", "not-a-dict"])
def test_on_start_failure(lab: Lab, failure: str) -> None:
    def on_start(client: Any, server: Any) -> Any:
        if failure == "raise":
            raise RuntimeError("hardware on fire")
        return [1, 2]

    lab.weblab.callbacks.on_start = on_start
    reply = lab.raw_rlms.post("/weblab/sessions/", json=lab.start_body(), headers=AUTH)
    assert 400 <= reply.status_code < 600
    assert reply.json["error"] is True
    assert "session_id" not in reply.json
    assert len(lab.disposed) == 1
    assert lab.state.monitoring.session_counts().total == 0
    # The failed session is disposed: status and dispose agree.
    assert lab.status(lab.disposed[0]) == -1
    assert lab.dispose(lab.disposed[0])["message"] == "Deleted"
    assert len(lab.disposed) == 1


def test_on_start_and_on_dispose_both_raising(lab: Lab) -> None:
    def on_start(client: Any, server: Any) -> None:
        raise RuntimeError("start failed")

    def on_dispose() -> None:
        raise RuntimeError("dispose failed too")

    lab.weblab.callbacks.on_start = on_start
    lab.weblab.callbacks.on_dispose = on_dispose
    reply = lab.raw_rlms.post("/weblab/sessions/", json=lab.start_body(), headers=AUTH)
    assert reply.json["error"] is True
    assert "message" in reply.json
    assert "session_id" not in reply.json


def test_ldl_start_status_delete(lab: Lab) -> None:
    reply = lab.raw_rlms.post("/ldl/sessions/", json=ldl_body(), headers=AUTH)
    assert reply.status_code == 200, reply.json
    session_id = reply.json["session_id"]
    assert reply.json["url"].endswith(f"/callback/{session_id}")
    user = student_user(lab, session_id)
    assert user.username == "ana"
    assert user.username_unique == "ana@lde"
    assert user.experiment_id == "robot@Robots"
    assert user.back == "http://lde.example/back"
    assert lab.raw_rlms.get(f"/ldl/sessions/{session_id}/status", headers=AUTH).json == {
        "should_finish": 5
    }
    reply = lab.raw_rlms.delete(f"/ldl/sessions/{session_id}", headers=AUTH)
    assert reply.json["message"] == "Deleted"
    assert lab.disposed == [session_id]
    assert lab.raw_rlms.delete(f"/ldl/sessions/{session_id}", headers=AUTH).json["message"] == (
        "Deleted"
    )
    assert lab.raw_rlms.delete("/ldl/sessions/unknown", headers=AUTH).json["message"] == "Not found"


def test_ldl_start_missing_section(lab: Lab) -> None:
    body = ldl_body()
    del body["user"]
    reply = lab.raw_rlms.post("/ldl/sessions/", json=body, headers=AUTH)
    assert reply.status_code == 400
    assert "user" in reply.json["message"]
    assert_nothing_stored(lab)


def test_weblab_has_no_delete_route(lab: Lab) -> None:
    session_id = lab.start_raw()
    assert lab.raw_rlms.delete(f"/weblab/sessions/{session_id}", headers=AUTH).status_code == 405
    assert lab.status(session_id) == 5


def test_other_methods_answer_405(lab: Lab) -> None:
    assert lab.raw_rlms.get("/weblab/sessions/abc", headers=AUTH).status_code == 405
    assert lab.raw_rlms.get("/weblab/sessions/", headers=AUTH).status_code == 405


# -- status -----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_status_values(lab: Lab, clock: Clock) -> None:
    lab.state.clock = clock
    session_id = lab.start_raw(
        server={
            "priority.queue.slot.start.timestamp": repr(clock.now),
            "priority.queue.slot.length": "3",
        }
    )
    assert lab.status(session_id) == 3  # min(poll interval, time left)
    clock.now += 2.5
    assert lab.status(session_id) == 1  # never 0 in the last second
    clock.now += 0.49
    assert lab.status(session_id) == 1
    clock.now += 0.02
    assert lab.status(session_id) == -1  # slot over
    assert lab.status("unknown") == -1


def test_status_after_logout(lab: Lab) -> None:
    session_id = lab.start_raw()
    assert lab.status(session_id) == 5
    student = lab.browser(session_id)
    student.get(f"/callback/{session_id}/logout")
    assert lab.status(session_id) == -1


def test_status_after_inactivity_runtime_timeout(lab: Lab, clock: Clock) -> None:
    lab.state.clock = clock
    session_id = lab.start_raw()
    with lab.app.app_context():
        lab.weblab.timeout = 0.1
    assert lab.status(session_id) == 5
    clock.now += 0.2
    assert lab.status(session_id) == -1


def test_status_no_timeout_never_expires(make_lab: Callable[..., Lab], clock: Clock) -> None:
    lab = make_lab(WEBLAB_TIMEOUT=0)
    lab.state.clock = clock
    session_id = lab.start_raw(server={"priority.queue.slot.start.timestamp": repr(clock.now)})
    clock.now += 150
    assert lab.status(session_id) == 5
    with lab.app.app_context():
        assert lab.weblab.clean_expired_users() == 0
    assert lab.disposed == []
    clock.now += 60  # the slot is over: that still ends it
    assert lab.status(session_id) == -1
    with lab.app.app_context():
        assert lab.weblab.clean_expired_users() == 1
    assert lab.disposed == [session_id]


def test_status_poll_interval_zero(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_POLL_INTERVAL=0)
    assert lab.status(lab.start_raw()) == 0


def test_status_while_disposing(make_lab: Callable[..., Lab]) -> None:
    import threading

    lab = make_lab(WEBLAB_DISPOSE_WAIT=0.2)
    release = threading.Event()
    entered = threading.Event()

    def slow_dispose() -> None:
        entered.set()
        release.wait(10)

    lab.weblab.callbacks.on_dispose = slow_dispose
    session_id = lab.start_raw()
    pending = lab.dispose(session_id)
    assert entered.is_set()
    assert pending["finished"] is False
    assert lab.status(session_id) == 2
    release.set()
    assert lab.state.service.disposer.wait_idle(5)
    assert lab.status(session_id) == -1


def test_status_multiple(lab: Lab, clock: Clock) -> None:
    lab.state.clock = clock
    active = lab.start_raw(server={"priority.queue.slot.start.timestamp": repr(clock.now)})
    gone = lab.start_raw(server={"priority.queue.slot.start.timestamp": repr(clock.now)})
    lab.dispose(gone)
    reply = lab.raw_rlms.post(
        "/weblab/sessions/status/multiple",
        headers=AUTH,
        json={"session_ids": [active, gone, "unknown"]},
    )
    assert reply.json == {"status": {active: 5, gone: -1, "unknown": -1}}


def test_status_multiple_thousand_ids(lab: Lab) -> None:
    session_id = lab.start_raw()
    ids = [f"unknown-{i}" for i in range(999)] + [session_id]
    reply = lab.raw_rlms.post(
        "/weblab/sessions/status/multiple", headers=AUTH, json={"session_ids": ids, "timeout": 30}
    )
    status = reply.json["status"]
    assert len(status) == 1000
    assert status[session_id] == 5
    assert set(status.values()) == {-1, 5}


@pytest.mark.parametrize(
    "body",
    [None, b"", b"{broken", {}, {"session_ids": "abc"}, {"session_ids": [1, 2]}, {"timeout": 3}],
)
def test_status_multiple_missing_parameters(lab: Lab, body: Any) -> None:
    if isinstance(body, (bytes, type(None))):
        reply = lab.raw_rlms.post(
            "/weblab/sessions/status/multiple",
            data=body or b"",
            headers=AUTH,
            content_type="application/json",
        )
    else:
        reply = lab.raw_rlms.post("/weblab/sessions/status/multiple", json=body, headers=AUTH)
    assert reply.status_code == 200
    assert reply.json == {
        "success": False,
        "error_code": "missing-parameters",
        "error_human": "session_ids expected in POST JSON",
    }


# -- dispose ----------------------------------------------------------------------------------


def test_dispose_messages(lab: Lab) -> None:
    session_id = lab.start_raw()
    url = f"/weblab/sessions/{session_id}"
    for body in ({}, {"action": "stop"}, {"action": 5}, [1]):
        reply = lab.raw_rlms.post(url, json=body, headers=AUTH)
        assert reply.json["message"] == "Unknown op"
    assert lab.disposed == []
    first = lab.dispose(session_id)
    assert first["message"] == "Deleted"
    assert "data" not in first
    assert lab.dispose(session_id)["message"] == "Deleted"  # idempotent
    assert lab.disposed == [session_id]
    unknown = lab.dispose("unknown")
    assert unknown["message"] == "Not found"
    assert "data" not in unknown


@pytest.mark.parametrize("raw", [b"", b"{nope"])
def test_dispose_bad_json(lab: Lab, raw: bytes) -> None:
    session_id = lab.start_raw()
    reply = lab.raw_rlms.post(
        f"/weblab/sessions/{session_id}", data=raw, headers=AUTH, content_type="application/json"
    )
    assert reply.status_code == 400
    assert reply.json["error"] is True
    assert lab.disposed == []


def test_dispose_on_dispose_raising_still_completes(lab: Lab) -> None:
    def on_dispose() -> None:
        raise RuntimeError("broken hardware")

    lab.weblab.callbacks.on_dispose = on_dispose
    session_id = lab.start_raw()
    assert lab.dispose(session_id)["message"] == "Deleted"
    assert lab.status(session_id) == -1


def test_powered_by_header(lab: Lab) -> None:
    assert lab.raw_rlms.get("/weblab/sessions/api").headers["powered-by"] == "weblab_ext"


def test_rlms_replies_are_json_without_redirects(lab: Lab) -> None:
    session_id = lab.start_raw()
    for reply in (
        lab.raw_rlms.get("/weblab/sessions/api"),
        lab.raw_rlms.get("/weblab/sessions/test", headers=AUTH),
        lab.raw_rlms.get(f"/weblab/sessions/{session_id}/status", headers=AUTH),
        lab.raw_rlms.post("/weblab/sessions", json=lab.start_body(), headers=AUTH),
        lab.raw_rlms.post(
            f"/weblab/sessions/{session_id}", json={"action": "delete"}, headers=AUTH
        ),
    ):
        assert reply.status_code == 200
        assert reply.mimetype == "application/json"


def test_start_missing_back(lab: Lab) -> None:
    body = lab.start_body()
    del body["back"]
    reply = lab.raw_rlms.post("/weblab/sessions/", json=body, headers=AUTH)
    assert reply.status_code == 400
    assert reply.json["field"] == "back"
    assert_nothing_stored(lab)
    body["client_initial_data"]["back"] = "http://from.client/"  # older WLD puts it there
    reply = lab.raw_rlms.post("/weblab/sessions/", json=body, headers=AUTH)
    assert student_user(lab, reply.json["session_id"]).back == "http://from.client/"


@pytest.mark.parametrize(
    "server",
    [
        {"priority.queue.slot.length": "1e300"},
        {"priority.queue.slot.length": 1e17},
        {"priority.queue.slot.start.timestamp": "1e17"},
    ],
    ids=["huge-length-string", "huge-length", "far-future-start"],
)
def test_absurd_times_do_not_crash_the_store(lab: Lab, server: dict[str, Any]) -> None:
    session_id = lab.start_raw(server=server)
    assert lab.status(session_id) == 5
    assert lab.dispose(session_id)["message"] == "Deleted"
    assert lab.disposed == [session_id]


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", None])
def test_start_json_whatever_the_content_type(lab: Lab, content_type: str | None) -> None:
    reply = lab.raw_rlms.post(
        "/weblab/sessions/",
        data=json.dumps(lab.start_body()),
        headers=AUTH,
        content_type=content_type,
    )
    assert reply.status_code == 200, reply.json
    assert "session_id" in reply.json


def test_status_multiple_time_limit_stops_early(lab: Lab) -> None:
    ids = [f"unknown-{i}" for i in range(5000)]
    reply = lab.raw_rlms.post(
        "/weblab/sessions/status/multiple", headers=AUTH, json={"session_ids": ids, "timeout": 1e-6}
    )
    status = reply.json["status"]
    assert 1 <= len(status) < 5000
    assert set(status) == set(ids[: len(status)])  # the first ones
    for no_limit in ("soon", 0, -5, None):
        reply = lab.raw_rlms.post(
            "/weblab/sessions/status/multiple",
            headers=AUTH,
            json={"session_ids": ids, "timeout": no_limit},
        )
        assert len(reply.json["status"]) == 5000
