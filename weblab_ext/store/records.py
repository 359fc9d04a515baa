"""Stored records and their encoding: the one place that knows the hash fields.

A session hash keeps the fields fixed at start in one JSON field, ``info`` (a small hash keeps
Redis memory per session low and reads stay one round trip); the fields that transitions change
(``state``, ``max_date``, ``last_poll``, ``data``, ``data_version``...) are hash fields of their
own, because the Lua scripts read and write them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from ..states import SessionState, TaskStatus

_INFO_FIELDS = (
    "dialect",
    "start_date",
    "username",
    "username_unique",
    "full_name",
    "locale",
    "experiment_name",
    "category_name",
    "back",
    "request_client_data",
    "request_server_data",
)


#: The session fields a script returns packed into one string (see :func:`pack_session_lua`),
#: in this order. The two JSON fields come last: JSON text never holds a raw control
#: character, so the separator cannot occur inside ``info``, and ``data`` is what remains.
PACKED_SESSION_FIELDS = (
    "state",
    "max_date",
    "last_poll",
    "data_version",
    "exited",
    "disposing_since",
    "device",
    "info",
    "data",
)
#: Field separator of packed replies (ASCII unit separator; ``\31`` in Lua).
FIELD_SEPARATOR = "\x1f"


def pack_session_lua() -> str:
    """Lua function ``pack_session(key)``: the fields of one session hash as one string.

    One bulk string instead of a field/value array: redis-py parses it in one step, which is
    most of what a lab request spends in the client (no hiredis needed).
    """
    fields = ", ".join(f"'{name}'" for name in PACKED_SESSION_FIELDS)
    return f"""
local function pack_session(key)
  local h = redis.call('HMGET', key, {fields})
  for i = 1, {len(PACKED_SESSION_FIELDS)} do h[i] = h[i] or '' end
  return table.concat(h, '\\31')
