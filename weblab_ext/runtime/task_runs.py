"""What a worker says about the tasks it runs: one INFO line when a task starts and one when
it ends (outcome and duration), and the :class:`TaskRun` handed to listeners such as
``flask weblab run-tasks``, which lists what it ran.

Runtime layer. Lines name the task and its id, never its arguments, result or error message
(they may carry a student's data); the error's class (or code) says what went wrong.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..store.records import TaskRecord

logger = logging.getLogger("weblab_ext")


@dataclasses.dataclass(frozen=True)
class TaskRun:
    """One task run by this process, as it ended.

    ``status`` is ``done``, ``failed``, or ``lost`` (it ended after the lab had failed it as
    ``worker-lost``: its lease lapsed while it ran).
    """

    task_id: str
    name: str
    status: str
    seconds: float
    #: The error's class (``ZeroDivisionError``) or code (``not-found``), when it failed.
    error: str | None = None


def reported_class(exc: BaseException) -> str:
    """The class name a task's error records."""
    # A task's error names the class lab code has always seen: DeadlockError reports itself
    # as the RuntimeError weblablib raised (it is one), see errors.DeadlockError.
    return str(getattr(exc, "reported_class", type(exc).__name__))


def log_start(record: TaskRecord) -> None:
    """Log that a task starts here."""
    logger.info("Task %s (%s) started", record.name, record.task_id)


def report_end(
    record: TaskRecord,
    status: str,
    error: Mapping[str, Any] | None,
    *,
    now: float,
    listeners: Iterable[Callable[[TaskRun], None]],
) -> TaskRun:
    """Log the end of a task and tell ``listeners``; returns the :class:`TaskRun`."""
    started = record.started_at if record.started_at is not None else now
    what = None if error is None else str(error.get("class") or error.get("code") or "error")
    run = TaskRun(record.task_id, record.name, status, max(0.0, now - started), what)
    if what is None:
        logger.info("Task %s (%s) %s in %.3f s", run.name, run.task_id, status, run.seconds)
    else:
        logger.info(
            "Task %s (%s) %s in %.3f s: %s", run.name, run.task_id, status, run.seconds, what
        )
    for listener in listeners:
        try:
            listener(run)
        except Exception:
            logger.exception("A task-run listener failed")
    return run
