"""Session record budgets (``WEBLAB_RECORD``, on by default), on the real redis-server.

* a ``requires_active`` view that records nothing: 1 round trip, records on;
* ``weblab.record()`` in a view: at most one more command (one round trip);
* Redis memory of one recorded session of 50 events: at most 8 KB (its list, and its share
  of the index);
* export of 10,000 recorded sessions as JSON Lines: at most 10 s, in constant memory (the
  peak of a 10,000-session export within twice a 1,000-session one's);
* RLMS status calls counted in the records: still 1 round trip per status call (the first,
  which appends the outcome, too) and per status/multiple call of 1,000 recorded ids; their
  time with records on and off; a session polled every 5 s for 2 hours keeps its end.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import statistics
import time
import tracemalloc
from typing import Any

import redis

from weblab_ext import requires_active
from weblab_ext.runtime.record_export import exported_sessions, write_jsonl

from .common import (
    AUTH,
    INFO,
    Row,
    checked,
    counting_client,
    create_bulk,
    make_lab,
    redis_url,
    start_session,
    student,
    template_record,
    verdict,
    wld_start_body,
)

SESSIONS = 10_000
EXPORT_SECONDS = 10.0
MEMORY_BUDGET = 8 * 1024


def run() -> list[Row]:
    """The record rows, in table order."""
    logging.getLogger("weblab_ext").setLevel(logging.ERROR)
    url = redis_url()
    return [
        *request_rows(url),
        memory_row(url),
        *export_rows(url),
        *status_trip_rows(url),
        *status_time_rows(url),
        polling_row(url),
    ]


def request_rows(url: str) -> list[Row]:
    """Round trips and commands of a view that records nothing, and of one that records."""
    client, counter = counting_client(url)
    app, weblab = make_lab(client)

    @app.route("/lab/record")
    @requires_active
    def lab_record() -> str:
        weblab.record("command", led="on", value=3)
        return "recorded"

    browser = student(app, start_session(app))
    plain = trips_of(counter, lambda: browser.get("/lab"))
    recording = trips_of(counter, lambda: browser.get("/lab/record"))
    extra_trips = max(t for t, _ in recording) - max(t for t, _ in plain)
    extra_commands = max(c for _, c in recording) - max(c for _, c in plain)
    return [
        Row(
            "requires_active round trips, records on, nothing recorded",
            f"{max(t for t, _ in plain)} (of {[t for t, _ in plain]})",
            "1",
            verdict(max(t for t, _ in plain) == 1),
        ),
        Row(
            "weblab.record() in a requires_active view: extra commands / round trips",
            f"{extra_commands} / {extra_trips}",
            "<= 1 pipelined command",
            verdict(extra_commands <= 1 and extra_trips <= 1),
        ),
    ]


def trips_of(counter: Any, action: Any, repeat: int = 5) -> list[tuple[int, int]]:
    """``(round trips, commands)`` of each of ``repeat`` calls, after one not counted."""
    action()
    result = []
    for _ in range(repeat):
        counter.reset()
        action()
        result.append((counter.round_trips, counter.commands))
    return result


def memory_row(url: str) -> Row:
    """Redis memory of a session whose record holds 50 events (46 of the lab's own), its
    RLMS call counters included."""
    client, _ = counting_client(url)
    app, weblab = make_lab(client)

    @app.route("/lab/step/<int:step>")
    @requires_active
    def step(step: int) -> str:
        weblab.record("command", step=step, value="on")
        return "ok"

    session_id = start_session(app)
    browser = student(app, session_id)
    for index in range(46):
        browser.get(f"/lab/step/{index}")
    app.test_client().post(
        f"/weblab/sessions/{session_id}",
        json={"action": "delete"},
        headers=AUTH,
    )
    state = app.extensions["weblab"]
    events, _ = state.journal.timeline(session_id)
    used = sum(
        int(client.memory_usage(key, samples=0) or 0)
        for key in (state.keys.record_events(session_id), state.keys.record_calls(session_id))
    )
    # The session's share of the index: the sorted set's memory over its members.
    index_key = state.keys.records_by_start()
    index_share = int(client.memory_usage(index_key, samples=0) or 0) / client.zcard(index_key)
    total = used + index_share
    return Row(
        f"Redis memory per recorded session ({len(events)} events)",
        f"{total / 1024:.1f} KB",
        "<= 8 KB",
        verdict(len(events) == 50 and total <= MEMORY_BUDGET),
    )


class _Sink(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def export_rows(url: str) -> list[Row]:
    """Time and peak memory of exporting 10,000 recorded sessions (JSON Lines)."""
    client, _ = counting_client(url)
    app, _ = make_lab(client)
    state = app.extensions["weblab"]
    store = state.journal.store
    base = time.time() - 3 * 86_400
    pipe = client.pipeline(transaction=False)
    for index in range(SESSIONS):
        sid = f"bench{index:05d}" + "x" * 33
        at = base + index
        events = [
            {"t": at, "e": "start", "user": f"u-{index % 300:024d}", "course": f"c{index % 7}"},
            {"t": at + 1, "e": "socket_connect"},
            {"t": at + 1, "e": "launch", "outcome": "enter"},
            {"t": at + 2, "e": "lab", "name": "command", "fields": {"n": index}},
            {"t": at + 60, "e": "end", "reason": "slot_end", "used": 60.0},
        ]
        for number, event in enumerate(events):
            store.append(
                sid,
                json.dumps(event),
                max_events=500,
                ttl=86_400 * 7,
                start=at if number == 0 else None,
                pipe=pipe,
            )
        if index % 500 == 499:
            pipe.execute()
    pipe.execute()
    journal = state.journal

    def export(until: float) -> int:
        return write_jsonl(exported_sessions(journal, until=until), _Sink())

    started = time.perf_counter()
    count = export(base + SESSIONS)
    took = time.perf_counter() - started
    peaks = []
    for until in (base + SESSIONS / 10, base + SESSIONS):
        tracemalloc.start()
        export(until)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return [
        Row(
            f"export of {count:,} sessions (JSON Lines)",
            f"{took:.2f} s",
            f"<= {EXPORT_SECONDS:g} s",
            verdict(count == SESSIONS and took <= EXPORT_SECONDS),
        ),
        Row(
            "export peak memory, 1,000 vs 10,000 sessions",
            f"{peaks[0] / 1024:.0f} KB vs {peaks[1] / 1024:.0f} KB",
            "constant (x2 at most)",
            verdict(peaks[1] <= 2 * peaks[0] + 256 * 1024),
        ),
    ]


# -- RLMS calls counted in the records -----------------------------------------------------------

MULTIPLE_IDS = 1_000


def recorded_bulk(client: Any, app: Any, count: int) -> list[str]:
    """``count`` active sessions (last polls a millisecond apart), each with a record."""
    state = app.extensions["weblab"]
    template = template_record(app)
    ids = create_bulk(client, state, template, count, max_date=time.time() + 3600, spread=0.001)
    store, keys = state.journal.store, state.keys
    pipe = client.pipeline(transaction=False)
    now = time.time()
    for index, sid in enumerate(ids):
        record = dataclasses.replace(template, session_id=sid)
        start = json.dumps({"t": now, "e": "start", "device": record.device or None})
        store._append(
            keys=[
                keys.record_events(sid),
                keys.record_dropped(sid),
                keys.records_by_start(),
                keys.record_calls(sid),
            ],
            args=[start, 500, 86_400, "0", repr(now), repr(now - 86_400), sid],
            client=pipe,
        )
        if index % 1000 == 999:
            pipe.execute()
    pipe.execute()
    return ids


def status_trip_rows(url: str) -> list[Row]:
    """Round trips of status calls whose outcome each record counts."""
    client, counter = counting_client(url)
    app, _ = make_lab(client)
    rlms = app.test_client()
    warm = start_session(app)
    checked(rlms.get(f"/weblab/sessions/{warm}/status", headers=AUTH))  # loads the script
    first = start_session(app)

    def status() -> Any:
        return checked(rlms.get(f"/weblab/sessions/{first}/status", headers=AUTH))

    counter.reset()
    status()  # the first call of a session appends its outcome
    trips = [counter.round_trips, *(t for t, _ in trips_of(counter, status))]
    ids = recorded_bulk(client, app, MULTIPLE_IDS)
    body = {"session_ids": ids}
    multiple = trips_of(
        counter,
        lambda: checked(rlms.post("/weblab/sessions/status/multiple", headers=AUTH, json=body)),
    )
    counted = app.extensions["weblab"].journal.calls(ids[0])
    return [
        Row(
            "RLMS status call, records on: round trips (first call, then later ones)",
            f"{max(trips)} (of {trips})",
            "1",
            verdict(max(trips) == 1),
        ),
        Row(
            f"status/multiple, {MULTIPLE_IDS:,} recorded ids: round trips",
            f"{max(t for t, _ in multiple)} (each record counted {counted})",
            "1",
            verdict(max(t for t, _ in multiple) == 1 and counted == {"status": {"active": 6}}),
        ),
    ]


def status_time_rows(url: str) -> list[Row]:
    """status/multiple of recorded sessions with records on and off, calls interleaved so
    that the load of the machine weighs on both alike."""
    client = redis.Redis.from_url(url, decode_responses=True)
    app, _ = make_lab(url)
    journal = app.extensions["weblab"].journal
    ids = recorded_bulk(client, app, 10_000)
    rlms = app.test_client()
    rows = [single_status_row(app, rlms, ids[0])]
    for count, budget in ((1_000, 5.0), (10_000, 50.0)):
        body = json.dumps({"session_ids": ids[:count]}).encode()

        def call(body: bytes = body) -> float:
            started = time.perf_counter()
            checked(
                rlms.post(
                    "/weblab/sessions/status/multiple",
                    data=body,
                    headers=AUTH,
                    content_type="application/json",
                )
            )
            return time.perf_counter() - started

        times: dict[bool, list[float]] = {True: [], False: []}
        for record in (True, False):
            journal.enabled = record
            call()
        for _ in range(40 if count <= 1_000 else 12):
            for record in (True, False):
                journal.enabled = record
                times[record].append(call())
        journal.enabled = True
        on, off = (statistics.median(times[flag]) * 1000 for flag in (True, False))
        rows.append(
            Row(
                f"status/multiple, {count:,} recorded ids, p50 in-process: records on (off)",
                f"{on:.1f} ms ({off:.1f} ms, x{on / off:.2f})",
                f"{INFO} (budget of the unrecorded row: <= {budget:g} ms)",
                INFO,
            )
        )
    client.close()
    return rows


def single_status_row(app: Any, rlms: Any, session_id: str) -> Row:
    """One RLMS status call of a recorded session, records on and off, interleaved."""
    journal = app.extensions["weblab"].journal
    path = f"/weblab/sessions/{session_id}/status"
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(300):
        for record in (True, False):
            journal.enabled = record
            started = time.perf_counter()
            checked(rlms.get(path, headers=AUTH))
            times[record].append(time.perf_counter() - started)
    journal.enabled = True
    on, off = (statistics.median(times[flag]) * 1000 for flag in (True, False))
    return Row(
        "RLMS status call of a recorded session, p50 in-process: records on (off)",
        f"{on:.3f} ms ({off:.3f} ms, x{on / off:.2f})",
        "-",
        INFO,
    )


def polling_row(url: str) -> Row:
    """A session polled every 5 s for 2 hours (1,440 status calls), then disposed."""
    client, _ = counting_client(url)
    app, _ = make_lab(client)
    state = app.extensions["weblab"]
    start = time.time()
    body = wld_start_body(slot_length=3 * 3600)
    sid = start_session(app, body)
    service = state.service
    for step in range(1, 1441):
        service.poll(sid, now=start + 5 * step)
        service.status(sid, now=start + 5 * step)
    service.clock = lambda: start + 7300
    checked(
        app.test_client().post(f"/weblab/sessions/{sid}", json={"action": "delete"}, headers=AUTH)
    )
    events, dropped = state.journal.timeline(sid)
    kinds = [event["e"] for event in events]
    calls = state.journal.calls(sid)
    return Row(
        "session polled every 5 s for 2 h: events in its record, status calls counted",
        f"{len(events)} events {kinds}, dropped {dropped}, counted {calls.get('status')}",
        "end kept, every call counted",
        verdict(kinds[-2:] == ["end", "rlms"] and calls.get("status") == {"active": 1440}),
    )
