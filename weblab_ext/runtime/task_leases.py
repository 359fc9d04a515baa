"""Task leases: how long a worker holds a task, and who notices when it no longer does.

Runtime layer. A worker process holds each task it runs on a lease (twice
``WEBLAB_HEARTBEAT_INTERVAL``) that its heartbeat renews every half interval. A lease that
runs out is lost for good, and that is noticed everywhere:

* by the worker itself, on its first moment back (after a pause, a freeze, a cut-off): the
  local deadline of the lease (monotonic clock) has passed, so ``current_task_stopping`` is
  true before the task's next step, and the store refuses its late writes and result;
* by every read: a running task whose lease lapsed reads as failed (``worker-lost``) and is
  failed for good there and then, which frees its unique lock and wakes its joiners;
* by the heartbeat of any worker and the cleaner of any process (:meth:`sweep`), so a dead
  worker's task is failed within three heartbeat intervals even with no worker left.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from ..random_ids import create_token
from ..states import TaskStatus
from ..store.connection import ANY_STORE_ERROR
from ..store.records import HeartbeatReport, TaskOverview, TaskRecord
from ..store.tasks import TaskStore
from .counters import LifecycleCounters

logger = logging.getLogger("weblab_ext")

#: The error of a task whose worker stopped renewing its lease (died, paused, cut off).
WORKER_LOST = {"code": "worker-lost", "message": "The worker running this task stopped responding"}
#: The error of a task still running when its worker shut down after the grace period.
SHUTDOWN_LOST = {"code": "worker-lost", "message": "The worker stopped before the task finished"}


class DeviceGuard(Protocol):
    """Keeps a device from being offered while a task that lost its record or lease still
    runs on it (a :class:`~weblab_ext.runtime.device_lifecycle.DeviceLifecycle`)."""

    def hold_for_task(self, device: str, session_id: str, task: str) -> bool: ...

    def task_ended(self, device: str, session_id: str) -> None: ...


class LeaseKeeping:
    """The lease half of :class:`~weblab_ext.runtime.task_engine.TaskEngine`.

    A mixin: it shares the engine's state, and the engine provides what is declared here.
    """

    store: TaskStore
    counters: LifecycleCounters
    clock: Callable[[], float]
    heartbeat_interval: float
    task_expires: float
    specs: Mapping[str, Any]
    _lock: threading.Lock
    _running: dict[str, Any]

    def running_tasks(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def mark_stopping(self, task_id: str) -> None:
        raise NotImplementedError

    def request_stop(self, task_id: str) -> None:
        raise NotImplementedError

    def _init_leases(self) -> None:
        #: Set while a heartbeat renews this process's leases.
        self.heartbeat_alive = threading.Event()
        #: Task id → monotonic time by which its lease must have been renewed.
        self._deadlines: dict[str, float] = {}
        self._worker_id = ""
        self._worker_pid = -1
        #: Set by the lab's wiring when it declares devices (``None``: no device to hold).
        self.device_guard: DeviceGuard | None = None

    @property
    def worker_id(self) -> str:
        """Id of this process as a worker (new after a fork): the owner its leases name."""
        if self._worker_pid != os.getpid():
            self._worker_pid = os.getpid()
            self._worker_id = f"{socket.gethostname()}-{os.getpid()}-{create_token(6)}"
        return self._worker_id

    def lease_seconds(self) -> float:
        """Lease of a task claimed now: short when a heartbeat renews it, else long.

        Without a heartbeat in this process (``run_tasks()`` in a thread-less process) a short
        lease would let other processes reap a task that is fine.
        """
        lease = 2 * self.heartbeat_interval
        return lease if self.heartbeat_alive.is_set() else max(lease, self.task_expires)

    # -- what this worker knows of its own leases -------------------------------------------

    def _lease_granted(self, task_id: str, asked_at: float, lease: float) -> None:
        """Note a lease asked for at ``asked_at`` (monotonic): it is valid until then + lease."""
        with self._lock:
            if task_id in self._running:
                self._deadlines[task_id] = asked_at + lease

    def _forget_lease(self, task_id: str) -> None:
        self._deadlines.pop(task_id, None)

    def lease_lost_locally(self, task_id: str) -> bool:
        """Whether this worker's lease on a task it runs has run out (no round trip).

        Measured from when the last renewal was *sent*, so this process never believes in a
        lease the store already considers lapsed.
        """
        deadline = self._deadlines.get(task_id)
        return deadline is not None and time.monotonic() >= deadline

    # -- heartbeat --------------------------------------------------------------------------

    def heartbeat_tick(self, now: float | None = None, threads: int = 0) -> HeartbeatReport:
        """Renew this process's leases; fail tasks of dead workers; requeue what they took."""
        now = self.clock() if now is None else now
        info = {"host": socket.gethostname(), "pid": os.getpid(), "threads": threads}
        report = self._renew(now, info)
        self._settle(report, now)
        return report

    def _renew(self, now: float, info: Mapping[str, Any]) -> HeartbeatReport:
        lease = 2 * self.heartbeat_interval
        asked_at = time.monotonic()
        tasks = self.running_tasks()
        report = self.store.heartbeat(
            self.worker_id, tasks, now=now, lease=lease, ttl=self.task_expires, info=info
        )
        lost = set(report.lost)
        for task_id, _lock in tasks:
            if task_id not in lost:
                self._lease_granted(task_id, asked_at, lease)
        self._hold_devices(report.lost)  # before the task is told: it may end at once
        for task_id in report.stopping + report.lost:
            self.mark_stopping(task_id)
        return report

    def _hold_devices(self, lost: Iterable[str]) -> None:
        """A task still running here whose record or lease is gone (the store lost it, or
        this worker was paused past its lease) is told to stop, but may go on driving its
        device: the device is held until the task ends (tried once per task)."""
        guard = self.device_guard
        if guard is None:
            return
        with self._lock:
            found = [self._running.get(task_id) for task_id in lost]
        for running in found:
            if running is None or not running.device:
                continue
            with running.hold_lock:  # the task may end meanwhile: see release_device
                if running.held is not None or running.ended:
                    continue
                running.held = False
                try:
                    running.held = guard.hold_for_task(
                        running.device, running.record.session_id, running.record.name
                    )
                except ANY_STORE_ERROR:
                    logger.warning("Could not hold device %s for a lost task", running.device)

    def release_device(self, running: Any) -> None:
        """A task run here ended: if its device was held for it, the device needs a reset
        now (see :meth:`DeviceGuard.task_ended`)."""
        with running.hold_lock:
            running.ended = True
            if not running.held or self.device_guard is None:
                return
        try:
            self.device_guard.task_ended(running.device, running.record.session_id)
        except ANY_STORE_ERROR:
            logger.warning("Could not release device %s after a lost task", running.device)

    # -- sweeping: any process, worker or not ------------------------------------------------

    def sweep(self, now: float | None = None) -> HeartbeatReport:
        """Fail tasks whose lease lapsed and requeue what dead workers took (the cleaner's
        task step: it needs no worker in this process). Nothing to do without tasks."""
        if not self.specs:
            return HeartbeatReport([], [], [], [])
        now = self.clock() if now is None else now
        report = self.store.sweep(now=now)
        self._settle(report, now)
        return report

    def operator_summary(self, limit: int = 20) -> TaskOverview:
        """What ``flask weblab status`` shows: queued and running tasks (lapsed leases are
        failed first, so a dead worker's task is not counted as running), live workers.

        :param limit: most workers listed.
        """
        now = self.clock()
        self.sweep(now)
        return self.store.overview(now=now, limit=limit)

    def _settle(self, report: HeartbeatReport, now: float) -> None:
        for task_id in report.lapsed:
            self.reap(task_id, now)
        for worker_id in report.dead_workers:
            if worker_id != self.worker_id:
                moved = self.store.requeue(worker_id, ttl=self.task_expires)
                logger.warning("Worker %s stopped beating; requeued %d task(s)", worker_id, moved)

    def reap(self, task_id: str, now: float, session_id: str | None = None, lock: str = "") -> bool:
        """Fail a task whose lease lapsed (its worker died); frees its lock, wakes joiners.

        :param session_id: its session, and ``lock`` its unique lock key, when the caller
            read its record (otherwise read here: one more round trip).
        """
        if session_id is None:
            session_id, lock = self.store.owner_of(task_id)
        reaped = self.store.finish(
            task_id,
            session_id,
            status=TaskStatus.FAILED,
            error_json=json.dumps(WORKER_LOST),
            owner=None,
            ttl=self.task_expires,
            now=now,
            lock=lock,
        )
        if reaped:
            logger.warning("Task %s failed: its worker stopped responding", task_id)
            self.counters.task_ended("lost", None)
        return reaped

    def judge(self, record: TaskRecord | None) -> TaskRecord | None:
        """A record as it must read now: a running task whose lease lapsed is failed.

        The first reader to see the lapse fails the task for good (one more round trip, once).
        """
        if record is None:
            return None
        now = self.clock()
        if not record.lapsed(now):
            return record
        try:
            if self.reap(record.task_id, now, record.session_id, record.lock):
                return record.failed_with(WORKER_LOST, now)
            fresh = self.store.load(record.task_id)  # renewed or finished meanwhile
        except ANY_STORE_ERROR:
            logger.warning("Could not fail task %s whose lease lapsed", record.task_id)
            return record.failed_with(WORKER_LOST, now)
        if fresh is not None and fresh.lapsed(now):
            return fresh.failed_with(WORKER_LOST, now)
        return fresh

    # -- shutdown ---------------------------------------------------------------------------

    def drain(self, grace: float) -> None:
        """Shutdown: ask running tasks to stop, wait up to ``grace`` s renewing their leases,
        fail what is left as ``worker-lost`` and deregister this worker process."""
        for task_id, _lock in self.running_tasks():
            try:
                self.request_stop(task_id)
            except ANY_STORE_ERROR:
                logger.warning("Could not ask task %s to stop", task_id)
        deadline = time.monotonic() + grace
        next_beat = 0.0
        while self.running_tasks() and time.monotonic() < deadline:
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + self.heartbeat_interval / 2
                try:
                    self._renew(self.clock(), {"draining": True})
                except ANY_STORE_ERROR:
                    logger.warning("Heartbeat failed while draining")
            time.sleep(0.02)
        error = json.dumps(SHUTDOWN_LOST)
        with self._lock:
            left = [running for running in self._running.values() if running is not None]
        try:
            for running in left:
                now = self.clock()
                if self.store.finish(
                    running.task_id,
                    running.record.session_id,
                    status=TaskStatus.FAILED,
                    error_json=error,
                    owner=self.worker_id,
                    ttl=self.task_expires,
                    now=now,
                    lock=running.record.lock,
                ):
                    started = running.record.started_at
                    self.counters.task_ended("lost", now - started if started else None)
            self.store.deregister(self.worker_id, ttl=self.task_expires)
        except ANY_STORE_ERROR:
            logger.warning(
                "Could not deregister worker %s; its heartbeat will lapse", self.worker_id
            )
