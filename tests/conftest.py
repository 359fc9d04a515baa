"""Shared fixtures: a real Redis server for the session, and lab apps on isolated stores.

Isolation comes from a fresh ``WEBLAB_REDIS_BASE`` per app (real Redis) or a fresh embedded
server name (fakeredis), never from ``flushall``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, url_for
from werkzeug.serving import BaseWSGIServer, make_server

from tests.support.lab import Lab, base_config
from tests.support.redis_cluster import RedisClusterNodes, RedisSentinelSet, running
from tests.support.redis_server import RedisServer
from weblab_ext import WebLab


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


@pytest.fixture
def served(make_lab: Callable[..., Lab], tmp_path: Path) -> Iterator[Lab]:
    """A lab answering on 127.0.0.1:<port>, its SERVER_NAME set to that address."""
    lab = make_lab()
    lab.app.instance_path = str(tmp_path / "instance")
    server: BaseWSGIServer = make_server("127.0.0.1", 0, lab.app, threaded=True)
    lab.app.config["SERVER_NAME"] = f"127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield lab
    server.shutdown()
    thread.join()
    server.server_close()
