"""TaskStore: every Redis operation on background tasks, each one round trip.

A task is one hash (see :mod:`.task_scripts` for its fields) moving through::

    submitted ──claim──► running ──finish──► done | failed
        └──(unique lock held elsewhere)──────────► failed
                          └──(lease lapsed: worker died or paused)──► failed (worker-lost)

Submitted ids wait in a queue list that idle workers block on (``BRPOPLPUSH`` into their
process's processing list, so an id is never lost between pop and claim); running tasks
carry a lease in a sorted set scored by expiry, renewed by their worker's heartbeat; the end
of a task pushes a token onto its done list, which ``join()`` blocks on without polling.
The lease also fences its worker: past it, that worker's writes are refused (see
:mod:`.task_scripts`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import task_scripts as scripts
from .connection import StoreClient, max_block_seconds
from .keys import Keys
from .locks import Lock
from .pubsub import Subscription, register_script
from .records import HeartbeatReport, TaskOverview, TaskRecord, pairs_to_dict, worker_info

#: What a script answers when the caller did not declare the task's unique lock key.
_NEEDS_LOCK = "lock?"


class TaskStore:
    """Task records, queue, leases, locks and notifications of one lab.

    :param client: a redis-py client with ``decode_responses=True``.
    :param keys: the key builder of the lab.
    """

    def __init__(self, client: StoreClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        #: Longest block of one blocking command: below the client's socket timeout.
        self.max_block = max_block_seconds(client)
        script = functools.partial(register_script, client)
        self._submit = script(scripts.SUBMIT)
        self._claim = script(scripts.CLAIM)
        self._finish = script(scripts.FINISH)
        self._store_data = script(scripts.STORE_DATA)
        self._stop = script(scripts.STOP)
        self._heartbeat = script(scripts.HEARTBEAT)
        self._sweep = script(scripts.SWEEP)
        self._requeue = script(scripts.REQUEUE)

    @staticmethod
    def _with_lock(script: Any, keys: list[str], args: list[Any], lock: str) -> Any:
        """Run a script that may touch the task's unique lock, declaring it in KEYS.

        ``lock`` is the lock key the caller knows (``""``: none); a script that finds
        another one in the hash answers ``{'lock?', key}`` and is run once more with it.
        """
        for _ in range(2):
            reply = script(keys=[*keys, lock] if lock else keys, args=args)
            if not (isinstance(reply, list) and len(reply) == 2 and reply[0] == _NEEDS_LOCK):
                return reply
            lock = str(reply[1])

    # -- submission and lookup --------------------------------------------------------------

    def submit(
        self,
        task_id: str,
        fields: Mapping[str, str],
        *,
        session_id: str,
        lock_key: str | None,
        ttl: float,
        now: float,
        refuse_duplicate: bool,
        duplicate_error: Mapping[str, Any],
    ) -> int:
        """Record and queue a task; 1 queued, 0 recorded as a failed duplicate, -1 refused."""
        keys = [
            self.keys.task(task_id),
            self.keys.session_tasks(session_id),
            self.keys.task_queue(),
            self.keys.task_done(task_id),
        ]
        if lock_key is not None:
            keys.append(lock_key)
        argv: list[Any] = [
            task_id,
            int(ttl),
            int(ttl * 1000),
            "1" if refuse_duplicate else "0",
            json.dumps(duplicate_error),
            repr(now),
            self.keys.task_progress(),
        ]
        for name, value in fields.items():
            argv.extend((name, value))
        return int(self._submit(keys=keys, args=argv))

    def load(self, task_id: str) -> TaskRecord | None:
        """Read one task, or ``None`` when unknown or expired."""
        raw: dict[str, str] = self.client.hgetall(self.keys.task(task_id))  # type: ignore[assignment]
        return TaskRecord.from_hash(task_id, raw) if raw else None

    def load_many(self, task_ids: Iterable[str]) -> list[TaskRecord]:
        """Read several tasks in one round trip, skipping the expired ones."""
        ids = list(task_ids)
        if not ids:
            return []
        pipe = self.client.pipeline(transaction=False)
        for task_id in ids:
            pipe.hgetall(self.keys.task(task_id))
        raws = pipe.execute()
        return [TaskRecord.from_hash(tid, raw) for tid, raw in zip(ids, raws, strict=True) if raw]

    def session_tasks(self, session_id: str) -> list[TaskRecord]:
        """Every still-stored task of a session, oldest submission first (two round trips)."""
        ids: set[str] = self.client.smembers(self.keys.session_tasks(session_id))  # type: ignore[assignment]
        records = self.load_many(sorted(ids))
        return sorted(records, key=lambda record: (record.submitted_at, record.task_id))

    def status(self, task_id: str) -> str | None:
        """The status of a task, or ``None`` when it is gone."""
        value = self.client.hget(self.keys.task(task_id), "status")
        return str(value) if value is not None else None

    def is_stopping(self, task_id: str) -> bool:
        """Read the durable stop flag (used when no stop listener runs in this process)."""
        return bool(self.client.hget(self.keys.task(task_id), "stopping") == "1")

    def queue_length(self) -> int:
        return int(self.client.llen(self.keys.task_queue()))

    # -- workers ----------------------------------------------------------------------------

    def next_from_queue(self, worker_id: str, timeout: float) -> str | None:
        """Block up to ``timeout`` s for a queued id, moving it to the worker's processing list.

        ``BRPOPLPUSH``, not ``BLMOVE``: the embedded store (fakeredis 2.40) blocks only on the
        former. The block is capped by :attr:`max_block`: callers loop.
        """
        value = self.client.brpoplpush(
            self.keys.task_queue(), self.keys.worker_processing(worker_id), self._block(timeout)
        )
        return str(value) if value is not None else None

    def pop_from_queue(self, worker_id: str) -> str | None:
        """Take a queued id without waiting (one ``run_tasks()`` pass)."""
        value = self.client.rpoplpush(
            self.keys.task_queue(), self.keys.worker_processing(worker_id)
        )
        return str(value) if value is not None else None

    def claim(
        self,
        task_id: str,
        worker_id: str,
        *,
        now: float,
        lease: float,
        ttl: float,
        duplicate_error: Mapping[str, Any],
    ) -> TaskRecord | str | None:
        """Claim a submitted task: its record, ``"duplicate"``, or ``None`` if not claimable.

        One round trip; two for a unique task (the first one learns its lock key).
        """
        reply = self._with_lock(
            self._claim,
            [
                self.keys.task(task_id),
                self.keys.worker_processing(worker_id),
                self.keys.task_leases(),
                self.keys.task_done(task_id),
            ],
            [
                task_id,
                worker_id,
                repr(now),
                repr(now + lease),
                int(lease * 1000),
                int(max(ttl, lease)),
                json.dumps(duplicate_error),
                self.keys.task_progress(),
            ],
            "",
        )
        if not reply:
            return None
        if reply == ["duplicate"]:
            return "duplicate"
        return TaskRecord.from_hash(task_id, pairs_to_dict(reply))

    def finish(
        self,
        task_id: str,
        session_id: str,
        *,
        status: str,
        result_json: str = "",
        error_json: str = "",
        data_json: str = "",
        owner: str | None = None,
        queued: bool = False,
        ttl: float,
        now: float,
        lock: str = "",
    ) -> bool:
        """Finish a running task once (or, ``queued``, one that has not started).

        :param owner: the worker id that must hold the task; ``None`` finishes it only if its
            lease lapsed before ``now`` (the reaper).
        :param queued: finish the task only if no worker claimed it yet.
        :param lock: the task's unique lock key, if known (``TaskRecord.lock``).
        """
        mode, check = ("owner", owner) if owner is not None else ("lapsed", repr(now))
        if queued:
            mode, check = "queued", ""

        reply = self._with_lock(
            self._finish,
            [
                self.keys.task(task_id),
                self.keys.task_leases(),
                self.keys.task_done(task_id),
                self.keys.session_tasks(session_id),
            ],
            [
                task_id,
                mode,
                check,
                status,
                result_json,
                error_json,
                data_json,
                int(ttl),
                repr(now),
                self.keys.task_progress(),
            ],
            lock,
        )
        return bool(reply)

    def store_data(self, task_id: str, data_json: str, *, owner: str, now: float) -> bool:
        """Store a running task's data and publish it as progress.

        :param owner: the worker id that must hold the task on a lease valid at ``now``;
            otherwise nothing is written and the answer is ``False``.
        """
        return bool(
            self._store_data(
                keys=[self.keys.task(task_id), self.keys.task_leases()],
                args=[task_id, data_json, self.keys.task_progress(), owner, repr(now)],
            )
        )

    def stop(self, task_id: str) -> bool:
        """Set the stop flag of a task and tell the workers."""
        return bool(
            self._stop(keys=[self.keys.task(task_id)], args=[task_id, self.keys.task_stops()])
        )

    def wait_done(self, task_id: str, timeout: float) -> bool:
        """Block up to ``timeout`` s until the task has finished; ``True`` if it has.

        Rotating the done list onto itself leaves the token for every other joiner. The block
        is capped by :attr:`max_block` (so it fits the socket timeout): callers loop.
        """
        key = self.keys.task_done(task_id)
        return self.client.brpoplpush(key, key, self._block(timeout)) is not None

    def _block(self, timeout: float) -> float:
        return max(0.01, min(timeout, self.max_block))

    def heartbeat(
        self,
        worker_id: str,
        tasks: Sequence[tuple[str, str]],
        *,
        now: float,
        lease: float,
        ttl: float,
        info: Mapping[str, Any],
    ) -> HeartbeatReport:
        """Renew a worker process and its tasks; report stop requests, lapses and deaths.

        A task whose lease already lapsed is not renewed but reported ``lost``.

        :param tasks: ``(task id, unique lock key or "")`` of each task it runs.
        """
        keys = [
            self.keys.task_leases(),
            self.keys.workers(),
            self.keys.worker_info(worker_id),
            self.keys.worker_processing(worker_id),
        ]
        keys.extend(self.keys.task(task_id) for task_id, _lock in tasks)
        argv: list[Any] = [
            repr(now),
            repr(now + lease),
            worker_id,
            int(lease * 4) + 1,
            int(max(ttl, lease)),
            int(lease * 1000),
            json.dumps(dict(info)),
        ]
        for task_id, lock in tasks:
            if lock:
                keys.append(lock)
            argv.extend((task_id, len(keys) if lock else 0))
        stopping, lost, lapsed, dead = self._heartbeat(keys=keys, args=argv)
        return HeartbeatReport(list(stopping), list(lost), list(lapsed), list(dead))

    def sweep(self, *, now: float) -> HeartbeatReport:
        """What any process may clean up without being a worker: lapsed leases and dead
        worker processes (removed from the registry, so one sweeper requeues their ids)."""
        lapsed, dead = self._sweep(
            keys=[self.keys.task_leases(), self.keys.workers()], args=[repr(now)]
        )
        return HeartbeatReport([], [], list(lapsed), list(dead))

    def requeue(self, worker_id: str, *, ttl: float) -> int:
        """Put back the ids a worker process took but never claimed.

        :param ttl: the queue lives at least this long afterwards.
        """
        return int(
            self._requeue(
                keys=[self.keys.worker_processing(worker_id), self.keys.task_queue()],
                args=[int(ttl)],
            )
        )

    def deregister(self, worker_id: str, *, ttl: float) -> None:
        """Forget a worker process that stops cleanly."""
        pipe = self.client.pipeline(transaction=False)  # no MULTI on a cluster (redis-py 5)
        pipe.zrem(self.keys.workers(), worker_id)
        pipe.delete(self.keys.worker_info(worker_id))
        pipe.execute()
        self.requeue(worker_id, ttl=ttl)

    def overview(self, *, now: float, limit: int = 20) -> TaskOverview:
        """Queue length, running tasks and live workers: two round trips, no key scan."""
        pipe = self.client.pipeline(transaction=False)
        pipe.llen(self.keys.task_queue())
        pipe.zcount(self.keys.task_leases(), f"({now!r}", "+inf")
        pipe.zcount(self.keys.task_leases(), "-inf", now)
        pipe.zcount(self.keys.workers(), f"({now!r}", "+inf")
        pipe.zrangebyscore(self.keys.workers(), f"({now!r}", "+inf", start=0, num=limit)
        queued, running, lapsed, live, worker_ids = pipe.execute()
        pipe = self.client.pipeline(transaction=False)
        for worker_id in worker_ids:
            pipe.hgetall(self.keys.worker_info(worker_id))
        workers = [
            worker_info(wid, raw) for wid, raw in zip(worker_ids, pipe.execute(), strict=True)
        ]
        return TaskOverview(int(queued), int(running), int(lapsed), int(live), workers)

    def owner_of(self, task_id: str) -> tuple[str, str]:
        """``(session id, unique lock key)`` of a task (empty strings when it is gone)."""
        session_id, lock = self.client.hmget(self.keys.task(task_id), ["session_id", "lock"])
        return str(session_id or ""), str(lock or "")

    # -- unique locks of direct calls, stop notifications ------------------------------------

    def lock(self, key: str) -> Lock:
        """The unique lock at ``key`` (see :func:`.runtime.unique_locks.unique_lock_key`)."""
        return Lock(self.client, key)

    def subscribe_stops(self) -> Subscription:
        """Listen to the ids of tasks asked to stop (published by :meth:`stop`)."""
        return Subscription(self.client, [self.keys.task_stops()])
