"""MonitoringStore: what operators count and read — the lab's Prometheus counters, and the
snapshots behind the metrics endpoint, the admin page and ``flask weblab status``.

The counters live in one hash shared by every web and worker process
(:meth:`.Keys.metrics_counters`). Each event writes them with one script call (one round trip
on a session start, a disposal, a task end; none on a student's request) and the metrics
endpoint reads them at scrape time, so every web process reports the same numbers. A
histogram keeps one field per bucket (not cumulative: made cumulative when read), a count and
a sum.

Each write refreshes the hash's TTL (:data:`COUNTERS_TTL`): a lab idle for longer than that
starts its counters from zero again, which Prometheus reads as a counter reset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from .connection import StoreClient
from .keys import Keys
from .records import SessionRecord, TaskRecord, pairs_to_dict

#: Seconds the counters outlive their last write.
COUNTERS_TTL = 30 * 24 * 3600
#: Upper bounds (seconds) of the buckets of how long ``on_dispose`` took.
DISPOSE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Upper bounds (seconds) of the buckets of how long a task ran.
TASK_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
#: Why a session ended: logged out, slot over, silent past the timeout, ended by the RLMS
#: before any of those, ended from the admin page, or disposed because ``on_start`` failed.
DISPOSE_REASONS = ("exited", "slot_end", "timeout", "rlms", "admin", "start_failed")
#: How a task ended: its body returned, it failed (raised, or a duplicate of a unique task),
#: or its worker was lost (died, froze past its lease, shut down mid-task).
TASK_END_STATES = ("done", "failed", "lost")

# KEYS[1] counters hash
# ARGV[1] ttl seconds, ARGV[2..] field, increment, ... (an increment written with a '.' is a
# float: HINCRBYFLOAT; otherwise HINCRBY)
# Adds every increment and refreshes the TTL: one command per event, whatever it counts.
RECORD = """
for i = 2, #ARGV, 2 do
  if string.find(ARGV[i + 1], '.', 1, true) then
    redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1])
  else
    redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""

# KEYS[1] by-deadline zset, KEYS[2] by-poll zset, KEYS[3] counters hash, KEYS[4] task queue,
# KEYS[5] task leases zset, KEYS[6] workers zset
# ARGV[1] now, ARGV[2] inactivity timeout (<= 0: none), ARGV[3] most logged-out sessions read
# Everything a scrape reports, in one command: {undisposed sessions, counters (flat), queued
# tasks, running tasks (live leases), live workers, cleaner lag}. The cleaner lag is the
# seconds since the oldest undisposed session became due ('0' when none is): its slot ended
# (by-deadline score), it fell silent (by-poll score + timeout) or its student logged out. A
# logout scores 0 in by-deadline and records no time, so a logged-out session counts from its
# last poll, the last moment it is known to have been in use.
READ = """
local now = tonumber(ARGV[1])
local timeout = tonumber(ARGV[2])
local oldest = nil
local ended = redis.call('ZRANGEBYSCORE', KEYS[1], '(0', ARGV[1], 'WITHSCORES', 'LIMIT', 0, 1)
if #ended > 0 then oldest = tonumber(ended[2]) end
if timeout > 0 then
  local silent = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - timeout, 'WITHSCORES',
                            'LIMIT', 0, 1)
  if #silent > 0 then
    local due = tonumber(silent[2]) + timeout
    if not oldest or due < oldest then oldest = due end
  end
end
local exited = redis.call('ZRANGEBYSCORE', KEYS[1], 0, 0, 'LIMIT', 0, tonumber(ARGV[3]))
for _, sid in ipairs(exited) do
  local poll = tonumber(redis.call('ZSCORE', KEYS[2], sid) or '')
  if poll and (not oldest or poll < oldest) then oldest = poll end
end
local lag = '0'
if oldest and oldest <= now then lag = tostring(now - oldest) end
local live = '(' .. ARGV[1]
return {redis.call('ZCARD', KEYS[1]), redis.call('HGETALL', KEYS[3]),
        redis.call('LLEN', KEYS[4]), redis.call('ZCOUNT', KEYS[5], live, '+inf'),
        redis.call('ZCOUNT', KEYS[6], live, '+inf'), lag}
"""

