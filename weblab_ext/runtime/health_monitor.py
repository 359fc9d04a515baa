"""Health checks in the background (``WEBLAB_HEALTH_CHECK_INTERVAL``), stored for the URL.

Runtime layer, no Flask. The store ping and the lab's ``@weblab.health_check`` functions run
on a schedule, on each ``idle`` device (a device in use is busy, not broken: its checks wait),
and their result is stored: the health URL then costs one store read whatever the request
rate, and never starts hardware work. :data:`FAILURES_TO_BROKEN` failed runs in a row make an
idle device ``broken``; a passing run returns a device broken by its checks to ``idle``. A
check registered ``while_busy`` also runs while a session holds the device: its result is
stored and its failures count, but only an idle device becomes ``broken``.

One process runs each round (a short lock in the store), so with several processes the
checks still run once per interval.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

from ..states import DeviceState
from .device_lifecycle import DeviceLifecycle
from .health import HealthReport
from .loops import Loop

logger = logging.getLogger("weblab_ext")

#: Failed background runs in a row that make an idle device ``broken``.
FAILURES_TO_BROKEN = 3
#: The states of a device a session holds.
_BUSY = (DeviceState.STARTING, DeviceState.IN_USE, DeviceState.CLEANING)
#: How the reason of a device broken by its checks begins.
HEALTH_REASON = "health checks failed"

#: Runs the store ping and the lab's checks of one device (``None``: a lab without devices);
#: with ``True`` (the device is in use) only the checks registered ``while_busy``.
RunChecks = Callable[[str | None, bool], HealthReport]


class HealthMonitor:
    """Runs the health checks of one lab in the background and stores their results.

    :param lifecycle: the lab's device states (and the store of results).
    :param run_checks: runs the checks now, in the app (the Flask layer's).
    :param interval: returns ``WEBLAB_HEALTH_CHECK_INTERVAL`` (0: off).
    """

    def __init__(
        self,
        lifecycle: DeviceLifecycle,
        run_checks: RunChecks,
        *,
        interval: Callable[[], float],
    ) -> None:
        self.lifecycle = lifecycle
        self._run_checks = run_checks
        self.interval = interval
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    @property
    def enabled(self) -> bool:
        return self.interval() > 0

    def run_once(self, *, claim: bool = True) -> int:
        """One round: check every idle device (or the lab), store the results; returns how
        many were checked.

        :param claim: take the round's lock first (another process ran it this interval:
            nothing to do).
        """
        states, now = self.lifecycle.states, self.lifecycle.now()
        interval = max(self.interval(), 0.05)
        if claim and not states.claim_health_round(self._owner, interval * 0.9):
            return 0
        if not self.lifecycle.names:
            report = self._run_checks(None, False)
            states.store_health("", report.success, report.message, now=now)
            return 1
        checked = 0
        for status in self.lifecycle.read():
            by_checks = status.state == DeviceState.BROKEN and status.reason.startswith(
                HEALTH_REASON
            )
            busy = status.state in _BUSY
            if busy and not self.lifecycle.callbacks.busy_checks:
                continue  # in use: the checks wait unless one asked to run while busy
            if status.state != DeviceState.IDLE and not by_checks and not busy:
                continue  # broken for another reason, or no record: a reset's business
            report = self._run_checks(status.name, busy)
            checked += 1
            failures = states.store_health(
                status.name, report.success, report.message, now=self.lifecycle.now()
            )
            if not report.success and failures >= FAILURES_TO_BROKEN and not by_checks:
                self.lifecycle.mark_broken(
                    status.name,
                    f"{HEALTH_REASON} {failures} times: {report.message}",
                    # Never a device a student holds: its failures count, and break it once
                    # idle (a reset of a held device could hand it to a second student).
                    leaving=[DeviceState.IDLE],
                )
            elif report.success and by_checks:
                states.transition(
                    status.name,
                    DeviceState.IDLE,
                    now=self.lifecycle.now(),
                    leaving=[DeviceState.BROKEN],
                    note={"by": "health"},
                )
                logger.warning("Device %s passes its health checks again: it is idle", status.name)
        return checked


class HealthLoop(Loop):
    """The background thread of a :class:`HealthMonitor`."""

    def __init__(self, monitor: HealthMonitor, stop: threading.Event, *, store_label: str) -> None:
        super().__init__("weblab-health", stop, store_label=store_label)
        self.monitor = monitor

    def tick(self, now: float) -> float:
        self.monitor.run_once()
        return max(self.monitor.interval(), 0.05)
