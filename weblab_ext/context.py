"""Who the current lab user is, in requests, hooks, tasks and Socket.IO handlers.

Flask layer. Everything weblab_ext remembers for one request (or hook, task, event) lives in
one :class:`RequestState` object on ``g``. The user is cached there for the request
(``weblab_user``); Socket.IO handlers use ``socket_weblab_user``, read fresh from the store on
every access because events get no request hooks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from flask import (
    Flask,
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
from .runtime.users import AnonymousUser, CurrentUser, WebLabUser

if TYPE_CHECKING:
    from flask import Response

    from .app_state import LabState
    from .runtime.task_engine import RunningTask


@dataclasses.dataclass
class RequestState:
    """What weblab_ext keeps on ``g`` (as ``g._weblab``) for one request, hook or task."""

    #: The weblab state of this context's app, resolved once per request.
    lab: LabState
    #: Session set explicitly (hook, task, cleaner, ``session_context``); wins over the cookie.
    session_id: str | None = None
    #: The user loaded in this context (``None``: not loaded yet).
    user: WebLabUser | None = None
    #: A poll was recorded in this request.
    polled: bool = False
    #: A poll is scheduled for the end of this request.
    poll_scheduled: bool = False
    #: This context is a Socket.IO event (no response follows).
    socket: bool = False
    #: The task running in this context, if any.
    task: RunningTask | None = None
    #: ``current_task`` of that task, a :class:`~weblab_ext.tasks.task.WebLabTask` built once
    #: so ``retrieve()`` on it sticks (typed ``object``: the task module imports this one).
    task_view: object | None = None


#: What NoContextError messages recommend (a public helper: ``weblab_ext.session_context``).
SESSION_CONTEXT_HINT = (
    "name the session with `with app.app_context(), weblab_ext.session_context(session_id): ...`"
)


_OUTSIDE_APP = (
    "weblab_ext was used outside a Flask app context: run it inside a request, a "
    "task, a hook or `with app.app_context():`"
)


def request_state() -> RequestState:
    """The :class:`RequestState` of this app context (created on first use).

    :raises NoContextError: outside an app context.
    :raises WebLabNotInitializedError: when the app never went through ``init_app``.
    """
    if not has_app_context():
        raise NoContextError(_OUTSIDE_APP)
    state: RequestState | None = g.get("_weblab")
    if state is None:
        state = g._weblab = RequestState(_lab_of(current_app))
    return state


def _lab_of(app: Flask) -> LabState:
    # The state lives in app.extensions, not on the WebLab object: one WebLab may serve
    # several apps.
    state = app.extensions.get("weblab")
    if state is None:
        raise WebLabNotInitializedError("App not initialized with weblab.init_app()")
    return state  # type: ignore[no-any-return]


def lab_state() -> LabState:
    """The weblab state of the current app.

    :raises NoContextError: outside an app context.
    :raises WebLabNotInitializedError: when the app never went through ``init_app``.
    """
    return request_state().lab


def cookie_session_id(here: RequestState | None = None) -> str | None:
    """The session id the browser's signed cookie carries, if any."""
    if not has_request_context():
        return None
    here = here or request_state()
    value = session.get(here.lab.settings.session_id_name)
    return value if isinstance(value, str) else None


def current_session_id() -> str | None:
    """The lab session of this context: explicit first, else the cookie.

    :raises NoContextError: outside a request when no session was set explicitly.
    """
    here = request_state() if has_app_context() else None
    if here is not None and here.session_id is not None:
        return here.session_id
    if not has_request_context():
        raise NoContextError(
            "No lab session here: this needs a student's request, a task or a hook to know "
            f"which session it is about; elsewhere, {SESSION_CONTEXT_HINT}"
        )
    return cookie_session_id(here)


