"""Each Socket.IO connect and disconnect of a lab session, whatever handlers the lab has.

Flask layer. A socket (one connection to one namespace) of a current lab session joins its
session's room and leaves one ``socket_connect`` and then one ``socket_disconnect`` event in the
session's record, whether the lab registered no ``connect`` / ``disconnect`` handler, a guarded
one, an unguarded one (before or after :class:`~weblab_ext.socketio.WebLabSocketIO`), one
through ``on_event`` or a ``Namespace`` class, in the default namespace or another. A socket
without a lab session costs no store round trip, and a store outage is logged, never raised into
the lab's handlers or the Socket.IO server.

Where this hooks in, and why there: no public hook of Flask-SocketIO or python-socketio sees
every connect and disconnect.

* A ``connect`` / ``disconnect`` handler of ours is replaced by the lab's own (one handler per
  event and namespace), and would in turn hide the methods of a lab's ``Namespace`` class.
* Flask-SocketIO's ``SocketIO._handle_event`` runs only where the app has a handler: a
  namespace without a ``disconnect`` handler, or a ``Namespace`` class without
  ``on_disconnect``, never reaches it.
* python-socketio's client manager hears of a connection before the ``connect`` handler decided
  whether to accept it.

python-socketio's ``Server._trigger_event(event, namespace, *args)`` is the one place that every
connect (``sid, environ[, auth]``) and every disconnect (``sid[, reason]``) goes through, with
or without a handler, however the socket ends (the client left, ``disconnect()``, the server
ended its session's sockets); it has kept that signature and role from python-socketio 5.0 to
5.18. :class:`SocketHook` wraps it on the app's server object only (never the class), calls it
unchanged, and does its own work once a connect was accepted and after a disconnect's handler
ran. Being private, it is pinned by ``tests/socketio/test_socket_records.py``, which fails if an
upgrade moves it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import current_app, request

from ..context import cookie_session_id, get_weblab_user, lab_state, request_state
from ..runtime.store_errors import STORE_ERRORS
from ..runtime.users import CurrentUser, WebLabUser

if TYPE_CHECKING:
    from ..app_state import LabState

logger = logging.getLogger("weblab_ext")

#: Socket environ key: socket id -> the session a guard of its ``connect`` read ("": none
#: current). Saves the hook a second read of the same user.
_READ = "weblab_ext.socket_session"
#: Socket environ key: socket id -> the session whose record got its connect (and will get its
#: disconnect). The environ is the connection's, shared by its namespaces and dropped with it.
_RECORDED = "weblab_ext.recorded_sockets"


def session_room(session_id: str) -> str:
    """Name of the Socket.IO room holding the sockets of one lab session.

    It is the session id itself, so lab code can write ``emit(..., to=weblab_user.session_id)``
    (Socket.IO's own per-socket rooms use 20-character ids, session ids have 43).

    :param session_id: the lab session id.
    """
    return session_id


def load_event_user() -> WebLabUser:
    """Read the user of this socket fresh from the store, once per event."""
    # In the Socket.IO test client (and with some async modes) several events may share one
    # app context, so forget what an earlier event cached.
    here = request_state()
    here.user, here.polled, here.poll_scheduled = None, False, False
    here.socket = True
    # With autopoll on, the event counts as activity of the student, as every HTTP request
    # does; the poll rides on the read (one round trip). The user is then cached, so
    # ``weblab_user`` in the handler is this fresh user.
    return get_weblab_user(cached=False)


def join_session_room(user: WebLabUser) -> None:
    """Put this socket into its session's room so that server pushes reach it; in a
    ``connect`` handler, also tell the hook whom this connect belongs to."""
    sid = getattr(request, "sid", None)
    if sid is None:
        return
    if in_connect():
        read = user.session_id if isinstance(user, CurrentUser) else ""
        request.environ.setdefault(_READ, {})[sid] = read
    if not isinstance(user, CurrentUser):
        return
    from flask_socketio import join_room

    join_room(session_room(user.session_id))
    push = current_app.extensions.get("weblab_socketio")
    if push is not None:
        push.ensure_started()


def in_connect() -> bool:
    """Whether this Flask-SocketIO event is a socket connecting, not an event a client called
    ``"connect"`` (python-socketio hands those to the ``connect`` handler too)."""
    event: dict[str, Any] = getattr(request, "event", None) or {}
    args: Any = event.get("args") or ()
    return event.get("message") == "connect" and bool(args) and args[0] is request.environ


class SocketHook:
    """Stands in for one server's ``_trigger_event``: calls it, then does the lab's part.

    :param trigger: the server's own ``_trigger_event``.
    :param server: the ``socketio.Server``.
    :param state: the lab's state.
    :param ensure_started: starts the push listener of this process (once).
    :param refuse_unknown: refuse a connect that no handler of the app handles while the store
        cannot say whose socket it is (the client connects again later, and then joins its
        session's room); a lab's own ``connect`` handler decides for its sockets.
    """

    def __init__(
        self,
        trigger: Callable[..., Any],
        server: Any,
        state: LabState,
        ensure_started: Callable[[], None],
        *,
        refuse_unknown: bool = True,
    ) -> None:
        self.trigger = trigger
        self.server = server
        self.state = state
        self.ensure_started = ensure_started
        self.refuse_unknown = refuse_unknown

    def __call__(self, event: str, namespace: str | None, *args: Any) -> Any:
        """python-socketio's ``_trigger_event``, plus the room and the record of a lab
        session's sockets on ``connect`` and ``disconnect``."""
        # A client may also send events named "connect" or "disconnect", which python-socketio
        # hands to the same handlers: only a socket's own connect comes with the environ the
        # server keeps for it, and only its disconnect while the server is disconnecting it.
        namespace = namespace or "/"
        if event == "connect" and len(args) >= 2 and args[1] is self._environ(args[0], namespace):
            return self._connect(namespace, args)
        if event == "disconnect" and args and not self._connected_now(args[0], namespace):
            return self._disconnect(namespace, args)
        return self.trigger(event, namespace, *args)

    def _connected_now(self, sid: Any, namespace: str) -> bool:
        # False from the moment python-socketio starts disconnecting a socket
        # (``pre_disconnect``) until it is gone.
        return bool(self.server.manager.is_connected(sid, namespace))

    def _environ(self, sid: Any, namespace: str) -> Any:
        try:
            return self.server.get_environ(sid, namespace=namespace)
        except Exception:  # an unknown socket: nothing of it is recorded
            return None

    def _connect(self, namespace: str, args: tuple[Any, ...]) -> Any:
        sid, environ = args[0], args[1]
        handled = _has_handler(self.server, "connect", namespace)
        try:
            accepted = self.trigger("connect", namespace, *args)
        finally:
            read = environ.get(_READ)
            found = read.pop(sid, None) if read else None
        if accepted is False:  # refused by the app (an exception refuses too, and escapes)
            return accepted
        try:
            known = self._connected(namespace, sid, environ, found)
        except Exception:  # never let the record break a connection the app accepted
            logger.exception("A Socket.IO connection was not recorded")
            return accepted
        if not known and not handled and self.refuse_unknown:
            return False  # the client connects again later, when the store is back
        return accepted

    def _connected(self, namespace: str, sid: str, environ: dict[str, Any], found: Any) -> bool:
        """Room and record of an accepted socket; ``False`` when the store did not answer."""
        try:
            session_id = found if isinstance(found, str) else self._current_session(environ)
        except STORE_ERRORS as error:
            logger.warning(
                "A Socket.IO connection is neither recorded nor in its session's room: the "
                "store at %s is unreachable (%s)",
                self.state.store_label,
                type(error).__name__,
            )
            return False
        if session_id:
            self._join(namespace, sid, environ, session_id)
        return True

    def _join(self, namespace: str, sid: str, environ: dict[str, Any], session_id: str) -> None:
        self.server.enter_room(sid, session_room(session_id), namespace=namespace)
        self.ensure_started()
        if self.state.journal.event(session_id, "socket_connect", _fields(namespace)):
            environ.setdefault(_RECORDED, {})[sid] = session_id

    def accepted_by_guard(self, user: WebLabUser) -> None:
        """A guarded ``connect`` handler accepted this socket, in a connect this hook did not
        see (it was installed during it): do what it does after a connect."""
        sid = getattr(request, "sid", None)
        read = request.environ.get(_READ)
        if read:
            read.pop(sid, None)
        if isinstance(user, CurrentUser) and isinstance(sid, str):
            namespace = getattr(request, "namespace", None) or "/"
            self._join(namespace, sid, request.environ, user.session_id)

    def _current_session(self, environ: dict[str, Any]) -> str:
        """This socket's current lab session, or "": read as the guards read it (counting as
        activity with autopoll), and not at all without a session cookie."""
        with self.state.app.request_context(environ):
            if cookie_session_id() is None:
                return ""
            user = load_event_user()
        return user.session_id if isinstance(user, CurrentUser) else ""

    def _disconnect(self, namespace: str, args: tuple[Any, ...]) -> Any:
        sid = args[0]
        environ = self._environ(sid, namespace)
        try:
            return self.trigger("disconnect", namespace, *args)
        finally:
            recorded = environ.get(_RECORDED) if isinstance(environ, dict) else None
            session_id = recorded.pop(sid, None) if recorded else None
            if session_id is not None:
                # Never raises: a store error is logged and the event lost.
                self.state.journal.event(session_id, "socket_disconnect", _fields(namespace))


def install_hook(
    socketio: Any,
    state: LabState,
    ensure_started: Callable[[], None],
    *,
    refuse_unknown: bool = True,
) -> None:
    """Wrap the ``_trigger_event`` of ``socketio``'s server in a :class:`SocketHook` (once:
    a second call replaces the first hook), now or when ``socketio.init_app`` creates it."""
    server = getattr(socketio, "server", None)
    if server is None:  # SocketIO() not bound to an app yet (an app factory): hook in then
        init_app = socketio.init_app

        def init_app_then_hook(app: Any, **kwargs: Any) -> None:
            init_app(app, **kwargs)
            install_hook(socketio, state, ensure_started, refuse_unknown=refuse_unknown)

        socketio.init_app = init_app_then_hook
        return
    current = vars(server).get("_trigger_event")
    trigger = current.trigger if isinstance(current, SocketHook) else current
    trigger = trigger or getattr(server, "_trigger_event", None)
    if not callable(trigger):
        logger.error(
            "This python-socketio has no Server._trigger_event: Socket.IO connects and "
            "disconnects are not recorded, nor put into their session's room on connect "
            "(update weblab_ext)"
        )
        return
    hook = SocketHook(trigger, server, state, ensure_started, refuse_unknown=refuse_unknown)
    # An instance attribute: python-socketio calls ``self._trigger_event(...)``, so this one
    # server (and no other app's) goes through the hook.
    server._trigger_event = hook


def hook_installed_now() -> SocketHook | None:
    """Install the hook from inside an event, for a lab that never called ``init_socketio``
    (its socket guards call this); the hook when it was installed during this ``connect``,
    which it did not see."""
    socketio = current_app.extensions.get("socketio")
    server = getattr(socketio, "server", None)
    if server is None or isinstance(vars(server).get("_trigger_event"), SocketHook):
        return None
    push = current_app.extensions.get("weblab_socketio")  # its server replaced since
    ensure_started = getattr(push, "ensure_started", None) or _no_push
    install_hook(socketio, lab_state(), ensure_started, refuse_unknown=False)
    hook = vars(server).get("_trigger_event")
    return hook if in_connect() and isinstance(hook, SocketHook) else None


def _no_push() -> None:
    """Without ``init_socketio`` there is no push listener to start."""


def _has_handler(server: Any, event: str, namespace: str) -> bool:
    """Whether the app handles ``event`` in ``namespace``: a handler of its own (for this
    namespace or for all, ``"*"``), or a ``Namespace`` object's ``on_<event>`` method."""
    for name in (namespace, "*"):
        if event in getattr(server, "handlers", {}).get(name, {}):
            return True
        handler = getattr(server, "namespace_handlers", {}).get(name)
        if handler is not None and callable(getattr(handler, f"on_{event}", None)):
            return True
    return False


def _fields(namespace: str) -> dict[str, str] | None:
    return None if namespace == "/" else {"namespace": namespace}
