"""Stored records and their encoding: the one place that knows the hash fields.

A session hash keeps the fields fixed at start in one JSON field, ``info`` (a small hash keeps
Redis memory per session low and reads stay one round trip); the fields that transitions change
(``state``, ``max_date``, ``last_poll``, ``data``, ``data_version``...) are hash fields of their
own, because the Lua scripts read and write them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

#: The states of a session, in lifecycle order.
SESSION_STATES = ("active", "exited", "disposing", "disposed")
#: The statuses of a task, in lifecycle order.
TASK_STATUSES = ("submitted", "running", "done", "failed")

_INFO_FIELDS = (
    "dialect", "start_date", "username", "username_unique", "full_name", "locale",
    "experiment_name", "category_name", "back", "request_client_data", "request_server_data",
)


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

    @property
    def experiment_id(self) -> str:
        """``name@category``, or ``name`` without a category."""
        name, category = self.experiment_name, self.category_name
        return f"{name}@{category}" if category else name

    @property
    def exited(self) -> bool:
        """Whether the student logged out before the session was disposed."""
        return self.state == "exited" or self._exited_before_dispose

    @property
    def is_current(self) -> bool:
        """Whether the session is not disposed yet (active or logged out)."""
        return self.state in ("active", "exited")

    def to_hash(self) -> dict[str, str]:
        """The hash fields of this record, as the start script stores them."""
        info = {name: getattr(self, name) for name in _INFO_FIELDS}
        info["request_client_data"] = dict(self.request_client_data)
        info["request_server_data"] = dict(self.request_server_data)
        return {
            "state": self.state,
            "max_date": repr(self.max_date),
            "last_poll": repr(self.last_poll),
            "info": json.dumps(info, separators=(",", ":")),
            "data": self.data_json,
            "data_version": str(self.data_version),
        }

    @classmethod
    def from_hash(cls, session_id: str, raw: Mapping[str, str]) -> SessionRecord:
        """Decode a session hash as read from Redis."""
        info: dict[str, Any] = json.loads(raw["info"]) if raw.get("info") else {}
        return cls(
            session_id=session_id,
            state=raw.get("state", "disposed"),
            dialect=info.get("dialect", "weblab"),
            start_date=float(info.get("start_date", 0)),
            max_date=float(raw.get("max_date", 0)),
            last_poll=float(raw.get("last_poll", 0)),
            username=info.get("username", ""),
            username_unique=info.get("username_unique", ""),
            full_name=info.get("full_name", ""),
            locale=info.get("locale") or None,
            experiment_name=info.get("experiment_name") or "",
            category_name=info.get("category_name") or None,
            back=info.get("back", ""),
            request_client_data=info.get("request_client_data") or {},
            request_server_data=info.get("request_server_data") or {},
            data_json=raw.get("data") or "{}",
            data_version=int(raw.get("data_version", 0)),
            disposing_since=float(raw["disposing_since"]) if "disposing_since" in raw else None,
            _exited_before_dispose=raw.get("exited") == "1",
        )


@dataclasses.dataclass(frozen=True)
class StatusFields:
    """The three fields the RLMS status call needs."""

    state: str | None
    max_date: float | None
    last_poll: float | None


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

    @property
    def finished(self) -> bool:
        """Whether the task is done or failed."""
        return self.status in ("done", "failed")

    def lapsed(self, now: float) -> bool:
        """Whether it is running on a lease that ran out by ``now`` (its worker is gone)."""
        return self.status == "running" and self.lease_until is not None and (
            self.lease_until <= now)

    def failed_with(self, error: Mapping[str, Any], now: float) -> TaskRecord:
        """This record as it reads once failed with ``error`` at ``now``."""
        return dataclasses.replace(self, status="failed", error=dict(error), result=None,
                                   finished_at=now, lease_until=None)

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
            status=raw.get("status", "submitted"),
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
        )
