"""A session past its deadline is over, whether or not the cleaner ran: nothing revives it.

The deadline is the slot end (``max_date``) or ``last_poll + timeout`` (``timeout > 0``), with
the timeout in force at the time of the request (``weblab.timeout`` may change at run time).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.clock import Clock
from tests.support.lab import AUTH, Lab
from weblab_ext.runtime.sessions import CLOSE_GRACE

BACK = "http://rlms.example/back"


def _timed_lab(make_lab: Callable[..., Lab], **config: Any) -> tuple[Lab, Clock, str, Any]:
    lab = make_lab(**config)
    clock = Clock()
    lab.state.clock = clock
    session_id = lab.start_raw(server={"priority.queue.slot.start.timestamp": repr(clock.now)})
    return lab, clock, session_id, lab.browser(session_id)


def _refused(student: Any) -> None:
    reply = student.get("/lab")
    assert reply.status_code == 302 and reply.location == BACK
    reply = student.get("/lab", headers={"Accept": "application/json"})
    assert reply.status_code == 403 and reply.json["code"] == "session-inactive"


def test_inactivity_timeout_is_final(make_lab: Callable[..., Lab]) -> None:
    lab, clock, session_id, student = _timed_lab(make_lab, WEBLAB_TIMEOUT=10)
    assert student.get("/lab").status_code == 200
    clock.now += 9
    assert student.get("/lab").status_code == 200  # a request within the timeout renews it
    clock.now += 11
    assert lab.status(session_id) == -1
    _refused(student)  # requires_active refuses it, and the request renews nothing
    poll = student.get(f"/callback/{session_id}/poll").json
    assert (poll["success"], poll["reason"]) == (False, "User inactive")
    assert lab.status(session_id) == -1
    clock.now += 1
    assert lab.status(session_id) == -1
    assert student.get("/results").status_code == 200  # still logged in: results readable
    with lab.app.app_context():
        assert lab.weblab.clean_expired_users() == 1
    assert lab.disposed == [session_id]


def test_a_request_past_the_timeout_never_records_a_poll(make_lab: Callable[..., Lab]) -> None:
    lab, clock, session_id, student = _timed_lab(make_lab, WEBLAB_TIMEOUT=10)
    last_poll = lab.record(session_id).last_poll
    clock.now += 10  # exactly at the deadline: over (status answers -1 from here)
    assert lab.status(session_id) == -1
    _refused(student)
    assert lab.record(session_id).last_poll == last_poll
    assert lab.state.service.poll(session_id) is True  # the session exists...
    assert lab.record(session_id).last_poll == last_poll  # ...and stays over


def test_slot_end_is_final(make_lab: Callable[..., Lab]) -> None:
    lab, clock, session_id, student = _timed_lab(make_lab, WEBLAB_TIMEOUT=0)
    clock.now += 199
    assert student.get("/lab").status_code == 200
    clock.now += 1  # the 200 s slot is over
    assert lab.status(session_id) == -1
    _refused(student)
    assert lab.status(session_id) == -1


def test_no_timeout_means_no_inactivity_limit(make_lab: Callable[..., Lab]) -> None:
    for timeout in (0, -1):
        lab, clock, session_id, student = _timed_lab(make_lab, WEBLAB_TIMEOUT=timeout)
        clock.now += 150
        assert lab.status(session_id) == 5
        assert student.get("/lab").status_code == 200
        assert lab.record(session_id).last_poll == clock.now


def test_runtime_timeout_change_applies_to_the_next_request(
    make_lab: Callable[..., Lab],
) -> None:
    lab, clock, session_id, student = _timed_lab(make_lab, WEBLAB_TIMEOUT=15)
    with lab.app.app_context():
        lab.weblab.timeout = 2
    clock.now += 3
    _refused(student)
    assert lab.status(session_id) == -1
    reply = lab.raw_rlms.post(
        "/weblab/sessions/status/multiple", json={"session_ids": [session_id]}, headers=AUTH
    )
    assert reply.json == {"status": {session_id: -1}}


# -- a record gone from Redis stays gone --------------------------------------------------------


def test_a_one_shot_flag_never_recreates_a_gone_session(lab: Lab) -> None:
    session_id = lab.start_raw()
    sessions = lab.state.sessions
    assert sessions.mark_once(session_id, "seen") is True
    assert sessions.mark_once(session_id, "seen") is False
    key = lab.state.keys.session(session_id)
    ttl = lab.state.client.ttl(key)
    assert sessions.mark_once(session_id, "other") is True
    assert lab.state.client.ttl(key) == ttl  # setting a flag keeps the record's expiry
    lab.state.client.delete(key)  # what Redis does when the record's TTL runs out
    assert sessions.mark_once(session_id, "later") is False
    assert lab.state.client.exists(key) == 0  # not re-created (and so never without a TTL)


def test_a_status_call_racing_the_records_expiry_recreates_nothing(
    make_lab: Callable[..., Lab], caplog: pytest.LogCaptureFixture
) -> None:
    """The status call reads a session that is over, then logs its expiry once: a record
    that expires between the two is neither re-created (without a TTL, for ever) nor logged
    as a session of nobody."""
    lab = make_lab(WEBLAB_LOG_SESSION_LIFECYCLE=True)
    caplog.set_level(logging.INFO)
    session_id = lab.start_raw()
    lab.browser(session_id).get(f"/callback/{session_id}/logout")  # over: status says -1
    service, key = lab.state.service, lab.state.keys.session(session_id)
    read = service.status_fields

    def read_then_expire(sid: str, **options: Any) -> Any:
        fields = read(sid, **options)
        lab.state.client.delete(key)  # the record's TTL runs out right after the read
        return fields

    setattr(service, "status_fields", read_then_expire)  # noqa: B010 - a method replaced
    assert lab.status(session_id) == -1
    assert lab.state.client.exists(key) == 0
    assert "expiry_detected" not in caplog.text


# -- a closed page (logout_on_close) ------------------------------------------------------------


def _close(student: Any, session_id: str) -> Any:
    """What the poll script's beacon sends when its page goes away (closed or reloaded)."""
    return student.post(f"/callback/{session_id}/close")


