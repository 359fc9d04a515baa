"""Builds the per-app state: the one place that knows how the parts fit together.

Flask layer. :meth:`weblab_ext.WebLab.init_app` calls :func:`build_lab_state` once per app
(again when a test harness re-points an app to a test store). It lives apart from
``extension.py`` so that the ``WebLab`` object keeps to what lab code sees (decorators,
tunables), and apart from ``app_state.py`` so that the holder every Flask module fetches
imports none of the parts it holds: the composition root is imported by the extension alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flask import Flask, current_app, has_app_context

from .app_state import LabState
from .config import Settings
from .context import session_context
from .runtime.callbacks import LabCallbacks
from .runtime.counters import LifecycleCounters
from .runtime.devices import DevicePool
from .runtime.embedded_store_guard import EmbeddedStoreGuard
from .runtime.events import LabEvents
from .runtime.health_monitor import HealthMonitor
from .runtime.journal import SessionJournal, pseudonym_key
from .runtime.lifecycle_log import LifecycleLog
from .runtime.operator import OperatorService
from .runtime.record_hooks import RecordHooks
from .runtime.sessions import SessionScope, SessionService
from .runtime.task_engine import RunningTask, TaskEngine
from .runtime.task_specs import TaskSpec
from .runtime.threads import BackgroundThreads
from .runtime.users import CurrentUser
from .store.connection import StoreClient, describe, describe_client, is_embedded_client
from .store.devices import DeviceStore
from .store.journal import JournalStore
from .store.keys import Keys
from .store.monitoring import MonitoringStore
from .store.sessions import SessionStore
from .store.tasks import TaskStore
from .tasks.task import run_task_in_app
from .views.health import background_checks


def session_scope_in(app: Flask) -> SessionScope:
    """Runs lab code as a session's user in ``app``'s context (pushed when not active)."""

    @contextlib.contextmanager
    def scope(user: CurrentUser) -> Iterator[None]:
        if has_app_context() and current_app._get_current_object() is app:  # type: ignore[attr-defined]
            with session_context(user.session_id, user):
                yield
            return
        with app.app_context(), session_context(user.session_id, user):
            yield

    return scope


def build_journal(
    app: Flask, settings: Settings, store: JournalStore, callbacks: LabCallbacks
) -> SessionJournal:
    """The session records of ``app`` (``WEBLAB_RECORD_*``); pseudonyms are on by default
    outside debug mode, keyed by a dedicated secret or one derived from ``SECRET_KEY``."""
    pseudonyms = settings.record_pseudonyms
    if pseudonyms is None:
        pseudonyms = not app.debug
    key = pseudonym_key(settings.record_pseudonym_secret, app.config.get("SECRET_KEY"))
    if settings.record and pseudonyms and key is None:
        app.logger.warning(
            "Session records leave users out: set SECRET_KEY or WEBLAB_RECORD_PSEUDONYM_SECRET "
            "to name them by a pseudonym"
        )
    return SessionJournal(
        store,
        enabled=settings.record,
        max_events=settings.record_max_events,
        retention=settings.record_retention,
        key=key,
        pseudonyms=pseudonyms,
        hooks=RecordHooks(callbacks.record_hooks),
    )


def app_scope_in(app: Flask) -> Callable[[Callable[[], Any]], Any]:
    """Runs lab code with no session (``on_reset``) in ``app``'s context."""

    def run(call: Callable[[], Any]) -> Any:
        if has_app_context() and current_app._get_current_object() is app:  # type: ignore[attr-defined]
            return call()
        with app.app_context():
            return call()

    return run


def build_lab_state(
    app: Flask,
    settings: Settings,
    client: StoreClient,
    *,
    callbacks: LabCallbacks,
    task_specs: Mapping[str, TaskSpec],
    backend: bool = False,
) -> LabState:
    """Build the store's views, the runtime services and the threads of one app.

    :param app: the app.
    :param settings: the validated settings of the app.
    :param client: the Redis client of the lab's store.
    :param callbacks: the lab's registered callbacks.
    :param task_specs: the lab's declared tasks.
    :param backend: whether ``client`` was handed in by the lab (``backend=``) rather than
        built from ``WEBLAB_REDIS_URL``.
    """
    keys = Keys(settings.redis_base)
    store_label = describe_client(client) if backend else describe(settings.redis_url)
    sessions = SessionStore(client, keys)
    monitoring = MonitoringStore(client, keys)
    counters = LifecycleCounters(monitoring)
    journal = build_journal(app, settings, JournalStore(client, keys), callbacks)

    # The engine and the session service need each other, and the threads need both: the
    # engine gets callables that look the others up when a task is submitted or run, long
    # after this function returned.
    def run_in_app(running: RunningTask, body: Callable[[], Any]) -> Any:
        return run_task_in_app(app, service, running, body)

    def ensure_threads() -> None:
        threads.ensure()

    tasks = TaskEngine(
        TaskStore(client, keys),
        settings,
        task_specs,
        run_in_app=run_in_app,
        ensure_threads=ensure_threads,
        counters=counters,
        journal=journal,
    )
    lifecycle = LifecycleLog(
        enabled=settings.log_session_lifecycle,
        lab_name=app.config.get("LAB_NAME"),
        environment=app.config.get("ENVIRONMENT"),
        logger=app.logger,
    )
    service = SessionService(
        sessions,
        settings,
        callbacks,
        session_scope=session_scope_in(app),
        lifecycle=lifecycle,
        tasks=tasks,
        counters=counters,
        journal=journal,
    )
    journal.clock = lambda: service.clock()
    threads = BackgroundThreads(
        service,
        tasks,
        store_label=store_label,
        enabled=not settings.no_thread,
        cleaner=settings.autoclean_thread,
        task_threads=settings.task_threads_process,
    )
    guard = EmbeddedStoreGuard(
        embedded_by_default=settings.redis_url is None and is_embedded_client(client),
        testing=lambda: app.testing,
    )
    operator = OperatorService(
        service,
        tasks,
        sessions=sessions,
        monitoring=monitoring,
        client=client,
        keys=keys,
        store_label=store_label,
        guard=guard,
        health_timeout=settings.health_check_timeout,
    )
    state = LabState(
        app=app,
        settings=settings,
        callbacks=callbacks,
        client=client,
        keys=keys,
        store_label=store_label,
        sessions=sessions,
        monitoring=monitoring,
        service=service,
        tasks=tasks,
        operator=operator,
        events=LabEvents(sessions, keys),
        threads=threads,
        journal=journal,
        devices=DevicePool(
            service, DeviceStore(client, keys), settings.devices, app_scope=app_scope_in(app)
        ),
    )
    if settings.devices:  # a task that outlives its record keeps its device from the next one
        tasks.device_guard = state.devices.lifecycle
    threads.health = HealthMonitor(
        state.devices.lifecycle,
        background_checks(state),
        interval=lambda: settings.health_check_interval,
        timeout=lambda: settings.health_check_timeout,
    )
    return state
