"""The suite's lab under test, its RLMS credentials and its base configuration.

The fixtures that build these (``make_lab``, ``lab``, ``store_url``) are in tests/conftest.py.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import pytest
from flask import Flask

from weblab_ext import WebLab

USERNAME = "weblabdeusto"
PASSWORD = "rlms-s3cret"  # short on purpose: tests run with TESTING, where it is allowed
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()}


#: Runs a test (or every test of a module, as ``pytestmark``) on the real Redis server only:
#: ``store_url`` then makes no embedded copy of it, rather than one that could only skip.
#: For what one process's embedded store cannot do: several processes, a server killed,
#: paused or restarted, MONITOR, a command slower than a socket timeout.
real_redis_only = pytest.mark.parametrize("store_url", ["redis"], indirect=True)


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


class Lab:
    """A lab app under test, with helpers that act as the RLMS and as a student."""

    def __init__(self, app: Flask, weblab: WebLab) -> None:
        self.app = app
        self.weblab = weblab
        self.rlms = app.test_client()
        self.disposed: list[str] = []
        self.started: list[tuple[Any, Any]] = []
        self._browsers: dict[str, Any] = {}

    @property
    def state(self) -> Any:
        return self.app.extensions["weblab"]

    def start_body(self, **overrides: Any) -> dict[str, Any]:
        server = {
            "priority.queue.slot.start.timestamp": repr(time.time()),
            "priority.queue.slot.length": "200",
            "request.username": "john.smith",
            "request.username.unique": "john.smith@institution",
            "request.full_name": "John Smith",
            "request.locale": "es_ES",
            "request.experiment_id.experiment_name": "mylab",
            "request.experiment_id.category_name": "Lab experiments",
        }
        server.update(overrides.pop("server", {}))
        body = {
            "client_initial_data": {"in_test": True},
            "server_initial_data": server,
            "back": "http://rlms.example/back",
        }
        body.update(overrides)
        return body

    def start(self, **overrides: Any) -> str:
        reply = self.rlms.post("/weblab/sessions/", json=self.start_body(**overrides), headers=AUTH)
        assert reply.status_code == 200, reply.get_data(as_text=True)
        return str(reply.json["session_id"])

    def status(self, session_id: str) -> int:
        return int(
            self.rlms.get(f"/weblab/sessions/{session_id}/status", headers=AUTH).json[
                "should_finish"
            ]
        )

    def dispose(self, session_id: str) -> dict[str, Any]:
        reply = self.rlms.post(
            f"/weblab/sessions/{session_id}", json={"action": "delete"}, headers=AUTH
        )
        return dict(reply.json)

    def student(self, session_id: str) -> Any:
        """The browser that followed the launch URL of ``session_id`` (one per session: the
        launch URL logs in one browser only; asking again follows it again in that one)."""
        client = self._browsers.setdefault(session_id, self.app.test_client())
        reply = client.get(f"/callback/{session_id}")
        assert reply.status_code == 302, reply.get_data(as_text=True)
        return client
