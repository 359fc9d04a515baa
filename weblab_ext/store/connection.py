"""Redis connections: a server, a Redis Cluster or a Sentinel-managed master from a URL, or the
embedded in-process store.

Also the two things every layer above needs to know about a connection without touching
the client: which exceptions mean "the store is unreachable" (:data:`STORE_ERRORS`), and how
to name the store in a log line without its password (:func:`describe`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, TypeAlias
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry
from redis.sentinel import Sentinel

from ..config.secrets import mask_url, split_userinfo
from ..errors import InvalidConfigError, StoreUnavailableError

logger = logging.getLogger("weblab_ext")

#: What the stores accept: one server (or a Sentinel-managed master), or a Redis Cluster.
StoreClient: TypeAlias = redis.Redis | RedisCluster

#: URL used when ``WEBLAB_REDIS_URL`` is unset: the embedded store, one per process.
EMBEDDED_URL = "fakeredis://default"
#: Schemes of a Redis Cluster (any of its nodes, comma-separated) and of Sentinel.
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SENTINEL_SCHEME = "redis+sentinel"

#: Exceptions meaning the store could not be reached (or answered too late): callers back off
#: and retry, or answer "store unavailable", instead of treating them as bugs.
#:
#: Besides lost connections and timeouts (which include Sentinel's ``MasterNotFoundError``),
#: these are what a Redis Cluster or a Sentinel pair answers *while a master is being
#: replaced*: ``CLUSTERDOWN`` (no master for a slot yet), ``TRYAGAIN`` (a slot in migration),
#: ``SlotNotCoveredError`` (the client's slot table has a hole) and ``READONLY`` (a request
#: that reached the old master after it was demoted to a replica). Each ends by itself once
#: the switch is over; none of them is a bug in the request.
STORE_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.SlotNotCoveredError,
    redis.exceptions.ReadOnlyError,
)
#: Any error the store can raise (unreachable, refused command, wrong type...).
ANY_STORE_ERROR: type[Exception] = redis.RedisError

#: Socket timeout of the clients :func:`connect` builds (servers, Sentinel masters, cluster
#: nodes). Explicit, because redis-py's default changed between versions (none in 5.x, 5 s in
#: 8.x); a ``socket_timeout=`` in the URL wins.
SOCKET_TIMEOUT = 10.0
#: Seconds to wait for a TCP connection to the server before calling it unreachable.
CONNECT_TIMEOUT = 5.0
#: Longest single blocking command (queue wait, ``join()`` step) whatever the socket timeout.
MAX_BLOCK = 5.0
#: Socket timeout assumed for a client whose settings cannot be read.
_ASSUMED_SOCKET_TIMEOUT = 5.0
#: Attempts a cluster client makes (refreshing its slot table in between) before it gives up.
CLUSTER_ATTEMPTS = 3
#: Seconds a Sentinel query (or a connection to a Sentinel) may take: they answer at once.
SENTINEL_TIMEOUT = 1.0

_embedded_servers: dict[str, Any] = {}
_embedded_lock = threading.Lock()


def is_embedded(url: str | None) -> bool:
    """Whether ``url`` names the embedded (single-process) store."""
    return url is None or url.startswith("fakeredis://")


def is_embedded_client(client: Any) -> bool:
    """Whether ``client`` talks to an embedded (in-process) store rather than a server."""
    return type(client).__module__.startswith("fakeredis")


def is_cluster(client: Any) -> bool:
    """Whether ``client`` talks to a Redis Cluster (sharded pub/sub, no transactions)."""
    return isinstance(client, RedisCluster)


def describe(url: str | None) -> str:
    """``url`` as it may appear in logs and output: any password replaced by ``***``."""
    if is_embedded(url):
        return "the embedded store" if url is None else url
    assert url is not None
    return mask_url(url)


def describe_client(client: Any) -> str:
    """How logs name the server a client handed in by the lab talks to (no password)."""
    if is_embedded_client(client):
        return "the embedded store"
    if is_cluster(client):
        node = client.get_default_node()
        return f"redis+cluster://{_host_port(node.host, node.port)}"
    kwargs: dict[str, Any] = getattr(
        getattr(client, "connection_pool", None), "connection_kwargs", {}
    )
    if kwargs.get("path"):
        return f"unix://{kwargs['path']}"
    if kwargs.get("host"):
        connection_class = getattr(client.connection_pool, "connection_class", None)
        scheme = "rediss" if "SSL" in getattr(connection_class, "__name__", "") else "redis"
        return f"{scheme}://{kwargs['host']}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
    return f"the store of {type(client).__name__}"


def connect(url: str | None) -> StoreClient:
    """Return a client (text responses) for ``url``; ``None`` means the embedded store.

    ``fakeredis://NAME`` gives one in-process server per NAME, shared by every app of the
    process that names it, so tests can isolate stores by name.

    :raises InvalidConfigError: when a cluster or Sentinel URL is malformed.
    :raises StoreUnavailableError: when no node of a Redis Cluster answers (a cluster client
        reads the cluster's slot map at once; the other clients connect at their first use).
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
    scheme = url.split("://", 1)[0].lower()
    if scheme in CLUSTER_SCHEMES:
        return _connect_cluster(url)
    if scheme == SENTINEL_SCHEME:
        return _connect_sentinel(url)
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        health_check_interval=30,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=CONNECT_TIMEOUT,
        **_retry_options(),
    )


