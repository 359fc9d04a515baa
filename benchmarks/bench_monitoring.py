"""What the operator's view costs: round trips the metrics counters add to a session's start
and disposal (and none to a lab request), and the latency of a metrics scrape and of the
admin page with many sessions in the lab.

Everything runs against a real redis-server on 127.0.0.1 (:func:`common.redis_url`).
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from typing import Any

import redis
from flask import Flask

from weblab_ext.runtime.counters import LifecycleCounters
from weblab_ext.runtime.lifecycle_log import session_id_hash

from .common import (
    AUTH,
    INFO,
    Counter,
    Row,
    checked,
    counting_client,
    create_bulk,
    make_lab,
    median,
    redis_url,
    start_session,
    student,
    template_record,
    trips_per_call,
    verdict,
)

#: Undisposed sessions in the lab while scrapes are timed.
SIZES = (1_000, 10_000, 50_000)
#: Of them, logged out and not disposed yet (the cleaner lag reads at most 100 of those).
LOGGED_OUT = 100
SCRAPES = 20
PAGES = 10
ADMIN_USER, ADMIN_PASSWORD = "operator", "bench-admin"
ADMIN_AUTH = {
    "Authorization": "Basic " + base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
}


def run() -> list[Row]:
    """Every monitoring measurement, in table order."""
    logging.getLogger("weblab_ext").setLevel(logging.ERROR)
    url = redis_url()
    return [*round_trip_rows(url), *latency_rows(url)]


def admin_lab(client: redis.Redis) -> Flask:
    """The benchmark lab, with the metrics and the admin page turned on."""
    app, weblab = make_lab(client)
    app.config.update(WEBLAB_ADMIN_USERNAME=ADMIN_USER, WEBLAB_ADMIN_PASSWORD=ADMIN_PASSWORD)
    weblab.reinstall(app)
    return app


def _dispose(app: Flask, pending: list[str]) -> Callable[[], None]:
    rlms = app.test_client()

    def dispose() -> None:
        reply = checked(
            rlms.post(f"/weblab/sessions/{pending.pop()}", json={"action": "delete"}, headers=AUTH)
        )
        if not reply.json["finished"]:
            raise RuntimeError("dispose did not finish")

    return dispose


def _start_and_dispose(app: Flask, counter: Counter) -> tuple[int, int]:
    start = max(trips_per_call(counter, lambda: start_session(app)))
    pending = [start_session(app) for _ in range(6)]
    dispose = max(trips_per_call(counter, _dispose(app, pending)))
    return start, dispose


# -- 1. round trips ---------------------------------------------------------------------------


def round_trip_rows(url: str) -> list[Row]:
    """Round trips of start and dispose with the counters on and off; a lab request."""
    client, counter = counting_client(url)
    app = admin_lab(client)
    service = app.extensions["weblab"].service
    counted = _start_and_dispose(app, counter)
    counting, service.counters = service.counters, LifecycleCounters()  # counts nothing
    bare = _start_and_dispose(app, counter)
    service.counters = counting
    browser = student(app, start_session(app))
    view = trips_per_call(counter, lambda: checked(browser.get("/lab")))
    scraper = app.test_client()
    scrape = trips_per_call(
        counter, lambda: checked(scraper.get("/weblab/metrics", headers=ADMIN_AUTH))
    )
    rows = []
    for what, (on, off) in (
        ("RLMS start", (counted[0], bare[0])),
        ("RLMS dispose", (counted[1], bare[1])),
    ):
        rows.append(
            Row(
                f"round trips: {what}, metrics counters on (off)",
                f"{on} ({off})",
                "+1",
                verdict(on - off <= 1),
            )
        )
    rows.append(
        Row(
            "round trips: requires_active with the metrics on",
            str(max(view)),
            "1",
            verdict(max(view) <= 1),
        )
    )
    rows.append(
        Row("round trips: one metrics scrape", str(max(scrape)), "1", verdict(max(scrape) <= 1))
    )
    return rows


# -- 2. latency with many sessions ------------------------------------------------------------


def _timed(action: Callable[[], Any], times: int) -> float:
    action()  # warm: scripts loaded, connection open
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return median(seconds)


def latency_rows(url: str) -> list[Row]:
    """Median latency of a scrape and of the admin page (through Flask's test client) as the
    number of undisposed sessions grows; the cost of ending the last-listed of them."""
    client, counter = counting_client(url)
    app = admin_lab(client)
    state = app.extensions["weblab"]
    state.timeout = 86_400.0  # nothing turns due while sessions are created
    template = template_record(app)
    far = time.time() + 86_400
    logged_out = create_bulk(client, state, template, LOGGED_OUT, max_date=far)
    for session_id in logged_out:
        state.sessions.logout(session_id)
    created = LOGGED_OUT + 1
    web = app.test_client()
    results: dict[int, tuple[float, float, int]] = {}
    for size in SIZES:
        if size > created:
            create_bulk(client, state, template, size - created, max_date=far)
            created = size
        scrape = _timed(lambda: checked(web.get("/weblab/metrics", headers=ADMIN_AUTH)), SCRAPES)
        page = _timed(lambda: checked(web.get("/weblab/admin/", headers=ADMIN_AUTH)), PAGES)
        counter.reset()
        checked(web.get("/weblab/metrics", headers=ADMIN_AUTH))
        results[size] = (scrape, page, counter.round_trips)
    rows = [
        Row(
            f"metrics scrape, N={size:,} sessions ({LOGGED_OUT} logged out)",
            f"{scrape * 1000:.1f} ms, {trips} round trip",
            "-",
            INFO,
        )
        for size, (scrape, _, trips) in results.items()
    ]
    rows += [
        Row(f"admin page, N={size:,} sessions (lists 100)", f"{page * 1000:.1f} ms", "-", INFO)
        for size, (_, page, _) in results.items()
    ]
    small, large = results[min(results)], results[max(results)]
    rows.append(
        Row(
            f"scrape flatness N={min(results):,} -> {max(results):,}",
            f"round trips {small[2]} -> {large[2]}, time x{large[0] / small[0]:.2f}",
            "same round trips, time < 3x",
            verdict(small[2] == large[2] and large[0] / small[0] < 3),
        )
    )
    rows.append(_end_last_row(app, state))
    return rows


def _end_last_row(app: Flask, state: Any) -> Row:
    """Ending, from the admin page, the session its id lookup finds last (every id hashed)."""
    import re

    total = state.monitoring.session_counts().total
    last = state.monitoring.undisposed_ids(total - 1, 1)[0]
    web = app.test_client()
    html = checked(web.get("/weblab/admin/", headers=ADMIN_AUTH)).get_data(as_text=True)
    found = re.search(r'name="token" value="([^"]+)"', html)
    assert found is not None
    started = time.perf_counter()
    checked(
        web.post(
            "/weblab/admin/sessions/end",
            headers={**ADMIN_AUTH, "Origin": "http://localhost:5000"},
            # confirmed, as the page's confirmation step posts it
            data={"session": session_id_hash(last), "token": found.group(1), "confirm": "yes"},
        ),
        303,
    )
    seconds = time.perf_counter() - started
    if state.sessions.load(last).state != "disposed":
        raise RuntimeError("the admin page did not end the session")
    return Row(
        f"admin page: end the last of N={total:,} sessions",
        f"{seconds * 1000:.1f} ms",
        "-",
        f"{INFO} (its id found by hashing each id)",
    )
