"""Per-app state of the extension, stored in ``app.extensions["weblab"]``.

Flask layer. A :class:`LabState` is the container of one app: its settings, store, session
service, task engine and background threads. It is also where the runtime meets Flask: it hands
the runtime the callables that run lab code inside this app's context.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_app_context, redirect, render_template
from flask.typing import ResponseReturnValue

from .config import Settings, redis_url_advice
from .context import session_context
from .runtime.callbacks import LabCallbacks
from .runtime.cleaner import CleanerLoop
from .runtime.counters import LifecycleCounters
from .runtime.deployment import EMBEDDED_STORE_NOTE, embedded_store_refusal, server_from_environ
from .runtime.devices import DevicePool
from .runtime.health import HealthChecker
from .runtime.lifecycle_log import LifecycleLog
from .runtime.loops import PerProcess
from .runtime.sessions import SessionService
from .runtime.task_engine import TaskEngine, TaskSpec
from .runtime.users import CurrentUser
from .runtime.workers import start_task_threads
from .store.connection import StoreClient, describe, describe_client, is_embedded_client
from .store.devices import DeviceStore
from .store.keys import Keys
from .store.monitoring import MonitoringStore
from .store.sessions import SessionStore
from .store.tasks import TaskStore
from .tasks.task import run_task_in_app

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .extension import WebLab

logger = logging.getLogger("weblab_ext")


class LabState:
    """Everything weblab_ext keeps for one Flask app.

    :param app: the app.
    :param weblab: the extension object installed on it.
    :param settings: the validated settings of the app.
    :param client: the Redis client of the lab's store.
    :param callbacks: the lab's registered callbacks.
    :param task_specs: the lab's declared tasks.
    :param backend: whether ``client`` was handed in by the lab (``backend=``) rather than
        built from ``WEBLAB_REDIS_URL``.
    """

    def __init__(
        self,
        app: Flask,
        weblab: WebLab,
        settings: Settings,
        client: StoreClient,
        *,
        callbacks: LabCallbacks,
        task_specs: Mapping[str, TaskSpec],
        backend: bool = False,
    ) -> None:
        self.app = app
        self.weblab = weblab
        self.settings = settings
        self.callbacks = callbacks
        self.client = client
        self.keys = Keys(settings.redis_base)
        #: The store named for log lines and output (password masked).
        self.store_label = describe_client(client) if backend else describe(settings.redis_url)
        self.sessions = SessionStore(client, self.keys)
        #: The shared counters and the operators' reads (metrics, admin page, status).
        self.monitoring = MonitoringStore(client, self.keys)
        counters = LifecycleCounters(self.monitoring)
        self.tasks = TaskEngine(
            TaskStore(client, self.keys),
            settings,
            task_specs,
            run_in_app=lambda running, body: run_task_in_app(self, running, body),
            ensure_threads=self.ensure_threads,
            counters=counters,
        )
        lifecycle = LifecycleLog(
            enabled=settings.log_session_lifecycle,
            lab_name=app.config.get("LAB_NAME"),
            environment=app.config.get("ENVIRONMENT"),
            logger=app.logger,
        )
        self.service = SessionService(
            self.sessions,
            settings,
            callbacks,
            session_scope=self.session_scope,
            lifecycle=lifecycle,
            tasks=self.tasks,
            counters=counters,
        )
        # Device pools (WEBLAB_DEVICES): the RLMS calls of each declared device.
        self.devices = DevicePool(self.service, DeviceStore(client, self.keys), settings.devices)
        self._threads: list[threading.Thread] = []
        self._threads_lock = threading.Lock()
        self._per_process = PerProcess(self._start_threads)
        # Set by stop_threads: the next request must not quietly start them again.
        self._threads_stopped = False
        self.stop_event = threading.Event()
        #: weblab_ext's own routes are exempt from the app's CSRF protector (Flask-WTF), or
        #: will be at the first request if the protector is installed after ``init_app``.
        self.csrf_exempted = False
        #: Runs the health checks of ``GET /weblab/health``.
        self.health = HealthChecker()
        #: ``(pid, problem)`` once the server of this process was judged (see below).
        self._deployment: tuple[int, str | None] | None = None

    # -- the embedded store vs the server running the lab -----------------------------------

    @property
    def embedded_by_default(self) -> bool:
        """Whether the lab uses the embedded store because ``WEBLAB_REDIS_URL`` is unset."""
        return self.settings.redis_url is None and is_embedded_client(self.client)

    def deployment_problem(self, environ: Mapping[str, Any]) -> str | None:
        """Why this process must not serve students, if it must not; judged once per process.

        With ``WEBLAB_REDIS_URL`` unset, a production server (seen in the WSGI ``environ``)
        would split sessions between its processes: every request is refused with the reason.
        Under the development server it logs once that sessions live in this process.
        """
        if not self.embedded_by_default or self.app.testing:
            return None
        judged = self._deployment
        if judged is not None and judged[0] == os.getpid():
            return judged[1]
        server = server_from_environ(environ)
        problem = None
        if server is not None:
            problem = embedded_store_refusal(server, redis_url_advice())
            logger.error(problem)
        else:
            logger.warning(EMBEDDED_STORE_NOTE.format(advice=redis_url_advice()))
        self._deployment = (os.getpid(), problem)
        return problem

    # -- the runtime's view of Flask --------------------------------------------------------

    @contextlib.contextmanager
    def session_scope(self, user: CurrentUser) -> Iterator[None]:
        """Run lab code as ``user``: in this app's context (pushed when not active)."""
        if has_app_context() and current_app._get_current_object() is self.app:  # type: ignore[attr-defined]
            with session_context(user.session_id, user):
                yield
            return
        with self.app.app_context(), session_context(user.session_id, user):
            yield

    def unauthorized(self) -> ResponseReturnValue:
        """What an anonymous student gets: the lab's handler, a link, a template or a 403."""
        handler = self.callbacks.unauthorized
        if handler is not None:
            return handler()  # type: ignore[no-any-return]
        if self.settings.unauthorized_link:
            return redirect(self.settings.unauthorized_link)
        if self.settings.unauthorized_template:
            return render_template(self.settings.unauthorized_template)
        return "Access forbidden", 403, {"Content-Type": "text/plain; charset=utf-8"}

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

    # -- background threads -----------------------------------------------------------------

    def ensure_threads(self, *, restart: bool = False) -> None:
        """Start this app's background threads once per process (after any fork).

        :param restart: start them even after :meth:`stop_threads` (explicit start).
        """
        if restart:
            self._threads_stopped = False
        if self.settings.no_thread or self._threads_stopped:
            return
        self._per_process.ensure()

    def _start_threads(self) -> None:
        with self._threads_lock:
            self.stop_event = stop = threading.Event()
            self._threads = []
            if self.settings.autoclean_thread:
                cleaner = CleanerLoop(
                    self.service, stop, store_label=self.store_label, tasks=self.tasks
                )
                self._threads.append(cleaner.start())
            self._threads.extend(
                start_task_threads(
                    self.tasks,
                    stop,
                    self.settings.task_threads_process,
                    store_label=self.store_label,
                )
            )

    def close(self) -> None:
        """Close this app's connections to the store (shutdown, tests); threads are not
        stopped (see :meth:`stop_threads`) and a later use opens new connections."""
        self.sessions.close()
        self.devices.store.close()
        self.client.close()

    def stop_threads(self, timeout: float = 5.0) -> None:
        """Stop this app's background threads and wait for them (bounded)."""
        self._threads_stopped = True
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        with self._threads_lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._per_process.forget()
