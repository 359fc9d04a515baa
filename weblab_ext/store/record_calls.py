"""The RLMS calls of session records: every call counted, its outcome in the same round trip.

A status call comes every few seconds for the whole of a session: one event per call would
fill the record (``WEBLAB_RECORD_MAX_EVENTS``) and cost a round trip each. So each session
record has a hash of counters (``Keys.record_calls``): how many calls of each kind ended with
each outcome (``status.active`` → 1440), and the last outcome of each kind (``status`` →
``active``). A call is counted, and its outcome appended to the events only when it differs
from the last one (``active`` → ``finish`` → ``unknown``): a session polled for hours adds a
handful of events.

The status calls read the session and count themselves in one script (:data:`STATUS`,
:data:`STATUS_MANY`): still one round trip per call, and per ``status/multiple`` call whatever
the number of ids. The session hash repeats the last status outcome counted
(``record_status``), so a call whose outcome did not change costs one command more than a
plain read (``HINCRBY``). Other calls (dispose) count themselves with :data:`COUNT_CALL`.
Nothing is written for a session that has no record: only a start creates one.

Outcomes of a status call, as the script reads the session: ``active`` (the reply is ``>= 0``),
``disposing`` (ask again), ``finish`` (``-1``: over, exited or disposed) and ``unknown`` (no
such session, or another device's).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any

from .connection import StoreClient
from .hot_path import DirectCommands
from .keys import Keys
from .pubsub import register_script
from .records import StatusFields, StatusRow, status_rows_from_packed

#: What a status call's outcome is (the scripts' rule, in Python for tests and readers).
STATUS_OUTCOMES = ("active", "disposing", "finish", "unknown")

# count_same(calls, field): count a call whose outcome did not change. A counter that was not
# there (the counters expired before the session: no record any more) is taken back, so no
# key is ever left without a TTL.
# count_change(events, dropped, calls, call, outcome, event, max, ttl): count a call whose
# outcome changed, remember it, and append ``event`` to the record (bounded as APPEND is: the
# last place waits for the end). Returns false for a session without record (nothing
# written), the event when appended, true when the full record dropped it.
_COUNT = """
local function count_same(calls, field)
  if redis.call('HINCRBY', calls, field, 1) == 1 then redis.call('HDEL', calls, field) end
end
local function count_change(events, dropped, calls, call, outcome, event, max, ttl)
  if redis.call('EXISTS', events) == 0 then return false end
  redis.call('HINCRBY', calls, call .. '.' .. outcome, 1)
  redis.call('HSET', calls, call, outcome)
  redis.call('EXPIRE', calls, ttl)
  if redis.call('LLEN', events) < max - 1 then
    redis.call('RPUSH', events, event)
    redis.call('EXPIRE', events, ttl)
    return event
  end
  redis.call('INCR', dropped)
  redis.call('EXPIRE', dropped, ttl)
  return true
end
"""

# count_status(session, events, dropped, calls, h, now, timeout, at, max, ttl): the outcome
# of a status call (protocol.should_finish's rule) from the session's HMGET state, max_date,
# last_poll, device, record_status (``h``), counted in its record. The last outcome is read
# with the session (from the counters once the session is gone); the event is built only
# when the outcome changed. A session found without record is marked so ('-'): its later
# calls cost nothing more than a plain read. Returns the event appended, or false.
_COUNT_STATUS = """
local STATUS_FIELDS = {active = 'status.active', disposing = 'status.disposing',
  finish = 'status.finish', unknown = 'status.unknown'}
local function status_outcome(h, now, timeout)
  local state = h[1]
  if not state then return 'unknown' end
  if state == 'disposing' then return 'disposing' end
  if state ~= 'active' then return 'finish' end
  local max_date, last_poll = tonumber(h[2]), tonumber(h[3])
  if max_date and now >= max_date then return 'finish' end
  if timeout > 0 and last_poll and now - last_poll >= timeout then return 'finish' end
  return 'active'
end
local function count_status(session, events, dropped, calls, h, now, timeout, at, max, ttl)
  local outcome = status_outcome(h, now, timeout)
  local last = h[5]
  if last == '-' then return false end
  if not h[1] then last = redis.call('HGET', calls, 'status') end
  if last == outcome then
    count_same(calls, STATUS_FIELDS[outcome])
    return false
  end
  local event = '{"t":' .. at .. ',"e":"rlms","call":"status","outcome":"' .. outcome .. '"}'
  local counted = count_change(events, dropped, calls, 'status', outcome, event, max, ttl)
  if h[1] then redis.call('HSET', session, 'record_status', counted and outcome or '-') end
  if counted == true then return false end
  return counted
end
"""

# KEYS[1] events list, KEYS[2] dropped counter, KEYS[3] calls hash
# ARGV[1] call, ARGV[2] outcome, ARGV[3] event JSON, ARGV[4] max events, ARGV[5] ttl
# Counts one call (a dispose) of a session. Returns 1 when its event was appended, else 0.
COUNT_CALL = (
    _COUNT
    + """
if redis.call('HGET', KEYS[3], ARGV[1]) == ARGV[2] then
  count_same(KEYS[3], ARGV[1] .. '.' .. ARGV[2])
  return 0
end
local event = count_change(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3],
  tonumber(ARGV[4]), ARGV[5])
if event and event ~= true then return 1 end
return 0
"""
)

# KEYS[1] session hash, KEYS[2] events list, KEYS[3] dropped counter, KEYS[4] calls hash
# ARGV[1] now, ARGV[2] inactivity timeout (<= 0: none), ARGV[3] max events, ARGV[4] ttl,
# ARGV[5] the event time (JSON number), ARGV[6] the device asking ('' : any; then a session of
# another device reads as missing and its record is left alone)
# Reads what the status call needs of one session and counts the call in its record.
# Returns {state, max_date, last_poll, the appended event} ('' for a missing field).
STATUS = (
    _COUNT
    + _COUNT_STATUS
    + """
