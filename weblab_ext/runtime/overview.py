"""What an operator sees at a glance: the sessions in the lab, the unfinished tasks and the
live workers. ``flask weblab status`` prints it; the admin page shows it.

Session and task ids are secrets (an id is a student's credential, or reaches a task's data):
rows name them by the hash the lifecycle logs use (:func:`.lifecycle_log.session_id_hash`),
and the admin page's actions find the id again from that hash.
"""

from __future__ import annotations

import dataclasses

from ..states import TaskStatus
from ..store.monitoring import MonitoringStore, SessionCounts
from ..store.records import TaskOverview
from .lifecycle_log import session_id_hash
from .sessions import SessionService
from .task_engine import TaskEngine

#: Undisposed session ids hashed per round trip while looking for one by its hash.
_FIND_CHUNK = 1000
#: Most unfinished tasks searched for one by its hash.
_MOST_TASKS_SEARCHED = 1000


@dataclasses.dataclass(frozen=True)
class SessionRow:
    """One undisposed session as an operator sees it."""

    #: The hash of its id (16 hex characters): what the admin page's forms send.
    key: str
    username: str
    state: str
    #: Seconds until its slot ends (negative: past it, not disposed yet).
    time_left: float
    #: Seconds since the student's last poll.
    since_poll: float

    @property
    def label(self) -> str:
        """The short form shown in tables."""
        return self.key[:10]


@dataclasses.dataclass(frozen=True)
class TaskRow:
    """One unfinished task as an operator sees it."""

    key: str
    name: str
    status: str
    #: Seconds it has run (running) or waited (queued).
    age: float
    #: The worker running it (:func:`worker_label`), or empty.
    worker: str
    stopping: bool

    @property
    def label(self) -> str:
        """The short form shown in tables."""
        return self.key[:10]


@dataclasses.dataclass(frozen=True)
class LabOverview:
    """Sessions, tasks and workers at one moment."""

    now: float
    #: The sessions not disposed yet, by state.
    session_counts: SessionCounts
    #: The first undisposed sessions: logged-out ones, then soonest slot end first.
    sessions: list[SessionRow]
    tasks: TaskOverview
    #: The tasks' clock at the same moment (workers' last beats are on it).
    tasks_now: float
    #: Running tasks (soonest lease end first), then queued ones (oldest first).
    task_rows: list[TaskRow]

    @property
    def sessions_total(self) -> int:
        """Sessions not disposed yet, whatever their state (the ones :attr:`sessions` lists
        the first of)."""
        return self.session_counts.total


def format_age(seconds: float) -> str:
    """A duration as operators read it: ``42s``, ``17m``, ``3.5h``."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def worker_label(worker_id: str) -> str:
    """The random suffix of a worker process's id (its host and pid are shown apart)."""
    return worker_id.rsplit("-", 1)[-1]


def lab_overview(
    service: SessionService, engine: TaskEngine, monitoring: MonitoringStore, limit: int
) -> LabOverview:
    """Read the overview: a few round trips, whatever the number of sessions.

    Tasks whose worker stopped beating are failed first (as every read of a task judges
    them), so ``running`` counts only tasks a live worker holds.

    :param limit: most sessions, tasks and workers listed.
    """
    now = service.clock()
    counts = monitoring.session_counts()
    sessions = [
        SessionRow(
            session_id_hash(record.session_id),
            record.username,
            record.state,
            record.max_date - now,
            now - record.last_poll,
        )
        for record in monitoring.undisposed_sessions(limit)
    ]
    tasks = engine.operator_summary(limit)
    task_now = engine.clock()
    rows = []
    for stored in monitoring.unfinished_tasks(limit):
        record = engine.judge(stored)
        if record is None or record.finished:
            continue
        since = record.started_at if record.status == TaskStatus.RUNNING else record.submitted_at
        rows.append(
            TaskRow(
                session_id_hash(record.task_id),
                record.name,
                record.status,
                task_now - (since or task_now),
                worker_label(record.worker) if record.worker else "",
                record.stopping,
            )
        )
    return LabOverview(now, counts, sessions, tasks, task_now, rows)


def find_session(monitoring: MonitoringStore, key: str) -> str | None:
    """The id of the undisposed session whose hash is ``key``, if any."""
    start = 0
    while ids := monitoring.undisposed_ids(start, _FIND_CHUNK):
        for session_id in ids:
            if session_id_hash(session_id) == key:
                return session_id
        start += len(ids)
    return None


def find_task(monitoring: MonitoringStore, key: str) -> str | None:
    """The id of the unfinished task whose hash is ``key``, if any."""
    for task_id in monitoring.unfinished_task_ids(_MOST_TASKS_SEARCHED):
        if session_id_hash(task_id) == key:
            return task_id
    return None
