"""Core lab server budgets (DESIGN.md "Budgets"): round trips, cleaner cost, throughput, memory.

Everything runs against a real redis-server on 127.0.0.1 (:func:`common.redis_url`); request
throughput is also reported on the embedded store.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

import redis

from weblab_ext.random_ids import create_token

from .common import (
    AUTH,
    INFO,
    Row,
    checked,
    counting_client,
    create_bulk,
    make_lab,
    median,
    rate,
    redis_url,
    server_commands,
    start_session,
    student,
    template_record,
    trips_per_call,
    verdict,
    wld_start_body,
)

#: Session counts of the cleaner benchmark, and how many of them are due per pass.
CLEANER_SIZES = (1_000, 10_000, 50_000)
CLEANER_DUE = 10
CLEANER_PASSES = 5
#: Seconds each throughput measurement runs.
THROUGHPUT_SECONDS = 2.5
#: Sessions whose sorted-set entries are measured together (per-entry cost = total / this).
MEMORY_SESSIONS = 10_000
MULTIPLE_IDS = 1_000


def run() -> list[Row]:
    """Every core measurement, in table order."""
    # The embedded store warns once per app that it is single-process: expected here.
    logging.getLogger("weblab_ext").setLevel(logging.ERROR)
    url = redis_url()
    return [*round_trip_rows(url), *cleaner_rows(url), *throughput_rows(url), *memory_rows(url)]


# -- 1. round trips ----------------------------------------------------------------------------


def _trip_row(what: str, trips: list[int], budget: int) -> Row:
    shown = str(trips[0]) if min(trips) == max(trips) else f"{min(trips)}-{max(trips)}"
    return Row(what, shown, str(budget), verdict(max(trips) <= budget))


def round_trip_rows(url: str) -> list[Row]:
    """Round trips per request, counted on the client's connections (a pipeline counts 1)."""
    client, counter = counting_client(url)
    app, _ = make_lab(client)
    session_id = start_session(app)
    browser = student(app, session_id)
    anonymous = app.test_client()
    rlms = app.test_client()
    others = [create_token() for _ in range(MULTIPLE_IDS - 1)]
    rows = [
        _trip_row(
            "round trips: requires_active, autopoll, data unchanged",
            trips_per_call(counter, lambda: checked(browser.get("/lab"))),
            1,
        ),
        _trip_row(
            "round trips: requires_active, autopoll, data changed",
            trips_per_call(counter, lambda: checked(browser.get("/lab/change"))),
            2,
        ),
        _trip_row(
            "round trips: request without a session cookie",
            trips_per_call(counter, lambda: checked(anonymous.get("/lab"), 403)),
            0,
        ),
        _trip_row(
            "round trips: RLMS status call",
            trips_per_call(
                counter,
                lambda: checked(rlms.get(f"/weblab/sessions/{session_id}/status", headers=AUTH)),
            ),
            1,
        ),
        _trip_row(
            f"round trips: status/multiple, {MULTIPLE_IDS:,} ids",
            trips_per_call(
                counter,
                lambda: checked(
                    rlms.post(
                        "/weblab/sessions/status/multiple",
                        headers=AUTH,
                        json={"session_ids": [session_id, *others]},
                    )
                ),
            ),
            1,
        ),
    ]
    # With a time limit the view reads in chunks so it can stop between them (SPEC §1.8).
    with_limit = trips_per_call(
        counter,
        lambda: checked(
            rlms.post(
                "/weblab/sessions/status/multiple",
                headers=AUTH,
                json={"session_ids": [session_id, *others], "timeout": 10},
            )
        ),
    )
    rows.append(
        Row(
            f"round trips: status/multiple, {MULTIPLE_IDS:,} ids, timeout=10",
            str(max(with_limit)),
            "-",
            f"{INFO} (chunked to honour the limit)",
        )
    )
    return rows


# -- 2. cleaner ----------------------------------------------------------------------------------


