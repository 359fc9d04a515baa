"""Every Socket.IO connect and disconnect of a lab session is in its record, exactly once,
whatever handlers the lab registered: none, guarded ones, unguarded ones (before or after
``init_socketio``), ``on_event``, a ``Namespace`` class, in the default namespace or another.
The socket also joins its session's room. Anonymous sockets record nothing and cost no store
round trip; a store outage never breaks the lab's own handlers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, request

from tests.support.lab import Lab, real_redis_only
from tests.support.redis_server import RedisServer
from tests.support.round_trips import RoundTrips, count_round_trips
from weblab_ext import socket_requires_active, socket_requires_login, weblab_user

flask_socketio = pytest.importorskip("flask_socketio")
NamespaceClass: Any = flask_socketio.Namespace

Calls = list[tuple[str, str]]


def socket_id() -> str:
    """The socket id of the Socket.IO event being handled."""
    return str(getattr(request, "sid", None))


def socket_events(lab: Lab, session_id: str) -> list[dict[str, Any]]:
    return [e for e in lab.state.journal.timeline(session_id)[0] if e["e"].startswith("socket_")]


# -- the ways a lab handles connect and disconnect -------------------------------------------


def no_handlers(socketio: Any, namespace: str, calls: Calls) -> None:
    # An event of its own, so that python-socketio accepts connections to ``namespace``.
    @socketio.on("ping", namespace=namespace)
    def ping() -> None:
        calls.append(("ping", namespace))


def guarded(socketio: Any, namespace: str, calls: Calls) -> None:
    @socketio.on("connect", namespace=namespace)
    @socket_requires_login
    def connect() -> None:
        calls.append(("connect", weblab_user.session_id))

    @socketio.on("disconnect", namespace=namespace)
    @socket_requires_login
    def disconnect(*reason: Any) -> None:
        calls.append(("disconnect", weblab_user.session_id))


def unguarded(socketio: Any, namespace: str, calls: Calls) -> None:
    @socketio.on("connect", namespace=namespace)
    def connect(auth: Any = None) -> None:
        calls.append(("connect", socket_id()))

    @socketio.on("disconnect", namespace=namespace)
    def disconnect(reason: Any = None) -> None:
        calls.append(("disconnect", socket_id()))


def on_event(socketio: Any, namespace: str, calls: Calls) -> None:
    def connect() -> None:
        calls.append(("connect", socket_id()))

    def disconnect(*reason: Any) -> None:
        calls.append(("disconnect", socket_id()))

    socketio.on_event("connect", connect, namespace=namespace)
    socketio.on_event("disconnect", disconnect, namespace=namespace)


def namespace_class(socketio: Any, namespace: str, calls: Calls) -> None:
    class LabNamespace(NamespaceClass):  # type: ignore[misc]
        def on_connect(self, auth: Any = None) -> None:
            calls.append(("connect", socket_id()))

        def on_disconnect(self, reason: Any = None) -> None:
            calls.append(("disconnect", socket_id()))

    socketio.on_namespace(LabNamespace(namespace))


def namespace_class_without_handlers(socketio: Any, namespace: str, calls: Calls) -> None:
    class LabNamespace(NamespaceClass):  # type: ignore[misc]
        def on_ping(self) -> None:
            calls.append(("ping", namespace))

    socketio.on_namespace(LabNamespace(namespace))


WAYS = {
    "none": no_handlers,
    "guarded": guarded,
    "unguarded": unguarded,
    "on_event": on_event,
    "namespace_class": namespace_class,
    "namespace_class_without_handlers": namespace_class_without_handlers,
}


class SocketApp:
    """A lab app with one way of handling connects, registered before or after the push."""

    def __init__(self, lab: Lab, way: str, order: str, namespace: str = "/") -> None:
        from weblab_ext.socketio import init_socketio

        self.lab, self.namespace = lab, namespace
        self.calls: Calls = []
        self.socketio = flask_socketio.SocketIO(lab.app, async_mode="threading")
        if order == "before":
            WAYS[way](self.socketio, namespace, self.calls)
        self.push = init_socketio(self.socketio, lab.weblab, lab.app, poll_timeout=0.05)
        if order == "after":
            WAYS[way](self.socketio, namespace, self.calls)

    def client(self, session_id: str | None = None) -> Any:
        http = self.lab.browser(session_id) if session_id else self.lab.app.test_client()
        return self.socketio.test_client(
            self.lab.app, namespace=self.namespace, flask_test_client=http
        )

    def handler_calls(self, name: str) -> list[str]:
        return [who for what, who in self.calls if what == name]


@pytest.fixture
def apps() -> Iterator[list[SocketApp]]:
    made: list[SocketApp] = []
    yield made
    for app in made:
        app.push.stop()


@pytest.mark.parametrize("namespace", ["/", "/lab"])
@pytest.mark.parametrize("order", ["before", "after"])
@pytest.mark.parametrize("way", list(WAYS))
def test_one_connect_and_one_disconnect_per_socket(
    lab: Lab, apps: list[SocketApp], way: str, order: str, namespace: str
) -> None:
    app = SocketApp(lab, way, order, namespace)
    apps.append(app)
    session_id = lab.start_raw()
    first, second = app.client(session_id), app.client(session_id)  # two tabs
    assert first.is_connected(namespace) and second.is_connected(namespace)
    # The lab's own handlers ran, once each (the library's never replace them).
    if way in ("guarded",):
        assert app.handler_calls("connect") == [session_id, session_id]
    elif way not in ("none", "namespace_class_without_handlers"):
        assert len(set(app.handler_calls("connect"))) == 2

    # Both sockets are in the session's room: lab code can emit to the session.
    app.socketio.emit("hello", {"n": 1}, to=session_id, namespace=namespace)
    for client in (first, second):
        assert [e["name"] for e in client.get_received(namespace)] == ["hello"]

    first.disconnect(namespace)
    second.disconnect(namespace)
    if way not in ("none", "namespace_class_without_handlers"):
        assert len(app.handler_calls("disconnect")) == 2

    extra = {} if namespace == "/" else {"namespace": namespace}
    kinds = [
        (e["e"], {k: v for k, v in e.items() if k not in ("t", "e")})
        for e in socket_events(lab, session_id)
    ]
    assert kinds == [("socket_connect", extra)] * 2 + [("socket_disconnect", extra)] * 2


@pytest.mark.parametrize("way", ["none", "unguarded", "namespace_class"])
def test_anonymous_sockets_record_nothing(lab: Lab, apps: list[SocketApp], way: str) -> None:
    app = SocketApp(lab, way, "after")
    apps.append(app)
    session_id = lab.start_raw()  # a session exists, but these sockets carry no cookie
    before = socket_events(lab, session_id)
    client = app.client()
    assert client.is_connected()  # nobody is refused by the library itself
    client.disconnect()
    assert socket_events(lab, session_id) == before == []
    assert app.push._worker is None  # nothing to push to: no listener started


@real_redis_only
@pytest.mark.parametrize("way", ["none", "unguarded", "guarded", "namespace_class"])
def test_an_anonymous_socket_costs_no_store_round_trip(
    lab: Lab, apps: list[SocketApp], way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = SocketApp(lab, way, "before")
    apps.append(app)
    http = lab.app.test_client()
    counter: RoundTrips = count_round_trips(monkeypatch, this_thread_only=True)

    def connect_and_leave() -> None:
        client = app.socketio.test_client(lab.app, flask_test_client=http)
        if client.is_connected():  # a guarded connect refuses it
            client.disconnect()

    assert counter.of(connect_and_leave) == 0, counter.commands


@real_redis_only
@pytest.mark.parametrize("way", ["none", "guarded", "unguarded", "namespace_class"])
def test_a_logged_in_socket_costs_two_round_trips_whatever_its_handlers(
    lab: Lab, apps: list[SocketApp], way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's read (the autopoll rides on it) and the record's append at connect; the
    append at disconnect. A guarded connect reads the user once, for guard and record."""
    app = SocketApp(lab, way, "after")
    apps.append(app)
    session_id = lab.start_raw()
    browser = lab.browser(session_id)
    app.socketio.test_client(lab.app, flask_test_client=browser).disconnect()  # scripts loaded
    counter: RoundTrips = count_round_trips(monkeypatch, this_thread_only=True)
    sockets: list[Any] = []
    connect = counter.of(
        lambda: sockets.append(app.socketio.test_client(lab.app, flask_test_client=browser))
    )
    assert sockets[0].is_connected()
    disconnect = counter.of(sockets[0].disconnect)
    # A guarded disconnect handler reads the user for its guard: that read is the lab's.
    assert (connect, disconnect) == (2, 2 if way == "guarded" else 1), counter.commands


