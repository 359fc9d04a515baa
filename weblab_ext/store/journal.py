"""Session records in the store: one bounded list of events per session, and an index.

Each session's events are JSON strings in a list (``Keys.record_events``), appended by one
script call that keeps the list bounded: once it holds ``max_events - 1`` events only the end
of the session is still appended (taking the last place), every other event is dropped and
counted (``Keys.record_dropped``). Every append renews the list's TTL (the retention); the
start also enters the session into a sorted set scored by its start (``Keys.records_by_start``)
and trims what fell out of the retention from it, so the index never grows without bound and
expires with the lab's last record.

Nothing here is needed to serve a request: the runtime appends events off the hot path.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any

from .connection import StoreClient
from .keys import Keys
from .pubsub import register_script
from .record_calls import CallRecords, calls_summary

# KEYS[1] events list, KEYS[2] dropped counter, KEYS[3] index zset, KEYS[4] calls hash (see
# record_calls: it lives as long as the events)
# ARGV[1] event JSON, ARGV[2] max events, ARGV[3] ttl seconds, ARGV[4] "1": the end event,
# ARGV[5] index score ("" : not a start), ARGV[6] trim the index below this score,
# ARGV[7] session id
# Returns 1 when the event was stored, 0 when it was dropped: the record is full, or the session
# has no record (only a start creates one, so an unknown session id never leaves a key).
APPEND = """
local n = redis.call('LLEN', KEYS[1])
if n == 0 and ARGV[5] == '' then return 0 end
local max, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
if n < max - 1 or (ARGV[4] == '1' and n < max) then
  redis.call('RPUSH', KEYS[1], ARGV[1])
else
  redis.call('INCR', KEYS[2])
  redis.call('EXPIRE', KEYS[2], ttl)
  if ARGV[4] ~= '1' then return 0 end
  redis.call('LSET', KEYS[1], -1, ARGV[1])
end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[4], ttl)
if ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[7])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[6])
  if redis.call('TTL', KEYS[3]) < ttl then redis.call('EXPIRE', KEYS[3], ttl) end
end
return 1
"""


class JournalStore:
    """The session records of one lab.

    :param client: the lab's Redis client.
    :param keys: the lab's key names.
    """

    def __init__(self, client: StoreClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._append = functools.partial(register_script, client)(APPEND)
        #: The RLMS calls counted in the records.
        self.calls = CallRecords(client, keys)

    def append(
        self,
        session_id: str,
        event_json: str,
        *,
        max_events: int,
        ttl: float,
        end: bool = False,
        start: float | None = None,
        pipe: Any = None,
    ) -> bool:
        """Append one event to a session's record; one round trip. ``False``: dropped (the
        record is full, or there is no record to append to: only a start creates one).

        :param end: the end of the session: stored even in a full record (last place).
        :param start: the session's start (epoch seconds) for the start event, which enters
            the session into the index (and trims the index to ``ttl``).
        :param pipe: queue the append on this pipeline instead (bulk loads of records); the
            outcome then comes with the pipeline's ``execute()`` and this returns ``True``.
        """
        ttl_seconds = max(1, int(ttl))
        args: list[Any] = [
            event_json,
            max_events,
            ttl_seconds,
            "1" if end else "0",
            "" if start is None else repr(float(start)),
            "" if start is None else repr(float(start) - ttl_seconds),
            session_id,
        ]
        keys = [
            self.keys.record_events(session_id),
            self.keys.record_dropped(session_id),
            self.keys.records_by_start(),
            self.keys.record_calls(session_id),
        ]
        if pipe is not None:
            self._append(keys=keys, args=args, client=pipe)
            return True
        return bool(self._append(keys=keys, args=args))

    def events(self, session_id: str) -> tuple[list[str], int]:
        """A session's events (JSON strings, oldest first) and how many were dropped."""
        events, dropped, _calls = self.records_many([session_id])[0]
        return events, dropped

    def records_many(
        self, session_ids: Sequence[str]
    ) -> list[tuple[list[str], int, dict[str, dict[str, int]]]]:
        """The events, dropped count and counted RLMS calls (see :mod:`.record_calls`) of
        each session, in one round trip."""
        if not session_ids:
            return []
        pipe = self.client.pipeline(transaction=False)
        for session_id in session_ids:
            pipe.lrange(self.keys.record_events(session_id), 0, -1)
            pipe.get(self.keys.record_dropped(session_id))
            pipe.hgetall(self.keys.record_calls(session_id))
        replies = pipe.execute()
        return [
            (list(replies[i]), int(replies[i + 1] or 0), calls_summary(replies[i + 2]))
            for i in range(0, len(replies), 3)
        ]

    def first_and_last_many(self, session_ids: Sequence[str]) -> list[tuple[str | None, ...]]:
        """The first and last event of each session (``None`` once expired); one round trip."""
        if not session_ids:
            return []
        pipe = self.client.pipeline(transaction=False)
        for session_id in session_ids:
            key = self.keys.record_events(session_id)
            pipe.lindex(key, 0)
            pipe.lindex(key, -1)
        replies = pipe.execute()
        return [(replies[i], replies[i + 1]) for i in range(0, len(replies), 2)]

    def count(self, since: float | None, until: float | None) -> int:
        """How many recorded sessions started in ``[since, until]``; one round trip."""
        low = "-inf" if since is None else since
        high = "+inf" if until is None else until
        return int(self.client.zcount(self.keys.records_by_start(), low, high))

    def latest(self, count: int, since: float | None = None) -> list[tuple[str, float]]:
        """The ``count`` most recently started sessions (since ``since``), newest first."""
        rows: list[tuple[str, float]] = self.client.zrevrangebyscore(  # type: ignore[assignment]
            self.keys.records_by_start(),
            "+inf",
            "-inf" if since is None else since,
            start=0,
            num=count,
            withscores=True,
        )
        return [(str(sid), float(score)) for sid, score in rows]

    def sessions(
        self, since: float | None, until: float | None, *, page: int = 500
    ) -> Iterator[list[tuple[str, float]]]:
        """Pages of ``(session id, start)`` started in ``[since, until]``, oldest first.

        Each page is one round trip and at most ``page`` ids: memory stays flat whatever the
        number of sessions. Pages continue from the last start seen (not an offset), so the
        index being trimmed meanwhile skips nothing.
        """
        low: Any = "-inf" if since is None else since
        high: Any = "+inf" if until is None else until
        seen_at_low: set[str] = set()
        while True:
            rows: list[tuple[str, float]] = self.client.zrangebyscore(  # type: ignore[assignment]
                self.keys.records_by_start(),
                low,
                high,
                start=0,
                num=page + len(seen_at_low),
                withscores=True,
            )
            fresh = [(sid, float(score)) for sid, score in rows if sid not in seen_at_low]
            if not fresh:
                return
            yield fresh
            if len(rows) < page + len(seen_at_low):
                return
            last = fresh[-1][1]
            at_last = {sid for sid, score in fresh if score == last}
            seen_at_low = at_last | (seen_at_low if low == last else set())
            low = last
