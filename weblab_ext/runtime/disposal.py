"""Disposing lab sessions: ``on_dispose`` exactly once, with a bounded wait for the RLMS.

The store's ``begin_dispose`` script picks one winner across every thread and process; the
winner runs the clean-up (``on_dispose``, then the session's tasks) and marks the session
disposed. An RLMS dispose call waits for that at most ``WEBLAB_DISPOSE_WAIT`` seconds and
otherwise answers "not finished, ask again", so a slow ``on_dispose`` never holds an HTTP
worker (or WebLab-Deusto's confirmer thread) for long.

"Disposed" means clean: the session is marked disposed only once ``on_dispose`` returned and
every task of the session ended, or once ``WEBLAB_DISPOSE_MAX`` seconds passed. A clean-up
that overran or raised is *settled* first: the session's device (if any) becomes ``broken``
and waits for a reset; without a device the overrun is logged as an error.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from ..states import SessionState
from ..store.connection import STORE_ERRORS
from ..store.records import SessionRecord
from ..store.sessions import ABANDONED_SECONDS, SessionStore
from .counters import disposal_reason
from .lifecycle_log import session_id_hash
from .users import safe_back_url

logger = logging.getLogger("weblab_ext")

#: A ``disposing`` record older than this lost its disposer (process killed mid-clean-up);
#: the next dispose call (or the cleaner) finishes it instead of answering "ask again" until
#: the TTL.
STALE_DISPOSING_SECONDS = float(ABANDONED_SECONDS)
#: How often a caller waiting on a disposal run by *another process* re-reads its state.
_CROSS_PROCESS_WAIT_STEP = 0.05
#: Pauses between attempts to mark a session disposed while the store is unreachable.
_FINISH_RETRY_PAUSES = (0.2, 0.5, 1.0, 2.0, 4.0)


@dataclasses.dataclass(frozen=True)
class Cleanup:
    """What a clean-up did: how long ``on_dispose`` took, and why the device may not be
    handed over (``None``: it may)."""

    took: float
    problem: str | None = None


class DeviceHooks(Protocol):
    """What the device pool does when the sessions of its devices are cleaned up."""

    def cleaning(self, record: SessionRecord) -> None:
        """The clean-up of ``record`` begins."""

    def settled(self, record: SessionRecord, problem: str | None, reason: str) -> None:
        """The clean-up ended (``problem``: why it is not clean); ``reason`` is why the
        session ended (``start_failed``...)."""

    def abandoned(self, record: SessionRecord) -> None:
        """The process that cleaned ``record`` up vanished before it finished."""

    def retry_broken(self, *, monotonic: float) -> int:
        """Reset again the broken devices whose backoff ended (after a cleaner pass)."""


class DisposeOutcome(enum.Enum):
    """What a dispose call achieved."""

    NOT_FOUND = "not-found"
    NOT_DUE = "not-due"
    DONE = "done"
    PENDING = "pending"


class Disposer:
    """Runs disposals for one lab.

    :param store: the lab's session store.
    :param cleanup: runs ``on_dispose`` and the task clean-up for a record (Flask layer);
        its second argument tells whether the session may have tasks to stop.
    :param expired_ttl: returns ``WEBLAB_EXPIRED_USERS_TIMEOUT`` at call time.
    :param dispose_max: returns ``WEBLAB_DISPOSE_MAX`` at call time: a clean-up still
        running then is settled as not clean and the session marked disposed.
    :param on_disposed: told of each session this process cleaned up, why it ended (see
        :func:`~weblab_ext.runtime.counters.disposal_reason`) and how long its ``on_dispose``
        took (``None``: the clean-up raised), once the session is marked disposed.
    """

    def __init__(
        self,
        store: SessionStore,
        cleanup: Callable[[SessionRecord, bool], Cleanup],
        *,
        expired_ttl: Callable[[], float],
        on_disposed: Callable[[SessionRecord, str, float | None], None] | None = None,
        dispose_max: Callable[[], float] = lambda: 300.0,
    ) -> None:
        self._store = store
        self._cleanup = cleanup
        self._expired_ttl = expired_ttl
        self._on_disposed = on_disposed
        self._dispose_max = dispose_max
        #: The device pool's hooks (none: the lab declares no device).
        self.devices: DeviceHooks | None = None
        self._in_flight: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def dispose(
        self,
        session_id: str,
        *,
        now: float,
        timeout: float,
        wait: float,
        only_if_due: bool = False,
        background: bool = True,
        caller: str = "rlms",
    ) -> DisposeOutcome:
        """Dispose ``session_id`` and wait up to ``wait`` seconds for the clean-up.

        :param timeout: the inactivity timeout, for ``only_if_due``.
        :param only_if_due: the cleaner's mode: leave sessions that are not expired.
        :param background: run the clean-up in a new thread (RLMS calls) or inline (cleaner).
        :param caller: who disposes (``rlms``, ``admin``, ``start_failed``): the reason counted
            for a session that was not over yet.
        """
        outcome, record = self._store.begin_dispose(
            session_id, now=now, timeout=timeout, only_if_due=only_if_due
        )
        if outcome == "missing":
            return DisposeOutcome.NOT_FOUND
        if outcome == "not-due":
            return DisposeOutcome.NOT_DUE
        if outcome == "disposed":
            return DisposeOutcome.DONE
        if outcome == "won":
            assert record is not None
            reason = disposal_reason(record, now=now, timeout=timeout, caller=caller)
            return self._run_cleanup(record, reason, wait=wait, background=background)
        assert record is not None
        if record.disposing_since is not None and now - record.disposing_since > (
            STALE_DISPOSING_SECONDS
        ):
            self.finish_abandoned(record)
            return DisposeOutcome.DONE
        return self._wait_for_other(session_id, wait)

    def finish_abandoned(self, record: SessionRecord) -> None:
        """Finish a disposal whose disposer vanished, without running ``on_dispose`` again
        (it may have run already: exactly once wins over at least once)."""
        logger.warning(
            "Finishing a disposal whose disposer vanished (session %s)",
            session_id_hash(record.session_id),
        )
        if self.devices is not None and record.device:
            self.devices.abandoned(record)
        self._store.finish_dispose(
            record.session_id, expired_ttl=self._expired_ttl(), back=safe_back_url(record.back)
        )

    def dispose_claimed(
        self, record: SessionRecord, *, now: float, timeout: float, has_tasks: bool = True
    ) -> None:
        """Run the clean-up of a session this caller won (the cleaner's claim), here and now.

        :param now: when it was claimed, and ``timeout`` the inactivity timeout then: why the
            session ended is judged from them.
        :param has_tasks: whether the session ever had tasks (``False`` skips their stop).
        """
        reason = disposal_reason(record, now=now, timeout=timeout, caller="rlms")
        self._run_cleanup(record, reason, wait=0, background=False, has_tasks=has_tasks)

    def _run_cleanup(
        self,
        record: SessionRecord,
        reason: str,
        *,
        wait: float,
        background: bool,
        has_tasks: bool = True,
    ) -> DisposeOutcome:
        finished = threading.Event()
        with self._lock:
            self._in_flight[record.session_id] = finished
        if not background:
            self._cleanup_and_finish(record, reason, finished, has_tasks)
            return DisposeOutcome.DONE
        thread = threading.Thread(
            target=self._cleanup_and_finish,
            args=(record, reason, finished, has_tasks),
            name="weblab-dispose",
            daemon=True,
        )
        thread.start()
        return DisposeOutcome.DONE if finished.wait(wait) else DisposeOutcome.PENDING

    def _cleanup_and_finish(
        self, record: SessionRecord, reason: str, finished: threading.Event, has_tasks: bool
    ) -> None:
        # The clean-up and its watchdog race to settle the session; the first one wins.
        settled = threading.Lock()
        limit = self._dispose_max()
        watchdog = threading.Timer(
            limit,
            self._settle,
            args=(record, f"clean-up still running after WEBLAB_DISPOSE_MAX ({limit:g} s)"),
            kwargs={"reason": reason, "settled": settled, "finished": finished},
        )
        watchdog.daemon = True
        took: float | None = None
        problem: str | None = "the clean-up raised"
        if self.devices is not None and record.device:
            try:
                self.devices.cleaning(record)
            except Exception:  # the clean-up runs anyway; its end settles the device
                logger.exception("Could not mark the device of a disposed session cleaning")
        try:
            watchdog.start()
            result = self._cleanup(record, has_tasks)
            took, problem = result.took, result.problem
        except Exception:
            logger.exception("Disposing a lab session failed; marking it disposed anyway")
        finally:
            watchdog.cancel()
            try:
                self._settle(record, problem, reason=reason, settled=settled)
                # Counted once the push layers heard of the end: a count never delays it.
                if self._on_disposed is not None:
                    self._on_disposed(record, reason, took)
            finally:
                finished.set()
                with self._lock:
                    self._in_flight.pop(record.session_id, None)

    def _settle(
        self,
        record: SessionRecord,
        problem: str | None,
        *,
        reason: str,
        settled: threading.Lock,
        finished: threading.Event | None = None,
    ) -> None:
        """Settle the device of a session whose clean-up ended (or overran, then ``finished``
        is set at once for the callers waiting), then mark the session disposed: the RLMS
        hears "finished" only after the device is settled."""
        if not settled.acquire(blocking=False):
            return
        try:
            if self.devices is not None and record.device:
                self.devices.settled(record, problem, reason)
            elif problem is not None:
                logger.error(
                    "The clean-up of session %s did not finish cleanly (%s); it is reported "
                    "finished to the RLMS anyway (the lab declares no device to hold back)",
                    session_id_hash(record.session_id),
                    problem,
                )
        except Exception:
            logger.exception("Settling the device of a disposed session failed")
        finally:
            self._finish(record)
            if finished is not None:
                finished.set()

    def _finish(self, record: SessionRecord) -> None:
        """Mark a session disposed (and tell push layers), retrying while the store is away."""
        for pause in (*_FINISH_RETRY_PAUSES, None):
            try:
                self._store.finish_dispose(
                    record.session_id,
                    expired_ttl=self._expired_ttl(),
                    back=safe_back_url(record.back),
                )
                return
            except STORE_ERRORS:
                if pause is None:
                    logger.warning(
                        "Could not mark session %s disposed: the store is unreachable; the "
                        "cleaner (or the next dispose call) finishes it after %d minutes",
                        session_id_hash(record.session_id),
                        STALE_DISPOSING_SECONDS // 60,
                    )
                    return
                time.sleep(pause)

    def _wait_for_other(self, session_id: str, wait: float) -> DisposeOutcome:
        with self._lock:
            local = self._in_flight.get(session_id)
        if local is not None:
            return DisposeOutcome.DONE if local.wait(wait) else DisposeOutcome.PENDING
        # The disposer is another process: re-read its state until done or out of time.
        deadline = time.monotonic() + wait
        while True:
            fields = self._store.status_fields(session_id)
            if fields.state != SessionState.DISPOSING:
                return DisposeOutcome.DONE
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return DisposeOutcome.PENDING
            time.sleep(min(_CROSS_PROCESS_WAIT_STEP, remaining))

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no disposal of this process is running (for shutdown and tests)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                events = list(self._in_flight.values())
            if not events:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not events[0].wait(remaining):
                return False
