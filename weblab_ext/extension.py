"""The ``WebLab`` Flask extension object."""

from __future__ import annotations

import logging
import sys
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, has_app_context

from . import config
from .app_state import LabState
from .cli import checking_the_lab, register_cli
from .context import record_event
from .errors import InvalidConfigError, WebLabNotInitializedError
from .protocol.printable import PrintableLogRecords
from .random_ids import create_token as _create_token
from .runtime.callbacks import LabCallbacks
from .runtime.embedded_store_guard import embedded_store_refusal, server_from_modules
from .runtime.lifecycle_log import show_info_lines
from .runtime.task_engine import TaskEngine
from .store.connection import StoreClient, connect
from .tasks.api import TasksMixin
from .tasks.registry import TaskRegistry
from .templating import template_context
from .views import exempt_from_csrf, register_views
from .views.health_shortcut import HealthShortcut
from .views.hooks import register_request_hooks
from .wiring import build_lab_state

logger = logging.getLogger("weblab_ext")
logger.addFilter(PrintableLogRecords())  # no control character in any log line of the lab

F = TypeVar("F", bound=Callable[..., Any])

#: The ``WebLab`` installed on each app (the per-app state does not point back to it).
_INSTALLED: weakref.WeakKeyDictionary[Flask, WebLab] = weakref.WeakKeyDictionary()


def weblab_of(app: Flask) -> WebLab | None:
    """The :class:`WebLab` installed on ``app``, if any (for test harnesses)."""
    return _INSTALLED.get(app)


