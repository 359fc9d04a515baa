"""Shared pieces of the benchmarks: result rows, a throw-away Redis, counting connections, labs.

Every ``benchmarks/bench_*.py`` module exposes ``run() -> list[Row]``; ``python -m benchmarks``
runs them all against one redis-server started here (:func:`redis_url`) and prints one table.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from flask import Flask, url_for

from weblab_ext import WebLab, requires_active, weblab_user
from weblab_ext.random_ids import create_token
from weblab_ext.store.records import SessionRecord
from weblab_ext.store.sessions import SessionStore

USERNAME = "weblabdeusto"
PASSWORD = "password"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()}

PASS, FAIL, INFO = "PASS", "FAIL", "INFO"


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the result table.

    :param what: what was measured.
    :param measured: the number, as shown.
    :param budget: the budget from DESIGN.md (or ``-`` for informational rows).
    :param verdict: ``PASS``, ``FAIL`` or ``INFO ...``.
    :param reference: weblablib's number for the same thing, as quoted in the issue that set
        the budget (weblablib is never installed here: clean room), or ``-``.
    """

    what: str
    measured: str
    budget: str
    verdict: str
    reference: str = "-"

    @property
    def failed(self) -> bool:
        """Whether this row breaks its budget."""
        return self.verdict == FAIL


def verdict(ok: bool) -> str:
    """``PASS`` or ``FAIL``."""
    return PASS if ok else FAIL


# -- the throw-away redis-server ----------------------------------------------------------------

_server: Any = None
_external_url: str | None = None


def use_external_redis(url: str) -> None:
    """Run against an existing server instead of starting one (``--redis-url``).

    :param url: a ``redis://`` URL; every benchmark uses fresh key bases, nothing is flushed.
    """
    global _external_url
    _external_url = url


def redis_url() -> str:
    """URL of the benchmark Redis, starting a redis-server on 127.0.0.1 on first use."""
    global _server
    if _external_url is not None:
        return _external_url
    if _server is None:
        from tests.support.redis_server import RedisServer

        server = RedisServer()
        server.start()
        _server = server
    return str(_server.url)


def stop_redis() -> None:
    """Stop the redis-server started by :func:`redis_url`, if any."""
    global _server
    if _server is not None:
        _server.cleanup()
        _server = None


# -- counting round trips -----------------------------------------------------------------------


@dataclasses.dataclass
class Counter:
    """Round trips (packets sent) and commands sent by a client; a pipeline is 1 round trip."""

    round_trips: int = 0
    commands: int = 0

    def reset(self) -> None:
        """Start counting from zero."""
        self.round_trips = 0
        self.commands = 0


