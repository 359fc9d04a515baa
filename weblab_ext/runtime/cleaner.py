"""The expiry cleaner: disposes sessions past their slot, silent too long, or logged out, and
sweeps the tasks of workers that are gone."""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

from .loops import Loop


class Cleanable(Protocol):
    """What the cleaner drives (a :class:`~weblab_ext.runtime.sessions.SessionService`)."""

    cleaner_interval: float

    def clean_expired(self) -> int: ...


class Sweepable(Protocol):
    """The task side of the cleaner (a :class:`~weblab_ext.runtime.task_engine.TaskEngine`)."""

    heartbeat_interval: float

    def sweep(self, now: float | None = None) -> Any: ...


class CleanerLoop(Loop):
    """Runs one cleaner pass every ``cleaner_interval`` seconds and, with ``tasks``, a task
    sweep every half heartbeat interval.

    The sweep fails the tasks whose lease lapsed and requeues what dead workers took, so
    with no worker left a dead worker's task still fails within three heartbeat intervals
    in any process that runs the cleaner (a web process or ``flask weblab loop``).

    :param sessions: the session service (its ``cleaner_interval`` is read at every pass,
        so a change at run time applies to the next pause).
    :param stop: the stop flag.
    :param store_label: how log lines name the store.
    :param tasks: the task engine to sweep, if any.
    """

    def __init__(self, sessions: Cleanable, stop: threading.Event, *, store_label: str,
                 tasks: Sweepable | None = None) -> None:
        super().__init__("weblab-cleaner", stop, store_label=store_label)
        self.sessions = sessions
        self.tasks = tasks
        self._next_pass = 0.0  # monotonic

    def tick(self, now: float) -> float:
        if self.tasks is not None:
            self.tasks.sweep()
        if time.monotonic() >= self._next_pass:
            self.sessions.clean_expired()
            self._next_pass = time.monotonic() + self.sessions.cleaner_interval
        pause = self._next_pass - time.monotonic()
        if self.tasks is not None:
            pause = min(pause, self.tasks.heartbeat_interval / 2)
        return max(pause, 0.001)
