"""Server push over Socket.IO: session endings and task progress reach the browser live.

Flask layer. One listener per process subscribes to the lab's session and task events and
forwards what it hears to the sockets of the session concerned: each socket of a current
session joins a room named after the session id when it connects (:mod:`.sockets`). The
listener is a :class:`~weblab_ext.runtime.loops.Loop`, started with
``socketio.start_background_task`` so that it fits whatever async mode the app uses.

Events emitted to a session's room:

* ``weblab:session-ended`` ``{"reason": "logout" | "disposed", "back": url}``, after which the
  session's sockets are disconnected. Expiry by the cleaner is a ``disposed``.
* ``weblab:task-progress`` ``{"task_id", "name", "status", "data"}`` when a task calls
  ``current_task.store()``.
* ``weblab:task-done`` ``{"task_id", "name", "status": "done" | "failed", "result", "error"}``.

Emitted to every socket (the page filters by its device, or asks its poll URL):

* ``weblab:notice`` ``{"device": name or "" (the whole lab), "message": text or "" (over)}``
  when an operator turns maintenance on or off.

Each process forwards to its own sockets only (``ignore_queue=True``), so with several
processes sharing a ``message_queue`` every client still gets each event once.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from flask import Flask

from ..runtime.loops import ListenerLoop, PerProcess
from ..runtime.users import safe_back_url
from ..states import TaskStatus
from .sockets import install_hook, session_room

if TYPE_CHECKING:
    from ..app_state import LabState

    # Type-only, so the public signatures name the extension class lab code passes: the one
    # import circle the layer test allows (``weblab_ext`` imports ``socketio`` at run time).
    from ..extension import WebLab
    from ..runtime.events import Subscription

logger = logging.getLogger("weblab_ext")

SESSION_ENDED = "weblab:session-ended"
TASK_PROGRESS = "weblab:task-progress"
TASK_DONE = "weblab:task-done"
NOTICE = "weblab:notice"

#: Task statuses after which no more events come for a task.
_FINAL_STATUSES = frozenset({TaskStatus.DONE, TaskStatus.FAILED})


class _PushListener(ListenerLoop):
    """Subscribes to the lab's events and hands each to :meth:`WebLabSocketIO.dispatch`."""

    def __init__(self, push: WebLabSocketIO, stop: threading.Event) -> None:
        super().__init__("weblab-socketio-push", stop, store_label=push.state.store_label)
        self.push = push
        self.listen_step = push.poll_timeout

    def subscribe(self) -> Subscription:
        subscription = self.push.state.events.subscribe()
        self.push.ready.set()
        return subscription

    def on_message(self, channel: str, data: str) -> None:
        self.push.dispatch(channel, data)

    def reset(self) -> None:
        self.push.ready.clear()
        super().reset()


