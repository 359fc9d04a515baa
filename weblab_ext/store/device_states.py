"""The states of declared devices, kept atomically in the store (the same for every process).

A device's hash (:meth:`.Keys.device`) holds, beside the ``session`` that holds it, its
``state`` (see :class:`~weblab_ext.states.DeviceState`), the time it entered it (``since``),
why (``reason``: a broken device's cause) and the operator's ``maintenance`` message (empty:
not in maintenance). Each change is also pushed to the device's history, a list capped at
:data:`HISTORY_LENGTH` entries. A device with no ``state`` has no record: the lab never saw
it, or the store lost it; it is not ``idle`` until it is reset.

Every change is one Lua script that checks where the device is before it moves it, so two
processes never both move one device.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Sequence
from typing import Any

from .connection import StoreClient
from .keys import Keys
from .pubsub import register_script

#: Entries kept in each device's history.
HISTORY_LENGTH = 50

# KEYS[1] device hash, KEYS[2] its history list
# ARGV[1] new state, ARGV[2] now, ARGV[3] reason, ARGV[4] the states it may leave, as
# ',a,b,' ('*': any, '-' in the list: no record), ARGV[5] the session it must hold ('*': any),
# ARGV[6] the session it holds after ('*': unchanged), ARGV[7] history entry, ARGV[8] cap
# Returns {1 or 0, the state before ('' for no record)}.
TRANSITION = """
local state = redis.call('HGET', KEYS[1], 'state') or ''
local from, needs = ARGV[4], ARGV[5]
local seen = state
if seen == '' then seen = '-' end
if from ~= '*' and not string.find(from, ',' .. seen .. ',', 1, true) then
  return {0, state}
end
if needs ~= '*' and (redis.call('HGET', KEYS[1], 'session') or '') ~= needs then
  return {0, state}
end
redis.call('HSETNX', KEYS[1], 'created', ARGV[2])
if state == 'broken' and ARGV[1] ~= 'broken' then
  local since = tonumber(redis.call('HGET', KEYS[1], 'since') or ARGV[2]) or tonumber(ARGV[2])
  local took = math.max(0, tonumber(ARGV[2]) - since)
  redis.call('HINCRBYFLOAT', KEYS[1], 'broken_seconds', tostring(took))
  redis.call('HINCRBY', KEYS[1], 'repairs', 1)
end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'since', ARGV[2], 'reason', ARGV[3])
if ARGV[6] ~= '*' then redis.call('HSET', KEYS[1], 'session', ARGV[6]) end
redis.call('LPUSH', KEYS[2], ARGV[7])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[8]) - 1)
return {1, state}
"""

# KEYS[1] device hash, KEYS[2] its history list
# ARGV[1] message ('': maintenance off), ARGV[2] now, ARGV[3] history entry, ARGV[4] cap
# Counts the seconds spent in maintenance (``maintenance_seconds``) when it ends; turning it
# on again only changes the message.
MAINTENANCE = """
local current = redis.call('HGET', KEYS[1], 'maintenance') or ''
local now = tonumber(ARGV[2])
redis.call('HSETNX', KEYS[1], 'created', ARGV[2])
if current ~= '' and ARGV[1] == '' then
  local since = tonumber(redis.call('HGET', KEYS[1], 'maintenance_since') or ARGV[2]) or now
  redis.call('HINCRBYFLOAT', KEYS[1], 'maintenance_seconds', tostring(math.max(0, now - since)))
end
if current == '' or ARGV[1] == '' then
  redis.call('HSET', KEYS[1], 'maintenance_since', ARGV[2])