local h = redis.call('HMGET', KEYS[1], 'state', 'max_date', 'last_poll', 'device',
  'record_status')
if ARGV[6] ~= '' and h[1] and h[4] ~= ARGV[6] then return {'', '', '', ''} end
local event = count_status(KEYS[1], KEYS[2], KEYS[3], KEYS[4], h, tonumber(ARGV[1]),
  tonumber(ARGV[2]), ARGV[5], tonumber(ARGV[3]), ARGV[4])
return {h[1] or '', h[2] or '', h[3] or '', event or ''}
"""
)

# KEYS[4i-3..4i] the session hash, events list, dropped counter and calls hash of id i
# ARGV as STATUS
# STATUS of many sessions: returns {rows, i, event, i, event...}: the rows as the session
# store's STATUS_MANY packs them, then the index (from 1) and event of each appended event.
STATUS_MANY = (
    _COUNT
    + _COUNT_STATUS
    + """
local call, out, n, appended = redis.call, {}, 0, {''}
local now, timeout, max, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local at, device = ARGV[5], ARGV[6]
for i = 1, #KEYS, 4 do
  local h = call('HMGET', KEYS[i], 'state', 'max_date', 'last_poll', 'device', 'record_status')
  if device ~= '' and h[1] and h[4] ~= device then
    out[n + 1], out[n + 2], out[n + 3] = '', '0', '0'
  else
    out[n + 1], out[n + 2], out[n + 3] = h[1] or '', h[2] or '0', h[3] or '0'
    local event = count_status(KEYS[i], KEYS[i + 1], KEYS[i + 2], KEYS[i + 3], h, now,
      timeout, at, max, ttl)
    if event then
      appended[#appended + 1] = (i + 3) / 4
      appended[#appended + 1] = event
    end
  end
  n = n + 3
end
appended[1] = table.concat(out, '\\31')
return appended
"""
)


def status_outcome(state: str | None, value: int) -> str:
    """The outcome the scripts count for a status call that answered ``value`` for a
    session in ``state`` (``None`` or ``""``: unknown)."""
    if not state:
        return "unknown"
    if state == "disposing":
        return "disposing"
    return "finish" if value < 0 else "active"


class CallRecords:
    """The RLMS calls counted in the session records of one lab.

    :param client: the lab's Redis client.
    :param keys: the lab's key names.
    """

    def __init__(self, client: StoreClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        script = functools.partial(register_script, client)
        self._count = script(COUNT_CALL)
        self._status = script(STATUS)
        self._status_many = script(STATUS_MANY)
        self._direct = DirectCommands(client)
        self._prefixes = [
            prefix.encode()
            for prefix in (
                keys.session_prefix(),
                keys.record_prefix(),
                keys.record_dropped_prefix(),
                keys.record_calls_prefix(),
            )
        ]

    def close(self) -> None:
        """Close the connections kept outside the client's pool."""
        self._direct.close()

    def _keys(self, session_id: str) -> list[str]:
        keys = self.keys
        return [
            keys.record_events(session_id),
            keys.record_dropped(session_id),
            keys.record_calls(session_id),
        ]

    def count(
        self,
        session_id: str,
        call: str,
        outcome: str,
        event_json: str,
        *,
        max_events: int,
        ttl: int,
    ) -> bool:
        """Count one call of a session; append ``event_json`` when its outcome changed. One
        round trip. ``True``: the event was appended."""
        args: list[str | int] = [call, outcome, event_json, max_events, ttl]
        return bool(self._count(keys=self._keys(session_id), args=args))

    def status(
        self,
        session_id: str,
        *,
        now: float,
        timeout: float,
        at: str,
        max_events: int,
        ttl: int,
        device: str = "",
    ) -> tuple[StatusFields, str | None]:
        """Read one session's status fields and count the call; one round trip.

        :param at: the event time, as JSON.
        :param device: the device asking (``""``: the lab's own status call).
        :returns: the fields and the event appended, if any.
        """
        keys = [self.keys.session(session_id), *self._keys(session_id)]
        args = [repr(now), repr(timeout), max_events, ttl, at, device]
        state, max_date, last_poll, event = self._direct.script(self._status, keys, args)
        fields = StatusFields(
            str(state) if state else None,
            float(max_date) if max_date else None,
            float(last_poll) if last_poll else None,
        )
        return fields, (str(event) if event else None)

    def status_rows(
        self,
        session_ids: Sequence[str],
        *,
        now: float,
        timeout: float,
        at: str,
        max_events: int,
        ttl: int,
        device: str = "",
    ) -> tuple[Iterator[StatusRow], list[tuple[str, str]]]:
        """Read the status rows of many sessions, in order, and count the call in each
        record; one round trip. Returns the rows and the ``(session id, event)`` appended."""
        if not session_ids:
            return iter(()), []
        args = [repr(now), repr(timeout), max_events, ttl, at, device]
        reply: list[Any] = self._direct.script_per_id(
            self._status_many, self._prefixes, session_ids, args
        )
        appended = [
            (session_ids[int(reply[i]) - 1], str(reply[i + 1])) for i in range(1, len(reply), 2)
        ]
        return status_rows_from_packed(reply[0]), appended


def calls_summary(raw: dict[str, str]) -> dict[str, dict[str, int]]:
    """The counters of a calls hash, per call then outcome (the last outcomes left out)."""
    summary: dict[str, dict[str, int]] = {}
    for field, value in sorted(raw.items()):
        call, dot, outcome = field.partition(".")
        if dot:
            summary.setdefault(call, {})[outcome] = int(value)
    return summary
