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
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

logger = logging.getLogger("weblab_ext")

#: URL used when ``WEBLAB_REDIS_URL`` is unset: the embedded store, one per process.
EMBEDDED_URL = "fakeredis://default"

#: Exceptions meaning the store could not be reached (or answered too late): callers back off
#: and retry, or answer "store unavailable", instead of treating them as bugs.
STORE_ERRORS: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
#: Any error the store can raise (unreachable, refused command, wrong type...).
ANY_STORE_ERROR: type[Exception] = redis.RedisError

#: Socket timeout of the clients :func:`connect` builds. Explicit, because redis-py's default
#: changed between versions (none in 5.x, 5 s in 8.x); a ``socket_timeout=`` in the URL wins.
SOCKET_TIMEOUT = 10.0
#: Seconds to wait for a TCP connection to the server before calling it unreachable.
CONNECT_TIMEOUT = 5.0
#: Longest single blocking command (queue wait, ``join()`` step) whatever the socket timeout.
MAX_BLOCK = 5.0
#: Socket timeout assumed for a client whose settings cannot be read (a cluster client).
_ASSUMED_SOCKET_TIMEOUT = 5.0

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


def describe_client(client: Any) -> str:
    """How logs name the server a client handed in by the lab talks to (no password)."""
    if is_embedded_client(client):
        return "the embedded store"
    kwargs: dict[str, Any] = getattr(getattr(client, "connection_pool", None),
                                     "connection_kwargs", {})
    if kwargs.get("path"):
        return f"unix://{kwargs['path']}"
    if kwargs.get("host"):
        connection_class = getattr(client.connection_pool, "connection_class", None)
        scheme = "rediss" if "SSL" in getattr(connection_class, "__name__", "") else "redis"
        return f"{scheme}://{kwargs['host']}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
    return f"the store of {type(client).__name__}"


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
    return redis.Redis.from_url(
        url, decode_responses=True, health_check_interval=30, socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=CONNECT_TIMEOUT,
        # One quick reconnect hides a connection the server closed (a restart); more retries
        # with redis-py 8's default backoff (seconds) would hold every request during an
        # outage. Timeouts are not retried: a blocking command would block again.
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1,
                    supported_errors=(redis.ConnectionError,)),
        retry_on_error=[redis.ConnectionError],
    )


def socket_timeout_of(client: Any) -> float | None:
    """The socket timeout of ``client``'s connections (``None``: reads never time out)."""
    try:
        kwargs: dict[str, Any] = client.connection_pool.connection_kwargs
    except AttributeError:
        return _ASSUMED_SOCKET_TIMEOUT
    if "socket_timeout" not in kwargs:
        return _ASSUMED_SOCKET_TIMEOUT
    value = kwargs["socket_timeout"]
    return None if value is None else float(value)


def max_block_seconds(client: Any) -> float:
    """Longest block a blocking command of ``client`` may ask the server for.

    Half the client's socket timeout (whoever built the client, whatever redis-py's default),
    so the server's reply always comes before the socket gives up; callers loop for longer
    waits.
    """
    timeout = socket_timeout_of(client)
    if timeout is None:
        return MAX_BLOCK
    return max(0.01, min(MAX_BLOCK, timeout / 2))


def server_info(client: redis.Redis) -> dict[str, str]:
    """What an operator check reads of the server: version, eviction policy, persistence.

    Values the server does not tell are ``""``: managed Redis services often refuse
    ``CONFIG GET`` but answer ``INFO``.

    The embedded store has no ``INFO``: it answers ``redis_version`` ``"embedded"`` and never
    evicts.

    :raises redis.RedisError: when the store cannot answer.
    """
    if is_embedded_client(client):
        client.ping()
        return {"redis_version": "embedded", "maxmemory_policy": "noeviction"}
    info: dict[str, Any] = client.info()
    aof = info.get("aof_enabled")
    return {"redis_version": str(info.get("redis_version", "?")),
            "maxmemory_policy": _config_value(client, "maxmemory-policy"),
            "aof_enabled": "" if aof is None else str(int(aof)),
            "appendfsync": _config_value(client, "appendfsync")}


def _config_value(client: redis.Redis, name: str) -> str:
    try:
        return str(client.config_get(name).get(name, ""))
    except redis.ResponseError:
        return ""
