"""Device pool budgets (``WEBLAB_DEVICES``), in-process on the real redis-server.

* a ``requires_active`` view on a 100-device lab: 1 round trip, overhead within 10 % of a
  one-device lab's;
* ``status/multiple`` (1,000 ids) and the cleaner pass (1,000 active sessions, none due):
  flat from 1 to 1,000 devices (same round trips and Redis commands, time within 25 %);
* 100 devices with one session each, all due at once: disposed by one worker's cleaner
  pass in at most 1 s (``on_dispose`` taking 10 ms, as in the mass-expiry budget).
"""

from __future__ import annotations

import dataclasses
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
    counting_client,
    create_bulk,
    make_lab,
    redis_url,
    server_commands,
    start_session,
    student,
    template_record,
    trips_per_call,
    verdict,
)

#: Alternating request pairs (1 device, 100 devices) timed for the overhead comparison.
PAIRS = 4_000
#: Sessions read by status/multiple and kept active during the cleaner passes.
SESSIONS = 1_000
DEVICE_COUNTS = (1, 1_000)
#: The pool of the mass-expiry row, and the on_dispose time it assumes.
DUE_DEVICES = 100
DISPOSE_SECONDS = 0.01
#: How much slower the 1,000-device case may be and still count as flat.
FLAT_RATIO = 1.25


def run() -> list[Row]:
    """The device rows, in table order."""
    logging.getLogger("weblab_ext").setLevel(logging.ERROR)
    url = redis_url()
    return [*request_rows(url), *flat_rows(url), *mass_expiry_rows(url)]


def _names(count: int) -> list[str]:
    return [f"dev-{index}" for index in range(count)]


def _timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _plain(app: Flask, browser: Any) -> Any:
    plain = Flask("plain_twin")
    plain.config.update(SECRET_KEY=app.config["SECRET_KEY"], SERVER_NAME=app.config["SERVER_NAME"])

    @plain.route("/lab")
    def lab_view() -> str:
        return "lab of john.smith"

    client = plain.test_client()
    cookie = browser.get_cookie("session", domain="localhost")
    client.set_cookie("session", cookie.value, domain="localhost")
    return client


def request_rows(url: str) -> list[Row]:
    """Round trips and p50 overhead of a lab view on a 1-device and a 100-device lab."""
    client, counter = counting_client(url)
    app, _ = make_lab(client, devices=_names(100))
    counted = student(app, start_session(app, prefix="/devices/dev-99"))
    trips = trips_per_call(counter, lambda: counted.get("/lab"))
    browsers = {}
    for count in (1, 100):
        names = _names(count)
        app, _ = make_lab(url, devices=names)
        browsers[count] = student(app, start_session(app, prefix=f"/devices/{names[-1]}"))
    plain = _plain(app, browsers[100])
    for _ in range(500):
        for browser in (*browsers.values(), plain):
            browser.get("/lab")
    # Alternating, so that the load of a shared machine hits the three alike.
    times: dict[Any, list[float]] = {1: [], 100: [], "plain": []}
    for _ in range(PAIRS):
        times["plain"].append(_timed(lambda: plain.get("/lab")))
        times[1].append(_timed(lambda: browsers[1].get("/lab")))
        times[100].append(_timed(lambda: browsers[100].get("/lab")))
    p50 = {key: statistics.median(values) * 1000 for key, values in times.items()}
    one, hundred = p50[1] - p50["plain"], p50[100] - p50["plain"]
    return [
        Row(
            "requires_active round trips, 100-device lab",
            f"{max(trips)} (of {trips})",
            "1",
            verdict(max(trips) == 1),
        ),
        Row(
            "requires_active overhead, 100 devices vs 1, p50",
            f"{hundred:.3f} ms vs {one:.3f} ms (x{hundred / one:.2f})",
            "within 10 %",
            verdict(hundred <= one * 1.10),
        ),
    ]


