"""Counting lifecycle events for the metrics, without ever failing the event itself.

The session service and the task engine call a :class:`LifecycleCounters` at a session's
start and disposal and at a task's end; each call is one round trip to the shared counters
(:class:`~weblab_ext.store.monitoring.MonitoringStore`). A count that cannot be written (the
store went away between the event and its count) is logged and dropped: a metric off by
one is better than a start or a disposal that fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..store.connection import ANY_STORE_ERROR
from ..store.monitoring import DISPOSE_REASONS, MonitoringStore
from ..store.records import SessionRecord
from .lifecycle_log import expiry_reason

logger = logging.getLogger("weblab_ext")

#: What ended a session that was not over yet, by who disposed it.
CALLERS = ("rlms", "admin", "start_failed")
_REASON_OF_EXPIRY = {
    "user_exited": "exited",
    "time_limit_reached": "slot_end",
    "inactivity_timeout": "timeout",
}


def disposal_reason(record: SessionRecord, *, now: float, timeout: float, caller: str) -> str:
    """Why a session ended, as the metrics label it (one of ``DISPOSE_REASONS``).

    A session that was over (logged out, slot ended, silent past the timeout) ended for that
    reason whoever disposed it; otherwise ``caller`` (one of :data:`CALLERS`) ended it.
    """
    reason = _REASON_OF_EXPIRY.get(expiry_reason(record, now=now, timeout=timeout), caller)
    assert reason in DISPOSE_REASONS, reason
    return reason


class LifecycleCounters:
    """The counting calls of one lab (``store=None``: count nothing).

    :param store: the lab's monitoring store.
    """

    def __init__(self, store: MonitoringStore | None = None) -> None:
        self.store = store

    def _count(self, what: str, action: Callable[[MonitoringStore], None]) -> None:
        if self.store is None:
            return
        try:
            action(self.store)
        except ANY_STORE_ERROR as error:
            logger.warning("Could not count %s in the metrics: %s", what, type(error).__name__)

    def session_started(self) -> None:
        """Count a session start."""
        self._count("a session start", lambda store: store.record_start())

    def start_refused(self, device: str, state: str) -> None:
        """Count a start refused on a device that was not ``idle``."""
        self._count("a refused start", lambda store: store.record_start_refused(device, state))

    def session_disposed(self, reason: str, seconds: float) -> None:
        """Count a disposal, with how long its ``on_dispose`` took."""
        self._count("a disposal", lambda store: store.record_dispose(reason, seconds))

    def task_ended(self, state: str, seconds: float | None) -> None:
        """Count a task end (``done``, ``failed`` or ``lost``), with how long it ran."""
        self._count("a task end", lambda store: store.record_task_end(state, seconds))
