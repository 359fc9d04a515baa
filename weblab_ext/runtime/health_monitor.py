"""Health checks in the background (``WEBLAB_HEALTH_CHECK_INTERVAL``), stored for the URL.

Runtime layer, no Flask. The store ping and the lab's ``@weblab.health_check`` functions run
in rounds, one per interval, on each ``idle`` device and each one the store has no record of
(a device in use is busy, not broken: its checks wait), and their result is stored: the
health URL then costs one store read whatever the request rate, and never starts hardware
work. :data:`FAILURES_TO_BROKEN` failed runs in a row make an idle device ``broken``; a
passing run returns a device broken by its checks to ``idle``. A check registered
``while_busy`` also runs while a session holds the device: its result is stored and its
failures count, but only an idle device becomes ``broken``.

One process runs each round (a short lock in the store), so with several processes the
checks still run once per interval. The background thread of the cleaner (and ``flask weblab
loop``) runs them on schedule; where none runs (``WEBLAB_NO_THREAD``, a web process without
a worker, tests), :meth:`HealthMonitor.answer` starts a round in a daemon thread of its own
when the stored result is missing or stale: the same lock keeps it to one round per
interval whatever the request rate, and a caller never waits for it, except when there is no
result at all: then it waits (bounded) for the first one rather than answer "not checked
yet". A device with no result whose interval's round already ran (it was in use then) gets
a first check of its own, under a lock of its own.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from ..states import DeviceState
from ..store.device_states import DeviceStatus
from .device_lifecycle import DeviceLifecycle, HealthState
from .health import HealthReport
from .loops import Loop
from .shared_reads import SharedReads

logger = logging.getLogger("weblab_ext")

#: Failed background runs in a row that make an idle device ``broken``.
FAILURES_TO_BROKEN = 3
#: The states of a device a session holds.
_BUSY = (DeviceState.STARTING, DeviceState.IN_USE, DeviceState.CLEANING)
#: How the reason of a device broken by its checks begins.
HEALTH_REASON = "health checks failed"
#: Seconds the first caller may wait beyond ``WEBLAB_HEALTH_CHECK_TIMEOUT`` for the lab's
#: first result (the store round trips of the round, a thread to start).
FIRST_WAIT_MARGIN = 0.5
#: Seconds between two reads of the store while that first result comes from another process.
POLL_SECONDS = 0.05
#: What the health URL answers for a device (or lab) no round has checked yet.
NOT_CHECKED = "not checked yet"

#: Runs the store ping and the lab's checks of one device (``None``: a lab without devices);
#: with ``True`` (the device is in use) only the checks registered ``while_busy``.
RunChecks = Callable[[str | None, bool], HealthReport]


@dataclasses.dataclass(frozen=True)
class HealthAnswer:
    """What the health URL answers: LabDiscoveryEngine's ``success`` and ``message``, then
    the state shown (``maintenance`` wins), since when, and when the result was checked
    (``None``: never)."""

    success: bool
    message: str
    state: str
    since: float | None
    checked_at: float | None


class HealthMonitor:
    """Runs the health checks of one lab in the background and stores their results.

    :param lifecycle: the lab's device states (and the store of results).
    :param run_checks: runs the checks now, in the app (the Flask layer's).
    :param interval: returns ``WEBLAB_HEALTH_CHECK_INTERVAL`` (seconds, > 0).
    :param timeout: returns ``WEBLAB_HEALTH_CHECK_TIMEOUT`` (seconds one device's checks
        may take).
    """

    def __init__(
        self,
        lifecycle: DeviceLifecycle,
        run_checks: RunChecks,
        *,
        interval: Callable[[], float],
        timeout: Callable[[], float] = lambda: 5.0,
    ) -> None:
        self.lifecycle = lifecycle
        self._run_checks = run_checks
        self.interval = interval
        self.timeout = timeout
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        #: Held while this process runs a round (rounds of one process never overlap).
        self._round = threading.Lock()
        #: Notified whenever this process stores a result or ends a round.
        self._progress = threading.Condition()
        #: The devices whose first check (:meth:`kick_first`) runs in this process.
        self._first: set[str] = set()
        #: Health calls arriving together share a read (each one started after them).
        self._reads: SharedReads[HealthState] = SharedReads()

    def stale_after(self) -> float:
        """Age in seconds past which a stored result is stale: two intervals (a round may
        have just been missed) plus the time a round's checks may take."""
        return 2 * self.period() + self.timeout()

    def keep(self) -> float:
        """Seconds a stored result is kept after its check (every key has a TTL): a day, or
        ten stale ages if longer. One that expired is missing: the next call waits for a
        round again."""
        return max(86400.0, 10 * self.stale_after())

    def period(self) -> float:
        """Seconds between rounds (the interval, at least 50 ms)."""
        return max(self.interval(), 0.05)

    def checks(self, status: DeviceStatus | None) -> bool:
        """Whether a round checks this device (``None``: the lab without devices)."""
        if status is None:
            return True
        if status.state in (DeviceState.IDLE, None) or _broken_by_checks(status):
            return True  # no record: nobody holds it as far as the store knows
        return status.state in _BUSY and bool(self.lifecycle.callbacks.busy_checks)

    def run_once(self, *, claim: bool = True) -> int:
        """One round: check every idle device (or the lab), store the results; returns how
        many were checked.

        :param claim: take the round's lock first (another process ran it this interval:
            nothing to do). Without it (tests, the harness), a round this process runs
            already is waited for, then this one runs.
        """
        if not self._round.acquire(blocking=not claim):
            return 0  # this process is running one already
        try:
            states = self.lifecycle.states
            if claim and not states.claim_health_round(self._owner, self.period() * 0.9):
                return 0
            checked = self._round_now()
            states.end_health_round(self._owner)
            return checked
        finally:
            self._round.release()
            self._notify()

    def _round_now(self) -> int:
        states = self.lifecycle.states
        if not self.lifecycle.names:
            if "" in self._first:
                return 0  # its first check runs now
            report = self._run_checks(None, False)
            states.store_health(
                "", report.success, report.message, now=self.lifecycle.now(), ttl=self.keep()
            )
            return 1
        checked = 0
        for status in self.lifecycle.read():
            if not self.checks(status):
                continue  # in use, or broken for another reason: a reset's business
            if status.name in self._first:
                continue  # its first check runs now (a second would find it "still running")
            by_checks = _broken_by_checks(status)
            busy = status.state in _BUSY
            report = self._run_checks(status.name, busy)
            checked += 1
            failures = states.store_health(
                status.name,
                report.success,
                report.message,
                now=self.lifecycle.now(),
                ttl=self.keep(),
            )
            self._notify()
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

    def _notify(self) -> None:
        with self._progress:
            self._progress.notify_all()

    # -- what the health URL answers ------------------------------------------------------

    def kick(self) -> bool:
        """Start a round in a daemon thread if no process ran one this interval (the round's
        lock in the store); returns whether this call started one. Never waits for it."""
        if not self._round.acquire(blocking=False):
            return False  # this process is running one
        try:
            claimed = self.lifecycle.states.claim_health_round(self._owner, self.period() * 0.9)
        except BaseException:
            self._round.release()
            raise
        if not claimed:
            self._round.release()
            return False
        thread = threading.Thread(target=self._kicked, name="weblab-health-round", daemon=True)
        thread.start()
        return True

    def _kicked(self) -> None:
        try:  # the round's lock of this process was taken by kick(): released here
            self._round_now()
            self.lifecycle.states.end_health_round(self._owner)
        except Exception:  # the store or the lab failed: the next stale read starts another
            logger.warning("weblab-health: a round of health checks failed", exc_info=True)
        finally:
            self._round.release()
            self._notify()

    def kick_first(self, device: str | None) -> bool:
        """Check ``device`` (``None``: the lab without devices) alone, in a daemon thread: it
        has no stored result and this interval's round ran already (it was in use then).
        One process runs it (a lock in the store, held for an interval)."""
        subject = device or ""
        with self._progress:
            if subject in self._first:
                return False
            self._first.add(subject)
        try:
            claimed = self.lifecycle.states.claim_health_first(
                subject, self._owner, self.period() * 0.9
            )
        except BaseException:
            self._forget_first(subject)
            raise
        if not claimed:
            self._forget_first(subject)
            return False
        thread = threading.Thread(
            target=self._first_check, args=(device,), name="weblab-health-first", daemon=True
        )
        thread.start()
        return True

    def _first_check(self, device: str | None) -> None:
        try:
            view = self.lifecycle.health_state(device)
            status = view.status
            if view.stored is None and self.checks(status):  # (a round may have checked it)
                busy = status is not None and status.state in _BUSY
                report = self._run_checks(device, busy)
                self.lifecycle.states.store_health(
                    device or "",
                    report.success,
                    report.message,
                    now=self.lifecycle.now(),
                    ttl=self.keep(),
                )
        except Exception:
            logger.warning("weblab-health: a first health check failed", exc_info=True)
        finally:
            self._forget_first(device or "")

    def _forget_first(self, subject: str) -> None:
        with self._progress:
            self._first.discard(subject)
            self._progress.notify_all()

    def wait_for_round(self, timeout: float) -> bool:
        """Wait until no round runs in this process (tests, benchmarks); returns whether
        none does."""
        if not self._round.acquire(timeout=timeout):
            return False
        self._round.release()
        return True

    def answer(
        self, device: str | None, *, problem: str | None = None, wait: bool = True
    ) -> HealthAnswer:
        """What the health URL answers for ``device`` (``None``: the lab without devices),
        from the stored result: one store read. A missing or stale result starts a round in
        the background (see :meth:`kick`); only a missing one is waited for, at most the
        checks' timeout and a little, so that the lab's first answer is a real one.

        :param problem: why this process must not serve students (its deployment).
        :param wait: wait for a missing result (``False``: answer "not checked yet").
        :raises: the store's errors (the caller answers them).
        """
        view = self._reads.read(device, lambda: self.lifecycle.health_state(device))
        if self.checks(view.status):
            stored = view.stored
            now = self.lifecycle.now()
            stale = stored is None or now - stored.checked_at > self.stale_after()
            # No result though this interval's round ran (the device was in use then).
            if stale and not self.kick() and stored is None and self._round_done():
                self.kick_first(device)
            if stored is None and wait and view.problem is None and problem is None:
                view = self._wait_for_result(device, view)
        return _answer(view, problem)

    def _round_done(self) -> bool:
        return self.lifecycle.states.health_round_done()

    def _wait_for_result(self, device: str | None, view: HealthState) -> HealthState:
        deadline = time.monotonic() + self.timeout() + FIRST_WAIT_MARGIN
        while view.stored is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            with self._progress:  # woken by a round of this process, else polls the store
                self._progress.wait(min(POLL_SECONDS, left))
            view = self.lifecycle.health_state(device)
        return view


def _broken_by_checks(status: DeviceStatus) -> bool:
    return status.state == DeviceState.BROKEN and status.reason.startswith(HEALTH_REASON)


def _answer(view: HealthState, problem: str | None) -> HealthAnswer:
    stored = view.stored
    checked_at = stored.checked_at if stored is not None else None

    def reply(success: bool, message: str) -> HealthAnswer:
        return HealthAnswer(success, message, view.state, view.since, checked_at)

    if view.problem is not None:  # maintenance, broken
        return reply(False, view.problem)
    if problem is not None:
        return reply(False, problem)
    if view.state in _BUSY:
        # Busy, not broken: its checks wait for it to be idle again.
        return reply(True, f"busy: {view.state}")
    if stored is None:
        return reply(False, NOT_CHECKED)
    return reply(stored.success, stored.message)


class HealthLoop(Loop):
    """The background thread of a :class:`HealthMonitor`."""

    def __init__(self, monitor: HealthMonitor, stop: threading.Event, *, store_label: str) -> None:
        super().__init__("weblab-health", stop, store_label=store_label)
        self.monitor = monitor

    def tick(self, now: float) -> float:
        self.monitor.run_once()
        return self.monitor.period()