end
redis.call('HSET', KEYS[1], 'maintenance', ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
return 1
"""

# KEYS[1] a lock, ARGV[1] its owner: delete it only if the owner still holds it.
UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS[1] a health hash; ARGV[1] 1 or 0, ARGV[2] message, ARGV[3] now, ARGV[4] its TTL (s)
# Stores a background check's result; returns the failures in a row (0 after a success).
STORE_HEALTH = """
redis.call('HSET', KEYS[1], 'success', ARGV[1], 'message', ARGV[2], 'checked_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if ARGV[1] == '1' then
  redis.call('HSET', KEYS[1], 'failures', 0)
  return 0
end
return redis.call('HINCRBY', KEYS[1], 'failures', 1)
"""


#: The value of the round's lock once its round ended.
ROUND_DONE = "done"

# KEYS[1] the round's lock, ARGV[1] its owner: mark it done, keeping its expiry.
END_ROUND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local left = redis.call('PTTL', KEYS[1])
if left <= 0 then return 0 end
redis.call('SET', KEYS[1], 'done', 'PX', left)
return 1
"""


@dataclasses.dataclass(frozen=True)
class DeviceStatus:
    """One device as the store holds it."""

    name: str
    #: ``None``: no record (never seen, or the store lost it).
    state: str | None
    since: float | None = None
    reason: str = ""
    #: The id of the session that holds it or held it last (``""``: none).
    session: str = ""
    #: The operator's maintenance message (``""``: not in maintenance).
    maintenance: str = ""
    maintenance_since: float | None = None
    #: When the store first knew it (for availability).
    created: float | None = None
    #: Seconds spent ``broken`` before its last repair, and how many repairs.
    broken_seconds: float = 0.0
    repairs: int = 0
    #: Seconds spent in maintenance, until it was last turned off.
    maintenance_seconds: float = 0.0

    def availability(self, now: float) -> float | None:
        """Share of the time since the store first knew it spent neither ``broken`` nor in
        maintenance (``None``: no record). Overlaps of the two count twice (a floor)."""
        if self.created is None or now <= self.created:
            return None
        down = self.broken_seconds + self.maintenance_seconds
        if self.state == "broken" and self.since is not None:
            down += max(0.0, now - self.since)
        if self.maintenance and self.maintenance_since is not None:
            down += max(0.0, now - self.maintenance_since)
        return max(0.0, 1.0 - down / (now - self.created))

    @property
    def shown_state(self) -> str:
        """The state operators and the health URL see (maintenance wins)."""
        if self.maintenance:
            return "maintenance"
        return self.state or "unknown"


@dataclasses.dataclass(frozen=True)
class StoredHealth:
    """The last background health check of a device (or of a lab without devices)."""

    success: bool
    message: str
    checked_at: float


def _entry(state: str, now: float, reason: str = "", **extra: Any) -> str:
    return json.dumps({"state": state, "at": now, "reason": reason, **extra})


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


_FIELDS = [
    "state",
    "since",
    "reason",
    "session",
    "maintenance",
    "maintenance_since",
    "created",
    "broken_seconds",
    "repairs",
    "maintenance_seconds",
]


def _status(name: str, row: Sequence[Any]) -> DeviceStatus:
    state, since, reason, session, maintenance, m_since, created, broken, repairs, m_secs = row
    return DeviceStatus(
        name,
        state or None,
        _float(since),
        reason or "",
        session or "",
        maintenance or "",
        _float(m_since),
        _float(created),
        _float(broken) or 0.0,
        int(repairs or 0),
        _float(m_secs) or 0.0,
    )


def _lab_message(raw: Any) -> tuple[str, float | None]:
    if not raw:
        return "", None
    value = json.loads(raw)
    return str(value.get("message") or ""), _float(value.get("since"))


class DeviceStates:
    """Reads and atomic changes of device states.

    :param client: a redis-py client with ``decode_responses=True``.
    :param keys: the key builder of the lab.
    """

    def __init__(self, client: StoreClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        script = functools.partial(register_script, client)
        self._transition = script(TRANSITION)
        self._maintenance = script(MAINTENANCE)
        self._unlock = script(UNLOCK)
        self._store_health = script(STORE_HEALTH)
        self._end_round = script(END_ROUND)

    def transition(
        self,
        device: str,
        to: str,
        *,
        now: float,
        reason: str = "",
        leaving: Sequence[str] | None = None,
        session: str | None = None,
        new_session: str | None = None,
        note: dict[str, Any] | None = None,
    ) -> tuple[bool, str | None]:
        """Move ``device`` to ``to`` if it is in one of ``leaving`` (``None``: any; ``"-"``:
        no record) and, when ``session`` is given, held by that session.

        :param new_session: the session it holds after (``None``: unchanged, ``""``: none).
        :param note: more fields of the history entry (never a session id: a credential).
        :returns: whether it moved, and the state it was in (``None``: no record).
        """
        origin = "*" if leaving is None else "," + ",".join(leaving) + ","
        moved, before = self._transition(
            keys=[self.keys.device(device), self.keys.device_history(device)],
            args=[
                to,
                repr(now),
                reason,
                origin,
                "*" if session is None else session,
                "*" if new_session is None else new_session,
                _entry(to, now, reason, **(note or {})),
                HISTORY_LENGTH,
            ],
        )
        return bool(int(moved)), (str(before) or None)

    def set_maintenance(self, device: str, message: str, *, now: float) -> None:
        """Put ``device`` in maintenance with ``message`` (``""``: take it out)."""
        entry = _entry("maintenance" if message else "maintenance-off", now, message)
        self._maintenance(
            keys=[self.keys.device(device), self.keys.device_history(device)],
            args=[message, repr(now), entry, HISTORY_LENGTH],
        )
        self.publish_notice(device, message)

    def read(self, devices: Sequence[str]) -> list[DeviceStatus]:
        """The status of each device, in order. One round trip."""
        pipe = self.client.pipeline(transaction=False)
        for device in devices:
            pipe.hmget(self.keys.device(device), _FIELDS)
        rows: list[list[str | None]] = pipe.execute()
        return [_status(name, row) for name, row in zip(devices, rows, strict=True)]

    def history(self, device: str, limit: int = HISTORY_LENGTH) -> list[dict[str, Any]]:
        """The last state changes of ``device``, newest first."""
        raw: list[Any] = self.client.lrange(self.keys.device_history(device), 0, limit - 1)
        return [json.loads(item) for item in raw]

    def lock_reset(self, device: str, owner: str, seconds: float) -> bool:
        """Take the right to reset ``device`` for ``seconds`` (one process at a time)."""
        return bool(
            self.client.set(self.keys.device_reset(device), owner, nx=True, px=int(seconds * 1000))
        )

    def unlock_reset(self, device: str, owner: str) -> None:
        """Give back the right to reset ``device`` if ``owner`` still holds it."""
        self._unlock(keys=[self.keys.device_reset(device)], args=[owner])

    def notice(self, device: str) -> str:
        """The maintenance message students of ``device`` (``""``: none) are shown: the
        lab's, else the device's (``""``: none). One round trip."""
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self.keys.maintenance())
        if device:
            pipe.hget(self.keys.device(device), "maintenance")
        replies = pipe.execute()
        lab_message, _since = _lab_message(replies[0])
        return lab_message or (str(replies[1] or "") if device else "")

    def health_read(
        self, device: str | None
    ) -> tuple[str, float | None, DeviceStatus | None, StoredHealth | None]:
        """What the health URL needs: the lab-wide maintenance message and since when,
        ``device``'s status (``None``: no device asked) and the last background health check
        (``None``: none stored). One round trip."""
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self.keys.maintenance())
        pipe.hmget(self.keys.health(device or ""), ["success", "message", "checked_at"])
        if device is not None:
            pipe.hmget(self.keys.device(device), _FIELDS)
        replies = pipe.execute()
        message, since = _lab_message(replies[0])
        success, text, checked_at = replies[1]
        stored = None
        if checked_at:
            stored = StoredHealth(success == "1", text or "", float(checked_at))
        if device is None:
            return message, since, None, stored
        status = _status(device, replies[2])
        return message, since, status, stored

    def claim_health_round(self, owner: str, seconds: float) -> bool:
        """Take this interval's round of background health checks (one process runs it)."""
        key = self.keys.health_round()
        return bool(self.client.set(key, owner, nx=True, px=max(1, int(seconds * 1000))))

    def end_health_round(self, owner: str) -> None:
        """Mark this interval's round done (its lock keeps its expiry): a device it could
        not check may then get a first check of its own."""
        key = self.keys.health_round()
        self._end_round(keys=[key], args=[owner])

    def health_round_done(self) -> bool:
        """Whether this interval's round ran to its end (``False``: it runs, or none ran)."""
        return self.client.get(self.keys.health_round()) == ROUND_DONE

    def claim_health_first(self, device: str, owner: str, seconds: float) -> bool:
        """Take the right to run the first check of ``device`` (``""``: the lab) alone."""
        key = self.keys.health_first(device)
        return bool(self.client.set(key, owner, nx=True, px=max(1, int(seconds * 1000))))

    def store_health(
        self, device: str, success: bool, message: str, *, now: float, ttl: float = 86400
    ) -> int:
        """Store the result of a background health check of ``device`` (``""``: the lab),
        kept ``ttl`` seconds after the last one; returns how many checks in a row failed (0
        after a success). Atomic."""
        failures = self._store_health(
            keys=[self.keys.health(device)],
            args=[int(success), message, repr(now), max(1, int(ttl))],
        )
        return int(failures)

    # -- lab-wide maintenance (with or without declared devices) ------------------------------

    def lab_maintenance(self) -> tuple[str, float | None]:
        """The lab-wide maintenance message (``""``: off) and since when."""
        return _lab_message(self.client.get(self.keys.maintenance()))

    def set_lab_maintenance(self, message: str | None, *, now: float) -> None:
        """Turn lab-wide maintenance on with ``message``, or off (``None``)."""
        if message is None:
            self.client.delete(self.keys.maintenance())
        else:
            self.client.set(self.keys.maintenance(), json.dumps({"message": message, "since": now}))
        self.publish_notice("", message or "")

    def publish_notice(self, device: str, message: str) -> None:
        """Tell push layers that maintenance of ``device`` (``""``: the lab) changed: the
        pages of sessions in progress show ``message`` (``""``: the notice is over)."""
        event = {"session_id": "", "event": "notice", "device": device, "message": message}
        self.client.publish(self.keys.session_events(), json.dumps(event))
