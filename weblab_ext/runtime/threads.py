"""One app's background threads in this process: the cleaner and the task threads.

Runtime layer. They start lazily, once per process (after any ``fork``: gunicorn forks after
importing the app), never at import or ``init_app`` time; an explicit stop keeps them stopped
until an explicit start.
"""

from __future__ import annotations

import threading
import time

from .cleaner import CleanerLoop
from .health_monitor import HealthLoop, HealthMonitor
from .loops import PerProcess
from .sessions import SessionService
from .task_engine import TaskEngine
from .workers import start_task_threads


class BackgroundThreads:
    """Starts and stops the background threads of one app.

    :param service: the session service the cleaner passes over.
    :param tasks: the task engine the task threads serve.
    :param store_label: how log lines name the store (password masked).
    :param enabled: ``False`` when the lab runs no thread at all (``WEBLAB_NO_THREAD``).
    :param cleaner: whether a cleaner thread runs (``WEBLAB_AUTOCLEAN_THREAD``).
    :param task_threads: task runner threads of this process (``WEBLAB_TASK_THREADS_PROCESS``).
    """

    def __init__(
        self,
        service: SessionService,
        tasks: TaskEngine,
        *,
        store_label: str,
        enabled: bool,
        cleaner: bool,
        task_threads: int,
    ) -> None:
        self._service = service
        self._tasks = tasks
        self._store_label = store_label
        self._enabled = enabled
        self._cleaner = cleaner
        self._task_threads = task_threads
        #: The threads started in this process (empty until the first start).
        self.running: list[threading.Thread] = []
        #: The stop flag of the threads now running.
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._per_process = PerProcess(self._start)
        # Set by stop(): the next request must not quietly start them again.
        self._stopped = False
        #: The background health checks (``WEBLAB_HEALTH_CHECK_INTERVAL``), run beside the
        #: cleaner.
        self.health: HealthMonitor | None = None

    def ensure(self, *, restart: bool = False) -> None:
        """Start the threads once per process (after any fork).

        :param restart: start them even after :meth:`stop` (explicit start).
        """
        if restart:
            self._stopped = False
        if not self._enabled or self._stopped:
            return
        self._per_process.ensure()

    def _start(self) -> None:
        with self._lock:
            self.stop_event = stop = threading.Event()
            self.running = []
            if self._cleaner:
                loop = CleanerLoop(
                    self._service, stop, store_label=self._store_label, tasks=self._tasks
                )
                self.running.append(loop.start())
                if self.health is not None:
                    health = HealthLoop(self.health, stop, store_label=self._store_label)
                    self.running.append(health.start())
            self.running.extend(
                start_task_threads(
                    self._tasks, stop, self._task_threads, store_label=self._store_label
                )
            )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads and wait for them (bounded by ``timeout`` seconds in all)."""
        self._stopped = True
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            threads, self.running = self.running, []
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._per_process.forget()