def get_weblab_user(cached: bool = True) -> WebLabUser:
    """Return the lab user of the current context.

    :param cached: reuse the user loaded earlier in this request (``False`` re-reads it).
    """
    here = request_state()  # outside an app context this raises NoContextError
    if cached and here.user is not None:
        return here.user
    session_id = here.session_id
    in_request = has_request_context()
    if session_id is None:
        if not in_request:
            current_session_id()  # raises the NoContextError that explains what is missing
        session_id = cookie_session_id(here)
    if session_id is None:
        user: WebLabUser = AnonymousUser()
    else:
        # The autopoll of a browser request rides on this read: one round trip in all.
        record_poll = (
            in_request
            and here.session_id is None
            and not here.polled
            and here.lab.settings.autopoll
        )
        user = here.lab.service.load_user(session_id, poll=record_poll)
        if record_poll:
            here.polled = True
    here.user = user
    return user


# Typed as the user a lab's views see behind ``requires_active``, so an editor completes
# ``weblab_user.time_left``; at run time they are werkzeug ``LocalProxy`` objects (as Flask's
# ``request``) standing for whichever user this context has (anonymous, current, expired).
#: The lab user of this request, task or hook (cached for the request).
weblab_user = cast(CurrentUser, LocalProxy(get_weblab_user))
#: The lab user of a Socket.IO event, read fresh from the store on every access.
socket_weblab_user = cast(CurrentUser, LocalProxy(lambda: get_weblab_user(cached=False)))


def in_socket_event() -> bool:
    """Whether this code runs inside a Flask-SocketIO event handler (no response follows)."""
    if not has_request_context():
        return False
    # Flask-SocketIO sets ``request.namespace`` on the fake request of every event; the socket
    # guards also set the flag on the request state.
    return request_state().socket or getattr(request, "namespace", None) is not None


def poll() -> None:
    """Count this request as activity of the student (once per request)."""
    here = request_state()  # raises NoContextError outside an app context
    state = here.lab
    if here.polled or here.poll_scheduled:
        return
    session_id = current_session_id()
    if session_id is None:
        return
    if not has_request_context() or in_socket_event():
        # Socket.IO events have a request context but no response to hook: poll now.
        state.service.poll(session_id)
        here.polled = True
        return
    here.poll_scheduled = True

    @after_this_request
    def _poll_at_end(response: Response) -> Response:
        if not here.polled:
            state.service.poll(session_id)
            here.polled = True
        return response


def logout() -> None:
    """End the student's session now; the RLMS and the cleaner then dispose it."""
    session_id = current_session_id()
    if session_id is None:
        return
    lab_state().service.logout(session_id)


@contextmanager
def session_context(session_id: str, user: WebLabUser | None = None) -> Iterator[None]:
    """Run code as if in a request of ``session_id`` (scripts, threads of your own, tests).

    Needs an app context; restores what was there before. ``weblab_user``, ``task.delay()``
    and the task lookups of ``weblab`` then act for that session. Exported as
    ``weblab_ext.session_context``.

    .. code-block:: python

        from weblab_ext import session_context

        with app.app_context(), session_context(session_id):
            measure.delay(10)
    """
    here = request_state()
    saved = (here.session_id, here.user)
    here.session_id, here.user = session_id, user
    try:
        yield
    finally:
        here.session_id, here.user = saved


def cached_current_user() -> CurrentUser | None:
    """The current user loaded in this request, if one was loaded (for after-request hooks)."""
    user = request_state().user if has_app_context() else None
    return user if isinstance(user, CurrentUser) else None


def record_event(name: Any, fields: Mapping[str, Any]) -> bool:
    """Add the lab's own event to the current session's record (``weblab.record``).

    The session is the explicit one (task, hook, ``session_context``), else the student's of
    this request, already loaded by ``requires_active``: one round trip, for the event
    alone. An anonymous request records nothing (``False``).

    :raises TypeError: or :class:`ValueError`, naming the bad field; nothing is stored.
    """
    here = request_state()  # raises NoContextError outside an app context
    session_id = here.session_id
    if session_id is None:
        user = get_weblab_user()
        session_id = user.session_id if isinstance(user, CurrentUser) else None
    return here.lab.journal.lab_event(session_id, name, fields)
