"""Session records: every event kind the library keeps, the bounds (max events, retention
TTLs, the index), pseudonyms, ``weblab.record`` and its misuse, on both stores."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any, cast

import pytest
from flask import Flask

from tests.support.lab import AUTH, Lab, real_redis_only
from tests.support.round_trips import RoundTrips, count_round_trips
from weblab_ext import requires_active, session_context, weblab_user
from weblab_ext.runtime.lifecycle_log import session_id_hash


def raw_events(lab: Lab, session_id: str) -> list[str]:
    state = lab.state
    # The lab's client decodes replies: the events are JSON text.
    return cast(list[str], state.client.lrange(state.keys.record_events(session_id), 0, -1))


def kinds(lab: Lab, session_id: str) -> list[str]:
    return [event["e"] for event in lab.state.journal.timeline(session_id)[0]]


@pytest.fixture
def recorded(make_lab: Callable[..., Lab]) -> Lab:
    lab = make_lab()
    weblab = lab.weblab

    @weblab.task()
    def measure(points: int) -> int:
        weblab.record("measured", points=points)
        return points

    @lab.app.route("/measure")
    @requires_active
    def start_measure() -> Any:
        return {"task_id": measure.delay(3).task_id}

    @lab.app.route("/command/<value>")
    @requires_active
    def command(value: str) -> Any:
        return {"recorded": weblab.record("command", value=value, user=weblab_user.username)}

    lab.measure = measure  # type: ignore[attr-defined]
    return lab


def test_a_session_leaves_its_whole_story(recorded: Lab) -> None:
    lab = recorded
    sid = lab.start_raw(server={"request.course": "Physics 101", "request.group": "G2"})
    student = lab.browser(sid)
    assert student.get("/command/led-on").json == {"recorded": True}
    student.get("/measure")
    assert lab.weblab.run_tasks() == 1
    assert lab.status(sid) >= 0
    assert lab.dispose(sid)
    events, dropped = lab.state.journal.timeline(sid)
    names = [event["e"] for event in events]
    # The end is recorded by the disposal, before the dispose call's reply.
    assert names == [
        "start",
        "launch",
        "lab",
        "task_submitted",
        "task_started",
        "lab",
        "task_finished",
        "rlms",
        "end",
        "rlms",
    ]
    assert dropped == 0
    start = events[0]
    assert start["course"] == "Physics 101" and start["group"] == "G2"
    assert start["locale"] == "es_ES" and start["device"] is None
    assert start["experiment"] == "mylab@Lab experiments" and start["dialect"] == "weblab"
    assert start["slot_end"] - start["slot_start"] == 200
    assert start["user"].startswith("u-") and len(start["user"]) == 26
    assert events[1]["outcome"] == "enter"
    assert events[2] == {
        "t": events[2]["t"],
        "e": "lab",
        "name": "command",
        "fields": {"value": "led-on", "user": "john.smith"},
    }
    assert events[3]["task"] == "measure" and events[3]["status"] == "submitted"
    assert events[5]["name"] == "measured" and events[5]["fields"] == {"points": 3}
    finished = events[6]
    assert finished["status"] == "done" and finished["duration"] >= 0
    assert "args" not in json.dumps(events) and 'points": 3}' not in json.dumps(finished)
    end = next(event for event in events if event["e"] == "end")
    assert end["reason"] == "rlms" and 0 <= end["used"] < 200
    calls = [(e["call"], e["outcome"]) for e in events if e["e"] == "rlms"]
    assert calls == [("status", "active"), ("dispose", "done")]
    assert lab.state.journal.calls(sid) == {"status": {"active": 1}, "dispose": {"done": 1}}


def test_full_names_and_usernames_never_enter_the_record(recorded: Lab) -> None:
    sid = recorded.start_raw()
    recorded.dispose(sid)
    raw = " ".join(raw_events(recorded, sid))
    assert "John Smith" not in raw and "john.smith" not in raw
    assert "institution" not in raw


def test_pseudonyms_are_stable_per_lab_and_keyed(make_lab: Callable[..., Lab]) -> None:
    one = make_lab(WEBLAB_RECORD_PSEUDONYM_SECRET="k1")
    first, second = one.start_raw(), one.start_raw()
    user = one.state.journal.timeline(first)[0][0]["user"]
    assert one.state.journal.timeline(second)[0][0]["user"] == user
    other = one.start_raw(server={"request.username.unique": "ana@institution"})
    assert one.state.journal.timeline(other)[0][0]["user"] != user
    two = make_lab(WEBLAB_RECORD_PSEUDONYM_SECRET="k2")
    assert two.state.journal.timeline(two.start_raw())[0][0]["user"] != user
    # Without a dedicated secret the key derives from SECRET_KEY: stable across restarts.
    three, four = make_lab(), make_lab()
    assert (
        three.state.journal.timeline(three.start_raw())[0][0]["user"]
        == four.state.journal.timeline(four.start_raw())[0][0]["user"]
    )


def test_pseudonyms_off_in_debug_or_when_asked(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_RECORD_PSEUDONYMS=False)
    sid = lab.start_raw()
    assert lab.state.journal.timeline(sid)[0][0]["user"] == "john.smith@institution"
    assert "John Smith" not in " ".join(raw_events(lab, sid))


def test_pseudonyms_default_follows_debug(store_url: str) -> None:
    from tests.support.lab import base_config
    from weblab_ext import WebLab

    for debug, expected in ((True, False), (False, True)):
        app = Flask(__name__)
        app.config.update(base_config(store_url))
        app.debug = debug
        weblab = WebLab(app)
        assert app.extensions["weblab"].journal.pseudonyms is expected
        weblab.stop_threads()


def test_the_record_is_bounded_and_the_end_always_kept(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_RECORD_MAX_EVENTS=6)
    sid = lab.start_raw()
    journal = lab.state.journal
    stored = [journal.event(sid, "lab", {"i": i}) for i in range(10)]
    # start takes one place; four more fit, the last place waits for the end.
    assert stored == [True] * 4 + [False] * 6
    lab.dispose(sid)
    events, dropped = journal.timeline(sid)
    assert len(events) == 6 and events[-1]["e"] == "end" and events[0]["e"] == "start"
    assert dropped == 6 + 1  # the dispose call's outcome came after the end: dropped too
    ttl = lab.state.client.ttl(lab.state.keys.record_dropped(sid))
    assert 0 < ttl <= 7 * 24 * 3600


def test_records_and_index_expire_after_the_retention(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_RECORD_RETENTION=3600)
    state = lab.state
    journal = state.journal
    sid = lab.start_raw()
    assert 3590 < state.client.ttl(state.keys.record_events(sid)) <= 3600
    assert 3590 < state.client.ttl(state.keys.records_by_start()) <= 3600
    # A start two retentions later trims the old session from the index.
    record = state.sessions.load(sid)
    assert record is not None
    later = time.time() + 7200
    journal.started(record.__class__(**{**record.__dict__, "session_id": "x" * 43}), now=later)
    members = state.client.zrange(state.keys.records_by_start(), 0, -1)
    assert members == ["x" * 43]


def test_no_record_for_a_session_that_has_none(recorded: Lab) -> None:
    state = recorded.state
    assert state.journal.event("no-such-session", "launch", {"outcome": "enter"}) is False
    assert state.client.exists(state.keys.record_events("no-such-session")) == 0
    # A launch URL with an unknown id leaves nothing either.
    recorded.app.test_client().get("/callback/" + "y" * 43)
    assert state.client.exists(state.keys.record_events("y" * 43)) == 0


def test_recording_off_records_nothing(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_RECORD=False)
    sid = lab.start_raw()
    with lab.app.test_request_context(), session_context(sid):
        assert lab.weblab.record("x", a=1) is False
    lab.dispose(sid)
    assert lab.state.client.exists(lab.state.keys.record_events(sid)) == 0
    assert lab.state.client.exists(lab.state.keys.records_by_start()) == 0


@pytest.mark.parametrize(
    ("fields", "error", "named"),
    [
        ({"when": object()}, TypeError, "'when'"),
        ({"ratio": math.nan}, ValueError, "'ratio'"),
        ({"blob": "x" * 5000, "small": 1}, ValueError, "'blob'"),
        ({"deep": {1j: 2}}, TypeError, "'deep'"),
    ],
)
def test_misuse_of_record_names_the_field_and_stores_nothing(
    recorded: Lab, fields: dict[str, Any], error: type[Exception], named: str
) -> None:
    sid = recorded.start_raw()
    before = raw_events(recorded, sid)
    with (
        recorded.app.test_request_context(),
        session_context(sid),
        pytest.raises(error, match=named),
    ):
        recorded.weblab.record("event", **fields)
    assert raw_events(recorded, sid) == before


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "-lead", 3])
def test_bad_event_names_are_refused(recorded: Lab, name: Any) -> None:
    sid = recorded.start_raw()
    with (
        recorded.app.test_request_context(),
        session_context(sid),
        pytest.raises((TypeError, ValueError), match="name"),
    ):
        recorded.weblab.record(name)


def test_anonymous_requests_record_nothing(recorded: Lab) -> None:
    with recorded.app.test_request_context():
        assert recorded.weblab.record("x", a=1) is False


def test_costs_no_extra_round_trip_and_record_one(
    recorded: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = recorded

    @lab.app.route("/plain")
    @requires_active
    def plain() -> str:
        return "ok"

    student = lab.browser(lab.start_raw())
    student.get("/plain")
    student.get("/command/warm")  # the first call of a script loads it
    counter: RoundTrips = count_round_trips(monkeypatch, this_thread_only=True)
    assert counter.of(lambda: student.get("/plain")) == 1, counter.commands
    assert counter.of(lambda: student.get("/command/x")) == 2, counter.commands


def test_status_notes_the_end_once(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    sid = lab.start_raw(server={"priority.queue.slot.length": "1"})
    lab.state.clock = lambda: time.time() + 5
    assert lab.status(sid) == -1 and lab.status(sid) == -1
    calls = [e for e in lab.state.journal.timeline(sid)[0] if e["e"] == "rlms"]
    assert [(c["call"], c["outcome"]) for c in calls] == [("status", "finish")]
    assert lab.state.journal.calls(sid) == {"status": {"finish": 2}}


def test_on_record_hooks_get_events_off_the_request(recorded: Lab) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    @recorded.weblab.on_record
    def forward(session: str, event: dict[str, Any]) -> None:
        seen.append((session, event))

    @recorded.weblab.on_record
    def broken(session: str, event: dict[str, Any]) -> None:
        raise RuntimeError("the queue is down")

    sid = recorded.start_raw()
    student = recorded.browser(sid)
    assert student.get("/command/a").status_code == 200
    assert recorded.state.journal.hooks.wait_idle(5)
    assert [event["e"] for _, event in seen] == ["start", "launch", "lab"]
    assert {session for session, _ in seen} == {session_id_hash(sid)}


@real_redis_only
def test_a_session_of_fifty_events_takes_at_most_8_kb(recorded: Lab) -> None:
    sid = recorded.start_raw(server={"request.course": "Physics 101"})
    student = recorded.browser(sid)
    for index in range(46):  # with start, launch, end, rlms dispose: 50
        assert student.get(f"/command/step-{index}").status_code == 200
    recorded.dispose(sid)
    state = recorded.state
    events = state.journal.timeline(sid)[0]
    assert len(events) == 50
    used = state.client.memory_usage(state.keys.record_events(sid), samples=0)
    assert used is not None
    index_share = 100  # one member of the index sorted set (id and score), about
    assert used + index_share <= 8 * 1024, used


def test_a_failed_start_and_a_used_launch_are_recorded(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_LAUNCH_ONCE=True)
    sid = lab.start_raw()
    lab.browser(sid)
    other_browser = lab.app.test_client()
    other_browser.get(f"/callback/{sid}")
    launches = [e["outcome"] for e in lab.state.journal.timeline(sid)[0] if e["e"] == "launch"]
    assert launches == ["enter", "used"]

    def broken(client_data: Any, server_data: Any) -> None:
        raise RuntimeError("no power")

    lab.weblab.callbacks.on_start = broken  # the fixture's lab has one already

    reply = lab.raw_rlms.post("/weblab/sessions/", json=lab.start_body(), headers=AUTH)
    assert reply.status_code == 500
    failed = lab.state.journal.store.latest(1)[0][0]  # type: ignore[union-attr]
    events = lab.state.journal.timeline(failed)[0]
    assert [e["e"] for e in events] == ["start", "rlms", "end"]
    assert events[1] == {
        "t": events[1]["t"],
        "e": "rlms",
        "call": "start",
        "outcome": "on_start_failed",
    }
    assert events[2]["reason"] == "start_failed"
