"""Shared fixtures: a real Redis server for the session, and lab apps on isolated stores.

Isolation comes from a fresh ``WEBLAB_REDIS_BASE`` per app (real Redis) or a fresh embedded
server name (fakeredis), never from ``flushall``.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, url_for

from weblab_ext import WebLab

from .redis_cluster import RedisClusterNodes, RedisSentinelSet, running
from .redis_server import RedisServer

USERNAME = "weblabdeusto"
PASSWORD = "rlms-s3cret"  # short on purpose: tests run with TESTING, where it is allowed
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()}


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterNodes]:
    """A real Redis Cluster (3 masters, 3 replicas) on 127.0.0.1, for the whole session."""
    with running(RedisClusterNodes()) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[RedisSentinelSet]:
    """A real master, replica and Sentinel on 127.0.0.1, for the whole session."""
    with running(RedisSentinelSet()) as sentinel:
        yield sentinel


@pytest.fixture(params=["redis", "embedded"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs on a real Redis server and on the embedded store (but see
    :data:`real_redis_only`)."""
    if request.param == "redis":
        return str(request.getfixturevalue("redis_server").url)
    return f"fakeredis://test-{uuid.uuid4().hex}"


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


@pytest.fixture
def make_lab(store_url: str) -> Iterator[Callable[..., Lab]]:
    """Build a lab app: ``make_lab(WEBLAB_TIMEOUT=0.5, ...)`` with standard hooks and views.

    Each lab's store connections are closed after the test: left to the garbage collector,
    an open socket becomes a ResourceWarning (an error here) whenever the collector runs.
    """
    labs: list[Lab] = []

    def factory(**config: Any) -> Lab:
        app = Flask(f"lab_{uuid.uuid4().hex[:8]}")
        app.config.update(base_config(store_url))
        app.config.update(config)
        weblab = WebLab(app)
        lab = Lab(app, weblab)

        @weblab.initial_url
        def initial_url() -> str:
            return url_for("lab_view")

        @weblab.on_start
        def on_start(client_data: Any, server_data: Any) -> None:
            lab.started.append((client_data, server_data))

        @weblab.on_dispose
        def on_dispose() -> None:
            from weblab_ext import weblab_user

            lab.disposed.append(weblab_user.session_id)

        from weblab_ext import requires_active, requires_login, weblab_user

        @app.route("/lab")
        @requires_active
        def lab_view() -> str:
            return f"lab of {weblab_user.username}"

        @app.route("/results")
        @requires_login
        def results_view() -> str:
            return f"results of {weblab_user.username}"

        labs.append(lab)
        return lab

    yield factory
    for lab in labs:
        lab.state.close()


@pytest.fixture
def lab(make_lab: Callable[..., Lab]) -> Lab:
    return make_lab()
