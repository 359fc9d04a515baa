"""Stopping the tasks of a session that ends (the dispose half of the task engine).

A mixin of :class:`~weblab_ext.runtime.task_engine.TaskEngine`: it shares the engine's state,
and the engine provides what is declared here. A running task gets its stop flag and is waited
for; a task still queued never starts (its session is over, and after the hand-over it would
drive the next student's device): it ends at once as failed, ``stopped-before-start``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from ..states import TaskStatus
from ..store.records import TaskRecord
from ..store.tasks import TaskStore
from .counters import LifecycleCounters

#: The error of a task whose session ended before a worker started it (it never starts).
STOPPED_BEFORE_START = {
    "code": "stopped-before-start",
    "message": "The session ended before the task started; it did not run",
}


class SessionTaskStops:
    """``stop_session_tasks``: what a disposal does to the session's tasks."""

    store: TaskStore
    counters: LifecycleCounters
    clock: Callable[[], float]
    task_expires: float

    def request_stop(self, task_id: str) -> None:
        raise NotImplementedError

    def load(self, task_id: str) -> TaskRecord | None:
        raise NotImplementedError

    def session_tasks(self, session_id: str) -> list[TaskRecord]:
        raise NotImplementedError

    def stop_session_tasks(self, session_id: str, deadline: float) -> bool:
        """Stop the session's unfinished tasks, wait for them until ``deadline``, and say
        whether every one ended (results stay readable ``WEBLAB_TASK_EXPIRES`` after it)."""
        pending = [r for r in self.session_tasks(session_id) if not r.finished]
        for record in pending:
            self.request_stop(record.task_id)
            if record.status == TaskStatus.SUBMITTED:  # never started: it never will
                self._finish_queued(record)
        ended = True
        for record in pending:
            while True:
                remaining = deadline - time.monotonic()
                if remaining > 0 and self.store.wait_done(record.task_id, remaining):
                    break
                current = self.load(record.task_id)
                if current is None or current.finished:
                    break
                if remaining <= 0:
                    ended = False
                    break
        return ended

    def _finish_queued(self, record: TaskRecord) -> None:
        """End a task no worker claimed yet; a worker that claims it later skips it. Lost to
        a worker's claim in between, it is waited for as a running task."""
        finished = self.store.finish(
            record.task_id,
            record.session_id,
            status=TaskStatus.FAILED,
            error_json=json.dumps(STOPPED_BEFORE_START),
            queued=True,
            ttl=self.task_expires,
            now=self.clock(),
            lock=record.lock,
        )
        if finished:
            self.counters.task_ended(TaskStatus.FAILED, None)
