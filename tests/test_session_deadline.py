"""A session past its deadline is over, whether or not the cleaner ran: nothing revives it.

The deadline is the slot end (``max_date``) or ``last_poll + timeout`` (``timeout > 0``), with
the timeout in force at the time of the request (``weblab.timeout`` may change at run time).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .conftest import AUTH, Lab
from .test_user_flow import Clock

BACK = "http://rlms.example/back"


def _timed_lab(make_lab: Callable[..., Lab], **config: Any) -> tuple[Lab, Clock, str, Any]:
    lab = make_lab(**config)
    clock = Clock()
    lab.state.clock = clock
    session_id = lab.start(server={"priority.queue.slot.start.timestamp": repr(clock.now)})
    return lab, clock, session_id, lab.student(session_id)


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
    last_poll = lab.state.sessions.load(session_id).last_poll
    clock.now += 10  # exactly at the deadline: over (status answers -1 from here)
    assert lab.status(session_id) == -1
    _refused(student)
    assert lab.state.sessions.load(session_id).last_poll == last_poll
    assert lab.state.service.poll(session_id) is True  # the session exists...
    assert lab.state.sessions.load(session_id).last_poll == last_poll  # ...and stays over


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
        assert lab.state.sessions.load(session_id).last_poll == clock.now


def test_runtime_timeout_change_applies_to_the_next_request(
    make_lab: Callable[..., Lab],
) -> None:
    lab, clock, session_id, student = _timed_lab(make_lab, WEBLAB_TIMEOUT=15)
    with lab.app.app_context():
        lab.weblab.timeout = 2
    clock.now += 3
    _refused(student)
    assert lab.status(session_id) == -1
    reply = lab.rlms.post("/weblab/sessions/status/multiple", json={"session_ids": [session_id]},
                          headers=AUTH)
    assert reply.json == {"status": {session_id: -1}}
