"""Flask-SocketIO guards: ``socket_requires_login`` and ``socket_requires_active``.

Flask layer. Socket.IO events get a request context but no before/after-request hooks, so a
guard does by hand what the hooks do for HTTP views: it reads the user fresh from the store
(recording a poll, as autopoll does for HTTP), runs the handler, then stores the changes made to
``weblab_user.data``. A refused event never reaches the handler (weblablib ran it anyway).

While the store is unreachable a guarded event does not run its handler: the socket gets a
``weblab:store-unavailable`` event (``{"retry_after": 5}``) and stays connected; a guarded
``connect`` is refused. Nothing escapes to the Socket.IO server.

The server push of session endings and task progress lives in :mod:`.push`, the room and
record of every connect and disconnect in :mod:`.sockets`; :func:`init_socketio`,
:class:`WebLabSocketIO` and :func:`session_room` are re-exported here.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request

from ..context import cached_current_user, lab_state
from ..runtime.lifecycle_log import session_id_hash
from ..runtime.store_errors import STORE_ERRORS
from ..runtime.users import WebLabUser
from .push import WebLabSocketIO, init_socketio
from .sockets import (
    hook_installed_now,
    join_session_room,
    load_event_user,
    session_room,
)

logger = logging.getLogger("weblab_ext")

F = TypeVar("F", bound=Callable[..., Any])

#: Event a socket receives when its guarded event could not run because the store is down.
STORE_UNAVAILABLE = "weblab:store-unavailable"
#: Seconds a client is told to wait before trying again.
_RETRY_AFTER = 5

__all__ = [
    "STORE_UNAVAILABLE",
    "WebLabSocketIO",
    "init_socketio",
    "session_room",
    "socket_requires_active",
    "socket_requires_login",
]


def socket_requires_login(func: F) -> F:
    """Run a Socket.IO handler only for a student with a session (active, ended or exited).

    Anonymous sockets are disconnected and the handler does not run; a guarded ``connect``
    handler refuses the connection instead.

    :param func: the Socket.IO event handler.

    .. code-block:: python

        @socketio.on("get-results")
        @socket_requires_login
        def results():
            emit("results", weblab_user.data.get("results", []))
    """
    return _guard(func, require_active=False)


def socket_requires_active(func: F) -> F:
    """Run a Socket.IO handler only for a student whose session is active.

    Anonymous, logged-out and expired sockets are disconnected and the handler does not run;
    a guarded ``connect`` handler refuses the connection instead. Inside the handler
    ``weblab_user`` is the user read at the start of this event, and changes to
    ``weblab_user.data`` are stored when the handler returns.

    :param func: the Socket.IO event handler.

    .. code-block:: python

        @socketio.on("switch")
        @socket_requires_active
        def switch(payload):
            weblab_user.data["light"] = bool(payload["on"])
            emit("light", weblab_user.data["light"])
    """
    return _guard(func, require_active=True)


def _guard(func: F, *, require_active: bool) -> F:
    try:
        import flask_socketio  # noqa: F401
    except ImportError:
        logger.warning(
            "Flask-SocketIO is not installed: %s is left unguarded (pip install flask-socketio)",
            getattr(func, "__name__", func),
            exc_info=True,
        )
        return func

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            user = load_event_user()
        except STORE_ERRORS as error:
            return _store_unavailable(error)
        allowed = user.active if require_active else not user.is_anonymous
        if not allowed:
            return _refuse(user)
        # A lab without init_socketio: its guards put the hook in on their first event.
        late = hook_installed_now()
        join_session_room(user)
        try:
            result = _call_handler(func, args, kwargs)
        finally:
            _store_changes()
        if late is not None and result is not False:
            late.accepted_by_guard(user)
        return result

    return wrapper  # type: ignore[return-value]


def _event_name() -> Any:
    return (getattr(request, "event", None) or {}).get("message")


def _store_unavailable(error: Exception) -> Any:
    logger.warning(
        "Socket.IO event %r not run: the store at %s is unreachable (%s)",
        _event_name(),
        lab_state().store_label,
        type(error).__name__,
    )
    if _event_name() == "connect":
        return False
    from flask_socketio import emit

    emit(STORE_UNAVAILABLE, {"retry_after": _RETRY_AFTER})
    return None


def _refuse(user: WebLabUser) -> Any:
    from flask_socketio import disconnect

    event = getattr(request, "event", None) or {}
    session_id = getattr(user, "session_id", None)
    # Only a hash: the session id is what logs a browser in.
    who = f"session {session_id_hash(session_id)}" if session_id else "an anonymous socket"
    logger.info("Socket.IO event %r refused for %s", event.get("message"), who)
    if event.get("message") == "connect":
        # Returning False refuses the handshake cleanly (the client gets connect_error);
        # calling disconnect() in the middle of it would not.
        return False
    disconnect()
    return None


def _call_handler(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    event = getattr(request, "event", None) or {}
    if event.get("message") == "connect" and args:
        # Flask-SocketIO passes ``auth`` to connect handlers that accept it; the wrapper
        # accepts anything, so drop it here for handlers written as ``def connect():``.
        try:
            inspect.signature(func).bind(*args, **kwargs)
        except TypeError:
            return func()
        except ValueError:  # no signature (builtins, C callables): pass everything
            pass
    return func(*args, **kwargs)


def _store_changes() -> None:
    user = cached_current_user()
    if user is None:
        return
    try:
        user.store_data_if_modified()
    except TypeError:
        logger.exception("weblab_user.data holds a value that is not JSON: not stored")
    except STORE_ERRORS as error:
        logger.warning(
            "The change of weblab_user.data in a Socket.IO event is lost: the store "
            "at %s is unreachable (%s)",
            lab_state().store_label,
            type(error).__name__,
        )