def test_a_refused_connection_records_nothing(lab: Lab, apps: list[SocketApp]) -> None:
    app = SocketApp(lab, "none", "after")
    apps.append(app)
    refused: list[str] = []

    @app.socketio.on("connect")
    def connect() -> bool:
        refused.append("connect")
        return False

    @app.socketio.on("connect", namespace="/other")
    def connect_other() -> None:
        refused.append("other")
        raise flask_socketio.ConnectionRefusedError("no")

    session_id = lab.start_raw()
    client = app.client(session_id)
    assert not client.is_connected()
    other = app.socketio.test_client(
        lab.app, namespace="/other", flask_test_client=lab.browser(session_id)
    )
    assert not other.is_connected("/other")
    assert refused == ["connect", "other"]
    assert socket_events(lab, session_id) == []


def test_an_active_guard_refusing_an_ended_session_records_nothing(
    lab: Lab, apps: list[SocketApp]
) -> None:
    app = SocketApp(lab, "none", "after")
    apps.append(app)

    @app.socketio.on("connect")
    @socket_requires_active
    def connect() -> None:
        raise AssertionError("not for a logged-out session")

    session_id = lab.start_raw()
    lab.state.service.logout(session_id)
    assert not app.client(session_id).is_connected()
    assert socket_events(lab, session_id) == []


