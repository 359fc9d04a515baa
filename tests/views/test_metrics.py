"""``GET <base>/weblab/metrics``: Prometheus metrics read from the store at scrape time.

What an operator relies on: the numbers are right (sessions, disposals by reason, tasks by
end, the cleaner's lag), they survive a store outage as ``weblab_store_up 0``, and counting
them costs one round trip on a session's start and disposal and none on a student's request.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.admin import ADMIN, ADMIN_AUTH, parse_metrics, sample, scrape
from tests.support.lab import AUTH, Lab, json_of
from tests.support.paths import EXAMPLES
from tests.support.round_trips import count_round_trips
from weblab_ext.context import session_context
from weblab_ext.runtime.counters import LifecycleCounters
from weblab_ext.store.monitoring import COUNTERS_TTL, DISPOSE_REASONS, TASK_END_STATES
from weblab_ext.views.metrics import METRICS


@pytest.fixture
def lab(make_lab: Callable[..., Lab]) -> Lab:
    return make_lab(**ADMIN)


def families(samples: dict[Any, float]) -> set[str]:
    """Metric names in a scrape (histogram and counter suffixes removed)."""
    names = set()
    for name, _ in samples:
        for suffix in ("_bucket", "_count", "_sum", "_created"):
            if name.endswith(suffix) and name[: -len(suffix)] in METRICS:
                name = name[: -len(suffix)]
        names.add(name)
    return names


def test_a_scrape_after_one_start_shows_the_session_and_every_metric(lab: Lab) -> None:
    lab.start_raw()
    samples = scrape(lab.app.test_client())
    assert sample(samples, "weblab_sessions_active") == 1
    assert sample(samples, "weblab_session_starts_total") == 1
    assert sample(samples, "weblab_store_up") == 1
    assert families(samples) == set(METRICS)
    for reason in DISPOSE_REASONS:  # every series exists from the start, at 0
        assert sample(samples, "weblab_session_disposals_total", reason=reason) == 0
    for state in TASK_END_STATES:
        assert sample(samples, "weblab_tasks_total", state=state) == 0
    assert sample(samples, "weblab_dispose_seconds_count") == 0
    assert sample(samples, "weblab_dispose_seconds_bucket", le="+Inf") == 0
    assert sample(samples, "weblab_task_queue_depth") == 0
    assert sample(samples, "weblab_tasks_running") == 0
    assert sample(samples, "weblab_workers_alive") == 0
    assert sample(samples, "weblab_cleaner_lag_seconds") == 0


def test_openmetrics_when_prometheus_asks_for_it(lab: Lab) -> None:
    lab.start_raw()
    reply = lab.app.test_client().get(
        "/weblab/metrics",
        headers={**ADMIN_AUTH, "Accept": "application/openmetrics-text; version=1.0.0"},
    )
    assert reply.status_code == 200
    assert reply.content_type.startswith("application/openmetrics-text")
    text = reply.get_data(as_text=True)
    assert text.endswith("# EOF\n")
    assert "weblab_session_starts_total 1.0" in text
    assert reply.headers["Cache-Control"] == "no-store"


def test_disposals_are_counted_by_why_the_session_ended(lab: Lab) -> None:
    t0 = time.time()
    clock = [t0]
    lab.state.clock = lambda: clock[0]
    lab.state.timeout = 15
    slow = []

    def on_dispose() -> None:
        from weblab_ext import weblab_user

        lab.disposed.append(weblab_user.session_id)
        if weblab_user.session_id in slow:
            time.sleep(0.3)

    lab.weblab.callbacks.on_dispose = on_dispose
    # The RLMS ends a session that is not over: "rlms"; its on_dispose takes 0.3 s.
    slow.append(lab.start_raw())
    assert lab.dispose(slow[0])["finished"]
    # The student logs out, the cleaner disposes: "exited".
    exited = lab.start_raw()
    lab.browser(exited).get(f"/callback/{exited}/logout")
    # A 10 s slot is over at t0 + 12 (silent for 12 s only): "slot_end".
    lab.start_raw(server={"priority.queue.slot.length": "10"})
    clock[0] = t0 + 12
    with lab.app.app_context():
        assert lab.weblab.clean_expired_users() == 2
    # Silent for 18 s > WEBLAB_TIMEOUT, slot not over: "timeout", even if the RLMS disposes.
    silent = lab.start_raw()
    clock[0] = t0 + 30
    assert lab.dispose(silent)["finished"]
    # on_start raises: disposed at once, "start_failed".
    lab.weblab.callbacks.on_start = lambda client, server: 1 / 0
    reply = lab.raw_rlms.post("/weblab/sessions/", json=lab.start_body(), headers=AUTH)
    assert reply.status_code == 500

    samples = scrape(lab.app.test_client())
    assert {
        reason: sample(samples, "weblab_session_disposals_total", reason=reason)
        for reason in DISPOSE_REASONS
    } == {"exited": 1, "slot_end": 1, "timeout": 1, "rlms": 1, "admin": 0, "start_failed": 1}
    assert sample(samples, "weblab_session_starts_total") == 5
    assert sample(samples, "weblab_sessions_active") == 0
    assert len(lab.disposed) == 5
    # The histogram: five observations, the slow one between 0.25 and 0.5 s.
    assert sample(samples, "weblab_dispose_seconds_count") == 5
    assert sample(samples, "weblab_dispose_seconds_bucket", le="0.01") == 4
    assert sample(samples, "weblab_dispose_seconds_bucket", le="0.25") == 4
    assert sample(samples, "weblab_dispose_seconds_bucket", le="0.5") == 5
    assert sample(samples, "weblab_dispose_seconds_bucket", le="+Inf") == 5
    assert 0.3 <= sample(samples, "weblab_dispose_seconds_sum") < 1.0


def test_tasks_are_counted_by_how_they_ended(lab: Lab) -> None:
    @lab.weblab.task
    def quick() -> int:
        return 1

    @lab.weblab.task
    def broken() -> None:
        raise RuntimeError("the hardware is off")

    @lab.weblab.task(unique="global")
    def lonely() -> None: ...

    session_id = lab.start_raw()
    client = lab.app.test_client()
    with lab.app.app_context(), session_context(session_id):
        quick.delay()
        broken.delay()
        lonely.delay()
        lonely.delay()  # a duplicate of a unique task: failed at once, never queued
    assert sample(scrape(client), "weblab_task_queue_depth") == 3
    with lab.app.app_context():
        assert lab.weblab.run_tasks() == 3
    samples = scrape(client)
    assert sample(samples, "weblab_task_queue_depth") == 0
    assert {
        state: sample(samples, "weblab_tasks_total", state=state) for state in TASK_END_STATES
    } == {"done": 2, "failed": 2, "lost": 0}
    assert sample(samples, "weblab_task_seconds_count") == 3  # the three that ran
    assert sample(samples, "weblab_task_seconds_bucket", le="0.1") == 3


def test_a_task_whose_worker_is_gone_counts_as_lost(lab: Lab) -> None:
    @lab.weblab.task
    def measure() -> None: ...

    with lab.app.app_context(), session_context(lab.start_raw()):
        task = measure.delay()
    engine = lab.state.tasks
    engine.store.pop_from_queue(engine.worker_id)
    engine.store.claim(
        task.task_id, engine.worker_id, now=engine.clock(), lease=1, ttl=600, duplicate_error={}
    )
    client = lab.app.test_client()
    assert sample(scrape(client), "weblab_tasks_running") == 1
    engine.clock = lambda: time.time() + 5  # the lease lapsed: the worker is gone
    engine.sweep()
    samples = scrape(client)
    assert sample(samples, "weblab_tasks_total", state="lost") == 1
    assert sample(samples, "weblab_tasks_running") == 0


def test_workers_alive(lab: Lab) -> None:
    lab.state.tasks.heartbeat_tick(threads=2)
    assert sample(scrape(lab.app.test_client()), "weblab_workers_alive") == 1


@pytest.mark.parametrize("why", ["slot_end", "timeout", "exited"])
def test_cleaner_lag_is_the_age_of_the_oldest_due_session(lab: Lab, why: str) -> None:
    t0 = time.time()
    clock = [t0]
    lab.state.clock = lambda: clock[0]
    lab.state.timeout = 15
    client = lab.app.test_client()
    session_id = lab.start_raw(server={"priority.queue.slot.length": "100"})
    lab.start_raw()  # a session that is fine all along
    assert sample(scrape(client), "weblab_cleaner_lag_seconds") == 0
    if why == "slot_end":
        lab.state.timeout = 0
        clock[0], expected = t0 + 130, 30  # the slot ended 30 s ago (plus what start took)
    elif why == "timeout":
        clock[0], expected = t0 + 50, 35  # silent since t0, due since t0 + 15
    else:
        lab.browser(session_id).get(f"/callback/{session_id}/logout")
        lab.state.timeout = 0
        clock[0], expected = t0 + 20, 20  # counted from its last poll
    lag = sample(scrape(client), "weblab_cleaner_lag_seconds")
    assert expected - 2 <= lag <= expected + 0.5, lag
    with lab.app.app_context():
        lab.weblab.clean_expired_users()
    assert sample(scrape(client), "weblab_cleaner_lag_seconds") == 0


@pytest.mark.parametrize("store_url", ["redis"], indirect=True)
def test_a_store_outage_answers_store_up_0(
    make_lab: Callable[..., Lab], caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once the probe is closed
    lab = make_lab(WEBLAB_REDIS_URL=f"redis://:hunter2-hunter2@127.0.0.1:{port}/0", **ADMIN)
    reply = lab.app.test_client().get("/weblab/metrics", headers=ADMIN_AUTH)
    assert reply.status_code == 200
    assert parse_metrics(reply.get_data(as_text=True)) == {("weblab_store_up", ()): 0.0}
    assert "hunter2-hunter2" not in caplog.text
    assert f"redis://:***@127.0.0.1:{port}/0" in caplog.text


def test_without_prometheus_client_the_endpoint_says_what_to_install(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails
    reply = lab.app.test_client().get("/weblab/metrics", headers=ADMIN_AUTH)
    assert reply.status_code == 501
    assert json_of(reply)["code"] == "metrics-unavailable"
    assert "pip install prometheus-client" in json_of(reply)["message"]


def test_the_counters_key_expires(lab: Lab) -> None:
    lab.dispose(lab.start_raw())
    key = lab.state.keys.metrics_counters()
    assert key in lab.state.keys.all_families().values()
    assert 0 < lab.state.client.ttl(key) <= COUNTERS_TTL


# -- what counting costs ----------------------------------------------------------------------


def test_counting_costs_one_round_trip_on_start_and_dispose_none_on_requests(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab.dispose(lab.start_raw())  # loads every script once
    # Every thread: a disposal runs on_dispose and counts in a thread of its own.
    trips = count_round_trips(monkeypatch, this_thread_only=False)
    counting = lab.state.service.counters
    with_counters = {"start": trips.of(lab.start_raw)}
    session_id = lab.start_raw()
    with_counters["dispose"] = trips.of(lambda: lab.dispose(session_id))
    lab.state.service.counters = LifecycleCounters()  # counts nothing
    without = {"start": trips.of(lab.start_raw)}
    session_id = lab.start_raw()
    without["dispose"] = trips.of(lambda: lab.dispose(session_id))
    lab.state.service.counters = counting
    assert with_counters == {"start": without["start"] + 1, "dispose": without["dispose"] + 1}, (
        with_counters,
        without,
    )
    student = lab.browser(lab.start_raw())
    student.get("/lab")
    assert trips.of(lambda: student.get("/lab")) == 1  # the hot path: TOUCH only


# -- the Grafana example ----------------------------------------------------------------------

DASHBOARD = EXAMPLES / "grafana" / "weblab_dashboard.json"


def test_the_grafana_dashboard_uses_only_metrics_that_exist_and_shows_them_all() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    used = set()
    for expression in expressions:
        for name in re.findall(r"\bweblab_\w+", expression):
            used.add(re.sub(r"_(bucket|count|sum)$", "", name))
    assert used <= set(METRICS), used - set(METRICS)
    assert used == set(METRICS)  # a panel for every metric
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
