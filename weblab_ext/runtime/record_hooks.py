"""The lab's ``@weblab.on_record`` hooks, called off the request.

Runtime layer. Each recorded event goes into a bounded queue that one daemon thread per app
and process drains, calling every hook with ``(session, event)``: the session named by the
hash the lifecycle logs and exports use, and the event as a dict, as stored. A request never
waits for a hook: when the queue is full the event is dropped for the hooks (it is in the
record all the same) and counted. A hook that raises is logged, never raised: the next event
reaches it as usual.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("weblab_ext")

#: Events waiting for the hooks, at most.
QUEUE_SIZE = 10_000

RecordHook = Callable[[str, dict[str, Any]], Any]


class RecordHooks:
    """The ``on_record`` hooks of one app, and the thread that calls them.

    :param hooks: the hooks (the lab's list, read at call time: a hook added later counts).
    :param size: how many events may wait for the hooks.
    """

    def __init__(self, hooks: list[RecordHook] | None = None, size: int = QUEUE_SIZE) -> None:
        self.hooks: list[RecordHook] = hooks if hooks is not None else []
        #: Events the hooks missed because the queue was full.
        self.dropped = 0
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0

    @property
    def active(self) -> bool:
        """Whether any hook is registered."""
        return bool(self.hooks)

    def put(self, session_id: str, event_json: str) -> None:
        """Queue an event for the hooks; never blocks, never raises."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="weblab-record-hooks", daemon=True
                )
                self._thread.start()
            try:
                self._queue.put_nowait((session_id, event_json))
            except queue.Full:
                self.dropped += 1
                return
            self._pending += 1

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            session_id, event_json = item
            try:
                event = json.loads(event_json)
                for hook in list(self.hooks):
                    try:
                        hook(session_id, event)
                    except Exception:
                        logger.exception("An on_record hook raised; the event is recorded")
            finally:
                with self._lock:
                    self._pending -= 1
                    self._idle.notify_all()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event reached the hooks (tests, shutdown)."""
        with self._lock:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)
