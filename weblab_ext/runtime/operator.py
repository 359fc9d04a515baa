"""What an operator reads and does: the one service behind the admin page, the metrics, the
health URL and the ``flask weblab`` commands.

Runtime layer, no Flask. The Flask layer (``views/``, ``cli/``, ``socketio/``) never reads the
store itself: it asks this service (or the session service and task engine for the lab's own
work), so a new kind of state (devices, say) is read in one place and shown everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..store.connection import StoreClient, is_embedded_client, server_info
from ..store.keys import Keys
from ..store.monitoring import Histogram as Histogram
from ..store.monitoring import MetricsReading as MetricsReading
from ..store.monitoring import MonitoringStore, SessionCounts
from ..store.records import SessionRecord
from ..store.sessions import SessionStore
from .callbacks import HealthCheck
from .disposal import DisposeOutcome
from .embedded_store_guard import EmbeddedStoreGuard
from .health import HealthChecker, HealthReport
from .overview import LabOverview, find_session, find_task, lab_overview
from .sessions import SessionService
from .task_engine import TaskEngine


class OperatorService:
    """Sessions by state, the listing, tasks, workers, metrics, health and store facts of one
    lab.

    :param service: the lab's session service.
    :param tasks: the lab's task engine.
    :param sessions: the session store (due sessions, the store's ping).
    :param monitoring: the store's counters and operators' reads.
    :param client: the store's client (what server it is).
    :param keys: the lab's key names (the node that holds them, on a cluster).
    :param store_label: how output names the store (password masked).
    :param guard: the embedded-store guard of this app.
    :param health_timeout: seconds the health checks may take in all.
    """

    def __init__(
        self,
        service: SessionService,
        tasks: TaskEngine,
        *,
        sessions: SessionStore,
        monitoring: MonitoringStore,
        client: StoreClient,
        keys: Keys,
        store_label: str,
        guard: EmbeddedStoreGuard,
        health_timeout: float,
    ) -> None:
        self._service = service
        self._tasks = tasks
        self._sessions = sessions
        self._monitoring = monitoring
        self._client = client
        self._keys = keys
        self._guard = guard
        self._health = HealthChecker()
        self._health_timeout = health_timeout
        #: How output names the store (password masked).
        self.store_label = store_label

    # -- the store --------------------------------------------------------------------------

    @property
    def store_is_embedded(self) -> bool:
        """Whether the store lives inside this process (other processes cannot see it)."""
        return is_embedded_client(self._client)

    @property
    def embedded_by_default(self) -> bool:
        """Whether the lab uses the embedded store because ``WEBLAB_REDIS_URL`` is unset."""
        return self._guard.embedded_by_default

    def server_info(self) -> dict[str, str]:
        """Version, eviction policy and persistence of the server holding the lab's keys."""
        return server_info(self._client, self._keys.session_prefix())

    # -- sessions, tasks, workers -------------------------------------------------------------

    def overview(self, limit: int) -> LabOverview:
        """Sessions by state, the first ``limit`` sessions, tasks and workers, now."""
        return lab_overview(self._service, self._tasks, self._monitoring, limit)

    def session_counts(self) -> SessionCounts:
        """The sessions not disposed yet, by state."""
        return self._monitoring.session_counts()

    def undisposed_sessions(self, limit: int) -> list[SessionRecord]:
        """The first ``limit`` sessions not disposed yet (logged out first, then by slot end)."""
        return self._monitoring.undisposed_sessions(limit)

    def find_session(self, key: str) -> str | None:
        """The id of the undisposed session whose hash (as listed) is ``key``, if any."""
        return find_session(self._monitoring, key)

    def find_task(self, key: str) -> str | None:
        """The id of the unfinished task whose hash (as listed) is ``key``, if any."""
        return find_task(self._monitoring, key)

    def end_session(self, session_id: str, *, wait: float, caller: str) -> DisposeOutcome:
        """Dispose a session now, as the RLMS would (``on_dispose`` runs once)."""
        return self._service.dispose(session_id, wait=wait, caller=caller)

    def stop_task(self, task_id: str) -> None:
        """Ask a task to stop (it sees ``current_task.stopping``)."""
        self._tasks.request_stop(task_id)

    def due_count(self, limit: int) -> int:
        """How many sessions are over and wait for the cleaner (at most ``limit``)."""
        service = self._service
        return len(
            self._sessions.due_sessions(now=service.clock(), timeout=service.timeout, limit=limit)
        )

    def clean_expired(self, progress: Callable[[int], object] | None = None) -> int:
        """One cleaner pass: dispose a bounded batch of the sessions that are over."""
        return self._service.clean_expired(progress=progress)

    def sweep_tasks(self) -> None:
        """Fail the tasks of workers that stopped beating."""
        self._tasks.sweep()

    # -- metrics and health -------------------------------------------------------------------

    def metrics(self) -> MetricsReading:
        """Every number ``GET <base>/weblab/metrics`` reports, read now."""
        return self._monitoring.read(now=self._service.clock(), timeout=self._service.timeout)

    def deployment_problem(self, environ: Mapping[str, Any]) -> str | None:
        """Why this process must not serve students (see :class:`.EmbeddedStoreGuard`)."""
        return self._guard.problem(environ)

    def health(
        self, environ: Mapping[str, Any], lab_checks: Sequence[tuple[str, HealthCheck]]
    ) -> HealthReport:
        """The lab's health now: its deployment, then :meth:`run_health_checks`."""
        problem = self._guard.problem(environ)
        if problem is not None:
            return HealthReport(False, problem)
        return self.run_health_checks(lab_checks)

    def run_health_checks(self, lab_checks: Sequence[tuple[str, HealthCheck]]) -> HealthReport:
        """Run the store ping, then the lab's own checks (each already set up to run in the
        lab's app), all within the health timeout (a round of background checks)."""
        checks: list[tuple[str, HealthCheck]] = [("store", self._sessions.ping)]
        checks += lab_checks
        return self._health.run(checks, timeout=self._health_timeout)