class WebLabSocketIO:
    """Forwards session and task events of one lab app to its Socket.IO clients.

    :param socketio: the ``flask_socketio.SocketIO`` object of the app.
    :param weblab: the :class:`~weblab_ext.WebLab` extension.
    :param app: the app, when ``weblab`` serves several (default: the one it was last
        initialised with).
    :param register_connect: refuse a socket connecting to a namespace without a
        ``connect`` handler while the store is unreachable, so that it connects again later
        and then joins its session's room (``False``: accept it). Nobody else is refused
        (guard your own ``connect`` handler to refuse anonymous sockets). Whatever the
        handlers, each socket of a current session joins its session's room when it
        connects, and its connect and disconnect go into the session's record.
    :param poll_timeout: seconds the listener blocks on Redis before checking its stop flag.
    """

    def __init__(
        self,
        socketio: Any,
        weblab: WebLab,
        app: Flask | None = None,
        *,
        register_connect: bool = True,
        poll_timeout: float = 1.0,
    ) -> None:
        self.socketio = socketio
        self.state: LabState = app.extensions["weblab"] if app is not None else weblab.state()
        self.poll_timeout = poll_timeout
        #: Set while the listener is subscribed.
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._worker: Any = None
        self._per_process = PerProcess(self._start_listener)
        self.state.app.extensions["weblab_socketio"] = self
        # Every connect and disconnect, whatever handlers the lab registers, before or after
        # this (see .sockets for where it hooks in, and why).
        install_hook(socketio, self.state, self.ensure_started, refuse_unknown=register_connect)

    # -- lifecycle ------------------------------------------------------------------------

    def ensure_started(self) -> None:
        """Start the listener once per process (called when a socket of a session connects).

        Starting lazily means it runs in the process that serves sockets, after any fork.
        """
        self._per_process.ensure()

    start = ensure_started

    def _start_listener(self) -> None:
        self._stop = threading.Event()
        self.ready = threading.Event()
        listener = _PushListener(self, self._stop)
        self._worker = self.socketio.start_background_task(listener.run)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the listener and wait for it (bounded)."""
        self._stop.set()
        worker, self._worker = self._worker, None
        self._per_process.forget()
        if isinstance(worker, threading.Thread):
            worker.join(timeout)

    # -- the listener's messages ----------------------------------------------------------

    def dispatch(self, channel: str, raw: str) -> None:
        """Forward one pub/sub message to the sockets of its session.

        :param channel: the channel it came from.
        :param raw: the JSON payload.
        """
        try:
            payload = json.loads(raw)
            session_id = payload["session_id"]
        except (ValueError, TypeError, KeyError):
            logger.warning("Ignoring a malformed event on %s: %r", channel, raw)
            return
        events = self.state.events
        if events.is_session_event(channel):
            self._session_event(session_id, payload)
        elif events.is_task_progress(channel):
            event = TASK_DONE if payload.get("status") in _FINAL_STATUSES else TASK_PROGRESS
            body = {name: value for name, value in payload.items() if name != "session_id"}
            self.emit_to_session(session_id, event, body)

    def _session_event(self, session_id: str, payload: dict[str, Any]) -> None:
        reason = payload.get("event")
        if reason == "notice":
            self.emit_notice(payload)
            return
        if reason not in ("logout", "disposed"):
            return
        back = payload.get("back")
        if back is None:
            record = self.state.service.load(session_id)
            back = record.back if record is not None else None
        # The page goes there at once: only ever an http(s) URL (or "", stay).
        back = safe_back_url(back) if isinstance(back, str) else ""
        self.emit_to_session(session_id, SESSION_ENDED, {"reason": reason, "back": back})
        self.disconnect_session(session_id)

    # -- sending --------------------------------------------------------------------------

    def emit_to_session(self, session_id: str, event: str, data: Any) -> None:
        """Emit ``event`` to this process's sockets of a session, in every namespace.

        :param session_id: the lab session.
        :param event: the Socket.IO event name.
        :param data: a JSON-serialisable payload.
        """
        server = self.socketio.server
        room = session_room(session_id)
        for namespace in list(server.manager.get_namespaces()):
            if any(True for _ in server.manager.get_participants(namespace, room)):
                server.emit(event, data, to=room, namespace=namespace, ignore_queue=True)

    def emit_notice(self, payload: dict[str, Any]) -> None:
        """Tell this process's sockets, in every namespace, that maintenance changed:
        ``{"device": name or "" (the lab), "message": text or "" (over)}``."""
        data = {
            "device": str(payload.get("device") or ""),
            "message": str(payload.get("message") or ""),
        }
        server = self.socketio.server
        for namespace in list(server.manager.get_namespaces()):
            server.emit(NOTICE, data, namespace=namespace, ignore_queue=True)

    def disconnect_session(self, session_id: str) -> None:
        """Disconnect this process's sockets of a session."""
        server = self.socketio.server
        room = session_room(session_id)
        for namespace in list(server.manager.get_namespaces()):
            for sid, _eio_sid in list(server.manager.get_participants(namespace, room)):
                server.disconnect(sid, namespace=namespace, ignore_queue=True)


def init_socketio(
    socketio: Any, weblab: WebLab, app: Flask | None = None, **options: Any
) -> WebLabSocketIO:
    """Push session endings and task progress of ``weblab``'s lab to its Socket.IO clients.

    :param socketio: the ``flask_socketio.SocketIO`` object, already bound to the app.
    :param weblab: the :class:`~weblab_ext.WebLab` extension.
    :param app: the app, if ``weblab`` serves several.
    :param options: passed to :class:`WebLabSocketIO`.

    .. code-block:: python

        socketio = SocketIO(app)
        weblab = WebLab(app)
        init_socketio(socketio, weblab)
    """
    return WebLabSocketIO(socketio, weblab, app, **options)