class CountingConnection(redis.Connection):
    """A redis-py connection that counts what it sends into a shared :class:`Counter`.

    The handshake of a new connection (``HELLO``, ``CLIENT SETINFO``) is not counted: it is
    not part of the action measured, and how many connections a pool opens depends on timing.
    """

    def __init__(self, *args: Any, counter: Counter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counter = counter
        self._handshake = False
        self._commands_counted = False

    def on_connect(self) -> None:  # redis-py 5
        self._handshake = True
        try:
            super().on_connect()
        finally:
            self._handshake = False

    def on_connect_check_health(self, *args: Any, **kwargs: Any) -> None:  # redis-py 6+
        self._handshake = True
        try:
            super().on_connect_check_health(*args, **kwargs)  # type: ignore[misc]
        finally:
            self._handshake = False

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self._handshake:
            self.counter.round_trips += 1
            if not self._commands_counted:  # one packet built elsewhere: one command
                self.counter.commands += 1
        self._commands_counted = False
        super().send_packed_command(command, check_health)

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        if not self._handshake:
            self.counter.commands += 1
        self._commands_counted = True
        super().send_command(*args, **kwargs)

    def pack_commands(self, commands: Any) -> list[bytes | memoryview]:
        commands = list(commands)
        if not self._handshake:
            self.counter.commands += len(commands)
        self._commands_counted = True
        return super().pack_commands(commands)  # type: ignore[no-any-return]


def counting_client(url: str) -> tuple[redis.Redis, Counter]:
    """A text-mode client on ``url`` whose round trips and commands are counted."""
    counter = Counter()
    pool = redis.ConnectionPool.from_url(
        url, connection_class=CountingConnection, decode_responses=True, counter=counter
    )
    return redis.Redis(connection_pool=pool), counter


def trips_per_call(counter: Counter, action: Callable[[], Any], repeat: int = 5) -> list[int]:
    """Round trips of each of ``repeat`` calls of ``action``, after one call not counted (it
    loads the Lua scripts and opens the connection: not part of the steady state)."""
    action()
    result = []
    for _ in range(repeat):
        counter.reset()
        action()
        result.append(counter.round_trips)
    return result


#: Commands a new connection sends before any work (and the stats query itself): how many
#: connections a pool opens depends on timing, not on the action measured.
_NOT_WORK = {
    "cmdstat_info",
    "cmdstat_hello",
    "cmdstat_client|setinfo",
    "cmdstat_select",
    "cmdstat_auth",
}


def server_commands(client: redis.Redis) -> int:
    """Commands the server has executed so far, including those run inside Lua scripts
    (connection set-up excluded)."""
    stats = client.info("commandstats")
    return sum(int(value["calls"]) for name, value in stats.items() if name not in _NOT_WORK)


# -- a lab app ------------------------------------------------------------------------------------


def wld_start_body(slot_length: float = 200.0) -> dict[str, Any]:
    """A start request as WebLab-Deusto sends it (API "1": objects, every key it adds)."""
    now = time.time()
    server = {
        "priority.queue.slot.start": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        + ".123456",
        "priority.queue.slot.start.utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
        + ".123456",
        "priority.queue.slot.start.timestamp": repr(now),
        "priority.queue.slot.start.timezone": 0,
        "priority.queue.slot.length": str(slot_length),
        "priority.queue.slot.initialization_in_accounting": True,
        "request.username": "john.smith",
        "request.username.unique": "john.smith@institution.example.org",
        "request.full_name": "john.smith",
        "request.locale": "es_ES",
        "request.experiment_id.experiment_name": "robot-arm",
        "request.experiment_id.category_name": "Robotics experiments",
        "weblab_reservation_id": str(uuid.uuid4()),
    }
    back = "https://weblab.example.org/weblab/client/#reservation_id=" + uuid.uuid4().hex
    return {"client_initial_data": {"back": back}, "server_initial_data": server, "back": back}


def make_lab(
    store: str | redis.Redis,
    *,
    on_dispose: Callable[[], None] | None = None,
    devices: list[str] | None = None,
) -> tuple[Flask, WebLab]:
    """A lab app with ``/lab`` (reads only) and ``/lab/change`` (writes the user data).

    :param store: a store URL (``redis://``, ``fakeredis://``) or a redis-py client.
    :param on_dispose: the lab's ``on_dispose`` (default: does nothing).
    :param devices: its ``WEBLAB_DEVICES`` (default: none).
    """
    app = Flask(f"bench_{uuid.uuid4().hex[:8]}")
    app.config.update(
        SECRET_KEY="bench-secret",
        SERVER_NAME="localhost:5000",
        WEBLAB_USERNAME=USERNAME,
        WEBLAB_PASSWORD=PASSWORD,
        WEBLAB_REDIS_BASE=f"bench-{uuid.uuid4().hex[:12]}",
        WEBLAB_NO_THREAD=True,
        WEBLAB_LOG_SESSION_LIFECYCLE=False,
    )
    if devices:
        app.config["WEBLAB_DEVICES"] = devices
    if isinstance(store, str):
        app.config["WEBLAB_REDIS_URL"] = store
        weblab = WebLab(app)
    else:
        app.config["WEBLAB_REDIS_URL"] = "redis://127.0.0.1:1/0"  # unused: backend given
        weblab = WebLab(app, backend=store)

    @weblab.initial_url
    def initial_url() -> str:
        return url_for("lab_view")

    @weblab.on_dispose
    def dispose() -> None:
        if on_dispose is not None:
            on_dispose()

    @app.route("/lab")
    @requires_active
    def lab_view() -> str:
        return f"lab of {weblab_user.username}"

    @app.route("/lab/change")
    @requires_active
    def lab_change() -> str:
        weblab_user.data["clicks"] = int(weblab_user.data.get("clicks", 0)) + 1
        return "changed"

    return app, weblab


def start_session(app: Flask, body: dict[str, Any] | None = None, *, prefix: str = "") -> str:
    """Start a session through the real RLMS endpoint; returns its id.

    :param prefix: put before ``/weblab/sessions/`` (``/devices/<name>`` for a device).
    """
    path = f"{prefix}/weblab/sessions/"
    reply = app.test_client().post(path, json=body or wld_start_body(), headers=AUTH)
    if reply.status_code != 200:
        raise RuntimeError(f"start failed: {reply.status_code} {reply.get_data(as_text=True)}")
    return str(json.loads(reply.get_data(as_text=True))["session_id"])


def checked(reply: Any, expected: int = 200) -> Any:
    """``reply`` (a test-client response) when its status is ``expected``; raises otherwise,
    so that a benchmark never times or counts an error page."""
    if reply.status_code != expected:
        raise RuntimeError(f"unexpected HTTP {reply.status_code}: {reply.get_data(as_text=True)}")
    return reply


def student(app: Flask, session_id: str) -> Any:
    """A test client that followed the launch URL of ``session_id`` (carries the cookie)."""
    client = app.test_client()
    reply = client.get(f"/callback/{session_id}")
    if reply.status_code != 302:
        raise RuntimeError(f"callback failed: {reply.status_code}")
    return client


def template_record(app: Flask) -> SessionRecord:
    """The record of a session started through the real endpoint, to clone in bulk."""
    record = app.extensions["weblab"].service.load(start_session(app))
    assert record is not None
    return record  # type: ignore[no-any-return]


def create_bulk(
    client: redis.Redis,
    state: Any,
    template: SessionRecord,
    count: int,
    *,
    max_date: float,
    spread: float = 0.0,
) -> list[str]:
    """Create ``count`` active sessions with the real START script, pipelined 1,000 at a time.

    :param state: the lab's ``LabState`` (its keys).
    :param spread: seconds between the last polls (and the slot ends) of consecutive
        sessions, so that no two records read alike (0: all alike).
    """
    now = time.time()
    ids = []
    pipe = client.pipeline(transaction=False)
    store = SessionStore(pipe, state.keys)
    for index in range(count):
        session_id = create_token()
        ids.append(session_id)
        offset = index * spread
        store.create(
            dataclasses.replace(
                template, session_id=session_id, max_date=max_date + offset, last_poll=now - offset
            ),
            now=now,
        )
        if index % 1000 == 999:
            pipe.execute()
    pipe.execute()
    return ids


# -- timing ------------------------------------------------------------------------------------


def rate(action: Callable[[], Any], seconds: float) -> float:
    """Calls per second of ``action`` run back to back for about ``seconds``."""
    for _ in range(20):  # warm caches, scripts and connections
        action()
    calls = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(50):
            action()
        calls += 50
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - started)


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` is the elapsed seconds."""
    result: list[float] = []
    started = time.perf_counter()
    try:
        yield result
    finally:
        result.append(time.perf_counter() - started)


def median(values: list[float]) -> float:
    """The median of ``values``."""
    return float(statistics.median(values))
