"""The device service: a pool of identical devices (``WEBLAB_DEVICES``) served by one app.

Runtime layer, no Flask. Each declared device is its own RLMS resource: the RLMS calls of a
device (start, status, status/multiple, dispose) go through its :class:`DeviceSessions`,
which holds the device to at most one session at a time and reads the sessions of other
devices as unknown. Everything else (the cleaner, tasks, leases, ``on_dispose`` exactly once)
is the lab's one session service: sessions of every device share one index, so one worker
serves the whole pool and its cost does not grow with the number of devices.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import WebLabError
from ..protocol import StartRequest
from ..states import SessionState
from ..store.devices import DeviceStore
from ..store.records import SessionRecord
from .device_lifecycle import AppScope, DeviceLifecycle
from .disposal import DisposeOutcome

if TYPE_CHECKING:
    from .sessions import SessionService, StartOutcome

logger = logging.getLogger("weblab_ext")


class DeviceBusyError(WebLabError):
    """A start asked for a device that is not ``idle`` (``state`` says what it is)."""

    def __init__(self, device: str, state: str = "in-use") -> None:
        if state == "broken":
            message = f"Device {device} is broken: it waits for a reset"
        elif state == "maintenance":
            message = (
                f"Device {device} is under maintenance"
                if device
                else "The lab is under maintenance"
            )
        elif state == "cleaning":
            message = (
                f"Device {device} is busy: its previous session is not fully cleaned up yet; "
                "try again when it is disposed"
            )
        else:  # in-use or starting: another session holds it (or a reset runs)
            message = f"Device {device} is busy ({state}): try again when it is idle"
        super().__init__(message)
        self.device = device
        self.state = state

    @property
    def code(self) -> str:
        """The ``code`` of the RLMS reply: ``device-busy``, ``device-broken``,
        ``device-maintenance``, or ``maintenance`` for a lab without devices."""
        if not self.device:
            return "maintenance"
        if self.state in ("broken", "maintenance"):
            return f"device-{self.state}"
        return "device-busy"


def takes_device(check: Callable[..., Any]) -> bool:
    """Whether a health check takes the device name (``def camera_ok(device): ...``)."""
    try:
        parameters = inspect.signature(check).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: called with nothing
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    # A required positional parameter only: ``*args`` (a generic wrapper) and defaults keep
    # a weblablib check called as before, with nothing.
    return any(p.kind in positional and p.default is inspect.Parameter.empty for p in parameters)


def id_hash(session_id: str) -> str:
    """What log lines and operators see instead of a session id (a secret): the first 16
    hex digits of its SHA-256, as in the lifecycle log."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:16]


class DeviceSessions:
    """The RLMS operations of one device, with the signatures of the session service.

    :param pool: the lab's device pool.
    :param device: the device's name.
    """

    def __init__(self, pool: DevicePool, device: str) -> None:
        self.pool = pool
        self.device = device

    def start(self, request: StartRequest, *, now: float | None = None) -> StartOutcome:
        """Start a session on this device if it is free.

        :raises DeviceBusyError: when its previous session is not disposed yet.
        """
        store, lifecycle = self.pool.store, self.pool.lifecycle

        def create(record: SessionRecord, at: float) -> bool:
            outcome = store.create(record, now=at)
            if outcome == "unknown":
                lifecycle.first_seen(self.device)
                outcome = store.create(record, now=at)
            if outcome in ("created", "taken"):
                return outcome == "created"
            state = "in-use" if outcome == "unknown" else outcome
            logger.warning("Refused a start on device %s: it is %s", self.device, state)
            self.pool.service.counters.start_refused(self.device, state)
            raise DeviceBusyError(self.device, state)

        outcome = self.pool.service.start(request, now=now, device=self.device, create=create)
        if outcome.error is None:
            lifecycle.in_use(self.device, outcome.session_id)
        return outcome

    def status(self, session_id: str, *, now: float | None = None) -> int:
        """The RLMS status of one session of this device (another's reads as unknown)."""
        service, store, device = self.pool.service, self.pool.store, self.device
        now = service.clock() if now is None else now
        fields = service.status_fields(
            session_id, now=now, device=device, plain=lambda sid: store.status_fields(sid, device)
        )
        return service.status_of(session_id, fields, now=now)

    def status_many(
        self, session_ids: Sequence[str], *, time_limit: float | None = None
    ) -> dict[str, int]:
        """The RLMS status of many sessions of this device, one round trip per chunk."""
        store, device = self.pool.store, self.device
        return self.pool.service.status_many(
            session_ids,
            time_limit=time_limit,
            rows=lambda ids: store.status_rows(ids, device),
            device=device,
        )

    def dispose(self, session_id: str, *, wait: float, now: float | None = None) -> DisposeOutcome:
        """Dispose a session of this device; another device's session is not found."""
        if self.pool.store.device_of(session_id) != self.device:
            return DisposeOutcome.NOT_FOUND
        return self.pool.service.dispose(session_id, wait=wait, now=now)


