"""Redis connections: a real server from a URL, or the embedded in-process store.

Also the two things every layer above needs to know about a connection without touching
the client: which exceptions mean "the store is unreachable" (:data:`STORE_ERRORS`), and how
to name the store in a log line without its password (:func:`describe`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis

logger = logging.getLogger("weblab_ext")

#: URL used when ``WEBLAB_REDIS_URL`` is unset: the embedded store, one per process.
EMBEDDED_URL = "fakeredis://default"

#: Exceptions meaning the store could not be reached (or answered too late): callers back off
#: and retry, or answer "store unavailable", instead of treating them as bugs.
STORE_ERRORS: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
#: Any error the store can raise (unreachable, refused command, wrong type...).
ANY_STORE_ERROR: type[Exception] = redis.RedisError

_embedded_servers: dict[str, Any] = {}
_embedded_lock = threading.Lock()


def is_embedded(url: str | None) -> bool:
    """Whether ``url`` names the embedded (single-process) store."""
    return url is None or url.startswith("fakeredis://")


def is_embedded_client(client: Any) -> bool:
    """Whether ``client`` talks to an embedded (in-process) store rather than a server."""
    return type(client).__module__.startswith("fakeredis")


def describe(url: str | None) -> str:
    """``url`` as it may appear in logs and output: any password replaced by ``***``."""
    if is_embedded(url):
        return "the embedded store" if url is None else url
    assert url is not None
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


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


def server_info(client: redis.Redis) -> dict[str, str]:
    """What an operator check reads of the server: version and eviction policy.

    The embedded store has no ``INFO``: it answers ``redis_version`` ``"embedded"`` and never
    evicts.

    :raises redis.RedisError: when the store cannot answer.
    """
    if is_embedded_client(client):
        client.ping()
        return {"redis_version": "embedded", "maxmemory_policy": "noeviction"}
    info: dict[str, Any] = client.info()
    policy = client.config_get("maxmemory-policy").get("maxmemory-policy", "")
    return {"redis_version": str(info.get("redis_version", "?")),
            "maxmemory_policy": str(policy)}
