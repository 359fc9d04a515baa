"""weblablib parity: lifecycle logs on ``app.logger``, task lookups without a session, and
``NoContextError`` messages that recommend something real."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest

import weblab_ext
from tests.support.lab import Lab
from weblab_ext import NoContextError, session_context, weblab_user
from weblab_ext.runtime.lifecycle_log import session_id_hash


def lifecycle_events(caplog: pytest.LogCaptureFixture, lab: Lab) -> list[dict[str, Any]]:
    return [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.name == lab.app.logger.name and "weblab_session_lifecycle" in record.getMessage()
    ]


@pytest.fixture
def logged_lab(make_lab: Callable[..., Lab], caplog: pytest.LogCaptureFixture) -> Lab:
    lab = make_lab(WEBLAB_LOG_SESSION_LIFECYCLE=True, LAB_NAME="robot-arm", ENVIRONMENT="test")
    caplog.set_level(logging.INFO, logger=lab.app.logger.name)
    return lab


def test_lifecycle_events_go_to_app_logger_with_weblablib_sources(
    logged_lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    lab = logged_lab
    session_id = lab.start_raw()
    student = lab.browser(session_id)
    student.get(f"/callback/{session_id}/logout")
    assert student.get("/lab").status_code == 302
    assert lab.status(session_id) == -1
    assert lab.status(session_id) == -1  # logged once per session
    assert lab.dispose(session_id)["message"] == "Deleted"

    events = lifecycle_events(caplog, lab)
    assert [(e["action"], e["source"], e["reason"]) for e in events] == [
        ("protected_request_rejected", "requires_active", "user_exited"),
        ("expiry_detected", "status_time", "user_exited"),
        ("disposed", "dispose_user", "user_exited"),
    ]
    rejected = events[0]
    assert (rejected["status"], rejected["path"], rejected["method"]) == (302, "/lab", "GET")
    assert rejected["endpoint"] == "lab_view"
    assert {e["session_id_hash"] for e in events} == {session_id_hash(session_id)}
    assert {(e["lab_name"], e["environment"]) for e in events} == {("robot-arm", "test")}
    text = "\n".join(record.getMessage() for record in caplog.records)
    for personal in (session_id, "john.smith", "John Smith", "rlms.example"):
        assert personal not in text
    assert not [r for r in caplog.records if r.name == "weblab_ext.lifecycle"]


def test_json_rejection_logs_the_status_it_answered(
    logged_lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    session_id = logged_lab.start_raw()
    student = logged_lab.browser(session_id)
    student.get(f"/callback/{session_id}/logout")
    assert student.get("/lab", headers={"Accept": "application/json"}).status_code == 403
    (event,) = lifecycle_events(caplog, logged_lab)
    assert (event["action"], event["status"]) == ("protected_request_rejected", 403)


def test_anonymous_rejections_are_logged(logged_lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    client = logged_lab.app.test_client()
    assert client.get("/lab").status_code == 403
    unknown = "x" * 43
    with client.session_transaction() as cookie:
        cookie["weblab_session_id"] = unknown
    assert client.get("/lab").status_code == 403

    first, second = lifecycle_events(caplog, logged_lab)
    assert (first["action"], first["reason"], first["status"]) == (
        "protected_request_rejected",
        "anonymous_no_session_cookie",
        403,
    )
    assert (first["path"], first["method"], first["source"]) == ("/lab", "GET", "requires_active")
    assert first["session_id_hash"] is None  # present, null, as weblablib logs it
    assert (second["reason"], second["status"]) == ("anonymous_session_not_found", 403)
    assert second["session_id_hash"] == session_id_hash(unknown)
    assert unknown not in "\n".join(r.getMessage() for r in caplog.records)


REQUEST_FIELDS = ("endpoint", "method", "path", "status")


def test_every_rejection_carries_the_request_and_a_session_hash_key(
    make_lab: Callable[..., Lab], caplog: pytest.LogCaptureFixture
) -> None:
    """weblablib's ``protected_request_rejected`` always has ``session_id_hash`` (null for a
    browser without a session) and the request's endpoint, method, route rule and status."""
    lab = make_lab(
        WEBLAB_UNAUTHORIZED_LINK="https://rlms.example/book", WEBLAB_LOG_SESSION_LIFECYCLE=True
    )
    caplog.set_level(logging.INFO, logger=lab.app.logger.name)
    anonymous = lab.app.test_client()
    assert anonymous.get("/lab").status_code == 302  # to the unauthorized link
    session_id = lab.start_raw()
    student = lab.browser(session_id)
    student.get(f"/callback/{session_id}/logout")
    assert student.get("/lab").status_code == 302  # back to the RLMS

    events = [e for e in lifecycle_events(caplog, lab) if e["source"] == "requires_active"]
    assert [(e["reason"], e["status"]) for e in events] == [
        ("anonymous_no_session_cookie", 302),
        ("user_exited", 302),
    ]
    for event in events:
        assert {key: event[key] for key in REQUEST_FIELDS} == {
            "endpoint": "lab_view",
            "method": event["method"],
            "path": "/lab",
            "status": event["status"],
        }
        assert "session_id_hash" in event
    assert events[-2]["session_id_hash"] is None
    assert events[-1]["session_id_hash"] == session_id_hash(session_id)
    others = [e for e in lifecycle_events(caplog, lab) if e["source"] != "requires_active"]
    for event in others:  # weblablib's status and dispose events carry no request fields
        assert not set(REQUEST_FIELDS) & set(event)


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("offset", "past"), [(-120, 0), (-0.4, 0), (0, 0), (30, 30), (90.6, 91)])
def test_seconds_past_max_date_is_never_negative(
    logged_lab: Lab, caplog: pytest.LogCaptureFixture, offset: float, past: int
) -> None:
    """A session disposed 120 s before its slot ends was 0 s past its max date (weblablib
    reports 0 there, not -120)."""
    lab = logged_lab
    session_id = lab.start_raw()
    max_date = lab.record(session_id).max_date
    lab.state.clock = _Clock(max_date + offset)
    assert lab.dispose(session_id)["message"] == "Deleted"
    (disposed,) = [e for e in lifecycle_events(caplog, lab) if e["action"] == "disposed"]
    assert disposed["seconds_past_max_date"] == past