def test_a_disposed_session_records_nothing(lab: Lab, apps: list[SocketApp]) -> None:
    """A socket whose cookie names a disposed session (its record kept for the retention)
    adds nothing after the session's end."""
    app = SocketApp(lab, "unguarded", "after")
    apps.append(app)
    session_id = lab.start_raw()
    browser = lab.browser(session_id)
    lab.dispose(session_id)
    client = app.socketio.test_client(lab.app, flask_test_client=browser)
    assert client.is_connected()  # the lab's unguarded handler accepted it
    client.disconnect()
    kinds = [event["e"] for event in lab.state.journal.timeline(session_id)[0]]
    assert "end" in kinds and not any(kind.startswith("socket_") for kind in kinds), kinds


@pytest.mark.parametrize("way", ["none", "unguarded", "namespace_class"])
def test_a_session_ended_by_the_server_records_its_disconnect_once(
    lab: Lab, apps: list[SocketApp], way: str
) -> None:
    """The push ends the session's sockets after a logout: each disconnect is recorded once,
    after the session's end, whether or not the lab handles disconnects."""
    app = SocketApp(lab, way, "before")
    apps.append(app)
    session_id = lab.start_raw()
    client = app.client(session_id)
    assert client.is_connected()
    assert app.push.ready.wait(5), "the push listener never subscribed"
    lab.browser(session_id).get(f"/callback/{session_id}/logout")
    deadline = time.monotonic() + 5
    while client.is_connected() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not client.is_connected()
    deadline = time.monotonic() + 5
    while len(socket_events(lab, session_id)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [e["e"] for e in socket_events(lab, session_id)] == [
        "socket_connect",
        "socket_disconnect",
    ]


def test_push_created_before_socketio_init_app(lab: Lab) -> None:
    """``SocketIO()`` bound to the app later (an app factory): the push is set up then."""
    from weblab_ext.socketio import init_socketio

    socketio = flask_socketio.SocketIO()
    push = init_socketio(socketio, lab.weblab, lab.app, poll_timeout=0.05)
    try:
        socketio.init_app(lab.app, async_mode="threading")
        session_id = lab.start_raw()
        client = socketio.test_client(lab.app, flask_test_client=lab.browser(session_id))
        assert client.is_connected()
        client.disconnect()
        assert [e["e"] for e in socket_events(lab, session_id)] == [
            "socket_connect",
            "socket_disconnect",
        ]
    finally:
        push.stop()


def test_two_pushes_on_one_socketio_record_once(lab: Lab) -> None:
    from weblab_ext.socketio import init_socketio

    socketio = flask_socketio.SocketIO(lab.app, async_mode="threading")
    pushes = [init_socketio(socketio, lab.weblab, lab.app, poll_timeout=0.05) for _ in "ab"]
    try:
        session_id = lab.start_raw()
        client = socketio.test_client(lab.app, flask_test_client=lab.browser(session_id))
        client.disconnect()
        assert [e["e"] for e in socket_events(lab, session_id)] == [
            "socket_connect",
            "socket_disconnect",
        ]
    finally:
        for push in pushes:
            push.stop()


def test_the_hook_sits_where_python_socketio_dispatches_connects() -> None:
    """The recording wraps python-socketio's ``Server._trigger_event`` (see
    ``weblab_ext/socketio/sockets.py`` for why). If an upgrade of python-socketio renames it
    or stops sending connects and disconnects through it, this fails (and so does every test
    above), rather than records silently losing their sockets."""
    import inspect

    import socketio

    server = socketio.Server()
    assert callable(getattr(server, "_trigger_event", None))
    parameters = list(inspect.signature(server._trigger_event).parameters)
    assert parameters[:2] == ["event", "namespace"], parameters

    def calls(method: Any, event: str) -> bool:
        code = "".join(inspect.getsource(method).split()).replace('"', "'")
        return f"self._trigger_event('{event}',namespace,sid" in code

    assert calls(socketio.Server._handle_connect, "connect")
    assert calls(socketio.Server._handle_disconnect, "disconnect")
    assert calls(socketio.Server.disconnect, "disconnect")
    # The hook is an instance attribute of the app's server only.
    app_socketio = flask_socketio.SocketIO(Flask("pin"), async_mode="threading")
    assert "_trigger_event" not in vars(app_socketio.server)


# -- a store outage ----------------------------------------------------------------------------


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


def test_a_store_outage_never_breaks_the_labs_handlers(
    make_lab: Callable[..., Lab],
    own_redis: RedisServer,
    apps: list[SocketApp],
    caplog: pytest.LogCaptureFixture,
) -> None:
    lab = make_lab(WEBLAB_REDIS_URL=own_redis.url)
    app = SocketApp(lab, "unguarded", "after")
    apps.append(app)
    session_id = lab.start_raw()
    browser = lab.browser(session_id)
    connected = app.socketio.test_client(lab.app, flask_test_client=browser)
    own_redis.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="weblab_ext"):
            late = app.socketio.test_client(lab.app, flask_test_client=browser)  # another tab
            assert late.is_connected()  # the lab's own handler accepted it: not refused
            late.disconnect()
            connected.disconnect()  # its disconnect cannot be recorded: logged, not raised
    finally:
        own_redis.start()
    assert len(app.handler_calls("connect")) == 2
    assert len(app.handler_calls("disconnect")) == 2
    assert "unreachable" in caplog.text or "Could not record" in caplog.text
    assert session_id not in caplog.text