def cleaner_rows(url: str) -> list[Row]:
    """Cost of one ``SessionService.clean_expired()`` pass with N active sessions and k due."""
    client, counter = counting_client(url)
    plain = redis.Redis.from_url(url, decode_responses=True)
    disposed: list[int] = []
    app, _ = make_lab(client, on_dispose=lambda: disposed.append(1))
    state = app.extensions["weblab"]
    # A long inactivity timeout: sessions created early must not turn due while N grows.
    state.timeout = 86_400.0
    template = template_record(app)
    far = time.time() + 86_400
    created = 1  # the template session
    # One unmeasured pass first: it loads the dispose scripts (NOSCRIPT + SCRIPT LOAD).
    create_bulk(client, state, template, CLEANER_DUE, max_date=time.time() - 1)
    state.service.clean_expired()
    results: dict[int, tuple[int, int, int, float]] = {}
    for size in CLEANER_SIZES:
        create_bulk(client, state, template, size - created, max_date=far)
        created = size
        trips, commands, server, seconds = [], [], [], []
        for _ in range(CLEANER_PASSES):
            create_bulk(client, state, template, CLEANER_DUE, max_date=time.time() - 1)
            disposed.clear()
            before = server_commands(plain)
            counter.reset()
            started = time.perf_counter()
            count = state.service.clean_expired()
            seconds.append(time.perf_counter() - started)
            trips.append(counter.round_trips)
            commands.append(counter.commands)
            server.append(server_commands(plain) - before)
            if count != CLEANER_DUE or len(disposed) != CLEANER_DUE:
                raise RuntimeError(f"cleaner disposed {count} sessions, expected {CLEANER_DUE}")
        if state.monitoring.session_counts().total != size:
            raise RuntimeError("the not-due sessions did not all stay active")
        results[size] = (max(trips), max(commands), max(server), median(seconds))
    rows = []
    for size, (trips_n, commands_n, server_n, seconds_n) in results.items():
        rows.append(
            Row(
                f"cleaner pass, N={size:,} active, k={CLEANER_DUE} due",
                f"{trips_n} round trips, {commands_n} cmds ({server_n} in Redis), "
                f"{seconds_n * 1000:.1f} ms",
                "-",
                INFO,
            )
        )
    small, large = results[CLEANER_SIZES[0]], results[CLEANER_SIZES[-1]]
    same = len({(r[0], r[1], r[2]) for r in results.values()}) == 1
    ratio = large[3] / small[3]
    rows.append(
        Row(
            f"cleaner flatness N={CLEANER_SIZES[0]:,} -> {CLEANER_SIZES[-1]:,}",
            f"cmds {'identical' if same else 'differ'}, time x{ratio:.2f}",
            "O(log N + k): same cmds, time < 3x",
            verdict(same and ratio < 3),
        )
    )
    return rows


# -- 3. throughput -------------------------------------------------------------------------------


def throughput_rows(url: str) -> list[Row]:
    """Requests per second through Flask's test client, one thread."""
    rows = []
    for label, store in (("redis", url), ("embedded", f"fakeredis://bench-{uuid.uuid4().hex}")):
        app, _ = make_lab(store)
        session_id = start_session(app)
        browser = student(app, session_id)
        rlms = app.test_client()
        checked(browser.get("/lab"))
        lab = rate(lambda browser=browser: browser.get("/lab"), THROUGHPUT_SECONDS)
        status_path = f"/weblab/sessions/{session_id}/status"
        status = rate(
            lambda rlms=rlms, path=status_path: rlms.get(path, headers=AUTH), THROUGHPUT_SECONDS
        )
        body = wld_start_body()
        start = rate(
            lambda rlms=rlms, body=body: rlms.post("/weblab/sessions/", json=body, headers=AUTH),
            THROUGHPUT_SECONDS,
        )
        # weblablib's throughput is not quoted (only its per-request overhead, compared in
        # bench_speed), so these rows inform.
        rows.append(
            Row(
                f"throughput: requires_active view ({label})",
                f"{lab:,.0f} req/s",
                ">= 2x weblablib",
                f"{INFO} (see lab view vs weblablib)",
            )
        )
        rows.append(Row(f"throughput: RLMS status ({label})", f"{status:,.0f} req/s", "-", INFO))
        rows.append(Row(f"throughput: RLMS start ({label})", f"{start:,.0f} req/s", "-", INFO))
    return rows


# -- 4. memory -----------------------------------------------------------------------------------


