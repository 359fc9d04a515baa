"""The suite's lab under test, its RLMS credentials and its base configuration.

The fixtures that build these (``make_lab``, ``lab``, ``store_url``) are in tests/conftest.py.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any, cast

import flask
import pytest
from flask import Flask
from werkzeug.test import TestResponse

from weblab_ext import WebLab
from weblab_ext.store.records import SessionRecord
from weblab_ext.testing.harness import LabUnderTest, WebLabTestClient

USERNAME = "weblabdeusto"
PASSWORD = "rlms-s3cret"  # short on purpose: tests run with TESTING, where it is allowed
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()}


#: Runs a test (or every test of a module, as ``pytestmark``) on the real Redis server only:
#: ``store_url`` then makes no embedded copy of it, rather than one that could only skip.
#: For what one process's embedded store cannot do: several processes, a server killed,
#: paused or restarted, MONITOR, a command slower than a socket timeout.
real_redis_only = pytest.mark.parametrize("store_url", ["redis"], indirect=True)


class SuiteResponse(TestResponse, flask.Response):
    """The replies of :class:`SuiteClient`: what Flask's test client gives, with ``json``
    typed ``Any`` (a test indexes it; a reply without JSON fails the test anyway)."""

    # As in the class Werkzeug makes of the same two bases: a test response guesses nothing.
    default_mimetype = None

    @property
    def json(self) -> Any:
        return super().json


class SuiteClient(WebLabTestClient):
    """The harness's test client, typed to return :class:`SuiteResponse`."""

    def open(self, *args: Any, **kwargs: Any) -> SuiteResponse:
        return cast(SuiteResponse, super().open(*args, **kwargs))

    def get(self, *args: Any, **kwargs: Any) -> SuiteResponse:
        return cast(SuiteResponse, super().get(*args, **kwargs))

    def post(self, *args: Any, **kwargs: Any) -> SuiteResponse:
        return cast(SuiteResponse, super().post(*args, **kwargs))

    def put(self, *args: Any, **kwargs: Any) -> SuiteResponse:
        return cast(SuiteResponse, super().put(*args, **kwargs))

    def delete(self, *args: Any, **kwargs: Any) -> SuiteResponse:
        return cast(SuiteResponse, super().delete(*args, **kwargs))

    def patch(self, *args: Any, **kwargs: Any) -> SuiteResponse:
        return cast(SuiteResponse, super().patch(*args, **kwargs))

    def head(self, *args: Any, **kwargs: Any) -> SuiteResponse:
        return cast(SuiteResponse, super().head(*args, **kwargs))

    def options(self, *args: Any, **kwargs: Any) -> SuiteResponse:
        return cast(SuiteResponse, super().options(*args, **kwargs))


def json_of(reply: TestResponse) -> Any:
    """The JSON body of ``reply`` (the test fails when it has none)."""
    data = reply.get_json(silent=True)
    assert data is not None, reply.get_data(as_text=True)
    return data


def base_config(store_url: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SERVER_NAME": "localhost:5000",
        "WEBLAB_USERNAME": USERNAME,
        "WEBLAB_PASSWORD": PASSWORD,
        "WEBLAB_REDIS_URL": store_url,
        "WEBLAB_REDIS_BASE": f"test-{uuid.uuid4().hex[:12]}",
        "WEBLAB_NO_THREAD": True,
        "WEBLAB_LOG_SESSION_LIFECYCLE": False,
    }


class Lab(LabUnderTest):
    """The shipped :class:`~weblab_ext.testing.harness.LabUnderTest` with what only this
    suite needs: the hooks it records (``started``, ``disposed``, filled by ``make_lab``),
    :attr:`raw_rlms` and test clients typed to return :class:`SuiteResponse`.

    A test starts a session as the RLMS does with :meth:`start_raw` (the session id) or with
    the harness's :meth:`start` / :meth:`student`, and reaches it as a student with
    :meth:`browser`.
    """

    def __init__(self, app: Flask, weblab: WebLab | None = None) -> None:
        super().__init__(app)
        self._weblab = weblab if weblab is not None else super().weblab
        #: One test client kept for the lab's life, for raw RLMS requests (a test adds
        #: ``headers=AUTH``; the harness's :meth:`rlms` makes an RLMS client instead).
        self.raw_rlms = self.test_client()
        self.disposed: list[str] = []
        self.started: list[tuple[Any, Any]] = []

    @property
    def weblab(self) -> WebLab:
        """The :class:`~weblab_ext.WebLab` object installed on the app."""
        return self._weblab

    def test_client(self, eager_tasks: bool | None = None) -> SuiteClient:
        client = SuiteClient(self.app, SuiteResponse, use_cookies=True)
        client.eager_tasks = self.eager_tasks if eager_tasks is None else eager_tasks
        return client

    def record(self, session_id: str) -> SessionRecord:
        """The stored record of ``session_id`` (the test fails when there is none)."""
        record = self.state.sessions.load(session_id)
        assert record is not None, f"no session {session_id} in the store"
        return record

    def browser(self, session_id: str) -> SuiteClient:
        """The harness's :meth:`~weblab_ext.testing.harness.LabUnderTest.browser`, typed to
        return a :class:`SuiteClient`."""
        return cast(SuiteClient, super().browser(session_id))