def _retry_options() -> dict[str, Any]:
    """One quick reconnect: it hides a connection the server closed (a restart); more retries
    with redis-py 8's default backoff (seconds) would hold every request during an outage.
    Timeouts are not retried: a blocking command would block again."""
    return {
        "retry": Retry(
            ExponentialBackoff(cap=0.2, base=0.05), 1, supported_errors=(redis.ConnectionError,)
        ),
        "retry_on_error": [redis.ConnectionError],
    }


def socket_timeout_of(client: Any) -> float | None:
    """The socket timeout of ``client``'s connections (``None``: reads never time out)."""
    try:
        kwargs: dict[str, Any] = (
            client.get_connection_kwargs()
            if is_cluster(client)
            else client.connection_pool.connection_kwargs
        )
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


def _split_hosts(url: str) -> tuple[Any, str, list[tuple[str, int]]]:
    """``(parts, userinfo, [(host, port)...])`` of a URL whose netloc lists several hosts."""
    prefix, userinfo, rest = split_userinfo(url)  # a password may hold "/" or "#"
    parts = urlsplit(prefix + rest)
    hostlist = parts.netloc
    hosts = []
    for item in hostlist.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise InvalidConfigError(
                f"WEBLAB_REDIS_URL must list its nodes as host:port[,host:port...], got "
                f"{item.strip()!r} in {describe(url)}"
            )
        hosts.append((host.strip("[]"), int(port)))
    return parts, userinfo, hosts


def _connect_cluster(url: str) -> RedisCluster:
    """A Redis Cluster client that discovers every node from the ones the URL lists."""
    parts, userinfo, hosts = _split_hosts(url)
    if parts.path.strip("/") not in ("", "0"):
        raise InvalidConfigError(
            f"WEBLAB_REDIS_URL: a Redis Cluster has only database 0, got {describe(url)}"
        )
    # redis-py reads the credentials, TLS and query options from a one-node URL; the other
    # nodes are only where discovery may start.
    scheme = "rediss" if parts.scheme.lower().startswith("rediss") else "redis"
    first_host, first_port = hosts[0]
    netloc = (_quoted(userinfo) + "@" if userinfo else "") + _host_port(first_host, first_port)
    first = urlunsplit((scheme, netloc, "", parts.query, ""))
    others = [ClusterNode(host, port) for host, port in hosts[1:]]  # type: ignore[no-untyped-call]
    try:
        return RedisCluster.from_url(
            first,
            startup_nodes=others,
            decode_responses=True,
            health_check_interval=30,
            cluster_error_retry_attempts=CLUSTER_ATTEMPTS,
            require_full_coverage=False,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT,
        )
    except (RedisClusterException, redis.RedisError) as exc:
        # Unlike a single server, a cluster client reads the slot map when it is created.
        raise StoreUnavailableError(
            f"No node of the Redis Cluster at {describe(url)} answered; at least one of the "
            f"nodes WEBLAB_REDIS_URL lists must be up when the app starts "
            f"({type(exc).__name__})"
        ) from exc