class WebLab(TasksMixin):
    """Turns a Flask app into a remote laboratory.

    :param app: the Flask app, or ``None`` to call :meth:`init_app` later (app factories).
    :param callback_url: launch URL prefix (overrides ``WEBLAB_CALLBACK_URL``).
    :param base_url: prefix of the RLMS endpoints (overrides ``WEBLAB_BASE_URL``).
    :param backend: a ``redis.Redis`` or ``redis.cluster.RedisCluster`` client (with
        ``decode_responses=True``) to use instead of ``WEBLAB_REDIS_URL``.

    .. code-block:: python

        app = Flask(__name__)
        app.config.update(SECRET_KEY="...", WEBLAB_USERNAME="weblabdeusto",
                          WEBLAB_PASSWORD="secret")
        weblab = WebLab(app)

        @weblab.initial_url
        def initial_url():
            return url_for("lab")
    """

    def __init__(
        self,
        app: Flask | None = None,
        callback_url: str | None = None,
        base_url: str | None = None,
        backend: StoreClient | None = None,
    ) -> None:
        self._callback_url = callback_url
        self._base_url = base_url
        self._backend = backend
        #: What the lab registered with the decorators below; read by every app at call time.
        self.callbacks = LabCallbacks()
        self._task_registry = TaskRegistry(self._task_engine)
        self._last_state: LabState | None = None
        if app is not None:
            self.init_app(app)

    # -- setup --------------------------------------------------------------------------------

    def init_app(self, app: Flask, backend: StoreClient | None = None) -> None:
        """Install the extension on ``app``.

        Validates every ``WEBLAB_*`` key first (nothing is registered on a bad config), then
        adds the RLMS endpoints, the launch/poll/logout routes, hooks and CLI. The same
        ``WebLab`` may serve several apps (app factories, tests).

        :raises InvalidConfigError: naming the bad key.
        """
        if not isinstance(app, Flask):
            raise ValueError("app must be a Flask app")
        existing = app.extensions.get("weblab")
        if existing is not None:
            if weblab_of(app) is not self:
                raise ValueError("Error: another WebLab extension already installed in this app!")
            if existing.settings.fingerprint == config.fingerprint(app.config):
                return
            raise ValueError("Error: app previously called with different config!")
        for warning in config.unknown_keys(app.config):
            logger.warning(warning)
        settings = config.load_settings(
            app.config, base_url=self._base_url, callback_url=self._callback_url
        )
        for warning in config.flag_warnings(app.config):
            logger.warning(warning)
        for name, url in (("base", settings.base_url), ("callback", settings.callback_url)):
            if url.endswith("/") and url != "/":
                logger.warning("The %s URL %r ends in '/': URLs will contain '//'", name, url)
        if not (app.debug or app.testing or checking_the_lab()):
            for problem in config.weak_secrets(app.config):
                logger.warning(
                    "%s Set a long random value, e.g. from "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`.",
                    problem,
                )
        state = self._install_state(app, settings, backend)
        register_views(app, settings)
        if app.config.get("SESSION_COOKIE_SAMESITE") is None:
            # The app did not choose: other sites' forms and fetches must not carry the
            # student's cookie (set "None" explicitly for a lab framed by another site).
            app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
        state.csrf_exempted = exempt_from_csrf(app)
        register_request_hooks(app)
        # Health probes skip Flask's request cycle (see views.health_shortcut).
        app.wsgi_app = HealthShortcut(app.wsgi_app, state)  # type: ignore[method-assign]
        app.context_processor(self._template_context)
        register_cli(app)
        # Flask's logger handler is there, but at WARNING outside debug: let INFO through.
        show_info_lines(app.logger, testing=app.testing)

    def _install_state(
        self, app: Flask, settings: config.Settings, backend: StoreClient | None = None
    ) -> LabState:
        """Connect the store and make the per-app state of ``app`` (also the test plugin's
        way to re-point an app built at import time to a test store)."""
        client = backend or self._backend
        if client is None:
            if settings.redis_url is None and not app.testing:
                # A production server imports the app after itself: refuse before a worker
                # process ever serves a student from a store of its own.
                server = server_from_modules(sys.modules)
                if server is not None:
                    raise InvalidConfigError(
                        embedded_store_refusal(server, config.redis_url_advice())
                    )
            client = connect(settings.redis_url)
        state = build_lab_state(
            app,
            settings,
            client,
            callbacks=self.callbacks,
            task_specs=self._task_registry.specs,
            backend=(backend or self._backend) is not None,
        )
        app.extensions["weblab"] = state
        _INSTALLED[app] = self
        self._last_state = state
        return state

    def reinstall(self, app: Flask, state: LabState | None = None) -> LabState:
        """Rebuild the per-app state of ``app`` from its config as it is now (or put back
        ``state``), keeping its routes: for test harnesses re-pointing an app built at import
        time to a test store. Stop the old state's threads first.

        :raises WebLabNotInitializedError: when ``app`` never went through :meth:`init_app`.
        :raises InvalidConfigError: naming a bad key.
        """
        current = app.extensions.get("weblab")
        if not isinstance(current, LabState) or weblab_of(app) is not self:
            raise WebLabNotInitializedError("App not initialized with weblab.init_app()")
        if state is None:
            settings = config.load_settings(
                app.config, base_url=self._base_url, callback_url=self._callback_url
            )
            return self._install_state(app, settings)
        app.extensions["weblab"] = state
        self._last_state = state
        return state

    def state(self) -> LabState:
        """The per-app state of the app in context, else of the app last initialised.

        For code built on top of weblab_ext (the Socket.IO push, the test harness); lab code
        does not need it.

        :raises WebLabNotInitializedError: before any ``init_app``.
        """
        if has_app_context():
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            state = app.extensions.get("weblab")
            if isinstance(state, LabState) and weblab_of(app) is self:
                return state
        if self._last_state is None:
            raise WebLabNotInitializedError("App not initialized with weblab.init_app()")
        return self._last_state

    def _task_engine(self) -> TaskEngine:
        return self.state().tasks

    def _template_context(self) -> dict[str, Any]:
        return {**template_context(), "weblab": self}

    # -- registration decorators --------------------------------------------------------------

    def initial_url(self, func: F) -> F:
        """Register the function returning where a student lands after launch.

        .. code-block:: python

            @weblab.initial_url
            def initial_url():
                return url_for("index")
        """
        self.callbacks.register("initial_url", func, message="initial_url has already been defined")
        return func

    def on_start(self, func: F) -> F:
        """Register ``func(client_data, server_data)``, run when the RLMS starts a session.

        It may return a dict that becomes ``weblab_user.data``. If it raises, the session is
        disposed (``on_dispose`` runs) and the RLMS is told the start failed.

        .. code-block:: python

            @weblab.on_start
            def start(client_data, server_data):
                hardware.power_on()
        """
        self.callbacks.register("on_start", func, message="on_start has already been defined")
        return func

    def on_dispose(self, func: F) -> F:
        """Register ``func()``, run exactly once when a session ends, as that session's user.

        .. code-block:: python

            @weblab.on_dispose
            def dispose():
                hardware.power_off()
        """
        self.callbacks.register("on_dispose", func, message="on_dispose has already been defined")
        return func

    def on_reset(self, func: F) -> F:
        """Register ``func(device)``, which brings a declared device (``WEBLAB_DEVICES``) to
        its safe state with no session. It runs in the app context when the lab first sees
        a device with no record, after a clean-up that left it ``broken`` (retried), and when
        an operator asks; the device becomes ``idle`` only if it returns.

        .. code-block:: python

            @weblab.on_reset
            def reset(device):
                boards[device].power_cycle()
        """
        self.callbacks.register("on_reset", func, message="on_reset has already been defined")
        return func

    def user_loader(self, func: F) -> F:
        """Register ``func(username_unique)`` whose result is ``weblab_user.user``.

        .. code-block:: python

            @weblab.user_loader
            def load_user(username_unique):
                return User.query.filter_by(login=username_unique).first()
        """
        self.callbacks.register(
            "user_loader", func, message="A user_loader has already been registered"
        )
        return func

    def health_check(self, func: F | None = None, *, while_busy: bool = False) -> Any:
        """Register ``func()``, a hardware check of ``GET <base>/weblab/health``.

        It runs in the background, once per ``WEBLAB_HEALTH_CHECK_INTERVAL`` seconds, in the
        app context and in a thread of its own, and must return something true when the
        hardware is fine; the health URL the RLMS (LabDiscoveryEngine) asks reads the stored
        result. Returning false, raising or not answering within
        ``WEBLAB_HEALTH_CHECK_TIMEOUT`` seconds makes the lab unhealthy; the reply names the
        check (by function name).

        .. code-block:: python

            @weblab.health_check
            def camera():
                return hardware.camera.is_connected()

        A check may take the device name (``WEBLAB_DEVICES``): it then runs for each device,
        and a device's health URL (``<base>/devices/<name>/weblab/health``) reads its result.

        .. code-block:: python

            @weblab.health_check
            def board_ok(device):
                return boards[device].responds()

        The checks run on idle devices only; ``@weblab.health_check(while_busy=True)`` runs one
        while a session holds the device too (its failures count; the device becomes
        ``broken`` once idle).

        :raises ValueError: when a check with that name was registered before.
        """

        def register(check: F) -> F:
            name = getattr(check, "__name__", repr(check))
            self.callbacks.add_health_check(name, check, while_busy=while_busy)
            return check

        return register if func is None else register(func)

    def record(self, name: str, **fields: Any) -> bool:
        """Add an event of the lab's own (a command sent, a measurement) to the current
        session's record, from a view, a task or a Socket.IO handler; ``False`` when nothing
        was recorded (no session, recording off, the record full).

        :raises TypeError: or :class:`ValueError` naming the field that is not JSON, or the
            event that is too large; nothing is stored then.
        """
        return record_event(name, fields)

    def on_record(self, func: F) -> F:
        """Register ``func(session, event)``, called for every recorded event in a thread
        of its own (a request never waits for it; what it raises is logged). ``session`` is
        the session's hash, as exports name it."""
        self.callbacks.record_hooks.append(func)
        return func

    def unauthorized_handler(self, func: F) -> F:
        """Register the view returned to anonymous students instead of the default page.

        .. code-block:: python

            @weblab.unauthorized_handler
            def unauthorized():
                return render_template("please_book.html"), 403
        """
        self.callbacks.unauthorized = func
        return func

    # -- runtime ------------------------------------------------------------------------------

    @property
    def timeout(self) -> float:
        """Seconds without a poll before a student counts as gone (``<= 0``: never)."""
        return self.state().timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self.state().timeout = value

    @property
    def poll_interval(self) -> float:
        """Upper bound of ``should_finish`` in status replies."""
        return self.state().poll_interval

    @poll_interval.setter
    def poll_interval(self, value: float) -> None:
        self.state().poll_interval = value

    @property
    def cleaner_thread_interval(self) -> float:
        """Seconds between cleaner passes."""
        return self.state().cleaner_interval

    @cleaner_thread_interval.setter
    def cleaner_thread_interval(self, value: float) -> None:
        self.state().cleaner_interval = value

    def clean_expired_users(self) -> int:
        """Dispose every session that is over (one cleaner pass); returns how many."""
        return self.state().service.clean_expired()

    def start_threads(self) -> None:
        """Start this process's background threads now instead of at the first request."""
        self.state().ensure_threads(restart=True)

    def stop_threads(self, timeout: float = 5.0) -> None:
        """Stop this process's background threads (bounded wait)."""
        self.state().stop_threads(timeout)

    @staticmethod
    def create_token(size: int | None = None) -> str:
        """A random URL-safe token (43 characters by default)."""
        return _create_token(size)
