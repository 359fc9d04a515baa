"""The expiry cleaner thread: disposes sessions past their slot, silent, or logged out."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import redis

if TYPE_CHECKING:
    from .state import LabState

logger = logging.getLogger("weblab_ext")

#: Longest pause after repeated store errors, so a Redis outage is not hammered.
_MAX_BACKOFF = 30.0


class CleanerThread(threading.Thread):
    """Runs :meth:`LabState.clean_expired` every ``WEBLAB_CLEANER_INTERVAL`` seconds."""

    def __init__(self, state: LabState, stop: threading.Event) -> None:
        super().__init__(name="weblab-cleaner", daemon=True)
        self.state = state
        self.stop = stop

    def run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                self.state.clean_expired()
                failures = 0
            except redis.ConnectionError:
                failures += 1
                logger.warning("Cleaner cannot reach the store (attempt %d)", failures)
            except Exception:
                failures += 1
                logger.exception("Cleaner pass failed")
            pause = self.state.cleaner_interval
            if failures:
                pause = min(_MAX_BACKOFF, max(pause, 0.5) * 2 ** min(failures, 6))
            self.stop.wait(pause)
