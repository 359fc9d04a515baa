"""DeviceStore: the store side of ``WEBLAB_DEVICES`` (a pool of identical devices).

A declared device is one hash (see :mod:`.keys`) whose ``session`` field names the session
that holds it and whose ``state`` (see :mod:`.device_states`) says whether it may be handed
over: a start is accepted only on an ``idle`` device, and a device becomes ``idle`` again
only once its previous session's clean-up finished (or a reset returned). The session hash
keeps its device in a field of its own, so the status calls of a device read it in the same
round trip as the rest and answer another device's session as unknown.

Every key is built by :mod:`.keys` and shares the lab's hash tag: with 1 or 1,000 devices, a
request, a status call and the cleaner cost the same.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from typing import Any

from .connection import StoreClient
from .device_states import HISTORY_LENGTH, DeviceStates
from .hot_path import DirectCommands
from .keys import Keys
from .pubsub import register_script
from .records import SessionRecord, StatusFields, StatusRow, status_rows_from_packed
from .session_scripts import CREATE_SESSION
from .sessions import ACTIVE_GRACE, MAX_TTL

# KEYS[1] new session hash, KEYS[2] by-deadline zset, KEYS[3] by-poll zset, KEYS[4] device
# hash, KEYS[5] its history list, KEYS[6] the lab-wide maintenance key
# ARGV[1] session id, ARGV[2] ttl seconds, ARGV[3] max_date, ARGV[4] last_poll (now),
# ARGV[5] history entry, ARGV[6] history cap, ARGV[7..] field, value, ...
# Creates a session on a device, atomically with the check that the device is idle (and not
# in maintenance): of two starts racing for one device, one gets it and the other reads the
# state the first left it in. Returns 'created', 'taken' (the new session id exists
# already), 'unknown' (the device has no record), 'maintenance', or the device's state.
START_ON_DEVICE = (
    CREATE_SESSION
    + """
if redis.call('EXISTS', KEYS[6]) == 1 then return 'maintenance' end
local device = redis.call('HMGET', KEYS[4], 'state', 'maintenance')
if not device[1] then return 'unknown' end
if device[2] and device[2] ~= '' then return 'maintenance' end
if device[1] ~= 'idle' then return device[1] end
if redis.call('EXISTS', KEYS[1]) == 1 then return 'taken' end
create_session(7)
redis.call('HSET', KEYS[4], 'session', ARGV[1], 'state', 'starting', 'since', ARGV[4],
  'reason', '')
redis.call('LPUSH', KEYS[5], ARGV[5])
redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[6]) - 1)
return 'created'
"""
)

# KEYS[1..n] session hashes
# ARGV[1] the device asking
# STATUS_MANY of the session store, for one device: a session of another device (or of none)
# reads as missing ('' and zeros), exactly like an unknown id.
STATUS_MANY_ON_DEVICE = """
local call, out, n, device = redis.call, {}, 0, ARGV[1]
for i = 1, #KEYS do
  local h = call('HMGET', KEYS[i], 'state', 'max_date', 'last_poll', 'device')
  if h[4] == device then
    out[n + 1], out[n + 2], out[n + 3] = h[1] or '', h[2] or '0', h[3] or '0'
  else
    out[n + 1], out[n + 2], out[n + 3] = '', '0', '0'
  end
  n = n + 3