def _weblablib_record(
    client: redis.Redis, base: str, session_id: str, raw: dict[str, str], slot: float
) -> tuple[str, str]:
    """Write one session in weblablib's layout (SPEC §10.1); returns its two keys."""
    active = f"{base}:weblab:active:{session_id}"
    marker = f"{base}:weblab:sessions:{session_id}"
    # The same values as our record, laid out as weblablib stores them.
    info = json.loads(raw["info"])
    experiment_id = f"{info['experiment_name']}@{info['category_name']}"
    fields = {
        "max_date": raw["max_date"],
        "last_poll": raw["last_poll"],
        "start_date": repr(info["start_date"]),
        "username": info["username"],
        "username-unique": info["username_unique"],
        "back": info["back"],
        "data": raw["data"],
        "exited": json.dumps(False),
        "locale": json.dumps(info["locale"]),
        "full_name": json.dumps(info["full_name"]),
        "experiment_name": json.dumps(info["experiment_name"]),
        "category_name": json.dumps(info["category_name"]),
        "experiment_id": json.dumps(experiment_id),
        "request_client_data": json.dumps(info["request_client_data"]),
        "request_server_data": json.dumps(info["request_server_data"]),
    }
    pipe = client.pipeline(transaction=False)
    pipe.hset(active, mapping=fields)
    pipe.expire(active, 30 + int(slot))
    pipe.set(marker, repr(time.time()), ex=330 + int(slot))
    pipe.execute()
    return active, marker


def _usage(client: redis.Redis, key: str) -> int:
    return int(client.memory_usage(key, samples=0) or 0)


def memory_rows(url: str) -> list[Row]:
    """Bytes per active session: ours (hash + two index entries) against weblablib's layout."""
    client = redis.Redis.from_url(url, decode_responses=True)
    app, _ = make_lab(url)
    state = app.extensions["weblab"]
    session_id = start_session(app)
    raw = dict(client.hgetall(state.keys.session(session_id)))
    ours_hash = _usage(client, state.keys.session(session_id))
    slot = float(raw["max_date"]) - float(json.loads(raw["info"])["start_date"])

    # Index cost per session: the two sorted sets of a fresh lab holding MEMORY_SESSIONS.
    bulk_app, _ = make_lab(url)
    bulk = bulk_app.extensions["weblab"]
    template = state.service.load(session_id)
    used_before = int(client.info("memory")["used_memory"])
    create_bulk(client, bulk, template, MEMORY_SESSIONS, max_date=float(raw["max_date"]))
    ours_used = (int(client.info("memory")["used_memory"]) - used_before) / MEMORY_SESSIONS
    indexes = [bulk.keys.sessions_by_deadline(), bulk.keys.sessions_by_poll()]
    ours_index = sum(_usage(client, key) for key in indexes) / MEMORY_SESSIONS
    ours = ours_hash + ours_index

    base = state.settings.redis_base
    active, marker = _weblablib_record(client, base, session_id, raw, slot)
    theirs_hash, theirs_marker = _usage(client, active), _usage(client, marker)
    theirs = theirs_hash + theirs_marker
    other_base = f"bench-{uuid.uuid4().hex[:12]}"
    used_before = int(client.info("memory")["used_memory"])
    for _ in range(MEMORY_SESSIONS):
        _weblablib_record(client, other_base, create_token(), raw, slot)
    theirs_used = (int(client.info("memory")["used_memory"]) - used_before) / MEMORY_SESSIONS

    return [
        Row(
            "memory/session: ours (MEMORY USAGE)",
            f"{ours:,.0f} B = hash {ours_hash:,} + 2 index entries {ours_index:,.0f}",
            "<= weblablib",
            verdict(ours <= theirs),
        ),
        Row(
            "memory/session: weblablib layout (as weblablib 0.5.9 writes it)",
            f"{theirs:,} B = hash {theirs_hash:,} + marker {theirs_marker:,}",
            "-",
            INFO,
        ),
        Row(
            f"memory/session: used_memory delta over {MEMORY_SESSIONS:,}",
            f"ours {ours_used:,.0f} B, weblablib layout {theirs_used:,.0f} B",
            "-",
            f"{INFO} (cross-check)",
        ),
    ]
