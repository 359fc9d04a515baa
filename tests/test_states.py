"""SessionState and TaskStatus: each member is the string stored in Redis."""

from __future__ import annotations

import json
from typing import Any, cast

from weblab_ext.states import SessionState, TaskStatus


def test_the_stored_values_do_not_change() -> None:
    assert [state.value for state in SessionState] == ["active", "exited", "disposing", "disposed"]
    assert [status.value for status in TaskStatus] == ["submitted", "running", "done", "failed"]


def test_a_member_is_its_string_everywhere() -> None:
    # Records read back from Redis hold plain strings: they must meet the members in
    # comparisons, sets, dict keys, f-strings and JSON alike.
    stored: str = "active"  # as read back from Redis
    assert stored == SessionState.ACTIVE
    assert "disposing" in {SessionState.DISPOSING}
    assert TaskStatus.DONE in frozenset({"done", "failed"})
    assert {TaskStatus.FAILED: 1}[cast(TaskStatus, "failed")] == 1
    assert f"{SessionState.EXITED}" == str(SessionState.EXITED) == "exited"
    assert json.dumps({"status": TaskStatus.RUNNING}) == '{"status": "running"}'
    assert SessionState("disposed") is SessionState.DISPOSED


def test_the_store_keeps_the_plain_string(lab: Any) -> None:
    key = lab.state.keys.session("states-test")
    lab.state.client.hset(key, "state", SessionState.DISPOSING)
    try:
        assert lab.state.client.hget(key, "state") == "disposing"
    finally:
        lab.state.client.delete(key)
