"""The operator service: what the admin page, metrics, health URL and CLI read through."""

from __future__ import annotations

import time
from typing import Any

from weblab_ext.runtime.disposal import DisposeOutcome
from weblab_ext.runtime.lifecycle_log import session_id_hash


def test_sessions_by_state_and_their_listing(lab: Any) -> None:
    staying, leaving = lab.start_raw(), lab.start_raw()
    lab.state.service.logout(leaving)
    operator = lab.state.operator
    counts = operator.session_counts()
    assert (counts.active, counts.exited, counts.disposing) == (1, 1, 0)
    overview = operator.overview(limit=10)
    assert overview.session_counts == counts
    assert {row.key for row in overview.sessions} == {
        session_id_hash(staying),
        session_id_hash(leaving),
    }


def test_a_listed_session_is_found_by_its_hash_and_ended(lab: Any) -> None:
    session_id = lab.start_raw()
    operator = lab.state.operator
    key = session_id_hash(session_id)
    assert operator.find_session(key) == session_id
    assert operator.find_session("0" * 16) is None
    assert operator.end_session(session_id, wait=5, caller="admin") is DisposeOutcome.DONE
    assert operator.find_session(key) is None
    assert lab.disposed == [session_id]


def test_sessions_that_are_over_are_counted_then_cleaned(lab: Any) -> None:
    lab.start_raw(server={"priority.queue.slot.length": "10"})
    operator = lab.state.operator
    assert operator.due_count(100) == 0
    lab.state.clock = lambda: time.time() + 60
    assert operator.due_count(100) == 1
    assert operator.clean_expired() == 1
    assert operator.due_count(100) == 0


def test_health_names_the_failing_lab_check(lab: Any) -> None:
    operator = lab.state.operator
    failing = operator.health({}, [("camera", lambda: False)])
    assert not failing.success
    assert failing.message == "camera: returned false"
    fine = operator.health({}, [("camera", lambda: True)])
    assert fine.success
    assert fine.message == "ok: store, camera"


def test_metrics_count_the_sessions_started(lab: Any) -> None:
    lab.start_raw()
    reading = lab.state.operator.metrics()
    assert reading.sessions_active == 1
    assert reading.session_starts == 1
