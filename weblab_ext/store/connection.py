"""Redis connections: a real server from a URL, or the embedded in-process store."""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis

logger = logging.getLogger("weblab_ext")

#: URL used when ``WEBLAB_REDIS_URL`` is unset: the embedded store, one per process.
EMBEDDED_URL = "fakeredis://default"

_embedded_servers: dict[str, Any] = {}
_embedded_lock = threading.Lock()


def is_embedded(url: str | None) -> bool:
    """Whether ``url`` names the embedded (single-process) store."""
    return url is None or url.startswith("fakeredis://")


def connect(url: str | None) -> redis.Redis:
    """Return a client (text responses) for ``url``; ``None`` means the embedded store.

    ``fakeredis://NAME`` gives one in-process server per NAME, shared by every app of the
    process that names it, so tests can isolate stores by name.
    """
    if is_embedded(url):
        import fakeredis

        name = (url or EMBEDDED_URL)[len("fakeredis://") :] or "default"
        with _embedded_lock:
            server = _embedded_servers.get(name)
            if server is None:
                server = _embedded_servers[name] = fakeredis.FakeServer()
        client: redis.Redis = fakeredis.FakeRedis(server=server, decode_responses=True)
        return client
    assert url is not None
    return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)