end
return table.concat(out, '\\31')
"""


def session_device(client: StoreClient, keys: Keys, session_id: str) -> str:
    """The device a session holds (``""``: none), as a ``unique='global'`` task lock needs."""
    return str(client.hget(keys.session(session_id), "device") or "")


class DeviceStore:
    """Redis operations on the declared devices of one lab.

    :param client: a redis-py client with ``decode_responses=True``.
    :param keys: the key builder of the lab.
    """

    def __init__(self, client: StoreClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        script = functools.partial(register_script, client)
        self._start = script(START_ON_DEVICE)
        self._status_many = script(STATUS_MANY_ON_DEVICE)
        self._direct = DirectCommands(client)
        self._session_prefix = keys.session_prefix().encode()
        #: The states of the devices (see :mod:`.device_states`).
        self.states = DeviceStates(client, keys)

    def close(self) -> None:
        """Close the connections this store keeps outside the client's pool."""
        self._direct.close()

    def create(self, record: SessionRecord, *, now: float) -> str:
        """Store a new active session on ``record.device`` if the device is ``idle``.

        :returns: ``"created"``, ``"taken"`` (the session id exists: draw another),
            ``"unknown"`` (the device has no record: reset it first), ``"maintenance"``, or
            the state that refused it (``starting``, ``in-use``, ``cleaning``, ``broken``).
        """
        ttl = max(1, int(min(record.max_date - now, MAX_TTL))) + ACTIVE_GRACE
        entry = json.dumps({"state": "starting", "at": now, "reason": ""})
        argv: list[Any] = [
            record.session_id,
            ttl,
            repr(record.max_date),
            repr(record.last_poll),
            entry,
            HISTORY_LENGTH,
        ]
        for name, value in record.to_hash().items():
            argv.extend((name, value))
        keys = [
            self.keys.session(record.session_id),
            self.keys.sessions_by_deadline(),
            self.keys.sessions_by_poll(),
            self.keys.device(record.device),
            self.keys.device_history(record.device),
            self.keys.maintenance(),
        ]
        return str(self._direct.script(self._start, keys, argv))

    def holder(self, device: str) -> str | None:
        """The id of the session that holds ``device`` now (not disposed yet), if any."""
        return self.holders([device])[device]

    def holders(self, devices: Sequence[str]) -> dict[str, str | None]:
        """The holding session of each device (``None``: free). Two round trips in all."""
        pipe = self.client.pipeline(transaction=False)
        for device in devices:
            pipe.hget(self.keys.device(device), "session")
        named: list[str | None] = pipe.execute()
        pipe = self.client.pipeline(transaction=False)
        for session_id in named:
            pipe.hget(self.keys.session(session_id or "-"), "state")
        states: list[str | None] = pipe.execute()
        return {
            device: session_id if session_id and state and state != "disposed" else None
            for device, session_id, state in zip(devices, named, states, strict=True)
        }

    def records(self, session_ids: Sequence[str]) -> list[SessionRecord | None]:
        """The records of many sessions, in order (``None``: gone). One round trip."""
        pipe = self.client.pipeline(transaction=False)
        for session_id in session_ids:
            pipe.hgetall(self.keys.session(session_id))
        raws: list[dict[str, str]] = pipe.execute()
        return [
            SessionRecord.from_hash(sid, raw) if raw else None
            for sid, raw in zip(session_ids, raws, strict=True)
        ]

    def status_fields(self, session_id: str, device: str) -> StatusFields:
        """What the status call needs of one session, read as missing when the session is not
        ``device``'s. One round trip."""
        state, max_date, last_poll, owner = self._direct.command(
            "HMGET", self.keys.session(session_id), "state", "max_date", "last_poll", "device"
        )
        if owner != device:
            return StatusFields(None, None, None)
        return StatusFields(
            str(state) if state else None,
            float(max_date) if max_date else None,
            float(last_poll) if last_poll else None,
        )

    def status_rows(self, session_ids: Sequence[str], device: str) -> Iterator[StatusRow]:
        """:meth:`.SessionStore.status_rows` for one device (others' sessions read missing)."""
        if not session_ids:
            return iter(())
        prefix = self._session_prefix
        packed = self._direct.script(
            self._status_many, [prefix + sid.encode() for sid in session_ids], [device]
        )
        return status_rows_from_packed(packed)

    def device_of(self, session_id: str) -> str | None:
        """The device of a session (``""``: none), or ``None`` for an unknown session."""
        state, device = self._direct.command(
            "HMGET", self.keys.session(session_id), "state", "device"
        )
        if not state:
            return None
        return str(device or "")
