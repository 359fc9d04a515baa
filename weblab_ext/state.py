"""Per-app state of the extension, stored in ``app.extensions["weblab"]``.

Flask layer: it ties the settings, the store and the disposer of one app together and runs
the clean-up of a disposed session inside that app's context.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis
from flask import Flask

from . import lifecycle_log
from .config import Settings
from .context import session_context
from .disposal import DisposeOutcome, Disposer
from .store.keys import Keys
from .store.sessions import SessionRecord, SessionStore
from .tokens import create_token
from .users import CurrentUser, WebLabUser, user_from_record

if TYPE_CHECKING:
    from .extension import WebLab

logger = logging.getLogger("weblab_ext")

#: Lock lifetime of one cleaner pass: long enough for a pass, short enough that a killed
#: process does not stop cleaning for long.
CLEANER_LOCK_MS = 30_000

#: Called by a disposal after ``on_dispose``: ``hook(session_id, deadline)`` stops and waits
#: for whatever else belongs to the session (its tasks) until ``deadline`` (monotonic).
DisposeHook = Callable[[str, float], None]
#: Called once per process when background threads start: returns the threads it started.
ThreadStarter = Callable[["LabState", threading.Event], list[threading.Thread]]


class LabState:
    """Everything weblab_ext keeps for one Flask app."""

    def __init__(self, app: Flask, weblab: WebLab, settings: Settings, client: redis.Redis):
        self.app = app
        self.weblab = weblab
        self.settings = settings
        self.client = client
        self.keys = Keys(settings.redis_base)
        self.sessions = SessionStore(client, self.keys)
        self.clock: Callable[[], float] = time.time
        # Runtime-writable, as lab code and tests expect (weblab.timeout = 0.1).
        self.timeout = settings.timeout
        self.poll_interval = settings.poll_interval
        self.cleaner_interval = settings.cleaner_interval
        self.disposer = Disposer(
            self.sessions, self._cleanup, expired_ttl=lambda: settings.expired_users_timeout
        )
        self.dispose_hooks: list[DisposeHook] = []
        self.thread_starters: list[ThreadStarter] = []
        self.tasks: Any = None  # the task runtime, set by the task system at init_app
        self._threads: list[threading.Thread] = []
        self._threads_pid: int | None = None
        self._threads_lock = threading.Lock()
        # Set by stop_threads: the next request must not quietly start them again.
        self._threads_stopped = False
        self.stop_event = threading.Event()

    # -- users (implements users.UserBackend) -----------------------------------------------

    def load_user(self, session_id: str, *, poll: bool) -> WebLabUser:
        """Read a session's user, recording a poll when asked; one round trip."""
        record = self.sessions.touch(session_id, now=self.clock(), poll=poll)
        return user_from_record(record, self, clock=self.clock)

    def store_user_data(self, session_id: str, data_json: str) -> bool:
        return self.sessions.store_data(session_id, data_json) is not None

    def load_user_data(self, session_id: str) -> dict[str, Any] | None:
        record = self.sessions.load(session_id)
        if record is None or not record.is_current:
            return None
        return json.loads(record.data_json)  # type: ignore[no-any-return]

    def load_lab_user(self, username_unique: str) -> Any:
        loader = self.weblab._user_loader
        return loader(username_unique) if loader is not None else None

    def store_session_action(self, session_id: str, action_id: str, action_json: str) -> None:
        self.sessions.store_action(session_id, action_id, action_json)

    def clean_session_actions(self, session_id: str) -> None:
        self.sessions.clean_actions(session_id)

    # -- transitions ------------------------------------------------------------------------

    def logout(self, session_id: str) -> bool:
        """Mark a session exited and tell push layers."""
        if not self.sessions.logout(session_id):
            return False
        self.sessions.publish_session_event({"session_id": session_id, "event": "logout"})
        return True

    def dispose(
        self, session_id: str, *, wait: float, background: bool = True
    ) -> DisposeOutcome:
        """Dispose a session now (RLMS call or failed ``on_start``)."""
        return self.disposer.dispose(
            session_id, now=self.clock(), timeout=self.timeout, wait=wait, background=background
        )

    def clean_expired(self) -> int:
        """One cleaner pass: dispose every due session. Returns how many were disposed."""
        token = create_token()
        lock = self.keys.cleaner_lock()
        if not self.sessions.acquire_lock(lock, token, CLEANER_LOCK_MS):
            return 0  # another process is cleaning right now
        disposed = 0
        try:
            now = self.clock()
            for session_id in self.sessions.due_sessions(now=now, timeout=self.timeout):
                outcome = self.disposer.dispose(
                    session_id, now=now, timeout=self.timeout, wait=0,
                    only_if_due=True, background=False,
                )
                disposed += outcome is DisposeOutcome.DONE
        finally:
            self.sessions.release_lock(lock, token)
        return disposed

    def _cleanup(self, record: SessionRecord) -> None:
        """Run ``on_dispose`` as the session's user, then the dispose hooks (tasks)."""
        deadline = time.monotonic() + self.settings.dispose_wait
        now = self.clock()
        if self.settings.log_session_lifecycle:
            lifecycle_log.log_event(
                "disposed", source="dispose", now=now, timeout=self.timeout, record=record,
                reason=lifecycle_log.expiry_reason(record, now=now, timeout=self.timeout),
                lab_name=self.app.config.get("LAB_NAME"),
                environment=self.app.config.get("ENVIRONMENT"),
            )
        with self.app.app_context():
            user = CurrentUser(record, self, clock=self.clock)
            with session_context(record.session_id, user):
                on_dispose = self.weblab._on_dispose
                if on_dispose is not None:
                    try:
                        on_dispose()
                    except Exception:
                        logger.exception("on_dispose raised; the session is disposed anyway")
                try:
                    user.data.store_if_modified()
                except Exception:
                    logger.exception("Could not store the data changed by on_dispose")
            for hook in self.dispose_hooks:
                try:
                    hook(record.session_id, deadline)
                except Exception:
                    logger.exception("A dispose hook failed")
        self.sessions.publish_session_event(
            {"session_id": record.session_id, "event": "disposed", "back": record.back}
        )

    # -- background threads -----------------------------------------------------------------

    def ensure_threads(self, *, restart: bool = False) -> None:
        """Start this app's background threads once per process (after any fork).

        :param restart: start them even after :meth:`stop_threads` (explicit start).
        """
        if restart:
            self._threads_stopped = False
        if self._threads_pid == os.getpid() or self.settings.no_thread or self._threads_stopped:
            return
        with self._threads_lock:
            if self._threads_pid == os.getpid():
                return
            self._threads_pid = os.getpid()
            self.stop_event = threading.Event()
            self._threads = []
            if self.settings.autoclean_thread:
                from .cleaner import CleanerThread

                cleaner = CleanerThread(self, self.stop_event)
                cleaner.start()
                self._threads.append(cleaner)
            for starter in self.thread_starters:
                self._threads.extend(starter(self, self.stop_event))

    def stop_threads(self, timeout: float = 5.0) -> None:
        """Stop this app's background threads and wait for them (bounded)."""
        self._threads_stopped = True
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        self._threads_pid = None
