"""The lab that ``bench_health`` calls over real HTTP, served in a process of its own.

``create_app()`` builds a lab on the Redis named by ``BENCH_REDIS_URL`` under the key base
``BENCH_REDIS_BASE`` (the same in every worker process), with its background threads on, as
deployed: the health checks run in rounds once every ``BENCH_HEALTH_INTERVAL`` seconds. Its
one health check takes ``BENCH_CHECK_SECONDS`` (1 s: slow hardware) and counts its runs in
the key ``<base>:bench-check-runs``, which the benchmark reads. Serve it with gunicorn
(``gunicorn -k gthread 'benchmarks.health_server:create_app()'``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis
from flask import Flask

from weblab_ext import WebLab

from .common import PASSWORD, USERNAME


def runs_key(base: str) -> str:
    """The key counting the check's runs."""
    return f"{base}:bench-check-runs"


def create_app() -> Flask:
    """The lab, with its slow, counted health check."""
    url, base = os.environ["BENCH_REDIS_URL"], os.environ["BENCH_REDIS_BASE"]
    app = Flask("bench_health")
    app.config.update(
        SECRET_KEY="bench-secret",
        WEBLAB_USERNAME=USERNAME,
        WEBLAB_PASSWORD=PASSWORD,
        WEBLAB_REDIS_URL=url,
        WEBLAB_REDIS_BASE=base,
        WEBLAB_LOG_SESSION_LIFECYCLE=False,
        WEBLAB_HEALTH_CHECK_INTERVAL=float(os.environ["BENCH_HEALTH_INTERVAL"]),
        WEBLAB_HEALTH_CHECK_TIMEOUT=5,
    )
    weblab = WebLab(app)
    counter = redis.Redis.from_url(url)
    seconds = float(os.environ.get("BENCH_CHECK_SECONDS", "1"))

    @weblab.health_check
    def hardware() -> bool:
        counter.incr(runs_key(base))
        time.sleep(seconds)  # the hardware answers slowly
        return True

    return app


def create_floor_app() -> Flask:
    """The same lab, whose WSGI callable answers the health path with a constant reply (no
    store read, no Flask): what the server and the client cost by themselves."""
    app = create_app()
    inner = app.wsgi_app
    body = b'{"found":true,"success":true,"message":"ok: store, hardware"}'
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]

    def floor(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/weblab/health":
            start_response("200 OK", headers)
            return [body]
        return inner(environ, start_response)

    app.wsgi_app = floor  # type: ignore[method-assign]
    return app
