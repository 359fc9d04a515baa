"""Who the current lab user is, in requests, hooks, tasks and Socket.IO handlers.

Flask layer. The user is cached on ``g`` for the request (``weblab_user``); Socket.IO handlers
use ``socket_weblab_user``, read fresh from the store on every access because events get no
request hooks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from flask import (
    after_this_request,
    current_app,
    g,
    has_app_context,
    has_request_context,
    request,
    session,
)
from werkzeug.local import LocalProxy

from .errors import NoContextError, WebLabNotInitializedError
from .users import AnonymousUser, CurrentUser, WebLabUser

if TYPE_CHECKING:
    from flask import Response

    from .state import LabState


def lab_state() -> LabState:
    """The weblab state of the current app.

    :raises WebLabNotInitializedError: when the app never went through ``init_app``.
    """
    if not has_app_context():
        raise NoContextError(
            "weblab_ext was used outside a Flask app context: run it inside a request, a "
            "task, a hook or `with app.app_context():`"
        )
    state = current_app.extensions.get("weblab")
    if state is None:
        raise WebLabNotInitializedError("App not initialized with weblab.init_app()")
    return state  # type: ignore[no-any-return]


def explicit_session_id() -> str | None:
    """The session id set for a hook, task or the cleaner, if any."""
    return g.get("_weblab_session_id") if has_app_context() else None


def cookie_session_id() -> str | None:
    """The session id the browser's signed cookie carries, if any."""
    if not has_request_context():
        return None
    value = session.get(lab_state().settings.session_id_name)
    return value if isinstance(value, str) else None


def current_session_id() -> str | None:
    """The lab session of this context: explicit first, else the cookie.

    :raises NoContextError: outside a request when no session was set explicitly.
    """
    explicit = explicit_session_id()
    if explicit is not None:
        return explicit
    if not has_request_context():
        raise NoContextError(
            "No lab session here: this needs a Flask request (or a task, hook or "
            "weblab.session_context()) to know which student it is about"
        )
    return cookie_session_id()


def get_weblab_user(cached: bool = True) -> WebLabUser:
    """Return the lab user of the current context.

    :param cached: reuse the user loaded earlier in this request (``False`` re-reads it).
    """
    state = lab_state()  # first: outside an app context this raises NoContextError, not `g`'s
    if cached and "_weblab_user" in g:
        return g._weblab_user  # type: ignore[no-any-return]
    session_id = current_session_id()
    if session_id is None:
        user: WebLabUser = AnonymousUser()
    else:
        # The autopoll of a browser request rides on this read: one round trip in all.
        record_poll = (
            state.settings.autopoll
            and has_request_context()
            and explicit_session_id() is None
            and not g.get("_weblab_polled", False)
        )
        user = state.load_user(session_id, poll=record_poll)
        if record_poll:
            g._weblab_polled = True
    g._weblab_user = user
    return user


weblab_user: Any = LocalProxy(get_weblab_user)
socket_weblab_user: Any = LocalProxy(lambda: get_weblab_user(cached=False))


def in_socket_event() -> bool:
    """Whether this code runs inside a Flask-SocketIO event handler (no response follows)."""
    if not has_request_context():
        return False
    # Flask-SocketIO sets ``request.namespace`` on the fake request of every event; the socket
    # guards also set the flag on ``g``.
    return bool(g.get("_weblab_socket", False)) or getattr(request, "namespace", None) is not None


def poll() -> None:
    """Count this request as activity of the student (once per request)."""
    state = lab_state()  # raises NoContextError outside an app context
    if g.get("_weblab_polled", False) or g.get("_weblab_poll_scheduled", False):
        return
    session_id = current_session_id()
    if session_id is None:
        return
    if not has_request_context() or in_socket_event():
        # Socket.IO events have a request context but no response to hook: poll now.
        state.sessions.poll(session_id, now=state.clock())
        g._weblab_polled = True
        return
    g._weblab_poll_scheduled = True

    @after_this_request
    def _poll_at_end(response: Response) -> Response:
        if not g.get("_weblab_polled", False):
            state.sessions.poll(session_id, now=state.clock())
            g._weblab_polled = True
        return response


def logout() -> None:
    """End the student's session now; the RLMS and the cleaner then dispose it."""
    session_id = current_session_id()
    if session_id is None:
        return
    lab_state().logout(session_id)


@contextmanager
def session_context(session_id: str, user: WebLabUser | None = None) -> Iterator[None]:
    """Run code as if in a request of ``session_id`` (hooks, tasks, cleaner, tests).

    Needs an app context; restores what was there before.
    """
    saved = {name: g.get(name) for name in ("_weblab_session_id", "_weblab_user")}
    had = {name: name in g for name in saved}
    g._weblab_session_id = session_id
    if user is not None:
        g._weblab_user = user
    else:
        g.pop("_weblab_user", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if had[name]:
                setattr(g, name, value)
            else:
                g.pop(name, None)


def cached_current_user() -> CurrentUser | None:
    """The current user loaded in this request, if one was loaded (for after-request hooks)."""
    user = g.get("_weblab_user")
    return user if isinstance(user, CurrentUser) else None
