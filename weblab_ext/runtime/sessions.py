"""The session service: every step in the life of a lab session, framework-free.

The RLMS views, the student routes, the CLI, the Socket.IO guards and the cleaner all go
through one :class:`SessionService` per app. It owns the orchestration (create the record,
run ``on_start``, dispose on failure; run ``on_dispose`` once, then stop the session's
tasks) and leaves two things to others: the store owns the records and their encoding, and
the Flask layer hands in ``session_scope``, which runs lab code inside the app and session
context that lab code expects (``weblab_user``, ``current_app``).

Every method that depends on the time takes ``now`` (default: the service's ``clock``), so
tests drive time instead of sleeping.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..protocol import StartRequest
from ..random_ids import create_token
from ..states import SessionState
from ..store.records import SessionRecord as SessionRecord  # re-exported for views
from ..store.sessions import SessionStore
from .callbacks import LabCallbacks
from .cleaner import ExpiryCleaner
from .counters import LifecycleCounters
from .disposal import Cleanup, DisposeOutcome, Disposer
from .journal import SessionJournal
from .lifecycle_log import SOURCE_DISPOSE, LifecycleLog
from .session_status import SessionStatus
from .users import CurrentUser, WebLabUser, user_from_record

if TYPE_CHECKING:
    from .task_engine import TaskEngine

logger = logging.getLogger("weblab_ext")

#: Runs lab code as a session's user: ``with session_scope(user): on_dispose()``. The Flask
#: layer's version pushes an app context when none is active, then the session context.
SessionScope = Callable[[CurrentUser], contextlib.AbstractContextManager[None]]

#: Seconds a session outlives the closing of its page (``logout_on_close``): a reload or a
#: navigation looks the same to the page, and the new page's first poll comes well within.
CLOSE_GRACE = 5.0


@dataclasses.dataclass(frozen=True)
class StartOutcome:
    """What :meth:`SessionService.start` did.

    ``error`` is what ``on_start`` raised; the session was then disposed already.
    """

    session_id: str
    record: SessionRecord
    error: Exception | None = None


class SessionService(SessionStatus):
    """The sessions of one lab app.

    :param store: the lab's session store.
    :param settings: the app's validated settings.
    :param callbacks: the lab's registered callbacks (read at call time).
    :param session_scope: runs lab code as a session's user (see :data:`SessionScope`).
    :param lifecycle: the lab's lifecycle log.
    :param tasks: the task engine, whose tasks of a disposed session are stopped.
    :param counters: counts starts and disposals for the metrics (default: none).
    :param journal: the session records (default: none).
    """

    def __init__(
        self,
        store: SessionStore,
        settings: Settings,
        callbacks: LabCallbacks,
        *,
        session_scope: SessionScope,
        lifecycle: LifecycleLog,
        tasks: TaskEngine | None = None,
        counters: LifecycleCounters | None = None,
        journal: SessionJournal | None = None,
    ) -> None:
        self.store = store
        self.journal = journal or SessionJournal(None)
        self.settings = settings
        self.callbacks = callbacks
        self.lifecycle = lifecycle
        self.tasks = tasks
        self.counters = counters or LifecycleCounters()
        self._session_scope = session_scope
        #: Wall clock of sessions (epoch seconds); tests replace it.
        self.clock: Callable[[], float] = time.time
        # Writable at run time, as lab code and tests expect (weblab.timeout = 0.1).
        self.timeout = settings.timeout
        self.poll_interval = settings.poll_interval
        self.cleaner_interval = settings.cleaner_interval
        self.cleaner_concurrency = settings.cleaner_concurrency
        self.cleaner_batch = settings.cleaner_batch
        self.disposer = Disposer(
            store,
            self._cleanup,
            expired_ttl=lambda: settings.expired_users_timeout,
            on_disposed=self._disposed,
            dispose_max=lambda: settings.dispose_max,
        )
        self.expiry = ExpiryCleaner(
            store,
            self.disposer,
            concurrency=lambda: self.cleaner_concurrency,
            batch=lambda: self.cleaner_batch,
        )

    # -- start ------------------------------------------------------------------------------

    def start(
        self,
        request: StartRequest,
        *,
        now: float | None = None,
        device: str = "",
        create: Callable[[SessionRecord, float], bool] | None = None,
    ) -> StartOutcome:
        """Create a session for a validated start request and run ``on_start`` for it.

        If ``on_start`` raises, the session is disposed at once (``on_dispose`` runs) and the
        outcome carries the error.

        :param device: the device the session holds (``WEBLAB_DEVICES``), ``""`` for none.
        :param create: stores the new record, ``False`` when its id is taken (default: the
            session store's ``create``); the device pool's also claims the device.
        """
        now = self._now(now)
        record = self._new_record(request, now, device)
        store = create or (lambda new, at: self.store.create(new, now=at))
        while not store(record, now):  # pragma: no cover - 256 random bits
            record = dataclasses.replace(record, session_id=create_token())
        self.counters.session_started()
        self.journal.started(record, now=now)
        user = CurrentUser(record, self, clock=self.clock)
        error = self._run_on_start(request, user)
        if error is not None:  # a start that went well is the start event itself
            self.journal.event(
                record.session_id, "rlms", {"call": "start", "outcome": "on_start_failed"}
            )
            self.dispose(
                record.session_id,
                wait=self.settings.dispose_wait,
                background=False,
                caller="start_failed",
            )
        return StartOutcome(record.session_id, record, error)

    @staticmethod
    def _new_record(request: StartRequest, now: float, device: str) -> SessionRecord:
        return SessionRecord(
            session_id=create_token(),
            state=SessionState.ACTIVE,
            dialect=request.dialect,
            start_date=request.start_date,
            max_date=request.max_date,
            last_poll=now,
            username=request.username,
            username_unique=request.username_unique,
            full_name=request.full_name,
            locale=request.locale,
            experiment_name=request.experiment_name,
            category_name=request.category_name,
            back=request.back,
            request_client_data=request.request_client_data,
            request_server_data=request.request_server_data,
            device=device,
        )

    def _run_on_start(self, request: StartRequest, user: CurrentUser) -> Exception | None:
        on_start = self.callbacks.on_start
        if on_start is None:
            return None
        try:
            with self._session_scope(user):
                result = on_start(request.client_data, request.server_data)
                if result:
                    if not isinstance(result, dict):
                        raise TypeError(
                            f"on_start must return a dict or None, not {type(result).__name__}"
                        )
                    user.data = result
                user.store_data_if_modified()
        except Exception as exc:
            logger.exception("on_start raised: the session is disposed and the RLMS told")
            return exc
        return None

    # -- the student ------------------------------------------------------------------------

    def load(self, session_id: str) -> SessionRecord | None:
        """The stored record of a session, without side effects."""
        return self.store.load(session_id)

    def launch(
        self, session_id: str, *, browser: str, current: str | None, confirmed: bool = False
    ) -> str:
        """Decide what a browser following a session's launch URL gets.

        A browser in another session that is still active is asked first: a link (maybe
        from another site) never replaces the session a student is in without their
        consent. With ``WEBLAB_LAUNCH_ONCE`` the first browser to enter holds the session
        and only it gets in again, whatever other sessions it entered in between.

        :param browser: names this browser (it stays in its cookie across sessions).
        :param current: the session the browser's cookie names now, if any.
        :param confirmed: the student chose, on the confirmation page, to leave ``current``.
        :returns: ``"enter"``, ``"confirm"`` (ask first), ``"used"`` (another browser holds
            the session) or ``"missing"``.
        """
        once = self.settings.launch_once
        ask = not confirmed and current not in (None, session_id) and self._active(current)
        holder = self.store.launch(session_id, holder=browser if once and not ask else "")
        if holder is None:
            return "missing"
        # The cookie naming the session also proves it: records of older versions say "1".
        if once and holder not in ("", browser) and current != session_id:
            self.journal.event(session_id, "launch", {"outcome": "used"})
            return "used"
        if ask:
            return "confirm"
        self.journal.event(session_id, "launch", {"outcome": "enter"})
        return "enter"

    def _active(self, session_id: str | None) -> bool:
        if session_id is None:
            return False
        return self.user_of(self.store.load(session_id)).active

    def load_user(self, session_id: str, *, poll: bool, now: float | None = None) -> WebLabUser:
        """Read a session's user, recording a poll when asked; one round trip."""
        record = self.store.touch(session_id, now=self._now(now), poll=poll, timeout=self.timeout)
        return user_from_record(record, self, clock=self.clock)

    def user_of(self, record: SessionRecord | None) -> WebLabUser:
        """The user object of a record already read (``None``: anonymous)."""
        return user_from_record(record, self, clock=self.clock)

    def poll(self, session_id: str, *, now: float | None = None) -> bool:
        """Record activity of the student; ``False`` when the session does not exist."""
        return self.store.poll(session_id, now=self._now(now), timeout=self.timeout)

    def logout(self, session_id: str) -> bool:
        """Mark a session exited (due for disposal) and tell push layers."""
        if not self.store.logout(session_id):
            return False
        self.store.publish_session_event({"session_id": session_id, "event": "logout"})
        return True

    def page_closed(self, session_id: str, *, now: float | None = None) -> bool:
        """A page of the session went away (closed, reloaded, left): the session ends
        :data:`CLOSE_GRACE` seconds later unless a request of it comes first. With no
        inactivity timeout (``timeout <= 0``) nothing could end it later: it ends now."""
        if self.timeout <= 0:
            return self.logout(session_id)
        return self.store.page_closed(
            session_id, now=self._now(now), timeout=self.timeout, grace=CLOSE_GRACE
        )

    # -- what users need from their lab (users.UserBackend) ---------------------------------

    def store_user_data(self, session_id: str, data_json: str) -> bool:
        return self.store.store_data(session_id, data_json) is not None

    def load_user_data(self, session_id: str) -> dict[str, Any] | None:
        record = self.store.load(session_id)
        if record is None or not record.is_current:
            return None
        return json.loads(record.data_json)  # type: ignore[no-any-return]

    def load_lab_user(self, username_unique: str) -> Any:
        loader = self.callbacks.user_loader
        return loader(username_unique) if loader is not None else None

    def store_session_action(self, session_id: str, action_id: str, action_json: str) -> None:
        self.store.store_action(session_id, action_id, action_json)

    def clean_session_actions(self, session_id: str) -> None:
        self.store.clean_actions(session_id)

    def dispose(
        self,
        session_id: str,
        *,
        wait: float,
        background: bool = True,
        now: float | None = None,
        caller: str = "rlms",
    ) -> DisposeOutcome:
        """Dispose a session now (RLMS call, failed ``on_start``, the admin page); wait up to
        ``wait`` s.

        :param caller: ``rlms``, ``admin`` or ``start_failed``: what the metrics count as the
            reason when the session was not over yet.
        """
        outcome = self.disposer.dispose(
            session_id,
            now=self._now(now),
            timeout=self.timeout,
            wait=wait,
            background=background,
            caller=caller,
        )
        if caller == "rlms":
            self.journal.call(session_id, "dispose", outcome.value)
        return outcome

    def _disposed(self, record: SessionRecord, reason: str, took: float | None) -> None:
        if took is not None:
            self.counters.session_disposed(reason, took)
        self.journal.ended(record, reason)

    # -- the cleaner ------------------------------------------------------------------------

    def clean_expired(
        self,
        *,
        now: float | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        progress: Callable[[int], object] | None = None,
    ) -> int:
        """One cleaner pass: dispose every due session, ``on_dispose`` calls in parallel
        (``WEBLAB_CLEANER_CONCURRENCY``), until none is due, then retry the resets of broken
        devices whose backoff ended. Returns how many sessions were disposed.

        Cleaners of several processes share the work: each disposes the batches it claimed.

        :param should_stop: checked between batches (a stopping worker process).
        :param progress: called with how many more sessions were disposed (a CLI progress
            bar).
        """
        clock = self.clock if now is None else (lambda: now)
        done = self.expiry.run(
            clock=clock, timeout=lambda: self.timeout, should_stop=should_stop, progress=progress
        )
        if self.disposer.devices is not None:
            # Broken devices are reset again (with backoff) after each pass.
            try:
                self.disposer.devices.retry_broken(monotonic=time.monotonic())
            except Exception:
                logger.exception("Resetting the broken devices failed")
        return done

    def _cleanup(self, record: SessionRecord, has_tasks: bool = True) -> Cleanup:
        """Run ``on_dispose`` as the session's user, then stop the session's tasks and wait
        for them until ``WEBLAB_DISPOSE_MAX``; says how long ``on_dispose`` took and why the
        device is not clean (``on_dispose`` raised, a task still runs), if it is not.

        The "disposed" event for push layers follows when the disposal is finished, then
        the disposal is counted (see :class:`.Disposer`).
        """
        deadline = time.monotonic() + self.settings.dispose_max
        self.lifecycle.session_event(
            "disposed", record, source=SOURCE_DISPOSE, now=self.clock(), timeout=self.timeout
        )
        problem: str | None = None
        user = CurrentUser(record, self, clock=self.clock)
        with self._session_scope(user):
            on_dispose = self.callbacks.on_dispose
            started = time.monotonic()
            if on_dispose is not None:
                try:
                    on_dispose()
                except Exception as error:
                    logger.exception("on_dispose raised; the session is disposed anyway")
                    problem = f"on_dispose raised {type(error).__name__}"
            took = time.monotonic() - started
            try:
                user.store_data_if_modified()
            except Exception:
                logger.exception("Could not store the data changed by on_dispose")
        if self.tasks is not None and has_tasks:
            try:
                if not self.tasks.stop_session_tasks(record.session_id, deadline):
                    problem = problem or (
                        "a task of the session still running after WEBLAB_DISPOSE_MAX "
                        f"({self.settings.dispose_max:g} s)"
                    )
            except Exception:
                logger.exception("Stopping the tasks of a disposed session failed")
                problem = problem or "stopping the tasks of the session failed"
        return Cleanup(took, problem)