# KEYS[1] by-deadline zset, KEYS[2] by-poll zset
# The undisposed sessions by state, in one command and O(log N): {undisposed, in the by-poll
# index (active and logged-out ones: a disposal takes a session out of it), logged out (a
# logout scores 0 in by-deadline)}.
COUNT_SESSIONS = """
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2]),
        redis.call('ZCOUNT', KEYS[1], 0, 0)}
"""

#: Logged-out sessions looked at for the cleaner lag (the cleaner disposes them within a pass).
_EXITED_READ = 100


@dataclasses.dataclass(frozen=True)
class Histogram:
    """A histogram as read: cumulative ``(upper bound, count)`` pairs, then count and sum."""

    buckets: list[tuple[float, int]]
    count: int
    sum: float


@dataclasses.dataclass(frozen=True)
class SessionCounts:
    """The sessions not disposed yet, by state (their sum is ``weblab_sessions_active``)."""

    active: int
    #: Logged out, waiting for the cleaner.
    exited: int
    #: Being disposed: their ``on_dispose`` runs (or its process died and the cleaner will
    #: finish it).
    disposing: int

    @property
    def total(self) -> int:
        return self.active + self.exited + self.disposing


@dataclasses.dataclass(frozen=True)
class MetricsReading:
    """Everything the metrics endpoint reports, read in one round trip."""

    sessions_active: int
    session_starts: int
    disposals: dict[str, int]
    dispose_seconds: Histogram
    queue_depth: int
    tasks_running: int
    tasks_ended: dict[str, int]
    task_seconds: Histogram
    workers_alive: int
    cleaner_lag: float
    #: Starts refused on a device that was not idle, by ``(device, state)``.
    starts_refused: dict[tuple[str, str], int] = dataclasses.field(default_factory=dict)


def _observe(prefix: str, seconds: float, bounds: Sequence[float]) -> list[str]:
    bound = next((f"{b!r}" for b in bounds if seconds <= b), "+Inf")
    return [
        f"{prefix}:le:{bound}",
        "1",
        f"{prefix}:count",
        "1",
        f"{prefix}:sum",
        f"{max(0.0, seconds):.6f}",
    ]


def _histogram(counters: Mapping[str, str], prefix: str, bounds: Sequence[float]) -> Histogram:
    cumulative, total = [], 0
    for bound in bounds:
        total += int(counters.get(f"{prefix}:le:{bound!r}", 0))
        cumulative.append((bound, total))
    return Histogram(
        cumulative,
        int(counters.get(f"{prefix}:count", 0)),
        float(counters.get(f"{prefix}:sum", 0.0)),
    )


