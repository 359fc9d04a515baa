"""The expiry cleaner: disposes sessions past their slot, silent too long, or logged out."""

from __future__ import annotations

import threading
from typing import Protocol

from .loops import Loop


class Cleanable(Protocol):
    """What the cleaner drives (a :class:`~weblab_ext.runtime.sessions.SessionService`)."""

    cleaner_interval: float

    def clean_expired(self) -> int: ...


class CleanerLoop(Loop):
    """Runs one cleaner pass every ``cleaner_interval`` seconds.

    :param sessions: the session service (its ``cleaner_interval`` is read at every pass,
        so a change at run time applies to the next pause).
    :param stop: the stop flag.
    :param store_label: how log lines name the store.
    """

    def __init__(self, sessions: Cleanable, stop: threading.Event, *, store_label: str) -> None:
        super().__init__("weblab-cleaner", stop, store_label=store_label)
        self.sessions = sessions

    def tick(self, now: float) -> float:
        self.sessions.clean_expired()
        return self.sessions.cleaner_interval
