"""Request speed budgets: the overhead of ``requires_active`` over a plain Flask view, and
``status/multiple`` with 1,000 and 10,000 ids, in-process on the real redis-server.

weblablib is never installed here (clean room), so its numbers are the ones quoted in the issue
that set these budgets, measured on this machine: 1.16 ms of overhead per lab view, 453 ms for
``status/multiple`` with 1,000 ids. They appear in the table's reference column.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

import redis
from flask import Flask

from .common import (
    AUTH,
    Row,
    create_bulk,
    make_lab,
    redis_url,
    start_session,
    student,
    template_record,
    verdict,
)

#: weblablib's numbers as quoted in the issue (same machine): lab-view overhead (ms) and
#: status/multiple with 1,000 ids (ms).
WEBLABLIB_OVERHEAD_MS = 1.16
WEBLABLIB_MULTIPLE_1K_MS = 453.0
#: Budgets.
OVERHEAD_BUDGET_MS = 0.25
MULTIPLE_BUDGETS_MS = {1_000: 5.0, 10_000: 50.0}
#: Request pairs (plain, lab) timed for the overhead, alternating so that drift on a shared
#: machine hits both alike.
PAIRS = 6_000


def run() -> list[Row]:
    """The speed rows, in table order."""
    logging.getLogger("weblab_ext").setLevel(logging.ERROR)
    url = redis_url()
    return [*overhead_rows(url), *multiple_rows(url)]


def _plain_twin(app: Flask, browser: Any) -> Any:
    """A client of a plain Flask app that carries the same signed cookie and answers the
    same text: what the lab view would cost without weblab_ext."""
    plain = Flask("plain_twin")
    plain.config.update(SECRET_KEY=app.config["SECRET_KEY"], SERVER_NAME=app.config["SERVER_NAME"])

    @plain.route("/lab")
    def lab_view() -> str:
        return "lab of john.smith"

    client = plain.test_client()
    cookie = browser.get_cookie("session", domain="localhost")
    client.set_cookie("session", cookie.value, domain="localhost")
    return client


def _timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def overhead_rows(url: str) -> list[Row]:
    """p50 of a ``requires_active`` view (autopoll on, one round trip) minus p50 of the same
    view in a plain Flask app, both through Flask's test client."""
    app, _ = make_lab(url)
    browser = student(app, start_session(app))
    plain = _plain_twin(app, browser)
    for _ in range(500):  # warm up: scripts loaded, connections open, caches filled
        plain.get("/lab")
        browser.get("/lab")
    lab_times, plain_times = [], []
    for _ in range(PAIRS):
        plain_times.append(_timed(lambda: plain.get("/lab")))
        lab_times.append(_timed(lambda: browser.get("/lab")))
    lab_p50 = statistics.median(lab_times) * 1000
    plain_p50 = statistics.median(plain_times) * 1000
    overhead = lab_p50 - plain_p50
    return [
        Row(
            "requires_active overhead over plain Flask, p50 in-process",
            f"{overhead:.3f} ms (lab {lab_p50:.3f} - plain {plain_p50:.3f})",
            f"<= {OVERHEAD_BUDGET_MS} ms",
            verdict(overhead <= OVERHEAD_BUDGET_MS),
            f"{WEBLABLIB_OVERHEAD_MS} ms",
        ),
        Row(
            "lab view vs weblablib (time per request, p50)",
            f"{lab_p50:.3f} ms",
            "weblablib / 2",
            verdict(2 * lab_p50 <= plain_p50 + WEBLABLIB_OVERHEAD_MS),
            f"~{plain_p50 + WEBLABLIB_OVERHEAD_MS:.3f} ms (plain + {WEBLABLIB_OVERHEAD_MS})",
        ),
    ]


def multiple_rows(url: str) -> list[Row]:
    """``POST /weblab/sessions/status/multiple`` with N ids of real active sessions."""
    client = redis.Redis.from_url(url, decode_responses=True)
    app, _ = make_lab(url)
    state = app.extensions["weblab"]
    template = template_record(app)
    # Every record different (last polls a millisecond apart): no two ids share an answer.
    ids = create_bulk(
        client, state, template, max(MULTIPLE_BUDGETS_MS), max_date=time.time() + 3600, spread=0.001
    )
    rlms = app.test_client()
    rows = []
    for count, budget in MULTIPLE_BUDGETS_MS.items():
        # Encoded once, as the RLMS sends it: encoding it is the client's time, not the lab's.
        body = json.dumps({"session_ids": ids[:count]}).encode()

        def call(body: bytes = body) -> None:
            reply = rlms.post(
                "/weblab/sessions/status/multiple",
                data=body,
                headers=AUTH,
                content_type="application/json",
            )
            assert reply.status_code == 200, reply.status_code

        call()
        repeat = 60 if count <= 1_000 else 25
        p50 = statistics.median(_timed(call) for _ in range(repeat)) * 1000
        reference = f"{WEBLABLIB_MULTIPLE_1K_MS:.0f} ms" if count == 1_000 else "-"
        rows.append(
            Row(
                f"status/multiple, {count:,} active ids, p50 in-process",
                f"{p50:.1f} ms",
                f"<= {budget:.0f} ms",
                verdict(p50 <= budget),
                reference,
            )
        )
    client.close()
    return rows