def test_without_init_socketio_the_guards_hook_in(lab: Lab) -> None:
    """A lab written for weblablib: guarded handlers, an unguarded ``disconnect``, no
    ``init_socketio``. Its first guarded event puts the hook in, from the first socket on."""
    socketio = flask_socketio.SocketIO(lab.app, async_mode="threading")
    left: list[str] = []

    @socketio.on("connect")
    @socket_requires_active
    def connect() -> None:
        flask_socketio.emit("state", {"on": False})

    @socketio.on("disconnect")
    def disconnect(*reason: Any) -> None:
        left.append("disconnect")

    session_id = lab.start_raw()
    browser = lab.browser(session_id)
    for _ in range(2):
        client = socketio.test_client(lab.app, flask_test_client=browser)
        assert client.is_connected()
        client.disconnect()
    assert left == ["disconnect", "disconnect"]
    assert [e["e"] for e in socket_events(lab, session_id)] == [
        "socket_connect",
        "socket_disconnect",
    ] * 2


@pytest.mark.parametrize("way", ["unguarded", "guarded", "namespace_class"])
def test_events_a_client_names_connect_or_disconnect_record_nothing(
    lab: Lab, apps: list[SocketApp], way: str
) -> None:
    """python-socketio hands a client's event called "connect" or "disconnect" to those
    handlers too: a student sending them neither adds nor hides a socket's events."""
    app = SocketApp(lab, way, "before")
    apps.append(app)
    session_id = lab.start_raw()
    browser = lab.browser(session_id)
    client = app.socketio.test_client(lab.app, flask_test_client=browser)
    cookie = browser.get_cookie(lab.app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    forged_environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/socket.io",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "HTTP_COOKIE": f"{cookie.key}={cookie.value}",  # the student's own cookie
    }
    client.emit("disconnect", "forged")
    client.emit("connect", forged_environ)
    assert client.is_connected()
    assert [e["e"] for e in socket_events(lab, session_id)] == ["socket_connect"]
    client.disconnect()
    assert [e["e"] for e in socket_events(lab, session_id)] == [
        "socket_connect",
        "socket_disconnect",
    ]
