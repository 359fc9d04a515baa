"""Session records count every RLMS call: each status call (one and many at once) in the
round trip that reads the session, each dispose call; an outcome that changes is appended as
an event, so hours of polling never push the end out of a bounded record."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.cli.test_export import check_statement
from tests.support.lab import AUTH, Lab
from tests.support.round_trips import RoundTrips, count_round_trips
from weblab_ext.protocol import should_finish
from weblab_ext.runtime.lifecycle_log import session_id_hash
from weblab_ext.store.record_calls import STATUS_OUTCOMES, status_outcome
from weblab_ext.testing.harness import LabUnderTest


def rlms_events(lab: Lab, sid: str) -> list[tuple[str, str]]:
    events = lab.state.journal.timeline(sid)[0]
    return [(e["call"], e["outcome"]) for e in events if e["e"] == "rlms"]


def multiple(lab: Lab, ids: list[str], prefix: str = "/weblab") -> dict[str, int]:
    reply = lab.raw_rlms.post(
        f"{prefix}/sessions/status/multiple", headers=AUTH, json={"session_ids": ids}
    )
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return dict(reply.json["status"])


def test_every_status_call_is_counted_and_each_change_recorded(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab()
    sid = lab.start_raw(server={"priority.queue.slot.length": "100"})
    for _ in range(3):
        assert lab.status(sid) > 0
    lab.state.clock = lambda: time.time() + 200  # past the slot: over
    assert lab.status(sid) == -1 and lab.status(sid) == -1
    assert lab.dispose(sid)["finished"] is True
    assert lab.status(sid) == -1  # disposed: still "finish", no new event
    lab.state.client.delete(lab.state.keys.session(sid))  # the session's hash expired
    assert lab.status(sid) == -1
    assert rlms_events(lab, sid) == [
        ("status", "active"),
        ("status", "finish"),
        ("dispose", "done"),
        ("status", "unknown"),
    ]
    assert lab.state.journal.calls(sid) == {
        "status": {"active": 3, "finish": 3, "unknown": 1},
        "dispose": {"done": 1},
    }


def test_two_hours_of_polling_keep_the_end_in_the_record(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_TIMEOUT=60)
    start = time.time()
    sid = lab.start_raw(server={"priority.queue.slot.length": str(3 * 3600)})
    service = lab.state.service
    for step in range(1, 1441):  # every 5 s for 2 hours, the student active all along
        now = start + 5 * step
        assert service.poll(sid, now=now)
        assert service.status(sid, now=now) > 0
    lab.state.clock = lambda: start + 7300
    assert lab.dispose(sid)["finished"] is True
    events, dropped = lab.state.journal.timeline(sid)
    assert dropped == 0 and len(events) <= 5
    assert [e["e"] for e in events] == ["start", "rlms", "end", "rlms"]
    assert lab.state.journal.calls(sid)["status"] == {"active": 1440}


def test_status_multiple_counts_each_recorded_session(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    recorded = [lab.start_raw() for _ in range(3)]
    unknown = [f"unknown-{index}" for index in range(5)]
    for _ in range(2):
        values = multiple(lab, recorded + unknown)
        assert all(values[sid] > 0 for sid in recorded)
        assert all(values[sid] == -1 for sid in unknown)
    for sid in recorded:
        assert rlms_events(lab, sid) == [("status", "active")]
        assert lab.state.journal.calls(sid) == {"status": {"active": 2}}
    # An id without a record leaves no key behind.
    client, keys = lab.state.client, lab.state.keys
    for sid in unknown:
        assert not client.exists(keys.record_calls(sid), keys.record_events(sid))
        assert not client.exists(keys.record_dropped(sid))
    # The single call and the bulk one share the session's counters.
    assert lab.status(recorded[0]) > 0
    assert lab.state.journal.calls(recorded[0]) == {"status": {"active": 3}}


def test_status_calls_with_records_stay_one_round_trip(
    make_lab: Callable[..., Lab], monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = make_lab()
    warm, first = lab.start_raw(), lab.start_raw()
    lab.status(warm)
    multiple(lab, [warm])  # the first call of each script loads it
    counter: RoundTrips = count_round_trips(monkeypatch, this_thread_only=True)
    # The first call of a session appends its outcome; later ones only count.
    assert counter.of(lambda: lab.status(first)) == 1, counter.commands
    assert counter.of(lambda: lab.status(first)) == 1, counter.commands
    ids = [lab.start_raw() for _ in range(3)] + [f"unknown-{i}" for i in range(997)]
    assert counter.of(lambda: multiple(lab, ids)) == 1, counter.commands
    assert counter.of(lambda: multiple(lab, ids)) == 1, counter.commands
    assert lab.state.journal.calls(ids[0]) == {"status": {"active": 2}}


def test_the_scripts_count_the_outcome_the_reply_gives(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    state = lab.state
    client, keys, calls = state.client, state.keys, state.journal.store.calls  # type: ignore[union-attr]
    now, timeout = 1_000_000.0, 60.0
    states = ["active", "exited", "disposing", "disposed", None]
    max_dates = [None, now - 1, now, now + 100]
    last_polls = [None, now - 120, now - 60, now - 1]
    seen = set()
    for index, (st, max_date, last_poll) in enumerate(
        itertools.product(states, max_dates, last_polls)
    ):
        sid = f"grid-{index}"
        client.rpush(keys.record_events(sid), "{}")
        fields = {"state": st, "max_date": max_date, "last_poll": last_poll}
        stored: dict[Any, Any] = {
            k: repr(v) if isinstance(v, float) else str(v) for k, v in fields.items() if v
        }
        if stored:
            client.hset(keys.session(sid), mapping=stored)
        read, _ = calls.status(sid, now=now, timeout=timeout, at="1", max_events=500, ttl=60)
        value = should_finish(
            state=read.state,
            max_date=read.max_date,
            last_poll=read.last_poll,
            now=now,
            timeout=timeout,
            poll_interval=5,
        )
        counted = client.hget(keys.record_calls(sid), "status")
        assert counted == status_outcome(read.state, value), (fields, value)
        seen.add(counted)
    assert seen == set(STATUS_OUTCOMES)


def test_a_full_record_still_counts_and_keeps_the_end(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_RECORD_MAX_EVENTS=3)
    sid = lab.start_raw()
    assert lab.state.journal.event(sid, "lab", {"i": 1})  # start, lab: the last place waits
    assert lab.status(sid) > 0
    assert lab.dispose(sid)["finished"] is True
    events, dropped = lab.state.journal.timeline(sid)
    assert [e["e"] for e in events] == ["start", "lab", "end"]
    assert dropped == 2  # the status and the dispose outcomes
    assert lab.state.journal.calls(sid) == {"status": {"active": 1}, "dispose": {"done": 1}}


def test_repeated_dispose_calls_are_counted_once_each(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    sid = lab.start_raw()
    journal = lab.state.journal
    for _ in range(4):
        journal.call(sid, "dispose", "pending")
    journal.call(sid, "dispose", "done")
    assert rlms_events(lab, sid) == [("dispose", "pending"), ("dispose", "done")]
    assert journal.calls(sid) == {"dispose": {"pending": 4, "done": 1}}
    journal.call("no-such-session", "dispose", "not-found")
    assert not lab.state.client.exists(lab.state.keys.record_calls("no-such-session"))


def test_a_dispose_of_a_session_already_gone_is_recorded(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    sid = lab.start_raw()
    assert lab.dispose(sid)["finished"] is True
    lab.state.client.delete(lab.state.keys.session(sid))  # the expired user is forgotten
    lab.dispose(sid)
    assert rlms_events(lab, sid)[-1] == ("dispose", "not-found")


def test_the_counters_live_as_long_as_the_record(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_RECORD_RETENTION=3600)
    sid = lab.start_raw()
    lab.status(sid)
    lab.status(sid)
    client, keys = lab.state.client, lab.state.keys
    assert 3590 < client.ttl(keys.record_calls(sid)) <= 3600
    client.expire(keys.record_calls(sid), 10)
    client.expire(keys.record_events(sid), 10)
    lab.state.journal.event(sid, "lab", {})  # any later event renews both
    assert 3590 < client.ttl(keys.record_calls(sid)) <= 3600


def test_hooks_hear_the_status_outcomes_as_they_change(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    seen: list[tuple[str, dict[str, Any]]] = []

    @lab.weblab.on_record
    def forward(session: str, event: dict[str, Any]) -> None:
        seen.append((session, event))

    one, two = lab.start_raw(), lab.start_raw()
    lab.status(one)
    lab.status(one)
    multiple(lab, [one, two])
    assert lab.state.journal.hooks.wait_idle(5)
    rlms = [(s, e["outcome"]) for s, e in seen if e["e"] == "rlms"]
    assert rlms == [(session_id_hash(one), "active"), (session_id_hash(two), "active")]


def test_a_device_counts_only_its_own_sessions(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_DEVICES=["board-1", "board-2"])
    under_test = LabUnderTest(lab.app)
    sid = under_test.start(device="board-1").session_id
    client = lab.raw_rlms
    for device in ("board-1", "board-2"):
        reply = client.get(f"/devices/{device}/weblab/sessions/{sid}/status", headers=AUTH)
        assert reply.status_code == 200
    assert multiple(lab, [sid], prefix="/devices/board-2/weblab") == {sid: -1}
    assert multiple(lab, [sid], prefix="/devices/board-1/weblab")[sid] > 0
    # board-2 reads another device's session as unknown and leaves its record alone.
    assert rlms_events(lab, sid) == [("status", "active")]
    assert lab.state.journal.calls(sid) == {"status": {"active": 2}}


def test_records_off_status_calls_write_nothing(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_RECORD=False)
    sid = lab.start_raw()
    assert lab.status(sid) > 0
    assert multiple(lab, [sid, "unknown"])[sid] > 0
    assert not lab.state.client.exists(lab.state.keys.record_calls(sid))
    assert lab.state.journal.calls(sid) == {}
    # Records turned on later: a session started without one stays without one.
    lab.state.journal.enabled = True
    for _ in range(2):
        assert lab.status(sid) > 0
        assert multiple(lab, [sid])[sid] > 0
    assert not lab.state.client.exists(lab.state.keys.record_calls(sid))
    assert not lab.state.client.exists(lab.state.keys.record_events(sid))


def test_exports_show_the_counted_calls(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    sid = lab.start_raw()
    for _ in range(3):
        lab.status(sid)
    lab.dispose(sid)
    runner = lab.app.test_cli_runner()
    out = runner.invoke(args=["weblab", "export", "--format", "jsonl"])
    session = json.loads(out.stdout)
    assert session["rlms_calls"] == {"status": {"active": 3}, "dispose": {"done": 1}}
    out = runner.invoke(args=["weblab", "export", "--format", "csv"])
    last = out.stdout.strip().splitlines()[-1]
    assert ",rlms_calls," in last and '""active"": 3' in last
    out = runner.invoke(
        args=["weblab", "export", "--format", "xapi", "--home-page", "https://lab.example.org/"]
    )
    statements = json.loads(out.stdout)
    for statement in statements:
        check_statement(statement, "https://lab.example.org/")
    terminated = statements[-1]
    assert terminated["verb"]["display"]["en-US"] == "terminated"
    extensions = terminated["result"]["extensions"]
    assert extensions["https://lab.example.org/xapi/extensions/rlms-calls"] == {
        "status": {"active": 3},
        "dispose": {"done": 1},
    }
