"""Objects behind the pytest fixtures: a lab under test, an in-process RLMS, a student.

They are usable without pytest too:

.. code-block:: python

    from weblab_ext.testing.harness import LabUnderTest

    lab = LabUnderTest(create_app(isolated_config()))
    student = lab.student(profile="ldl")
    assert student.get("/lab").status_code == 200
    student.dispose()
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, url_for
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from weblab_ext.app_state import LabState
from weblab_ext.extension import weblab_of
from weblab_ext.rlms import DisposeResult, FlaskTransport, RLMSClient, StartedSession
from weblab_ext.runtime.users import WebLabUser
from weblab_ext.testing.raw import RawRLMSRequests

#: Store used when no ``--weblab-redis-url`` is given: one fresh in-process server per test.
EMBEDDED_PREFIX = "fakeredis://weblab-test-"
#: Passes of :func:`run_queued_tasks` at most (tasks may queue tasks).
MAX_TASK_PASSES = 100


def isolated_config(redis_url: str | None = None) -> dict[str, Any]:
    """Return config overrides that put a lab on a store no other test sees.

    :param redis_url: a real Redis (``redis://...``); ``None`` for a fresh embedded store.
        A fresh ``WEBLAB_REDIS_BASE`` isolates the lab on a shared Redis without flushing.
    """
    token = uuid.uuid4().hex
    return {
        "TESTING": True,
        "WEBLAB_REDIS_URL": redis_url or f"{EMBEDDED_PREFIX}{token}",
        "WEBLAB_REDIS_BASE": f"weblab-test-{token[:12]}",
        # Tests drive time and tasks themselves: no cleaner or task thread in the background.
        "WEBLAB_NO_THREAD": True,
        # Flask-WTF's CSRFProtect (if the lab uses it) would refuse the test clients' posts,
        # which carry no token; its own guide turns it off in tests the same way.
        "WTF_CSRF_ENABLED": False,
    }


#: Keys that shaped the routes at ``init_app``: a built app cannot take other values.
_ROUTE_KEYS = ("WEBLAB_BASE_URL", "WEBLAB_CALLBACK_URL")
_MISSING = object()


def _needs(app: Flask, config: Mapping[str, Any]) -> bool:
    return any(app.config.get(key, _MISSING) != value for key, value in config.items())


def apply_test_config(app: Flask, config: Mapping[str, Any]) -> Callable[[], None]:
    """Make ``app`` use the test ``config`` (:func:`isolated_config`) even though it went
    through ``init_app`` before (a lab written as a module-level ``app``).

    An app built by a factory with the overrides already applied is left alone. Otherwise
    the config is updated and the app's weblab state rebuilt on it (a fresh store, no
    threads); the returned callable puts the app back as it was.

    :raises ValueError: when weblab_ext is not installed on ``app``, or when the overrides
        change a key that shaped its routes (``WEBLAB_BASE_URL``, ``WEBLAB_CALLBACK_URL``).
    """
    old: LabState | None = app.extensions.get("weblab")
    if old is None:
        raise ValueError(
            "weblab_ext is not installed on this app: call WebLab(app) or "
            "weblab.init_app(app) in the app factory"
        )
    if not _needs(app, config):
        return lambda: None
    routed = [key for key in _ROUTE_KEYS if key in config and app.config.get(key) != config[key]]
    if routed:
        raise ValueError(
            f"the app was built before the test config could be applied, and {', '.join(routed)} "
            "shaped its routes at init_app: build the app in a factory that applies "
            "weblab_config before WebLab.init_app (see docs/testing.md)"
        )
    saved = {key: app.config.get(key, _MISSING) for key in config}
    weblab = weblab_of(app)
    if weblab is None:
        raise ValueError("weblab_ext is not installed on this app by a WebLab object")
    push = app.extensions.get("weblab_socketio")
    old.stop_threads()
    app.config.update(config)
    try:
        new = weblab.reinstall(app)
    except Exception:
        _restore(app, saved)
        raise
    if push is not None:  # its listener follows the store the app uses now
        push.stop()
        push.state = new

    def undo() -> None:
        new.stop_threads()
        if push is not None:
            push.stop()
            push.state = old
        _restore(app, saved)
        weblab.reinstall(app, old)

    return undo


def _restore(app: Flask, saved: Mapping[str, Any]) -> None:
    for key, value in saved.items():
        if value is _MISSING:
            app.config.pop(key, None)
        else:
            app.config[key] = value


def run_queued_tasks(app: Flask) -> int:
    """Run the queued tasks of ``app`` inline until none is left; return how many ran.

    :param app: a Flask app with weblab_ext installed.
    """
    state: LabState = app.extensions["weblab"]
    total = 0
    with app.app_context():
        for _ in range(MAX_TASK_PASSES):
            ran = state.tasks.run_tasks()
            total += ran
            if not ran:
                break
    return total


class WebLabTestClient(FlaskClient):
    """A Flask test client that can run the queued tasks after every request (eager mode).

    :param eager_tasks: set the attribute to ``True`` to run tasks after each request.
    """

    eager_tasks: bool = False

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        response = super().open(*args, **kwargs)
        if self.eager_tasks:
            run_queued_tasks(self.application)
        return response


class NoSleep:
    """A ``sleep`` that returns at once and remembers every wait asked for."""

    def __init__(self) -> None:
        #: Every wait, in seconds, in call order.
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class Student:
    """A browser-less student who followed the launch URL of a started session.

    :param lab: the lab under test.
    :param session: the start reply (session id and launch URL).
    :param rlms: the RLMS client that started the session.
    :param client: the student's test client (keeps the session cookie).
    :param landing: the reply to the launch URL (a redirect to the lab's initial URL).
    """

    def __init__(
        self,
        lab: LabUnderTest,
        session: StartedSession,
        rlms: RLMSClient,
        client: WebLabTestClient,
        landing: TestResponse,
    ) -> None:
        self.lab = lab
        self.session = session
        self.rlms = rlms
        self.client = client
        self.landing = landing

    def __repr__(self) -> str:
        return f"<Student {self.session_id[:8]}... {self.rlms.profile.name}>"

    @property
    def session_id(self) -> str:
        """The lab session id."""
        return self.session.session_id

    @property
    def launch_url(self) -> str:
        """The URL the RLMS sent the student to."""
        return self.session.url

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        """``client.open``: a request as this student."""
        return self.client.open(*args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> TestResponse:
        """``client.get`` as this student."""
        return self.client.get(*args, **kwargs)

    def post(self, *args: Any, **kwargs: Any) -> TestResponse:
        """``client.post`` as this student."""
        return self.client.post(*args, **kwargs)

    def poll(self) -> TestResponse:
        """Call the poll URL, as the page's autopoll script does."""
        return self.get(self.lab.url_for("weblab_poll_url", session_id=self.session_id))

    def logout(self) -> TestResponse:
        """Call the logout URL (the student leaves before the slot ends)."""
        return self.get(self.lab.url_for("weblab_logout_url", session_id=self.session_id))

    def user(self) -> WebLabUser:
        """The session's user as stored now (no poll is recorded)."""
        return self.lab.user(self.session_id)

    def status(self) -> float:
        """The RLMS status call: ``should_finish`` as the RLMS reads it."""
        return self.rlms.status(self.session_id)

    def dispose(self) -> DisposeResult:
        """The RLMS dispose loop until the lab says the session is gone."""
        return self.rlms.dispose_until_finished(self.session_id)


class LabUnderTest(RawRLMSRequests):
    """A lab app on an isolated store, with helpers acting as the RLMS and as students.

    :param app: the Flask app with weblab_ext installed.
    :param eager_tasks: test clients made here run queued tasks after every request.
    :param profile: default RLMS profile of :meth:`rlms` and :meth:`student`.
    """

    def __init__(
        self, app: Flask, *, eager_tasks: bool = False, profile: str = "weblabdeusto"
    ) -> None:
        if "weblab" not in app.extensions:
            raise ValueError(
                "weblab_ext is not installed on this app: call WebLab(app) or "
                "weblab.init_app(app) in the app factory"
            )
        self.app = app
        self.eager_tasks = eager_tasks
        self.profile = profile

    @property
    def state(self) -> LabState:
        """The extension's per-app state (settings, store)."""
        state: LabState = self.app.extensions["weblab"]
        return state

    @property
    def weblab(self) -> Any:
        """The :class:`weblab_ext.WebLab` object installed on the app."""
        return weblab_of(self.app)

    @property
    def base_url(self) -> str:
        """The lab's base URL as an RLMS is configured with it."""
        server_name = self.app.config.get("SERVER_NAME") or "localhost"
        return f"http://{server_name}{self.state.settings.base_url.rstrip('/')}"

    def url_for(self, endpoint: str, **values: Any) -> str:
        """``flask.url_for`` (a path) outside of a request."""
        with self.app.test_request_context():
            return url_for(endpoint, **values)

    def rlms(
        self, profile: str | None = None, *, device: str | None = None, **options: Any
    ) -> RLMSClient:
        """An RLMS client calling the app in-process, with the app's credentials.

        Waits are not made: ``client.sleep`` is a :class:`NoSleep` recording them.

        :param profile: an RLMS profile name (default: this lab's).
        :param device: a device of ``WEBLAB_DEVICES``: the client calls that device's URL,
            as the RLMS resource of that device does.
        :param options: more :class:`~weblab_ext.rlms.RLMSClient` arguments.
        """
        config = self.app.config
        settings: dict[str, Any] = {
            "url": self.base_url + (f"/devices/{device}" if device else ""),
            "username": config.get("WEBLAB_USERNAME"),
            "password": config.get("WEBLAB_PASSWORD"),
            "profile": profile or self.profile,
            "transport": FlaskTransport(self.app),
            "sleep": NoSleep(),
            # The developer's WEBLAB_URL, .env or .netrc must not leak into tests.
            "environ": {},
            "dotenv_path": _NO_FILE,
            "netrc_path": _NO_FILE,
        }
        settings.update(options)
        return RLMSClient(**settings)

    def test_client(self, eager_tasks: bool | None = None) -> WebLabTestClient:
        """A test client for the app (eager per this lab unless ``eager_tasks`` is given)."""
        client = WebLabTestClient(self.app, self.app.response_class, use_cookies=True)
        client.eager_tasks = self.eager_tasks if eager_tasks is None else eager_tasks
        return client

    def start(
        self, rlms: RLMSClient | None = None, *, device: str | None = None, **start: Any
    ) -> StartedSession:
        """Start a session as the RLMS does; ``start`` are :meth:`RLMSClient.start` args.

        :param device: start it on this device of ``WEBLAB_DEVICES`` (without ``rlms``).
        """
        return (rlms or self.rlms(device=device)).start(**start)

    def student(
        self, rlms: RLMSClient | None = None, *, device: str | None = None, **start: Any
    ) -> Student:
        """Start a session and follow its launch URL with a fresh test client.

        :param rlms: the RLMS client to start with (default: :meth:`rlms`).
        :param device: start it on this device of ``WEBLAB_DEVICES`` (without ``rlms``).
        :param start: :meth:`RLMSClient.start` arguments (``username``, ``slot_length``...).
        """
        rlms = rlms or self.rlms(device=device)
        session = rlms.start(**start)
        client = self.test_client()
        parts = urlsplit(session.url)
        # The path only: the launch URL's host comes from SERVER_NAME or WEBLAB_SCHEME and
        # must not change the cookie domain of the test client.
        landing = client.get(parts.path + (f"?{parts.query}" if parts.query else ""))
        if landing.status_code >= 400:
            raise AssertionError(
                f"following the launch URL {session.url} answered {landing.status}"
            )
        return Student(self, session, rlms, client, landing)

    def user(self, session_id: str) -> WebLabUser:
        """The user of ``session_id`` as stored now."""
        service = self.state.service
        return service.user_of(service.load(session_id))

    def run_tasks(self) -> int:
        """Run queued tasks inline until none is left; return how many ran."""
        return run_queued_tasks(self.app)

    def clean_expired(self) -> int:
        """One expiry-cleaner pass (dispose timed-out and ended sessions)."""
        return self.state.service.clean_expired()

    def check_health(self) -> int:
        """Run a round of the health checks now (as the background thread does once per
        ``WEBLAB_HEALTH_CHECK_INTERVAL``) and store its result, which the health URL then
        answers; returns how many devices (or the lab) were checked."""
        monitor = self.state.threads.health
        return 0 if monitor is None else monitor.run_once(claim=False)

    def close(self, *, delete_keys: bool = False) -> None:
        """Stop the lab's threads; with ``delete_keys`` remove its keys from the store.

        :param delete_keys: delete every key under ``WEBLAB_REDIS_BASE`` (shared Redis).
        """
        self.state.stop_threads(5.0)
        if delete_keys:
            client = self.state.client
            pattern = self.state.keys.prefix.replace("[", "\\[") + "*"
            for key in client.scan_iter(match=pattern, count=500):
                client.delete(key)


_NO_FILE = "/nonexistent/weblab_ext-testing"


__all__ = [
    "LabUnderTest",
    "NoSleep",
    "Student",
    "WebLabTestClient",
    "apply_test_config",
    "isolated_config",
    "run_queued_tasks",
]
