"""The base of every background loop: cleaner, task runners, heartbeat, listeners.

Modelled on Huey's consumer processes: a loop is ``initialize()`` once per connection,
``tick(now)`` repeatedly, ``shutdown()`` once, with a ``threading.Event`` as its stop flag. One
policy handles failures for all of them: when the store is unreachable the loop logs one
warning line naming the store (never its password) and backs off exponentially; any other
error is logged with its traceback and backs off the same way, so no loop ever spins hot.
Because ``tick`` takes ``now``, each loop's step is unit-tested without threads.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from ..store.connection import STORE_ERRORS
from ..store.pubsub import Subscription

logger = logging.getLogger("weblab_ext")

#: First pause after a failure, doubled on each further failure up to :data:`MAX_BACKOFF`.
FIRST_BACKOFF = 0.1
#: Longest pause after repeated failures, so a Redis outage is not hammered.
MAX_BACKOFF = 5.0


def backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive errors: 0.1, 0.2, 0.4 … 5."""
    return float(min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** max(failures - 1, 0)))


class Loop:
    """A background loop. Subclasses implement :meth:`tick` (and maybe the other hooks).

    :param name: thread name, also the first word of its log lines (``weblab-cleaner``).
    :param stop: the stop flag; several loops of one process may share it.
    :param store_label: how log lines name the store (password already masked).
    """

    #: Loops that must finish their work at shutdown are not daemon threads.
    daemon = True

    def __init__(self, name: str, stop: threading.Event, *, store_label: str) -> None:
        self.name = name
        self.stop_event = stop
        self.store_label = store_label
        self.failures = 0
        self._ready = False

    # -- what subclasses implement --------------------------------------------------------

    def initialize(self) -> None:
        """Prepare a connection-bound resource (a subscription); rerun after a store error."""

    def tick(self, now: float) -> float:
        """Do one step of work; return the seconds to wait before the next one (0: none)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget what :meth:`initialize` prepared (after a failure)."""

    def shutdown(self) -> None:
        """Run once when the loop ends."""

    # -- the policy -----------------------------------------------------------------------

    def clock(self) -> float:
        """Wall-clock time handed to :meth:`tick`."""
        return time.time()

    def step(self) -> float:
        """Run one tick under the failure policy; return the pause that follows it."""
        try:
            if not self._ready:
                self.initialize()
                self._ready = True
            pause = self.tick(self.clock())
        except STORE_ERRORS as exc:
            self._failed()
            pause = backoff(self.failures)
            logger.warning(
                "%s cannot reach the store at %s (attempt %d, next try in %.1f s): %s",
                self.name,
                self.store_label,
                self.failures,
                pause,
                type(exc).__name__,
            )
            return pause
        except Exception:
            self._failed()
            pause = backoff(self.failures)
            logger.exception(
                "%s failed (attempt %d, next try in %.1f s)", self.name, self.failures, pause
            )
            return pause
        self.failures = 0
        return pause

    def _failed(self) -> None:
        self.failures += 1
        self._ready = False
        try:
            self.reset()
        except Exception:
            logger.debug("%s: reset after a failure failed", self.name, exc_info=True)

    def run(self) -> None:
        """The loop body: step until the stop flag rises, then shut down."""
        try:
            while not self.stop_event.is_set():
                pause = self.step()
                if pause > 0:
                    self.stop_event.wait(pause)
        finally:
            self._ready = False
            try:
                self.reset()
            finally:
                self.shutdown()

    def start(self) -> threading.Thread:
        """Run the loop in a new thread of this process and return it."""
        thread = threading.Thread(target=self.run, name=self.name, daemon=self.daemon)
        thread.start()
        return thread


class ListenerLoop(Loop):
    """A loop that waits on a pub/sub subscription and handles each message.

    Subclasses implement :meth:`subscribe` and :meth:`on_message`; the subscription is made
    again after any store error.
    """

    #: Seconds one wait for a message lasts before the stop flag is looked at.
    listen_step = 0.5

    def __init__(self, name: str, stop: threading.Event, *, store_label: str) -> None:
        super().__init__(name, stop, store_label=store_label)
        self.subscription: Subscription | None = None

    def subscribe(self) -> Subscription:
        """Open the subscription (run again after a store error)."""
        raise NotImplementedError

    def on_message(self, channel: str, data: str) -> None:
        """Handle one message."""
        raise NotImplementedError

    def initialize(self) -> None:
        self.subscription = self.subscribe()

    def tick(self, now: float) -> float:
        assert self.subscription is not None
        message = self.subscription.next_message(self.listen_step)
        if message is not None:
            self.on_message(*message)
        return 0.0

    def reset(self) -> None:
        subscription, self.subscription = self.subscription, None
        if subscription is not None:
            subscription.close()


class PerProcess:
    """Runs a starter once per process: again in a child after ``fork``, never twice.

    Background threads must start in the process that serves (after gunicorn forks), not at
    import or ``init_app`` time; every lazy start goes through one of these.

    :param starter: called with no argument the first time :meth:`ensure` runs in a process.
    """

    def __init__(self, starter: Callable[[], None]) -> None:
        self._starter = starter
        self._pid: int | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        """Whether the starter ran in this process."""
        return self._pid == os.getpid()

    def ensure(self) -> bool:
        """Run the starter unless it already ran in this process; ``True`` if it ran now."""
        if self._pid == os.getpid():
            return False
        with self._lock:
            if self._pid == os.getpid():
                return False
            self._pid = os.getpid()
        try:
            self._starter()
        except BaseException:
            self._pid = None
            raise
        return True

    def forget(self) -> None:
        """Let the next :meth:`ensure` run the starter again (after an explicit stop)."""
        self._pid = None
