"""``GET <base>/weblab/metrics``: the lab's Prometheus metrics, read from the store at scrape
time.

Every number comes from Redis when Prometheus asks (a custom collector, no counter kept in a
process), so any web process of a lab, on any machine, answers the same. While the store is
unreachable the answer is still a 200 with ``weblab_store_up 0`` and nothing else: the target
stays up and the outage shows. ``prometheus_client`` is an optional dependency
(``pip install prometheus-client``, or the ``metrics`` extra); without it the endpoint
answers 501 saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from flask import Response, request

from ..context import lab_state
from ..runtime.operator import Histogram, MetricsReading
from ..runtime.store_errors import ANY_STORE_ERROR
from .errors import json_error

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from ..app_state import LabState

logger = logging.getLogger("weblab_ext")

#: Every metric the endpoint may report: name → help text. The docs and the Grafana example
#: are checked against it.
METRICS = {
    "weblab_store_up": "1 when the lab's Redis store answered this scrape, else 0.",
    "weblab_sessions_active": "Sessions started and not disposed yet (active, logged out "
    "or being disposed).",
    "weblab_session_starts_total": "Sessions started by the RLMS.",
    "weblab_session_disposals_total": "Sessions disposed (on_dispose ran), by why they ended.",
    "weblab_dispose_seconds": "How long on_dispose took.",
    "weblab_task_queue_depth": "Tasks submitted and waiting for a worker.",
    "weblab_tasks_running": "Tasks running on a worker whose lease is alive.",
    "weblab_tasks_total": "Tasks ended, by how they ended (done, failed, lost).",
    "weblab_task_seconds": "How long tasks ran, from claim to end.",
    "weblab_workers_alive": "Worker processes whose heartbeat is alive.",
    "weblab_cleaner_lag_seconds": "Seconds since the oldest session that is over became due "
    "for disposal (0 when none waits).",
}
#: The metrics of a lab with ``WEBLAB_DEVICES``, one series per device (label ``device``).
DEVICE_METRICS = {
    "weblab_device_in_use": "1 while a session not disposed yet holds the device, else 0.",
    "weblab_device_session_seconds_left": "Seconds left of the slot of the session holding "
    "the device (0 when free).",
    "weblab_device_state": "1 for the state the device is in (label state), 0 for the others.",
    "weblab_device_availability_ratio": "Share of the time since the store first knew the "
    "device spent neither broken nor in maintenance.",
    "weblab_device_repairs_total": "Times the device left the broken state (a reset returned).",
    "weblab_device_repair_seconds_total": "Seconds the device spent broken before each repair, "
    "summed (divide by the repairs for the mean time to repair).",
    "weblab_device_starts_refused_total": "Starts refused because the device was not idle, "
    "by the state it was in.",
}
#: The states ``weblab_device_state`` reports (``unknown``: no record in the store).
_SHOWN_STATES = ("idle", "starting", "in-use", "cleaning", "broken", "maintenance", "unknown")
# Both ways work whether weblab_ext came from an index or from a checkout (its "metrics"
# extra installs nothing but prometheus-client).
_MISSING_CLIENT = (
    "The metrics need prometheus_client: pip install prometheus-client (or "
    "weblab_ext's metrics extra) in the lab's environment."
)


def _histogram(name: str, value: Histogram) -> Metric:
    from prometheus_client.core import HistogramMetricFamily

    buckets = [(repr(float(bound)), float(count)) for bound, count in value.buckets]
    buckets.append(("+Inf", float(value.count)))
    return HistogramMetricFamily(name, METRICS[name], buckets=buckets, sum_value=value.sum)


def _families(reading: MetricsReading | None) -> Iterator[Metric]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    def gauge(name: str, value: float) -> Metric:
        return GaugeMetricFamily(name, METRICS[name], value=value)

    def counter(name: str, label: str, values: dict[str, int]) -> Metric:
        family = CounterMetricFamily(name, METRICS[name], labels=[label])
        for key, value in values.items():
            family.add_metric([key], value)
        return family

    yield gauge("weblab_store_up", 0 if reading is None else 1)
    if reading is None:
        return
    yield gauge("weblab_sessions_active", reading.sessions_active)
    yield CounterMetricFamily(
        "weblab_session_starts_total",
        METRICS["weblab_session_starts_total"],
        value=reading.session_starts,
    )
    yield counter("weblab_session_disposals_total", "reason", reading.disposals)
    yield _histogram("weblab_dispose_seconds", reading.dispose_seconds)
    yield gauge("weblab_task_queue_depth", reading.queue_depth)
    yield gauge("weblab_tasks_running", reading.tasks_running)
    yield counter("weblab_tasks_total", "state", reading.tasks_ended)
    yield _histogram("weblab_task_seconds", reading.task_seconds)
    yield gauge("weblab_workers_alive", reading.workers_alive)
    yield gauge("weblab_cleaner_lag_seconds", reading.cleaner_lag)


def _device_families(state: LabState, reading: MetricsReading) -> Iterator[Metric]:
    from prometheus_client.core import GaugeMetricFamily

    try:
        rows = state.devices.overview()
    except ANY_STORE_ERROR:
        return
    in_use = GaugeMetricFamily(
        "weblab_device_in_use", DEVICE_METRICS["weblab_device_in_use"], labels=["device"]
    )
    left = GaugeMetricFamily(
        "weblab_device_session_seconds_left",
        DEVICE_METRICS["weblab_device_session_seconds_left"],
        labels=["device"],
    )
    for row in rows:
        in_use.add_metric([row.name], 1 if row.session_key else 0)
        left.add_metric([row.name], row.time_left or 0.0)
    yield in_use
    yield left
    yield from _lifecycle_families(state, reading)


def _lifecycle_families(state: LabState, reading: MetricsReading) -> Iterator[Metric]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    try:
        statuses = state.devices.lifecycle.read()
    except ANY_STORE_ERROR:
        return
    now = state.clock()

    def family(kind: Any, name: str, *labels: str) -> Any:
        return kind(name, DEVICE_METRICS[name], labels=["device", *labels])

    states = family(GaugeMetricFamily, "weblab_device_state", "state")
    available = family(GaugeMetricFamily, "weblab_device_availability_ratio")
    repairs = family(CounterMetricFamily, "weblab_device_repairs_total")
    repair_seconds = family(CounterMetricFamily, "weblab_device_repair_seconds_total")
    refused = family(CounterMetricFamily, "weblab_device_starts_refused_total", "state")
    for status in statuses:
        for shown in _SHOWN_STATES:
            states.add_metric([status.name, shown], 1 if status.shown_state == shown else 0)
        ratio = status.availability(now)
        if ratio is not None:
            available.add_metric([status.name], ratio)
        repairs.add_metric([status.name], status.repairs)
        repair_seconds.add_metric([status.name], status.broken_seconds)
    for (device, why), count in sorted(reading.starts_refused.items()):
        refused.add_metric([device, why], count)
    yield from (states, available, repairs, repair_seconds, refused)


class LabCollector:
    """A ``prometheus_client`` collector reading one lab's store at each ``collect()``."""

    def __init__(self, state: LabState) -> None:
        self.state = state

    def read(self) -> MetricsReading | None:
        """The reading now, or ``None`` when the store does not answer."""
        state = self.state
        try:
            return state.operator.metrics()
        except ANY_STORE_ERROR as error:
            logger.warning(
                "Metrics scrape: the store at %s does not answer: %s",
                state.store_label,
                type(error).__name__,
            )
            return None

    def collect(self) -> Iterator[Metric]:
        reading = self.read()
        yield from _families(reading)
        if reading is not None and self.state.devices:
            yield from _device_families(self.state, reading)


def metrics_view() -> Response:
    """The metrics in the text format Prometheus asked for (OpenMetrics or classic)."""
    try:
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import choose_encoder
    except ImportError:
        logger.error(_MISSING_CLIENT)
        return json_error(501, "metrics-unavailable", _MISSING_CLIENT)
    registry = CollectorRegistry(auto_describe=False)
    collector: Any = LabCollector(lab_state())
    registry.register(collector)
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = Response(encode(registry), mimetype=None, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response
