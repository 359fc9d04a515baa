"""The session record: what happened in each session, kept by the library.

Runtime layer. The session service, the task engine, the Flask layer's launch and Socket.IO
guards and the lab itself (``weblab.record(name, **fields)``) tell a :class:`SessionJournal`
what happened; it appends one JSON event per call to the session's bounded record in the store
(one round trip, see :mod:`weblab_ext.store.journal`) and hands the event to the lab's
``on_record`` hooks (:mod:`.record_hooks`). Nothing in the record is needed to serve a
request, so recording never fails one: a store error is logged and the event lost.

An event is ``{"t": epoch seconds, "e": kind, ...fields}``. Kinds: ``start`` (device, user,
course, group, locale, slot, experiment), ``rlms`` (``call``, ``outcome``: status and dispose
calls are counted in the record, their outcome appended when it changes, see
:mod:`weblab_ext.store.record_calls`), ``launch`` (``outcome``), ``socket_connect`` /
``socket_disconnect``, ``task_submitted`` / ``task_started`` / ``task_finished`` (``task``,
``status``, ``duration``; the submitted event also ``arguments`` for a task declared with
``record_arguments=True``),
``device_state`` (``device``, ``state``), ``lab`` (the lab's own: ``name``, ``fields``), and
``end`` (``reason``, ``used``: seconds of the slot used). Users are named by a keyed hash of
their unique username unless pseudonyms are off; full names never enter a record.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ..store.connection import ANY_STORE_ERROR
from ..store.journal import JournalStore
from ..store.records import SessionRecord, StatusFields, StatusRow
from .lifecycle_log import session_id_hash
from .record_hooks import RecordHooks
from .task_runs import TaskRun

logger = logging.getLogger("weblab_ext")

#: Largest JSON size of one lab event (``weblab.record``), in bytes.
MAX_LAB_EVENT_BYTES = 2048
#: Longest RLMS context value (course, group, locale) kept in a start event.
MAX_CONTEXT_CHARS = 200
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
#: Where RLMS start data carry a course or a group (server data first, then client data).
COURSE_KEYS = ("request.course", "course", "course_id", "course_name", "context_title")
GROUP_KEYS = ("request.group", "group", "group_name", "groups")


def pseudonym_key(secret: str | None, secret_key: Any) -> bytes | None:
    """The HMAC key of the pseudonyms: a dedicated secret, else one derived from the app's
    ``SECRET_KEY``; ``None`` when there is neither."""
    if secret:
        return secret.encode()
    if isinstance(secret_key, str | bytes) and secret_key:
        raw = secret_key.encode() if isinstance(secret_key, str) else secret_key
        return hmac.new(raw, b"weblab_ext session record pseudonyms", hashlib.sha256).digest()
    return None


def _context_value(record: SessionRecord, keys: tuple[str, ...]) -> Any:
    for data in (record.request_server_data, record.request_client_data):
        if not isinstance(data, Mapping):
            continue
        for key in keys:
            value = data.get(key)
            if isinstance(value, str) and value:
                return value[:MAX_CONTEXT_CHARS]
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                return [v[:MAX_CONTEXT_CHARS] for v in value[:20]]
    return None


def check_lab_event(name: Any, fields: Mapping[str, Any]) -> str:
    """The JSON of a lab event's ``name`` and ``fields``, or the error naming what is wrong.

    :raises TypeError: ``name`` is not a string, or a field is not JSON-serialisable.
    :raises ValueError: a bad name, a non-finite number, or an event too large.
    """
    if not isinstance(name, str):
        raise TypeError(f"record(): the event name must be a string, not {type(name).__name__}")
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"record(): bad event name {name!r}: 1 to 64 letters, digits, '_', '.', ':' or '-'"
        )
    sizes: dict[str, int] = {}
    for key, value in fields.items():
        try:
            sizes[key] = len(json.dumps(value, allow_nan=False))
        except ValueError as exc:
            raise ValueError(f"record(): field {key!r} is not finite JSON: {exc}") from None
        except (TypeError, RecursionError) as exc:
            raise TypeError(f"record(): field {key!r} is not JSON-serialisable: {exc}") from None
    encoded = json.dumps({"name": name, "fields": dict(fields)}, separators=(",", ":"))
    if len(encoded.encode()) > MAX_LAB_EVENT_BYTES:
        largest = max(sizes, key=lambda key: sizes[key]) if sizes else "name"
        raise ValueError(
            f"record(): the event is larger than {MAX_LAB_EVENT_BYTES} bytes as JSON; its "
            f"largest field is {largest!r}"
        )
    return encoded


class SessionJournal:
    """The session records of one lab.

    :param store: the lab's record store (``None``: record nothing).
    :param enabled: ``WEBLAB_RECORD``.
    :param max_events: ``WEBLAB_RECORD_MAX_EVENTS``.
    :param retention: ``WEBLAB_RECORD_RETENTION`` (seconds).
    :param key: the pseudonyms' HMAC key (see :func:`pseudonym_key`); ``None`` with
        ``pseudonyms`` on leaves users out of the record.
    :param pseudonyms: name users by a keyed hash (``False``: by their unique username).
    :param hooks: the lab's ``on_record`` hooks.
    """

    def __init__(
        self,
        store: JournalStore | None,
        *,
        enabled: bool = True,
        max_events: int = 500,
        retention: float = 7 * 24 * 3600,
        key: bytes | None = None,
        pseudonyms: bool = True,
        hooks: RecordHooks | None = None,
    ) -> None:
        self.store = store
        self.enabled = enabled and store is not None
        self.max_events = max_events
        self.retention = retention
        self.pseudonyms = pseudonyms
        self._key = key
        #: Wall clock (epoch seconds); tests replace it.
        self.clock: Callable[[], float] = time.time
        #: The lab's ``on_record`` hooks, fed from a bounded queue by a thread of their own.
        self.hooks = hooks or RecordHooks()
        self._unrecorded_tasks: set[str] = set()

    # -- who ---------------------------------------------------------------------------------

    def user_name(self, username_unique: str) -> str | None:
        """How the record names a user: a keyed hash (stable for the lab) or, with
        pseudonyms off, the unique username."""
        if not self.pseudonyms:
            return username_unique
        if self._key is None:
            return None
        digest = hmac.new(self._key, username_unique.encode(), hashlib.sha256).hexdigest()
        return "u-" + digest[:24]

    # -- writing -----------------------------------------------------------------------------

    def event(
        self,
        session_id: str,
        kind: str,
        fields: Mapping[str, Any] | None = None,
        *,
        now: float | None = None,
        end: bool = False,
        start: float | None = None,
        encoded: str | None = None,
    ) -> bool:
        """Append an event to a session's record; never raises. ``False``: not recorded."""
        if not self.enabled or not session_id:
            return False
        at = self.clock() if now is None else now
        body = encoded if encoded is not None else json.dumps(dict(fields or {}), default=str)
        head = json.dumps({"t": round(at, 3), "e": kind}, separators=(",", ":"))
        event_json = head[:-1] + ("," + body[1:] if body != "{}" else "}")
        assert self.store is not None
        try:
            stored = self.store.append(
                session_id,
                event_json,
                max_events=self.max_events,
                ttl=self.retention,
                end=end,
                start=start,
            )
        except ANY_STORE_ERROR as error:
            logger.warning("Could not record a %s event: %s", kind, type(error).__name__)
            return False
        if self.hooks.active:
            self.hooks.put(session_id_hash(session_id), event_json)
        return stored

    def started(self, record: SessionRecord, *, now: float | None = None) -> None:
        """Record a session's start: device, user, RLMS context, slot."""
        if not self.enabled:
            return
        experiment = record.experiment_name
        if record.category_name:
            experiment = f"{experiment}@{record.category_name}"
        fields = {
            "device": record.device or None,
            "user": self.user_name(record.username_unique),
            "course": _context_value(record, COURSE_KEYS),
            "group": _context_value(record, GROUP_KEYS),
            "locale": (record.locale or None) and str(record.locale)[:MAX_CONTEXT_CHARS],
            "experiment": experiment[:MAX_CONTEXT_CHARS],
            "dialect": record.dialect,
            "slot_start": record.start_date,
            "slot_end": record.max_date,
        }
        at = self.clock() if now is None else now
        self.event(record.session_id, "start", fields, now=at, start=at)

    def ended(self, record: SessionRecord, reason: str, *, now: float | None = None) -> None:
        """Record a session's end: why, and how many seconds of its slot it used."""
        if not self.enabled:
            return
        at = self.clock() if now is None else now
        used = max(0.0, min(at, record.max_date) - record.start_date)
        fields = {"reason": reason, "used": round(used, 3)}
        self.event(record.session_id, "end", fields, now=at, end=True)

    def lab_event(self, session_id: str | None, name: Any, fields: Mapping[str, Any]) -> bool:
        """``weblab.record(name, **fields)``: validate, then append (one round trip).

        :raises TypeError: or :class:`ValueError`, naming the bad field; nothing is stored.
        """
        encoded = check_lab_event(name, fields)
        if session_id is None:
            return False
        return self.event(session_id, "lab", encoded=encoded)

    def device_state(self, session_id: str, device: str, state: str) -> None:
        """Record a device's state change during a session (the device states call it)."""
        self.event(session_id, "device_state", {"device": device, "state": state})

    def task_event(
        self,
        session_id: str,
        kind: str,
        task: str,
        *,
        status: str | None = None,
        duration: float | None = None,
        arguments: tuple[Sequence[Any], Mapping[str, Any]] | None = None,
    ) -> None:
        """Record a task submitted / started / finished: name, status, duration.

        :param arguments: the task's ``(args, kwargs)``, for a task that records them
            (see :meth:`task_arguments`).
        """
        if not self.enabled:
            return
        fields: dict[str, Any] = {"task": task}
        if status is not None:
            fields["status"] = status
        if duration is not None and math.isfinite(duration):
            fields["duration"] = round(max(0.0, duration), 3)
        if arguments is not None:
            fields.update(self.task_arguments(task, *arguments))
        self.event(session_id, kind, fields)

    def task_arguments(
        self, task: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The fields a ``record_arguments`` task's submitted event gets: ``arguments``
        (``{"args": [...], "kwargs": {...}}``) when they are finite JSON of at most
        :data:`MAX_LAB_EVENT_BYTES`, else ``arguments_error`` saying why not (and a warning,
        once per task and process). Never raises: the task runs either way."""
        arguments = {"args": list(args), "kwargs": dict(kwargs)}
        try:
            size = len(json.dumps(arguments, allow_nan=False, separators=(",", ":")))
        except ValueError:
            reason = "not finite JSON (NaN or infinity)"
        except (TypeError, RecursionError):
            reason = "not JSON-serialisable"
        else:
            if size <= MAX_LAB_EVENT_BYTES:
                return {"arguments": arguments}
            reason = f"larger than {MAX_LAB_EVENT_BYTES} bytes as JSON"
        if task not in self._unrecorded_tasks:
            self._unrecorded_tasks.add(task)
            logger.warning(
                "Task %s: its arguments are %s, so its records say so instead of holding "
                "them (warned once); the task runs as usual",
                task,
                reason,
            )
        return {"arguments_error": reason}

    def task_finished(self, session_id: str, run: TaskRun) -> None:
        """Record a task run's end: its name, status and duration."""
        self.task_event(
            session_id, "task_finished", run.name, status=run.status, duration=run.seconds
        )

    # -- RLMS calls ----------------------------------------------------------------------------

    @property
    def _ttl(self) -> int:
        """Seconds a record's keys live (``WEBLAB_RECORD_RETENTION``, at least 1)."""
        return max(1, int(self.retention))

    def _hooks_get(self, session_id: str, event_json: str | None) -> None:
        if event_json is not None and self.hooks.active:
            self.hooks.put(session_id_hash(session_id), event_json)

    def call(self, session_id: str, call: str, outcome: str, *, now: float | None = None) -> None:
        """Count an RLMS call of a session in its record, and append its outcome when it
        differs from the call's last one; one round trip, never raises."""
        if not self.enabled or not session_id:
            return
        at = self.clock() if now is None else now
        event_json = json.dumps(
            {"t": round(at, 3), "e": "rlms", "call": call, "outcome": outcome},
            separators=(",", ":"),
        )
        assert self.store is not None
        try:
            appended = self.store.calls.count(
                session_id,
                call,
                outcome,
                event_json,
                max_events=self.max_events,
                ttl=self._ttl,
            )
        except ANY_STORE_ERROR as error:
            logger.warning("Could not record a %s call: %s", call, type(error).__name__)
            return
        self._hooks_get(session_id, event_json if appended else None)

    def status(
        self, session_id: str, *, now: float, timeout: float, device: str = ""
    ) -> StatusFields:
        """Read what a status call needs of a session and count the call in its record, in
        one round trip (needs ``enabled``). A store error is raised: the reply needs the read.

        :param device: the device asking (``""``: the lab's own status call).
        """
        assert self.store is not None
        fields, event = self.store.calls.status(
            session_id,
            now=now,
            timeout=timeout,
            at=json.dumps(round(now, 3)),
            max_events=self.max_events,
            ttl=self._ttl,
            device=device,
        )
        self._hooks_get(session_id, event)
        return fields

    def status_rows(
        self, session_ids: Sequence[str], *, now: float, timeout: float, device: str = ""
    ) -> Iterator[StatusRow]:
        """:meth:`status` of many sessions (``status/multiple``): their status rows, in
        order, in one round trip."""
        assert self.store is not None
        rows, appended = self.store.calls.status_rows(
            session_ids,
            now=now,
            timeout=timeout,
            at=json.dumps(round(now, 3)),
            max_events=self.max_events,
            ttl=self._ttl,
            device=device,
        )
        for session_id, event in appended:
            self._hooks_get(session_id, event)
        return rows

    # -- reading -----------------------------------------------------------------------------

    def timeline(self, session_id: str) -> tuple[list[dict[str, Any]], int]:
        """A session's events, oldest first, and how many were dropped."""
        if self.store is None:
            return [], 0
        events, dropped = self.store.events(session_id)
        return [json.loads(event) for event in events], dropped

    def calls(self, session_id: str) -> dict[str, dict[str, int]]:
        """The RLMS calls a session's record counted, per call and outcome
        (``{"status": {"active": 1440, "finish": 2}}``)."""
        if self.store is None:
            return {}
        return self.store.records_many([session_id])[0][2]
