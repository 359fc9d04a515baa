"""The task engine of one app in one process: submit, claim, run, finish, reap.

Runtime layer. It keeps, per process, the tasks it is running (so its heartbeat renews their
leases) and the ids asked to stop (kept current by a pub/sub listener, so
``current_task_stopping`` costs no round trip). Task bodies are lab code: they run through the
``run_in_app`` callable the Flask layer hands in, which sets up the app context, the session's
user and ``current_task``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ..config import Settings
from ..errors import AlreadyRunningError
from ..store.connection import ANY_STORE_ERROR, STORE_ERRORS
from ..store.records import TaskRecord
from ..store.tasks import HeartbeatReport, TaskStore
from ..tokens import create_token

logger = logging.getLogger("weblab_ext")

#: How long a cached stop flag is trusted when no stop listener runs in this process.
STOP_CACHE_SECONDS = 0.1
#: Placeholder the claim script replaces with the task name in the duplicate error.
_NAME_PLACEHOLDER = "__TASK_NAME__"


UNIQUE_VALUES = (None, "global", "user")


def already_running_message(name: str) -> str:
    """The message of a duplicate run of a unique task."""
    return (f"This task ({name}) has been sent in parallel and it is still running; it is "
            "declared unique, so wait for it to finish (or stop it) first")


def _duplicate_error(name: str) -> dict[str, str]:
    return {"code": "exception", "class": "AlreadyRunningError",
            "message": already_running_message(name)}


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """A declared task: what the engine needs to queue and run it."""

    name: str
    func: Callable[..., Any]
    unique: str | None = None  #: ``None``, ``'global'`` or ``'user'``.
    raise_on_duplicate: bool = False


class RunningTask:
    """What a worker knows about a task it runs right now."""

    def __init__(self, record: TaskRecord, engine: TaskEngine) -> None:
        self.task_id = record.task_id
        self.record = record
        self.engine = engine
        #: The task's live ``data`` (``current_task.data``), stored by ``store()``.
        self.data: dict[str, Any] = copy.deepcopy(record.data)


#: Runs a task body as lab code: ``run_in_app(running, body)`` returns ``body()`` run inside
#: the app context, as the task's session user, with ``current_task`` set to ``running``.
RunInApp = Callable[[RunningTask, Callable[[], Any]], Any]


class TaskEngine:
    """Tasks of one app in this process.

    :param store: the lab's task store.
    :param settings: the app's validated settings.
    :param specs: task name → spec (the ``WebLab`` object's registry, shared by its apps).
    :param run_in_app: runs task bodies as lab code (see :data:`RunInApp`).
    :param ensure_threads: starts this process's background threads if they should run.
    """

    def __init__(self, store: TaskStore, settings: Settings, specs: Mapping[str, TaskSpec], *,
                 run_in_app: RunInApp, ensure_threads: Callable[[], None]) -> None:
        self.store = store
        self.settings = settings
        self.specs = specs
        self._run_in_app = run_in_app
        self._ensure_threads = ensure_threads
        #: Wall clock for leases and timestamps (shared across processes); injectable.
        self.clock = time.time
        self.heartbeat_interval = settings.heartbeat_interval
        self.task_expires = settings.task_expires
        #: Seconds running tasks get to stop when this process's workers shut down.
        self.shutdown_grace = 5.0
        #: Longest block on the queue: how long an idle runner takes to notice a stop.
        self.queue_block = 1.0
        self.heartbeat_alive = threading.Event()
        self.listener_alive = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[str, RunningTask | None] = {}
        self._stopping: set[str] = set()
        self._stop_cache: dict[str, tuple[float, bool]] = {}
        self._worker_id = ""
        self._worker_pid = -1

    @property
    def worker_id(self) -> str:
        """Id of this process as a worker (new after a fork)."""
        if self._worker_pid != os.getpid():
            self._worker_pid = os.getpid()
            self._worker_id = f"{socket.gethostname()}-{os.getpid()}-{create_token(6)}"
        return self._worker_id

    def lease_seconds(self) -> float:
        """Lease of a task claimed now: short when a heartbeat renews it, else long.

        Without a heartbeat in this process (``run_tasks()`` in a thread-less process) a short
        lease would let other workers reap a task that is fine.
        """
        lease = 2 * self.heartbeat_interval
        return lease if self.heartbeat_alive.is_set() else max(lease, self.task_expires)

    # -- submission -------------------------------------------------------------------------

    def submit(self, spec: TaskSpec, session_id: str, args: Sequence[Any],
               kwargs: Mapping[str, Any]) -> TaskRecord:
        """Record and queue a task for a session; returns its record as submitted.

        :raises TypeError: when an argument is not JSON-serialisable.
        :raises AlreadyRunningError: with ``raise_on_duplicate`` and the unique lock held.
        """
        try:
            args_json, kwargs_json = json.dumps(list(args)), json.dumps(dict(kwargs))
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"The arguments of task {spec.name} must be JSON-serialisable: {exc}"
            ) from exc
        if self.settings.task_threads_process > 0:
            # Submitting is a use of the task system like a request is: make sure this
            # process's runners exist (a no-op after the first call; never at import).
            self._ensure_threads()
        task_id = create_token()
        lock_key = None
        if spec.unique is not None:
            scope = session_id if spec.unique == "user" else None
            lock_key = self.store.keys.unique_lock(spec.name, scope)
        now = self.clock()
        fields = {"name": spec.name, "session_id": session_id, "args": args_json,
                  "kwargs": kwargs_json, "status": "submitted", "stopping": "0", "data": "{}",
                  "result": "", "error": "", "lock": lock_key or "", "worker": "",
                  "submitted_at": repr(now)}
        error = _duplicate_error(spec.name)
        outcome = self.store.submit(
            task_id, fields, session_id=session_id, lock_key=lock_key, ttl=self.task_expires,
            now=now, refuse_duplicate=spec.raise_on_duplicate, duplicate_error=error,
        )
        if outcome < 0:
            raise AlreadyRunningError(already_running_message(spec.name))
        if outcome == 0:
            fields.update(status="failed", error=json.dumps(error), finished_at=repr(now))
        return TaskRecord.from_hash(task_id, fields)

    @contextmanager
    def direct_call_lock(self, name: str, session_id: str | None) -> Iterator[None]:
        """Hold the unique lock of a direct (inline) call, or raise AlreadyRunningError."""
        with self.store.unique_lock(name, session_id).held(create_token(),
                                                           self.task_expires) as acquired:
            if not acquired:
                raise AlreadyRunningError(already_running_message(name))
            yield

    # -- execution --------------------------------------------------------------------------

    def run_tasks(self) -> int:
        """One pass: run every task queued now, inline in this thread. Returns how many ran."""
        if not self.specs:
            return 0
        ran = 0
        for _ in range(self.store.queue_length()):
            task_id = self.store.pop_from_queue(self.worker_id)
            if task_id is None:
                break
            ran += self.execute(task_id)
        return ran

    def execute(self, task_id: str) -> bool:
        """Claim a task taken from the queue and run it here; ``False`` if not claimable."""
        with self._lock:
            # Registered before the claim, so a stop published in between is not missed.
            self._running[task_id] = None
        try:
            error = _duplicate_error(_NAME_PLACEHOLDER)
            claimed = self.store.claim(task_id, self.worker_id, now=self.clock(),
                                       lease=self.lease_seconds(), ttl=self.task_expires,
                                       duplicate_error=error)
            if not isinstance(claimed, TaskRecord):
                return False
            if claimed.stopping:
                self.mark_stopping(task_id)
            self._run(claimed)
            return True
        finally:
            with self._lock:
                self._running.pop(task_id, None)
                self._stopping.discard(task_id)
                self._stop_cache.pop(task_id, None)

    def _run(self, record: TaskRecord) -> None:
        spec = self.specs.get(record.name)
        if spec is None:
            missing = {"code": "not-found", "message": f"Task {record.name} not found"}
            self._finish(record, "failed", error=missing)
            return
        running = RunningTask(record, self)
        with self._lock:
            self._running[record.task_id] = running
        result_json = ""
        error: dict[str, str] | None = None
        try:
            result = self._run_in_app(running, lambda: spec.func(*record.args, **record.kwargs))
        except Exception as exc:
            logger.exception("Task %s (%s) raised", record.name, record.task_id)
            error = {"code": "exception", "class": _reported_class(exc), "message": str(exc)}
        else:
            try:
                result_json = json.dumps(result)
            except (TypeError, ValueError) as exc:
                error = {"code": "exception", "class": "TypeError",
                         "message": f"The result of task {record.name} is not "
                                    f"JSON-serialisable: {exc}"}
        try:
            data_json = json.dumps(running.data)
        except (TypeError, ValueError):
            logger.warning("Task %s left data that is not JSON-serialisable", record.name)
            data_json = ""
        if error is None:
            self._finish(record, "done", result_json=result_json, data_json=data_json)
        else:
            self._finish(record, "failed", error=error, data_json=data_json)

    def _finish(self, record: TaskRecord, status: str, *, result_json: str = "",
                error: Mapping[str, Any] | None = None, data_json: str = "") -> None:
        error_json = json.dumps(dict(error)) if error is not None else ""
        for attempt in range(4):
            try:
                finished = self.store.finish(
                    record.task_id, record.session_id, status=status, result_json=result_json,
                    error_json=error_json, data_json=data_json, owner=self.worker_id,
                    ttl=self.task_expires, now=self.clock(), lock=record.lock,
                )
            except STORE_ERRORS:
                if attempt == 3:
                    raise
                time.sleep(0.2 * 2**attempt)
                continue
            if not finished:
                logger.warning("Task %s (%s) ended after it was failed as worker-lost",
                               record.name, record.task_id)
            return

    # -- stop requests ----------------------------------------------------------------------

    def request_stop(self, task_id: str) -> None:
        """Set the durable stop flag and tell every worker."""
        self.store.stop(task_id)
        self.mark_stopping(task_id)

    def mark_stopping(self, task_id: str) -> None:
        """Remember a stop request for a task this process runs (listener, heartbeat)."""
        with self._lock:
            if task_id in self._running:
                self._stopping.add(task_id)

    def is_stopping(self, task_id: str) -> bool:
        """Whether a task running here was asked to stop; no round trip with a listener."""
        if task_id in self._stopping:
            return True
        if self.listener_alive.is_set():
            return False
        now = time.monotonic()
        cached = self._stop_cache.get(task_id)
        if cached is not None and now - cached[0] < STOP_CACHE_SECONDS:
            return cached[1]
        value = self.store.is_stopping(task_id)
        self._stop_cache[task_id] = (now, value)
        if value:
            self.mark_stopping(task_id)
        return value

    def running_tasks(self) -> list[tuple[str, str]]:
        """``(id, unique lock key or "")`` of the tasks this process has claimed and runs."""
        with self._lock:
            return [(tid, running.record.lock) for tid, running in self._running.items()
                    if running is not None]

    def watched_ids(self) -> list[str]:
        """Ids this process is claiming or running (for the stop listener)."""
        with self._lock:
            return list(self._running)

    # -- heartbeat, reaping, shutdown -------------------------------------------------------

    def heartbeat_tick(self, now: float | None = None, threads: int = 0) -> HeartbeatReport:
        """Renew this process's leases; fail tasks of dead workers; requeue what they took."""
        now = self.clock() if now is None else now
        info = {"host": socket.gethostname(), "pid": os.getpid(), "threads": threads}
        report = self.store.heartbeat(self.worker_id, self.running_tasks(), now=now,
                                      lease=2 * self.heartbeat_interval,
                                      ttl=self.task_expires, info=info)
        for task_id in report.stopping + report.lost:
            self.mark_stopping(task_id)
        for task_id in report.lapsed:
            self.reap(task_id, now)
        for worker_id in report.dead_workers:
            if worker_id != self.worker_id:
                moved = self.store.requeue(worker_id)
                logger.warning("Worker %s stopped beating; requeued %d task(s)", worker_id,
                               moved)
        return report

    def reap(self, task_id: str, now: float) -> bool:
        """Fail a task whose lease lapsed (its worker died); frees its lock, wakes joiners."""
        error = {"code": "worker-lost",
                 "message": "The worker running this task stopped responding"}
        session_id, lock = self.store.owner_of(task_id)
        reaped = self.store.finish(task_id, session_id, status="failed",
                                   error_json=json.dumps(error), owner=None,
                                   ttl=self.task_expires, now=now, lock=lock)
        if reaped:
            logger.warning("Task %s failed: its worker stopped responding", task_id)
        return reaped

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
                    self.store.heartbeat(self.worker_id, self.running_tasks(), now=self.clock(),
                                         lease=2 * self.heartbeat_interval,
                                         ttl=self.task_expires, info={"draining": True})
                except ANY_STORE_ERROR:
                    logger.warning("Heartbeat failed while draining")
            time.sleep(0.02)
        error = json.dumps({"code": "worker-lost",
                            "message": "The worker stopped before the task finished"})
        with self._lock:
            left = [running for running in self._running.values() if running is not None]
        try:
            for running in left:
                self.store.finish(running.task_id, running.record.session_id, status="failed",
                                  error_json=error, owner=self.worker_id,
                                  ttl=self.task_expires, now=self.clock(),
                                  lock=running.record.lock)
            self.store.deregister(self.worker_id)
        except ANY_STORE_ERROR:
            logger.warning("Could not deregister worker %s; its heartbeat will lapse",
                           self.worker_id)

    # -- dispose ----------------------------------------------------------------------------

    def stop_session_tasks(self, session_id: str, deadline: float) -> None:
        """Stop the session's unfinished tasks and wait for them until ``deadline``.

        Results stay readable until they expire (``WEBLAB_TASK_EXPIRES`` after the end).
        """
        pending = [r for r in self.store.session_tasks(session_id) if not r.finished]
        for record in pending:
            self.request_stop(record.task_id)
        for record in pending:
            while (remaining := deadline - time.monotonic()) > 0:
                if self.store.wait_done(record.task_id, min(remaining, 1.0)):
                    break
                if self.store.status(record.task_id) in (None, "done", "failed"):
                    break


def _reported_class(exc: BaseException) -> str:
    # A task's error names the class lab code has always seen: DeadlockError reports itself
    # as the RuntimeError weblablib raised (it is one), see errors.DeadlockError.
    return str(getattr(exc, "reported_class", type(exc).__name__))
