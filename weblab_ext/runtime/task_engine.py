"""The task engine of one app in one process: submit, claim, run, finish, read.

Runtime layer. It keeps, per process, the tasks it is running (so its heartbeat renews their
leases, see :mod:`.task_leases`) and the ids asked to stop (kept current by a pub/sub listener, so
``current_task_stopping`` costs no round trip). Task bodies are lab code: they run through the
``run_in_app`` callable the Flask layer hands in, which sets up the app context, the session's user
and ``current_task``. Every read goes through :meth:`judge`, so a task whose worker is gone never
reads ``running``.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ..config import Settings
from ..errors import AlreadyRunningError
from ..random_ids import create_token
from ..states import TaskStatus
from ..store.connection import STORE_ERRORS
from ..store.records import TaskRecord
from ..store.tasks import TaskStore
from .counters import LifecycleCounters
from .journal import SessionJournal
from .task_leases import LeaseKeeping
from .task_runs import TaskRun, log_start, report_end, reported_class
from .task_specs import TaskSpec, already_running_message, duplicate_error
from .task_stops import SessionTaskStops
from .unique_locks import unique_lock_key

logger = logging.getLogger("weblab_ext")

#: How long a cached stop flag is trusted when no stop listener runs in this process.
STOP_CACHE_SECONDS = 0.1
#: Placeholder the claim script replaces with the task name in the duplicate error.
_NAME_PLACEHOLDER = "__TASK_NAME__"


class RunningTask:
    """What a worker knows about a task it runs right now."""

    def __init__(self, record: TaskRecord, engine: TaskEngine) -> None:
        self.task_id = record.task_id
        self.record = record
        self.engine = engine
        #: The task's live ``data`` (``current_task.data``), stored by ``store()``.
        self.data: dict[str, Any] = copy.deepcopy(record.data)
        #: The device its session holds (``""``: none), and whether this worker holds the
        #: device for it after its record or lease was lost (see :mod:`.task_leases`).
        self.device = ""
        self.held: bool | None = None
        self.ended = False
        self.hold_lock = threading.Lock()


#: Runs a task body as lab code: ``run_in_app(running, body)`` returns ``body()`` run inside
#: the app context, as the task's session user, with ``current_task`` set to ``running``.
RunInApp = Callable[[RunningTask, Callable[[], Any]], Any]


class TaskEngine(LeaseKeeping, SessionTaskStops):
    """Tasks of one app in this process.

    :param store: the lab's task store.
    :param settings: the app's validated settings.
    :param specs: task name → spec (the ``WebLab`` object's registry, shared by its apps).
    :param run_in_app: runs task bodies as lab code (see :data:`RunInApp`).
    :param ensure_threads: starts this process's background threads if they should run.
    :param counters: counts task ends for the metrics (default: none).
    :param journal: records tasks submitted, started and finished (default: none).
    """

    def __init__(
        self,
        store: TaskStore,
        settings: Settings,
        specs: Mapping[str, TaskSpec],
        *,
        run_in_app: RunInApp,
        ensure_threads: Callable[[], None],
        counters: LifecycleCounters | None = None,
        journal: SessionJournal | None = None,
    ) -> None:
        self.store = store
        self.counters = counters or LifecycleCounters()
        self.journal = journal or SessionJournal(None)
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
        self.listener_alive = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[str, RunningTask | None] = {}
        self._stopping: set[str] = set()
        self._stop_cache: dict[str, tuple[float, bool]] = {}
        self._init_leases()
        #: Called with a :class:`TaskRun` as each task run here ends (``run-tasks`` lists them).
        self.run_listeners: list[Callable[[TaskRun], None]] = []

    # -- submission -------------------------------------------------------------------------

    def submit(
        self, spec: TaskSpec, session_id: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> TaskRecord:
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
            pool = bool(self.settings.devices)
            lock_key = unique_lock_key(self.store, spec.name, spec.unique, session_id, pool=pool)
        now = self.clock()
        fields = {
            "name": spec.name,
            "session_id": session_id,
            "args": args_json,
            "kwargs": kwargs_json,
            "status": TaskStatus.SUBMITTED,
            "stopping": "0",
            "data": "{}",
            "result": "",
            "error": "",
            "lock": lock_key or "",
            "worker": "",
            "submitted_at": repr(now),
        }
        error = duplicate_error(spec.name)
        outcome = self.store.submit(
            task_id,
            fields,
            session_id=session_id,
            lock_key=lock_key,
            ttl=self.task_expires,
            now=now,
            refuse_duplicate=spec.raise_on_duplicate,
            duplicate_error=error,
        )
        if outcome < 0:
            raise AlreadyRunningError(already_running_message(spec.name))
        if outcome == 0:
            fields.update(status=TaskStatus.FAILED, error=json.dumps(error), finished_at=repr(now))
            self.counters.task_ended(TaskStatus.FAILED, None)
        self.journal.task_event(
            session_id,
            "task_submitted",
            spec.name,
            status=fields["status"],
            arguments=(args, kwargs) if spec.record_arguments else None,
        )
        return TaskRecord.from_hash(task_id, fields)

    @contextmanager
    def direct_call_lock(self, name: str, session_id: str | None, unique: str) -> Iterator[None]:
        """Hold the unique lock of a direct (inline) call, or raise AlreadyRunningError."""
        pool = bool(self.settings.devices)
        key = unique_lock_key(self.store, name, unique, session_id, pool=pool)
        with self.store.lock(key).held(create_token(), self.task_expires) as acquired:
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
            error = duplicate_error(_NAME_PLACEHOLDER)
            lease, asked_at = self.lease_seconds(), time.monotonic()
            claimed = self.store.claim(
                task_id,
                self.worker_id,
                now=self.clock(),
                lease=lease,
                ttl=self.task_expires,
                duplicate_error=error,
            )
            if not isinstance(claimed, TaskRecord):
                if claimed == "duplicate":
                    self.counters.task_ended(TaskStatus.FAILED, None)
                return False
            self._lease_granted(task_id, asked_at, lease)
            if claimed.stopping:
                self.mark_stopping(task_id)
            self._run(claimed)
            return True
        finally:
            with self._lock:
                running = self._running.pop(task_id, None)
                self._stopping.discard(task_id)
                self._stop_cache.pop(task_id, None)
                self._forget_lease(task_id)
            if running is not None:
                self.release_device(running)

    def _run(self, record: TaskRecord) -> None:
        spec = self.specs.get(record.name)
        if spec is None:
            missing = {"code": "not-found", "message": f"Task {record.name} not found"}
            self._finish(record, TaskStatus.FAILED, error=missing)
            return
        running = RunningTask(record, self)
        with self._lock:
            self._running[record.task_id] = running
        log_start(record)
        self.journal.task_event(record.session_id, "task_started", record.name)
        result_json = ""
        error: dict[str, str] | None = None
        try:
            result = self._run_in_app(running, lambda: spec.func(*record.args, **record.kwargs))
        except Exception as exc:
            logger.exception("Task %s (%s) raised", record.name, record.task_id)
            error = {"code": "exception", "class": reported_class(exc), "message": str(exc)}
        else:
            try:
                result_json = json.dumps(result)
            except (TypeError, ValueError) as exc:
                error = {
                    "code": "exception",
                    "class": "TypeError",
                    "message": f"The result of task {record.name} is not JSON-serialisable: {exc}",
                }
        try:
            data_json = json.dumps(running.data)
        except (TypeError, ValueError):
            logger.warning("Task %s left data that is not JSON-serialisable", record.name)
            data_json = ""
        with running.hold_lock:  # from here on, "not running" in the store is this end
            running.ended = True
        self._finish(
            record,
            TaskStatus.DONE if error is None else TaskStatus.FAILED,
            result_json=result_json,
            error=error,
            data_json=data_json,
        )

    def _finish(
        self,
        record: TaskRecord,
        status: str,
        *,
        result_json: str = "",
        error: Mapping[str, Any] | None = None,
        data_json: str = "",
    ) -> None:
        error_json = json.dumps(dict(error)) if error is not None else ""
        for attempt in range(4):
            try:
                finished = self.store.finish(
                    record.task_id,
                    record.session_id,
                    status=status,
                    result_json=result_json,
                    error_json=error_json,
                    data_json=data_json,
                    owner=self.worker_id,
                    ttl=self.task_expires,
                    now=self.clock(),
                    lock=record.lock,
                )
            except STORE_ERRORS:
                if attempt == 3:
                    raise
                time.sleep(0.2 * 2**attempt)
                continue
            if finished:
                ran = self.clock() - record.started_at if record.started_at else None
                self.counters.task_ended(status, ran)
            else:
                logger.warning(
                    "Task %s (%s) ended after its lease lapsed: its result is "
                    "refused (it was failed as worker-lost)",
                    record.name,
                    record.task_id,
                )
            run = report_end(
                record,
                status if finished else "lost",
                error,
                now=self.clock(),
                listeners=self.run_listeners,
            )
            self.journal.task_finished(record.session_id, run)
            return

    def store_task_data(self, task_id: str, data_json: str) -> bool:
        """Store the data of a task this worker runs; ``False`` (and the task is told to stop)
        when its lease lapsed: the store refuses writes from a worker that lost the task."""
        stored = self.store.store_data(task_id, data_json, owner=self.worker_id, now=self.clock())
        if not stored:
            self.mark_stopping(task_id)
            logger.warning("store() of task %s refused: this worker no longer holds it", task_id)
        return stored

    # -- reads: every one judges the lease ----------------------------------------------------

    def load(self, task_id: str) -> TaskRecord | None:
        """One task as it reads now (``None`` when unknown or expired)."""
        return self.judge(self.store.load(task_id))

    def session_tasks(self, session_id: str) -> list[TaskRecord]:
        """Every still-stored task of a session as it reads now, oldest first."""
        judged = (self.judge(record) for record in self.store.session_tasks(session_id))
        return [record for record in judged if record is not None]

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
        """Whether a task running here was asked to stop, or lost its lease (this worker was
        paused or cut off past it); no round trip with a listener."""
        if task_id in self._stopping:
            return True
        if self.lease_lost_locally(task_id):
            self.mark_stopping(task_id)
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
            return [
                (tid, running.record.lock)
                for tid, running in self._running.items()
                if running is not None
            ]

    def watched_ids(self) -> list[str]:
        """Ids this process is claiming or running (for the stop listener)."""
        with self._lock:
            return list(self._running)