@dataclasses.dataclass(frozen=True)
class DeviceRow:
    """One device as an operator sees it (``flask weblab status``, the admin page, metrics).

    Its session is named by the hash of its id (an id is a student's credential).
    """

    name: str
    #: The hash of the id of the session holding it (see :func:`id_hash`), or ``None``.
    session_key: str | None = None
    username: str | None = None
    #: Seconds left of the slot of its session.
    time_left: float | None = None
    #: The state of its session (``active``, ``exited``, ``disposing``).
    state: str | None = None

    @property
    def label(self) -> str:
        """The short form of its session shown in tables (``""``: free)."""
        return (self.session_key or "")[:10]


class DevicePool:
    """The declared devices of one app.

    :param service: the lab's session service.
    :param store: the lab's device store.
    :param names: the declared device names, in order.
    """

    def __init__(
        self,
        service: SessionService,
        store: DeviceStore,
        names: Sequence[str],
        *,
        app_scope: AppScope = lambda call: call(),
    ) -> None:
        self.service = service
        self.store = store
        self.names = tuple(names)
        self._devices = {name: DeviceSessions(self, name) for name in self.names}
        #: The states of the devices: hand-over, resets, maintenance.
        self.lifecycle = DeviceLifecycle(
            store.states,
            service.callbacks,
            self.names,
            clock=lambda: service.clock(),
            app_scope=app_scope,
            journal=service.journal,
        )
        if self.names:
            service.disposer.devices = self.lifecycle

    def __bool__(self) -> bool:
        return bool(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._devices

    def on(self, name: str) -> DeviceSessions:
        """The RLMS operations of device ``name``.

        :raises KeyError: for a name not declared.
        """
        return self._devices[name]

    def overview(self, *, now: float | None = None) -> list[DeviceRow]:
        """Every device with the session that holds it, if any."""
        now = self.service.clock() if now is None else now
        holders = self.store.holders(self.names)
        held = [sid for sid in holders.values() if sid]
        records = {sid: record for sid, record in zip(held, self.store.records(held), strict=True)}
        rows = []
        for name in self.names:
            session_id = holders[name]
            record = records.get(session_id) if session_id else None
            if record is None:
                rows.append(DeviceRow(name))
                continue
            left = max(0.0, record.max_date - now) if record.state == "active" else 0.0
            key = id_hash(record.session_id)
            rows.append(DeviceRow(name, key, record.username, left, record.state))
        return rows

    def session_rows(self, records: Sequence[SessionRecord]) -> list[dict[str, Any]]:
        """What the devices list shows in a lab that declares no device: a row (``name``
        ``""``) per session not disposed yet, in the shape of a device's row: ``in-use`` while
        the session holds its slot, ``cleaning`` while it is disposed (clean-up not finished),
        ``maintenance`` while the lab is in maintenance."""
        maintenance, since = self.lifecycle.states.lab_maintenance()
        rows = []
        for record in records:
            disposing = record.state == SessionState.DISPOSING
            shown = "maintenance" if maintenance else "cleaning" if disposing else "in-use"
            rows.append(
                {
                    "name": record.device,
                    "state": shown,
                    "since": since if maintenance else record.start_date,
                    "reason": maintenance or "",
                    "session": {
                        "id_hash": id_hash(record.session_id),
                        "username": record.username,
                        "started": record.start_date,
                        "deadline": record.max_date,
                    },
                    "cleanup_finished": False if disposing else None,
                }
            )
        return rows

    def reconcile(self) -> list[dict[str, Any]]:
        """Which session holds which device, and whether its clean-up finished: what an
        operator needs after a crash or a store loss (``GET {base_url}/weblab/devices``).

        ``cleanup_finished`` is true on an ``idle`` device, false while ``cleaning``, when
        ``broken`` or with no record (nobody knows what it holds), ``None`` while a session
        holds it. Three round trips, whatever the number of devices.
        """
        statuses = self.lifecycle.read()
        held = [s.session for s in statuses if s.session]
        records = dict(zip(held, self.store.records(held), strict=True))
        maintenance, _since = self.lifecycle.states.lab_maintenance()
        rows = []
        for status in statuses:
            record = records.get(status.session) if status.session else None
            live = record is not None and record.state != "disposed"
            session = None
            if record is not None and live:
                session = {
                    "id_hash": id_hash(record.session_id),
                    "username": record.username,
                    "started": record.start_date,
                    "deadline": record.max_date,
                }
            state = "maintenance" if maintenance else status.shown_state
            reason = maintenance or status.maintenance or status.reason
            finished: bool | None = status.state == "idle"
            if status.state in ("starting", "in-use"):
                finished = None
            rows.append(
                {
                    "name": status.name,
                    "state": state,
                    "since": status.since,
                    "reason": reason,
                    "session": session,
                    "cleanup_finished": finished,
                }
            )
        return rows