def test_a_reload_keeps_the_session(make_lab: Callable[..., Lab]) -> None:
    """A reload sends the same beacon as a close; the reloaded page's poll within the grace
    cancels it, so the session lives on past the grace and past the timeout."""
    lab, clock, session_id, student = _timed_lab(make_lab, WEBLAB_TIMEOUT=15)
    assert _close(student, session_id).json == {"success": True}
    clock.now += CLOSE_GRACE - 1
    assert student.get(f"/callback/{session_id}/poll").json == {"success": True}
    clock.now += 10  # past the grace, within the timeout of that poll
    assert lab.status(session_id) > 0
    with lab.app.app_context():
        assert lab.weblab.clean_expired_users() == 0
    assert student.get("/lab").status_code == 200
    assert lab.disposed == []


def test_a_closed_page_ends_the_session_after_the_grace(make_lab: Callable[..., Lab]) -> None:
    lab, clock, session_id, student = _timed_lab(make_lab, WEBLAB_TIMEOUT=15)
    _close(student, session_id)
    clock.now += CLOSE_GRACE - 0.1
    assert lab.status(session_id) > 0  # still within the grace
    clock.now += 0.1
    assert lab.status(session_id) == -1  # not the 15 s of the timeout: the page is gone
    with lab.app.app_context():
        assert lab.weblab.clean_expired_users() == 1
    assert lab.disposed == [session_id]
    _refused(student)  # a request after the grace revives nothing


def test_the_close_request_is_not_activity(make_lab: Callable[..., Lab]) -> None:
    lab, clock, session_id, student = _timed_lab(make_lab, WEBLAB_TIMEOUT=15)
    clock.now += 3
    _close(student, session_id)  # its autopoll would cancel the close it asks for
    clock.now += CLOSE_GRACE
    assert lab.status(session_id) == -1


def test_a_close_never_extends_a_session(make_lab: Callable[..., Lab]) -> None:
    """Silent for longer than the timeout minus the grace: the timeout ends it first."""
    lab, clock, session_id, student = _timed_lab(make_lab, WEBLAB_TIMEOUT=15)
    last_poll = lab.record(session_id).last_poll
    clock.now += 12
    _close(student, session_id)
    assert lab.record(session_id).last_poll == last_poll
    clock.now += 3
    assert lab.status(session_id) == -1


def test_a_close_from_another_browser_does_nothing(make_lab: Callable[..., Lab]) -> None:
    lab, clock, session_id, _ = _timed_lab(make_lab, WEBLAB_TIMEOUT=15)
    reply = lab.app.test_client().post(f"/callback/{session_id}/close")
    assert reply.json == {"success": False, "reason": "Different session identifier"}
    clock.now += CLOSE_GRACE + 1
    assert lab.status(session_id) > 0


def test_a_close_of_an_ended_session_changes_nothing(make_lab: Callable[..., Lab]) -> None:
    lab, _, session_id, student = _timed_lab(make_lab, WEBLAB_TIMEOUT=15)
    student.get(f"/callback/{session_id}/logout")
    assert _close(student, session_id).json == {"success": False}
    assert lab.record(session_id).state == "exited"