class MonitoringStore:
    """The operators' counters and reads of one lab.

    :param client: a redis-py client with ``decode_responses=True`` (or a cluster client).
    :param keys: the key builder of the lab.
    """

    def __init__(self, client: StoreClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._record = client.register_script(RECORD)
        self._read = client.register_script(READ)
        self._count_sessions = client.register_script(COUNT_SESSIONS)

    # -- counting: one round trip per event --------------------------------------------------

    def _add(self, increments: list[str]) -> None:
        self._record(keys=[self.keys.metrics_counters()], args=[COUNTERS_TTL, *increments])

    def record_start(self) -> None:
        """Count a session start."""
        self._add(["session_starts", "1"])

    def record_start_refused(self, device: str, state: str) -> None:
        """Count a start refused on ``device`` because it was ``state`` (not ``idle``)."""
        self._add([f"starts_refused:{device}:{state}", "1"])

    def record_dispose(self, reason: str, seconds: float) -> None:
        """Count a disposal and how long its ``on_dispose`` took.

        :param reason: one of :data:`DISPOSE_REASONS`.
        """
        if reason not in DISPOSE_REASONS:
            raise ValueError(f"unknown disposal reason {reason!r}")
        self._add(
            [f"disposals:{reason}", "1", *_observe("dispose_seconds", seconds, DISPOSE_BUCKETS)]
        )

    def record_task_end(self, state: str, seconds: float | None) -> None:
        """Count a task end, and how long it ran when it ran (``None``: it never ran here).

        :param state: one of :data:`TASK_END_STATES`.
        """
        if state not in TASK_END_STATES:
            raise ValueError(f"unknown task end state {state!r}")
        increments = [f"tasks:{state}", "1"]
        if seconds is not None:
            increments += _observe("task_seconds", seconds, TASK_BUCKETS)
        self._add(increments)

    # -- reading ------------------------------------------------------------------------------

    def read(self, *, now: float, timeout: float) -> MetricsReading:
        """Read every metric at ``now`` in one round trip (no key scan).

        :param timeout: the inactivity timeout in force, for the cleaner lag.
        """
        keys = self.keys
        reply = self._read(
            keys=[
                keys.sessions_by_deadline(),
                keys.sessions_by_poll(),
                keys.metrics_counters(),
                keys.task_queue(),
                keys.task_leases(),
                keys.workers(),
            ],
            args=[repr(now), repr(timeout), _EXITED_READ],
        )
        active, flat, queued, running, workers, lag = reply
        counters = pairs_to_dict(flat)
        return MetricsReading(
            sessions_active=int(active),
            session_starts=int(counters.get("session_starts", 0)),
            disposals={
                reason: int(counters.get(f"disposals:{reason}", 0)) for reason in DISPOSE_REASONS
            },
            dispose_seconds=_histogram(counters, "dispose_seconds", DISPOSE_BUCKETS),
            queue_depth=int(queued),
            tasks_running=int(running),
            tasks_ended={
                state: int(counters.get(f"tasks:{state}", 0)) for state in TASK_END_STATES
            },
            task_seconds=_histogram(counters, "task_seconds", TASK_BUCKETS),
            workers_alive=int(workers),
            cleaner_lag=float(lag),
            starts_refused={
                (device, state): int(value)
                for name, value in counters.items()
                if name.startswith("starts_refused:")
                for device, _, state in [name[len("starts_refused:") :].rpartition(":")]
            },
        )

    def session_counts(self) -> SessionCounts:
        """The sessions not disposed yet, by state, in one round trip (no key scan)."""
        undisposed, polled, exited = (
            int(count)
            for count in self._count_sessions(
                keys=[self.keys.sessions_by_deadline(), self.keys.sessions_by_poll()]
            )
        )
        return SessionCounts(
            active=max(0, polled - exited), exited=exited, disposing=max(0, undisposed - polled)
        )

    def undisposed_ids(self, start: int, count: int) -> list[str]:
        """Undisposed session ids from position ``start`` on, logged-out ones first, then
        soonest slot end first."""
        ids: list[str] = self.client.zrange(  # type: ignore[assignment]
            self.keys.sessions_by_deadline(), start, start + count - 1
        )
        return list(ids)

    def undisposed_sessions(self, limit: int) -> list[SessionRecord]:
        """The first ``limit`` undisposed sessions (order of :meth:`undisposed_ids`); two round
        trips whatever the limit."""
        ids = self.undisposed_ids(0, limit)
        pipe = self.client.pipeline(transaction=False)
        for session_id in ids:
            pipe.hgetall(self.keys.session(session_id))
        return [
            SessionRecord.from_hash(sid, raw)
            for sid, raw in zip(ids, pipe.execute(), strict=True)
            if raw
        ]

    def unfinished_task_ids(self, limit: int) -> list[str]:
        """Running task ids (soonest lease end first), then queued ones (oldest first), at
        most ``limit`` of each; one round trip."""
        pipe = self.client.pipeline(transaction=False)
        pipe.zrange(self.keys.task_leases(), 0, limit - 1)
        pipe.lrange(self.keys.task_queue(), -limit, -1)
        running, queued = pipe.execute()
        return list(dict.fromkeys([*running, *reversed(queued)]))

    def unfinished_tasks(self, limit: int) -> list[TaskRecord]:
        """The records of :meth:`unfinished_task_ids`; two round trips."""
        ids = self.unfinished_task_ids(limit)
        pipe = self.client.pipeline(transaction=False)
        for task_id in ids:
            pipe.hgetall(self.keys.task(task_id))
        return [
            TaskRecord.from_hash(tid, raw)
            for tid, raw in zip(ids, pipe.execute(), strict=True)
            if raw
        ]
