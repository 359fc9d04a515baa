"""The expiry cleaner: disposes sessions past their slot, silent too long, or logged out, and
sweeps the tasks of workers that are gone.

Many sessions may end together (the end of a class; everyone timing out after an outage). A
pass therefore keeps going while sessions are due, claims them in batches (the store's claim
is atomic, so the cleaners of several processes share the work without a lab-wide lock, each
disposing only what it claimed) and runs their ``on_dispose`` calls in a bounded pool of
threads. ``on_dispose`` stays exactly once: a claimed session is ``disposing`` for everyone
else.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

from ..store.sessions import Claimed, SessionStore
from .disposal import Disposer
from .loops import Loop

logger = logging.getLogger("weblab_ext")

#: Claims in a row that win nothing (other cleaners took every candidate) before a pass ends.
_FRUITLESS_CLAIMS = 3


class ExpiryCleaner:
    """Runs cleaner passes for one lab in this process.

    :param store: the lab's session store.
    :param disposer: runs the clean-up of each claimed session.
    :param concurrency: returns ``WEBLAB_CLEANER_CONCURRENCY`` (``on_dispose`` calls at once).
    :param batch: returns ``WEBLAB_CLEANER_BATCH`` (sessions claimed per round trip).
    """

    def __init__(
        self,
        store: SessionStore,
        disposer: Disposer,
        *,
        concurrency: Callable[[], int],
        batch: Callable[[], int],
    ) -> None:
        self._store = store
        self._disposer = disposer
        self._concurrency = concurrency
        self._batch = batch

    def run(
        self,
        *,
        clock: Callable[[], float],
        timeout: Callable[[], float],
        should_stop: Callable[[], bool] = lambda: False,
        progress: Callable[[int], object] | None = None,
    ) -> int:
        """One pass: dispose every session due, until none is left; returns how many.

        :param clock: the time used to judge what is due, read before each claim.
        :param timeout: the inactivity timeout, read before each claim.
        :param should_stop: checked between claims; what was claimed is still disposed.
        :param progress: called (in this thread) with how many more sessions were disposed.
        """
        counted = _counter(progress)
        concurrency = max(1, self._concurrency())
        batch = max(1, self._batch())
        pool: ThreadPoolExecutor | None = None
        pending: set[Future[int]] = set()
        done = fruitless = 0
        try:
            while not should_stop():
                now, limit = clock(), timeout()
                candidates = self._store.due_sessions(now=now, timeout=limit, limit=batch)
                if not candidates:
                    break
                claimed = self._store.claim_due(candidates, now=now, timeout=limit)
                fruitless = 0 if claimed else fruitless + 1
                if fruitless >= _FRUITLESS_CLAIMS:
                    break
                for item in claimed:
                    if concurrency == 1 or item.abandoned:
                        done += counted(self._dispose(item, now, limit))
                        continue
                    if pool is None:
                        pool = ThreadPoolExecutor(concurrency, thread_name_prefix="weblab-dispose")
                    pending.add(pool.submit(self._dispose, item, now, limit))
                # Claim more only when a thread is about to be free: what this process holds
                # stays small, so other processes' cleaners find work too.
                while len(pending) > concurrency:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    done += counted(_count(finished))
        finally:
            if pending:
                done += counted(_count(wait(pending).done))
            if pool is not None:
                pool.shutdown(wait=True)
        return done

    def _dispose(self, item: Claimed, now: float, timeout: float) -> int:
        if item.abandoned:
            self._disposer.finish_abandoned(item.record)
        else:
            self._disposer.dispose_claimed(
                item.record, now=now, timeout=timeout, has_tasks=item.has_tasks
            )
        return 1


def _counter(progress: Callable[[int], object] | None) -> Callable[[int], int]:
    """``count -> count``, telling ``progress`` about every non-zero count on the way."""

    def counted(count: int) -> int:
        if count and progress is not None:
            progress(count)
        return count

    return counted


def _count(futures: set[Future[int]]) -> int:
    count = 0
    for future in futures:
        error = future.exception()
        if error is None:
            count += 1
        else:
            # The session stays `disposing`; a later pass finishes it once it is abandoned.
            logger.error("Disposing a session failed: %s", error, exc_info=error)
    return count


class Cleanable(Protocol):
    """What the cleaner drives (a :class:`~weblab_ext.runtime.sessions.SessionService`)."""

    cleaner_interval: float

    def clean_expired(self, *, should_stop: Callable[[], bool] = ...) -> int: ...


class Sweepable(Protocol):
    """The task side of the cleaner (a :class:`~weblab_ext.runtime.task_engine.TaskEngine`)."""

    heartbeat_interval: float

    def sweep(self, now: float | None = None) -> Any: ...


class CleanerLoop(Loop):
    """Runs cleaner passes and, with ``tasks``, a task sweep every half heartbeat interval.

    A pass lasts while sessions are due, so the pause only follows a pass that found the lab
    clean; a stop request ends the pass after what it already claimed. The sweep fails the
    tasks whose lease lapsed and requeues what dead workers took, so with no worker left a
    dead worker's task still fails within three heartbeat intervals in any process that runs
    the cleaner (a web process or ``flask weblab loop``), also during a long pass: it runs
    between the pass's claims when it is due.

    :param sessions: the session service (its ``cleaner_interval`` is read at every pass,
        so a change at run time applies to the next pause).
    :param stop: the stop flag.
    :param store_label: how log lines name the store.
    :param tasks: the task engine to sweep, if any.
    """

    def __init__(
        self,
        sessions: Cleanable,
        stop: threading.Event,
        *,
        store_label: str,
        tasks: Sweepable | None = None,
    ) -> None:
        super().__init__("weblab-cleaner", stop, store_label=store_label)
        self.sessions = sessions
        self.tasks = tasks
        self._next_pass = self._next_sweep = 0.0  # monotonic

    def tick(self, now: float) -> float:
        self._sweep()
        if time.monotonic() >= self._next_pass:
            self.sessions.clean_expired(should_stop=self._between_claims)
            self._next_pass = time.monotonic() + self.sessions.cleaner_interval
        pause = self._next_pass - time.monotonic()
        if self.tasks is not None:
            pause = min(pause, self._next_sweep - time.monotonic())
        return max(pause, 0.001)

    def _sweep(self) -> None:
        if self.tasks is not None:
            self.tasks.sweep()
            self._next_sweep = time.monotonic() + self.tasks.heartbeat_interval / 2

    def _between_claims(self) -> bool:
        if time.monotonic() >= self._next_sweep:
            self._sweep()
        return self.stop_event.is_set()