def _pool_with_sessions(url: str, devices: int) -> tuple[Flask, list[str]]:
    """A lab with ``devices`` devices and :data:`SESSIONS` active sessions spread over them."""
    client = redis.Redis.from_url(url, decode_responses=True)
    names = _names(devices)
    app, _ = make_lab(url, devices=names)
    state = app.extensions["weblab"]
    state.timeout = 86_400.0
    template = template_record(app) if devices == 1 else None
    if template is None:
        one, _ = make_lab(url)
        template = template_record(one)
    ids: list[str] = []
    far = time.time() + 86_400
    for index, name in enumerate(names):
        share = SESSIONS // devices + (1 if index < SESSIONS % devices else 0)
        on_device = dataclasses.replace(template, device=name)
        ids += create_bulk(client, state, on_device, share, max_date=far, spread=0.001)
    client.close()
    return app, ids


def flat_rows(url: str) -> list[Row]:
    """status/multiple and an idle cleaner pass with 1 and with 1,000 devices, timed in
    alternation (the load of a shared machine then hits both alike)."""
    plain = redis.Redis.from_url(url, decode_responses=True)
    status: dict[int, Callable[[], None]] = {}
    clean: dict[int, Callable[[], Any]] = {}
    commands: dict[tuple[str, int], int] = {}
    for devices in DEVICE_COUNTS:
        app, ids = _pool_with_sessions(url, devices)
        rlms = app.test_client()
        body = json.dumps({"session_ids": ids}).encode()

        def call(rlms: Any = rlms, body: bytes = body) -> None:
            reply = rlms.post(
                "/devices/dev-0/weblab/sessions/status/multiple",
                data=body,
                headers=AUTH,
                content_type="application/json",
            )
            assert reply.status_code == 200, reply.status_code

        status[devices] = call
        clean[devices] = app.extensions["weblab"].service.clean_expired
        for name, action in (("status", call), ("clean", clean[devices])):
            action()  # loads the scripts
            before = server_commands(plain)
            action()
            commands[(name, devices)] = server_commands(plain) - before
    rows = []
    for name, what, actions, repeat in (
        ("status", "status/multiple, 1,000 ids", status, 60),
        ("clean", "cleaner pass, 1,000 active, none due", clean, 600),
    ):
        times: dict[int, list[float]] = {count: [] for count in DEVICE_COUNTS}
        for _ in range(repeat):
            for count in DEVICE_COUNTS:
                times[count].append(_timed(actions[count]))
        small, large = (statistics.median(times[count]) * 1000 for count in DEVICE_COUNTS)
        cmds = [commands[(name, count)] for count in DEVICE_COUNTS]
        ratio = large / small
        rows.append(
            Row(
                f"{what}: 1 -> 1,000 devices",
                f"{small:.2f} -> {large:.2f} ms (x{ratio:.2f}), Redis cmds {cmds[0]} -> {cmds[1]}",
                f"flat: same cmds, time < x{FLAT_RATIO}",
                verdict(cmds[0] == cmds[1] and ratio < FLAT_RATIO),
            )
        )
    plain.close()
    return rows


def mass_expiry_rows(url: str) -> list[Row]:
    """100 devices x 1 session, all due at once, disposed by one cleaner pass."""
    disposed: list[str] = []

    def on_dispose() -> None:
        time.sleep(DISPOSE_SECONDS)
        disposed.append("x")

    names = _names(DUE_DEVICES)
    app, _ = make_lab(url, devices=names, on_dispose=on_dispose)
    for name in names:
        start_session(app, prefix=f"/devices/{name}")
    service = app.extensions["weblab"].service
    started = time.perf_counter()
    count = service.clean_expired(now=time.time() + 86_400)
    seconds = time.perf_counter() - started
    ok = count == DUE_DEVICES and len(disposed) == DUE_DEVICES
    return [
        Row(
            f"{DUE_DEVICES} devices x 1 session due at once, on_dispose 10 ms, one worker",
            f"{count} disposed in {seconds:.2f} s",
            "all <= 1 s",
            verdict(ok and seconds <= 1.0),
        )
    ]