def test_lifecycle_logs_can_be_turned_off(
    make_lab: Callable[..., Lab], caplog: pytest.LogCaptureFixture
) -> None:
    lab = make_lab(WEBLAB_LOG_SESSION_LIFECYCLE=False)
    caplog.set_level(logging.INFO)
    lab.app.test_client().get("/lab")
    session_id = lab.start_raw()
    lab.dispose(session_id)
    assert lifecycle_events(caplog, lab) == []


def test_get_task_without_a_session_returns_none(lab: Lab) -> None:
    @lab.weblab.task
    def measure() -> int:
        return 1

    session_id = lab.start_raw()
    with lab.app.app_context():
        assert lab.weblab.get_task("x" * 43) is None  # unknown id
        assert lab.weblab.get_task("no-such-task") is None  # neither an id nor a task name
        with session_context(session_id):
            task = measure.delay()
        assert lab.weblab.get_task(task.task_id) is None  # no session: not "ours"
        with session_context(session_id):
            assert lab.weblab.get_task(task.task_id) == task


def test_no_context_errors_recommend_a_helper_that_exists(lab: Lab) -> None:
    @lab.weblab.task
    def measure() -> int:
        return 1

    messages = []
    with lab.app.app_context():
        for action in (measure.delay, lambda: weblab_user.username):
            with pytest.raises(NoContextError) as info:
                action()
            messages.append(str(info.value))
    for message in messages:
        recommended = re.findall(r"weblab_ext\.(\w+)\(", message)
        assert recommended == ["session_context"], message
        assert recommended[0] in weblab_ext.__all__
    session_id = lab.start_raw()
    with lab.app.app_context(), weblab_ext.session_context(session_id):  # as recommended
        assert weblab_user.username == "john.smith"
        assert measure.delay().session_id == session_id