end
"""


def pairs_to_dict(flat: Sequence[str]) -> dict[str, str]:
    """``[k1, v1, k2, v2...]`` (what ``HGETALL`` returns inside Lua) as a dict."""
    return dict(zip(flat[0::2], flat[1::2], strict=True))


@dataclasses.dataclass(frozen=True)
class SessionRecord:
    """One session as stored. Times are epoch seconds (UTC based)."""

    session_id: str
    state: str
    dialect: str
    start_date: float
    max_date: float
    last_poll: float
    username: str
    username_unique: str
    full_name: str
    locale: str | None
    experiment_name: str
    category_name: str | None
    back: str
    request_client_data: Mapping[str, Any]
    request_server_data: Mapping[str, Any]
    data_json: str = "{}"
    data_version: int = 0
    disposing_since: float | None = None
    _exited_before_dispose: bool = False
    #: The device the session holds (``WEBLAB_DEVICES``); ``""`` in a lab without devices.
    device: str = ""

    @property
    def experiment_id(self) -> str:
        """``name@category``, or ``name`` without a category."""
        name, category = self.experiment_name, self.category_name
        return f"{name}@{category}" if category else name

    @property
    def exited(self) -> bool:
        """Whether the student logged out before the session was disposed."""
        return self.state == SessionState.EXITED or self._exited_before_dispose

    @property
    def is_current(self) -> bool:
        """Whether the session is not disposed yet (active or logged out)."""
        return self.state in (SessionState.ACTIVE, SessionState.EXITED)

    def to_hash(self) -> dict[str, str]:
        """The hash fields of this record, as the start script stores them."""
        info = {name: getattr(self, name) for name in _INFO_FIELDS}
        info["request_client_data"] = dict(self.request_client_data)
        info["request_server_data"] = dict(self.request_server_data)
        fields = {
            "state": self.state,
            "max_date": repr(self.max_date),
            "last_poll": repr(self.last_poll),
            "info": json.dumps(info, separators=(",", ":")),
            "data": self.data_json,
            "data_version": str(self.data_version),
        }
        if self.device:
            # A field of its own (not in ``info``): the status scripts compare it.
            fields["device"] = self.device
        return fields

    @classmethod
    def from_hash(cls, session_id: str, raw: Mapping[str, str]) -> SessionRecord:
        """Decode a session hash as read from Redis."""
        return cls._decode(session_id, *(raw.get(name, "") for name in PACKED_SESSION_FIELDS))

    @classmethod
    def from_packed(cls, session_id: str, packed: str) -> SessionRecord:
        """Decode what ``pack_session`` (:func:`pack_session_lua`) returned for a session."""
        return cls._decode(
            session_id, *packed.split(FIELD_SEPARATOR, len(PACKED_SESSION_FIELDS) - 1)
        )

    @classmethod
    def _decode(
        cls,
        session_id: str,
        state: str,
        max_date: str,
        last_poll: str,
        data_version: str,
        exited: str,
        disposing_since: str,
        device: str,
        info_json: str,
        data: str,
    ) -> SessionRecord:
        info: dict[str, Any] = json.loads(info_json) if info_json else {}
        get = info.get
        return cls(
            session_id=session_id,
            state=state or SessionState.DISPOSED,
            dialect=get("dialect", "weblab"),
            start_date=float(get("start_date", 0)),
            max_date=float(max_date or 0),
            last_poll=float(last_poll or 0),
            username=get("username", ""),
            username_unique=get("username_unique", ""),
            full_name=get("full_name", ""),
            locale=get("locale") or None,
            experiment_name=get("experiment_name") or "",
            category_name=get("category_name") or None,
            back=get("back", ""),
            request_client_data=get("request_client_data") or {},
            request_server_data=get("request_server_data") or {},
            data_json=data or "{}",
            data_version=int(data_version or 0),
            disposing_since=float(disposing_since) if disposing_since else None,
            _exited_before_dispose=exited == "1",
            device=device,
        )


#: ``(state, max_date, last_poll)`` of one session, ``None`` where missing.
StatusRow = tuple[str | None, float | None, float | None]


class StatusFields(NamedTuple):
    """The three fields the RLMS status call needs."""

    state: str | None
    max_date: float | None
    last_poll: float | None


def status_rows_from_packed(packed: str) -> Iterator[StatusRow]:
    """Decode ``state<US>max_date<US>last_poll<US>state...`` as ``STATUS_MANY`` writes it.

    A missing session reads ``("", 0.0, 0.0)`` (any state but ``active`` ends it). Plain tuples
    from C-level ``map``/``zip``: status/multiple decodes thousands per call.
    """
    flat = packed.split(FIELD_SEPARATOR)
    return zip(flat[0::3], map(float, flat[1::3]), map(float, flat[2::3]), strict=True)


@dataclasses.dataclass(frozen=True)
class TaskRecord:
    """One task as stored. Times are epoch seconds."""

    task_id: str
    name: str
    session_id: str
    status: str
    stopping: bool
    args: list[Any]
    kwargs: dict[str, Any]
    data: dict[str, Any]
    result: Any
    error: dict[str, Any] | None
    worker: str
    submitted_at: float
    started_at: float | None
    finished_at: float | None
    #: Until when its worker holds it (running tasks); past it the task is lost.
    lease_until: float | None = None
    #: The key of its unique lock (``""``: not unique).
    lock: str = ""

    @property
    def finished(self) -> bool:
        """Whether the task is done or failed."""
        return self.status in (TaskStatus.DONE, TaskStatus.FAILED)

    def lapsed(self, now: float) -> bool:
        """Whether it is running on a lease that ran out by ``now`` (its worker is gone)."""
        return (
            self.status == TaskStatus.RUNNING
            and self.lease_until is not None
            and (self.lease_until <= now)
        )

    def failed_with(self, error: Mapping[str, Any], now: float) -> TaskRecord:
        """This record as it reads once failed with ``error`` at ``now``."""
        return dataclasses.replace(
            self,
            status=TaskStatus.FAILED,
            error=dict(error),
            result=None,
            finished_at=now,
            lease_until=None,
        )

    @classmethod
    def from_hash(cls, task_id: str, raw: Mapping[str, str]) -> TaskRecord:
        """Decode a task hash as read from Redis."""

        def _json(name: str, default: Any) -> Any:
            text = raw.get(name)
            return json.loads(text) if text else default

        def _time(name: str) -> float | None:
            text = raw.get(name)
            return float(text) if text else None

        return cls(
            task_id=task_id,
            name=raw.get("name", ""),
            session_id=raw.get("session_id", ""),
            status=raw.get("status", TaskStatus.SUBMITTED),
            stopping=raw.get("stopping") == "1",
            args=_json("args", []),
            kwargs=_json("kwargs", {}),
            data=_json("data", {}),
            result=_json("result", None),
            error=_json("error", None),
            worker=raw.get("worker", ""),
            submitted_at=_time("submitted_at") or 0.0,
            started_at=_time("started_at"),
            finished_at=_time("finished_at"),
            lease_until=_time("lease_until"),
            lock=raw.get("lock", ""),
        )


# -- workers ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HeartbeatReport:
    """What one heartbeat (or sweep) found: ids to act on."""

    stopping: list[str]
    lost: list[str]
    lapsed: list[str]
    dead_workers: list[str]


@dataclasses.dataclass(frozen=True)
class WorkerInfo:
    """A live worker process, as its last heartbeat described it."""

    worker_id: str
    host: str
    pid: int | None
    threads: int | None
    last_beat: float | None
    draining: bool


@dataclasses.dataclass(frozen=True)
class TaskOverview:
    """The task system at a glance (``flask weblab status``)."""

    queued: int
    running: int
    #: Running tasks whose lease lapsed: their worker stopped beating (about to be failed).
    lapsed: int
    live_workers: int
    #: The first live workers (at most the limit asked for).
    workers: list[WorkerInfo]


def worker_info(worker_id: str, raw: Mapping[str, str]) -> WorkerInfo:
    """A worker's hash (``beat`` and the JSON ``info`` its heartbeat writes), decoded."""
    try:
        info = json.loads(raw.get("info") or "{}")
    except ValueError:
        info = {}
    info = info if isinstance(info, dict) else {}
    beat = raw.get("beat")
    return WorkerInfo(
        worker_id=worker_id,
        host=str(info.get("host", "")),
        pid=info.get("pid") if isinstance(info.get("pid"), int) else None,
        threads=info.get("threads") if isinstance(info.get("threads"), int) else None,
        last_beat=float(beat) if beat else None,
        draining=bool(info.get("draining")),
    )