def _connect_sentinel(url: str) -> redis.Redis:
    """A client of the master Sentinel names for the URL's service; it follows failovers."""
    parts, userinfo, hosts = _split_hosts(url)
    path = [segment for segment in parts.path.split("/") if segment]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise InvalidConfigError(
            "WEBLAB_REDIS_URL must be redis+sentinel://host:port[,host:port...]/"
            f"<service_name>[/db], got {describe(url)}"
        )
    service, db = path[0], int(path[1]) if len(path) == 2 else 0
    try:  # as for the other URLs, a socket_timeout in the URL wins
        socket_timeout = float(parse_qs(parts.query).get("socket_timeout", [SOCKET_TIMEOUT])[-1])
    except ValueError:
        raise InvalidConfigError(
            f"WEBLAB_REDIS_URL: socket_timeout must be a number of seconds, got {describe(url)}"
        ) from None
    username, _, password = (unquote(part) for part in userinfo.partition(":"))
    # The URL's credentials are the data nodes'; Sentinels are asked without any.
    sentinel = Sentinel(
        hosts,
        sentinel_kwargs={
            "socket_timeout": SENTINEL_TIMEOUT,
            "socket_connect_timeout": SENTINEL_TIMEOUT,
        },
    )
    return sentinel.master_for(  # type: ignore[no-any-return]
        service,
        db=db,
        username=username or None,
        password=password or None,
        decode_responses=True,
        health_check_interval=30,
        socket_timeout=socket_timeout,
        socket_connect_timeout=SENTINEL_TIMEOUT * 2,
        **_retry_options(),
    )


def _quoted(userinfo: str) -> str:
    """User info that a URL parser reads back whole: what would end it is percent-encoded,
    what was encoded already stays as it was (redis-py decodes it)."""
    table = {"/": "%2F", "#": "%23", "?": "%3F", "@": "%40"}
    return "".join(table.get(char, char) for char in userinfo)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def node_client(client: StoreClient, key: str) -> redis.Redis:
    """The single-server client that holds ``key``: ``client`` itself unless it is a cluster."""
    if isinstance(client, RedisCluster):
        node = client.get_node_from_key(key)  # type: ignore[no-untyped-call]
        return client.get_redis_connection(node)
    return client


def server_info(client: StoreClient, key: str = "") -> dict[str, str]:
    """What an operator check reads of the server: version, eviction policy, persistence.

    Values the server does not tell are ``""``: managed Redis services often refuse
    ``CONFIG GET`` but answer ``INFO``.

    The embedded store has no ``INFO``: it answers ``redis_version`` ``"embedded"`` and never
    evicts.

    :param key: on a cluster, a key of the lab: the node that holds it is asked.
    :raises redis.RedisError: when the store cannot answer.
    """
    if is_embedded_client(client):
        client.ping()
        return {"redis_version": "embedded", "maxmemory_policy": "noeviction"}
    server = node_client(client, key)
    info: dict[str, Any] = server.info()
    aof = info.get("aof_enabled")
    return {
        "redis_version": str(info.get("redis_version", "?")),
        "maxmemory_policy": _config_value(server, "maxmemory-policy"),
        "aof_enabled": "" if aof is None else str(int(aof)),
        "appendfsync": _config_value(server, "appendfsync"),
    }


def _config_value(client: redis.Redis, name: str) -> str:
    try:
        return str(client.config_get(name).get(name, ""))
    except redis.ResponseError:
        return ""
