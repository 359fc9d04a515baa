"""The expiry cleaner: disposes sessions past their slot, silent too long, or logged out.

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
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol

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

    def __init__(self, store: SessionStore, disposer: Disposer, *,
                 concurrency: Callable[[], int], batch: Callable[[], int]) -> None:
        self._store = store
        self._disposer = disposer
        self._concurrency = concurrency
        self._batch = batch

    def run(self, *, clock: Callable[[], float], timeout: Callable[[], float],
            should_stop: Callable[[], bool] = lambda: False) -> int:
        """One pass: dispose every session due, until none is left; returns how many.

        :param clock: the time used to judge what is due, read before each claim.
        :param timeout: the inactivity timeout, read before each claim.
        :param should_stop: checked between claims; what was claimed is still disposed.
        """
        concurrency = max(1, self._concurrency())
        batch = max(1, self._batch())
        pool: ThreadPoolExecutor | None = None
        pending: set[Future[bool]] = set()
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
                        done += self._dispose(item)
                        continue
                    if pool is None:
                        pool = ThreadPoolExecutor(concurrency, thread_name_prefix="weblab-dispose")
                    pending.add(pool.submit(self._dispose, item))
                # Claim more only when a thread is about to be free: what this process holds
                # stays small, so other processes' cleaners find work too.
                while len(pending) > concurrency:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    done += _count(finished)
        finally:
            if pending:
                done += _count(wait(pending).done)
            if pool is not None:
                pool.shutdown(wait=True)
        return done

    def _dispose(self, item: Claimed) -> bool:
        if item.abandoned:
            self._disposer.finish_abandoned(item.record)
        else:
            self._disposer.dispose_claimed(item.record, has_tasks=item.has_tasks)
        return True


def _count(futures: set[Future[bool]]) -> int:
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


class CleanerLoop(Loop):
    """Runs a cleaner pass, then waits ``cleaner_interval`` seconds.

    A pass lasts while sessions are due, so the pause only follows a pass that found the lab
    clean; a stop request ends the pass after what it already claimed.

    :param sessions: the session service (its ``cleaner_interval`` is read at every pass,
        so a change at run time applies to the next pause).
    :param stop: the stop flag.
    :param store_label: how log lines name the store.
    """

    def __init__(self, sessions: Cleanable, stop: threading.Event, *, store_label: str) -> None:
        super().__init__("weblab-cleaner", stop, store_label=store_label)
        self.sessions = sessions

    def tick(self, now: float) -> float:
        self.sessions.clean_expired(should_stop=self.stop_event.is_set)
        return self.sessions.cleaner_interval
