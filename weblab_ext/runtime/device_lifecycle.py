"""The life of a declared device: the hand-over rule, resets and maintenance.

Runtime layer, no Flask. A device is offered to the next student only from ``idle``, and
reaches ``idle`` only after a clean-up that finished (``on_dispose`` returned and every task
of the session ended) or a reset that returned (``@weblab.on_reset``). Every change is an
atomic script of the store (:mod:`weblab_ext.store.device_states`), so every process sees
the same state.

``on_reset(device)`` runs:

* when the lab first sees a device with no record (first start, or the store lost it);
* after a clean-up that left the device ``broken``, retried with backoff by the cleaner;
* when an operator asks (``flask weblab devices reset NAME``, the admin page).

A lab without ``on_reset``: a device with no record is taken for ``idle`` with an ERROR log
line (there is nothing to run that could make it safe, and refusing every start forever would
only hide the problem); a ``broken`` device stays broken until an operator resets it (the
operator's word is the reset).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ..states import DeviceState
from ..store.device_states import DeviceStates, DeviceStatus, StoredHealth
from ..store.records import SessionRecord
from .callbacks import LabCallbacks
from .journal import SessionJournal
from .lifecycle_log import session_id_hash

logger = logging.getLogger("weblab_ext")

#: Runs lab code (``on_reset``) inside the app's context.
AppScope = Callable[[Callable[[], Any]], Any]

#: The first pause before a broken device's reset is retried; it doubles up to the cap.
RESET_BACKOFF_FIRST = 5.0
RESET_BACKOFF_CAP = 300.0
#: Seconds one process holds the right to reset a device (an ``on_reset`` should be quick).
RESET_LOCK_SECONDS = 600.0

#: What students and the health URL are told when an operator gives no message.
DEFAULT_MAINTENANCE = "The lab is under maintenance"

#: States a reset may leave: an ``in-use`` or ``starting`` device has a student on it.
_RESETTABLE = ("-", DeviceState.IDLE, DeviceState.CLEANING, DeviceState.BROKEN)


class ResetRefused(Exception):
    """A reset that could not run (the device is in use, or another process resets it)."""


class DeviceLifecycle:
    """The states of one lab's declared devices.

    :param states: the store's device states.
    :param callbacks: the lab's callbacks (``on_reset`` is read at call time).
    :param names: the declared devices.
    :param clock: the sessions' wall clock (read at call time).
    :param app_scope: runs lab code in the app's context.
    :param journal: the session records, told of the device states a session goes through.
    """

    def __init__(
        self,
        states: DeviceStates,
        callbacks: LabCallbacks,
        names: Sequence[str],
        *,
        clock: Callable[[], float],
        app_scope: AppScope = lambda call: call(),
        journal: SessionJournal | None = None,
    ) -> None:
        self.journal = journal or SessionJournal(None)
        self.states = states
        self.callbacks = callbacks
        self.names = tuple(names)
        self._clock = clock
        self._app_scope = app_scope
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._backoff: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._clock()

    def read(self, names: Sequence[str] | None = None) -> list[DeviceStatus]:
        """The stored status of each device (default: all). One round trip."""
        return self.states.read(self.names if names is None else names)

    # -- sessions ---------------------------------------------------------------------------

    def first_seen(self, device: str) -> None:
        """A start found ``device`` with no record: reset it (or, without ``on_reset``, take
        it for idle and say so loudly). The caller tries the start again."""
        if self.callbacks.on_reset is None:
            logger.error(
                "Device %s has no record in the store (first start, or the store lost it) and "
                "the lab registers no @weblab.on_reset: taking it for idle without a reset",
                device,
            )
            self.states.transition(
                device,
                DeviceState.IDLE,
                now=self.now(),
                reason="",
                leaving=["-"],
                note={"by": "no-record"},
            )
            return
        # Reset straight from "no record" (a failed reset leaves it broken): bringing a
        # device into service is not a repair.
        with contextlib.suppress(ResetRefused):  # another process resets it
            self.reset(device, by="no-record")

    def in_use(self, device: str, session_id: str) -> None:
        """``on_start`` returned: the device is in use by ``session_id``."""
        self.states.transition(
            device,
            DeviceState.IN_USE,
            now=self.now(),
            leaving=[DeviceState.STARTING],
            session=session_id,
        )
        self.journal.device_state(session_id, device, DeviceState.IN_USE)

    def cleaning(self, record: SessionRecord) -> None:
        """The clean-up of the device's session begins."""
        self.states.transition(
            record.device,
            DeviceState.CLEANING,
            now=self.now(),
            leaving=[DeviceState.STARTING, DeviceState.IN_USE],
            session=record.session_id,
        )
        self.journal.device_state(record.session_id, record.device, DeviceState.CLEANING)

    def settled(self, record: SessionRecord, problem: str | None, reason: str) -> None:
        """The clean-up of the device's session ended: ``idle`` when clean, else ``broken``."""
        if problem is None and reason == "start_failed":
            problem = "on_start raised"
        leaving = [DeviceState.CLEANING, DeviceState.STARTING, DeviceState.IN_USE]
        if problem is None:
            self.states.transition(
                record.device,
                DeviceState.IDLE,
                now=self.now(),
                leaving=leaving,
                session=record.session_id,
            )
            self.journal.device_state(record.session_id, record.device, DeviceState.IDLE)
            return
        self.mark_broken(record.device, problem, session=record.session_id, leaving=leaving)
        self.journal.device_state(record.session_id, record.device, DeviceState.BROKEN)

    def hold_for_task(self, device: str, session_id: str, task: str) -> bool:
        """A task of ``session_id`` still runs on ``device`` in this process, but its record
        or lease is gone (the store lost it, or this worker was paused past its lease): keep
        the device from being offered, as ``cleaning``, until the task ends. Only a device
        with no record or ``idle`` is taken (one a new session holds is not: that is logged).

        :returns: whether the device is held for the task now.
        """
        if device not in self.names:
            return False
        reason = f"task {task} of a session the store lost still runs on it"
        moved, before = self.states.transition(
            device,
            DeviceState.CLEANING,
            now=self.now(),
            reason=reason,
            leaving=["-", DeviceState.IDLE],
            new_session=session_id,
            note={"by": "lost-task"},
        )
        (logger.error if moved else logger.warning)(
            "Task %s of session %s still runs on device %s after its record or lease was lost: %s",
            task,
            session_id_hash(session_id),
            device,
            "the device is held (cleaning) until the task ends"
            if moved
            else f"the device is {before or 'unknown'}, left as it is",
        )
        return moved

    def task_ended(self, device: str, session_id: str) -> None:
        """The task :meth:`hold_for_task` held ``device`` for ended: the session's clean-up
        never ran, so the device is ``broken`` until a reset returns (the cleaner retries)."""
        self.mark_broken(
            device,
            "a task of a session the store lost ran on it: reset needed",
            session=session_id,
            leaving=[DeviceState.CLEANING],
        )

    def abandoned(self, record: SessionRecord) -> None:
        """The process that cleaned the device up vanished: nobody knows what it holds."""
        self.mark_broken(
            record.device, "clean-up abandoned (its process died)", session=record.session_id
        )

    def mark_broken(
        self,
        device: str,
        reason: str,
        *,
        session: str | None = None,
        leaving: Sequence[str] | None = None,
    ) -> bool:
        """Make ``device`` ``broken`` with ``reason``; a reset is retried by the cleaner."""
        moved, _ = self.states.transition(
            device,
            DeviceState.BROKEN,
            now=self.now(),
            reason=reason,
            leaving=leaving,
            session=session,
        )
        if moved:
            logger.error(
                "Device %s is broken (%s)%s: no session starts there until a reset returns",
                device,
                reason,
                f"; session {session_id_hash(session)}" if session else "",
            )
            with self._lock:
                self._backoff.pop(device, None)
        return moved

    # -- resets -----------------------------------------------------------------------------

    def reset(self, device: str, *, by: str = "operator") -> bool:
        """Run ``on_reset(device)``; ``idle`` if it returned, ``broken`` if it raised.

        Without ``on_reset`` only an operator's reset (``by="operator"``) makes it idle.

        :returns: whether the device is ``idle`` now.
        :raises ResetRefused: the device is in use, or another process resets it.
        """
        if device not in self.names:
            raise KeyError(device)
        [status] = self.states.read([device])
        if status.state not in (None, *_RESETTABLE):
            raise ResetRefused(
                f"device {device} is {status.state}: end its session before resetting it"
            )
        if by != "operator" and status.state not in (None, DeviceState.BROKEN):
            # The cleaner's and a start's resets repair; a device taken since they looked
            # (idle again, or held for a task still running) is not theirs to reset.
            raise ResetRefused(f"device {device} is {status.state}: not reset ({by})")
        seen = [status.state or "-"]
        on_reset = self.callbacks.on_reset
        if on_reset is None and by != "operator":
            return False
        if not self.states.lock_reset(device, self._owner, RESET_LOCK_SECONDS):
            raise ResetRefused(f"device {device} is being reset by another process")
        try:
            if on_reset is not None:
                try:
                    self._app_scope(lambda: on_reset(device))
                except Exception as error:
                    logger.exception("on_reset(%r) raised: the device stays broken", device)
                    self.states.transition(
                        device,
                        DeviceState.BROKEN,
                        now=self.now(),
                        reason=f"on_reset raised {type(error).__name__}",
                        leaving=seen,
                        note={"by": by},
                    )
                    return False
            # Only from the state it was reset in: a device taken meanwhile (a worker holds
            # it for a task that lost its record) is not made idle under that task.
            moved, _ = self.states.transition(
                device, DeviceState.IDLE, now=self.now(), leaving=seen, note={"by": by}
            )
        finally:
            self.states.unlock_reset(device, self._owner)
        if moved:
            logger.warning("Device %s was reset (%s): it is idle", device, by)
            with self._lock:
                self._backoff.pop(device, None)
        return moved

    def retry_broken(self, *, monotonic: float) -> int:
        """The cleaner's pass: reset the broken devices whose next try is due (backoff
        doubling from :data:`RESET_BACKOFF_FIRST` to :data:`RESET_BACKOFF_CAP`). Returns how
        many became idle."""
        if self.callbacks.on_reset is None or not self.names:
            return 0
        fixed = 0
        for status in self.states.read(self.names):
            if status.state is not None and status.state != DeviceState.BROKEN:
                continue
            with self._lock:
                tries, due = self._backoff.get(status.name, (0, 0.0))
            if monotonic < due:
                continue
            try:
                ok = self.reset(status.name, by="retry")
            except ResetRefused:
                continue
            if ok:
                fixed += 1
                continue
            pause = min(RESET_BACKOFF_CAP, RESET_BACKOFF_FIRST * 2**tries)
            with self._lock:
                self._backoff[status.name] = (tries + 1, monotonic + pause)
        return fixed

    # -- maintenance ------------------------------------------------------------------------

    def set_maintenance(self, device: str | None, message: str | None) -> None:
        """Put one device (``None``: the whole lab) in maintenance with ``message``, or take
        it out (``message=None``). Sessions in progress keep their slot."""
        now = self.now()
        if message is not None:
            message = message.strip() or DEFAULT_MAINTENANCE
        if device is None:
            self.states.set_lab_maintenance(message, now=now)
        else:
            if device not in self.names:
                raise KeyError(device)
            self.states.set_maintenance(device, message or "", now=now)

    def notice(self, device: str) -> str:
        """The maintenance message the students of ``device`` (``""``: none) are shown."""
        return self.states.notice(device)

    def maintenance_message(self) -> str:
        """The lab-wide maintenance message (``""``: off)."""
        return self.states.lab_maintenance()[0]

    def health_state(self, device: str | None) -> HealthState:
        """The state the health URL reports for ``device`` (``None``: the lab), since when,
        why it is not healthy (``None``: it may be) and the last background check. One
        round trip.

        Maintenance (the lab's or the device's) and ``broken`` are unhealthy, with the
        operator's message or the reason; ``starting``, ``in-use`` and ``cleaning`` are busy,
        not broken.
        """
        message, since, status, stored = self.states.health_read(device)
        if message:
            return HealthState("maintenance", since, message, stored, status)
        if status is None:
            return HealthState("idle", None, None, stored)
        if status.maintenance:
            return HealthState(
                "maintenance", status.maintenance_since, status.maintenance, stored, status
            )
        if status.state == DeviceState.BROKEN:
            problem = f"Device {device} is broken: {status.reason}"
            return HealthState("broken", status.since, problem, stored, status)
        if status.state is None:
            return HealthState("unknown", None, None, stored, status)  # reset at its first start
        return HealthState(status.state, status.since, None, stored, status)


@dataclasses.dataclass(frozen=True)
class HealthState:
    """What the health URL reports besides the checks (see
    :meth:`DeviceLifecycle.health_state`)."""

    state: str
    since: float | None
    #: Why it is unhealthy whatever the checks say (``None``: the checks decide).
    problem: str | None
    #: The last background health check (``None``: none stored).
    stored: StoredHealth | None
    #: The device as the store holds it (``None``: the lab without devices).
    status: DeviceStatus | None = None
