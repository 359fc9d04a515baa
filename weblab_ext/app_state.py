"""Per-app state of the extension: what ``app.extensions["weblab"]`` holds.

Flask layer. A :class:`LabState` is a plain holder of one app's parts: its settings, the
store's client, the runtime services and its background threads. It builds nothing and knows
nothing of the :class:`~weblab_ext.WebLab` object that installed it (one ``WebLab`` may serve
several apps): :func:`weblab_ext.wiring.build_lab_state` makes it, every Flask-layer module
fetches it with :func:`weblab_ext.context.lab_state`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from .config import Settings
    from .runtime.callbacks import LabCallbacks
    from .runtime.devices import DevicePool
    from .runtime.events import LabEvents
    from .runtime.journal import SessionJournal
    from .runtime.operator import OperatorService
    from .runtime.sessions import SessionService
    from .runtime.task_engine import TaskEngine
    from .runtime.threads import BackgroundThreads
    from .store.connection import StoreClient
    from .store.keys import Keys
    from .store.monitoring import MonitoringStore
    from .store.sessions import SessionStore


@dataclasses.dataclass(eq=False)
class LabState:
    """Everything weblab_ext keeps for one Flask app."""

    app: Flask
    #: The validated settings of the app.
    settings: Settings
    #: The lab's registered callbacks (owned by the ``WebLab``, read at call time).
    callbacks: LabCallbacks
    #: The Redis client of the lab's store.
    client: StoreClient
    keys: Keys
    #: The store named for log lines and output (password masked).
    store_label: str
    #: The session records (tests and the runtime; views go through :attr:`service`).
    sessions: SessionStore
    #: The shared counters and the operators' reads (through :attr:`operator`).
    monitoring: MonitoringStore
    #: The session service: start, launch, poll, logout, status, dispose, clean.
    service: SessionService
    #: The task engine: submit, run, stop, sweep.
    tasks: TaskEngine
    #: What the admin page, metrics, health URL and CLI show.
    operator: OperatorService
    #: The lab's published events (the Socket.IO push listens to them).
    events: LabEvents
    #: The background threads of this app in this process.
    threads: BackgroundThreads
    #: The session records (``WEBLAB_RECORD``): ``weblab.record``, export, admin timeline.
    journal: SessionJournal
    #: The declared devices (``WEBLAB_DEVICES``; false when none is declared).
    devices: DevicePool
    #: weblab_ext's own routes are exempt from the app's CSRF protector (Flask-WTF), or will
    #: be at the first request if the protector is installed after ``init_app``.
    csrf_exempted: bool = False

    @property
    def embedded_by_default(self) -> bool:
        """Whether the lab uses the embedded store because ``WEBLAB_REDIS_URL`` is unset."""
        return self.operator.embedded_by_default

    # -- run-time tunables (``weblab.timeout = 0.1`` in lab code and tests) -------------------

    @property
    def clock(self) -> Callable[[], float]:
        """Wall clock of sessions; tests replace it to drive time."""
        return self.service.clock

    @clock.setter
    def clock(self, value: Callable[[], float]) -> None:
        self.service.clock = value

    @property
    def timeout(self) -> float:
        return self.service.timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self.service.timeout = value

    @property
    def poll_interval(self) -> float:
        return self.service.poll_interval

    @poll_interval.setter
    def poll_interval(self, value: float) -> None:
        self.service.poll_interval = value

    @property
    def cleaner_interval(self) -> float:
        return self.service.cleaner_interval

    @cleaner_interval.setter
    def cleaner_interval(self, value: float) -> None:
        self.service.cleaner_interval = value

    # -- shortcuts --------------------------------------------------------------------------

    def ensure_threads(self, *, restart: bool = False) -> None:
        """Start this app's background threads once per process (see
        :meth:`.BackgroundThreads.ensure`)."""
        self.threads.ensure(restart=restart)

    def stop_threads(self, timeout: float = 5.0) -> None:
        """Stop this app's background threads and wait for them (bounded)."""
        self.threads.stop(timeout)

    def close(self) -> None:
        """Close this app's connections to the store (shutdown, tests); threads are not
        stopped (see :meth:`stop_threads`) and a later use opens new connections."""
        self.sessions.close()
        self.devices.store.close()
        if self.journal.store is not None:
            self.journal.store.calls.close()
        self.client.close()
