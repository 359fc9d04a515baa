"""Server push over Socket.IO: session endings and task progress reach the browser live.

Flask layer. One listener per process subscribes to the lab's pub/sub channels
(``Keys.session_events()`` and ``Keys.task_progress()``) and forwards what it hears to the
sockets of the session concerned, which the socket guards put into a room named after the
session id.

Events emitted to a session's room:

* ``weblab:session-ended`` ``{"reason": "logout" | "disposed", "back": url}``, after which the
  session's sockets are disconnected. Expiry by the cleaner is a ``disposed``.
* ``weblab:task-progress`` ``{"task_id", "name", "status", "data"}`` when a task calls
  ``current_task.store()``.
* ``weblab:task-done`` ``{"task_id", "name", "status": "done" | "failed", "result", "error"}``.

Each process forwards to its own sockets only (``ignore_queue=True``), so with several
processes sharing a ``message_queue`` every client still gets each event once.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

import redis
from flask import Flask

if TYPE_CHECKING:
    from .extension import WebLab
    from .state import LabState

logger = logging.getLogger("weblab_ext")

SESSION_ENDED = "weblab:session-ended"
TASK_PROGRESS = "weblab:task-progress"
TASK_DONE = "weblab:task-done"

#: Task statuses after which no more events come for a task.
_FINAL_STATUSES = frozenset({"done", "failed"})


def session_room(session_id: str) -> str:
    """Name of the Socket.IO room holding the sockets of one lab session.

    It is the session id itself, so lab code can write ``emit(..., to=weblab_user.session_id)``
    (Socket.IO's own per-socket rooms use 20-character ids, session ids have 43).

    :param session_id: the lab session id.
    """
    return session_id


class WebLabSocketIO:
    """Forwards session and task events of one lab app to its Socket.IO clients.

    :param socketio: the ``flask_socketio.SocketIO`` object of the app.
    :param weblab: the :class:`~weblab_ext.WebLab` extension.
    :param app: the app, when ``weblab`` serves several (default: the one it was last
        initialised with).
    :param register_connect: when the default namespace has no ``connect`` handler yet,
        register one that puts logged-in sockets into their session's room (it never
        refuses anyone; guard your own ``connect`` handler to do that).
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
        self.state: LabState = app.extensions["weblab"] if app is not None else weblab._state()
        self.poll_timeout = poll_timeout
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._worker: Any = None
        self.state.app.extensions["weblab_socketio"] = self
        if register_connect and not _has_handler(socketio, "connect", "/"):
            from .socketio import _join_if_logged_in

            socketio.on("connect")(_join_if_logged_in)

    # -- lifecycle ------------------------------------------------------------------------

    def ensure_started(self) -> None:
        """Start the listener once per process (called by the guards on the first event).

        Starting lazily means it runs in the process that serves sockets, after any fork.
        """
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._stop = threading.Event()
            self.ready = threading.Event()
            self._worker = self.socketio.start_background_task(self._listen, self._stop)

    start = ensure_started

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the listener and wait for it (bounded)."""
        self._stop.set()
        worker, self._worker, self._pid = self._worker, None, None
        if isinstance(worker, threading.Thread):
            worker.join(timeout)

    # -- the listener ---------------------------------------------------------------------

    def _listen(self, stop: threading.Event) -> None:
        keys = self.state.keys
        channels = (keys.session_events(), keys.task_progress())
        backoff = 0.5
        while not stop.is_set():
            pubsub = self.state.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(*channels)
                self.ready.set()
                backoff = 0.5
                while not stop.is_set():
                    message = pubsub.get_message(timeout=self.poll_timeout)
                    if message is not None and message.get("type") == "message":
                        self.dispatch(message["channel"], message["data"])
            except redis.ConnectionError:
                logger.warning("Socket.IO push lost Redis; retrying in %.1f s", backoff)
            except Exception:
                logger.exception("Socket.IO push listener failed; retrying in %.1f s", backoff)
            finally:
                try:
                    pubsub.close()
                except Exception:  # the connection is already broken: nothing to release
                    logger.debug("Closing the pub/sub connection failed", exc_info=True)
            self.ready.clear()
            stop.wait(backoff)
            backoff = min(backoff * 2, 30.0)

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
        if channel == self.state.keys.session_events():
            self._session_event(session_id, payload)
        elif channel == self.state.keys.task_progress():
            event = TASK_DONE if payload.get("status") in _FINAL_STATUSES else TASK_PROGRESS
            body = {name: value for name, value in payload.items() if name != "session_id"}
            self.emit_to_session(session_id, event, body)

    def _session_event(self, session_id: str, payload: dict[str, Any]) -> None:
        reason = payload.get("event")
        if reason not in ("logout", "disposed"):
            return
        back = payload.get("back")
        if back is None:
            record = self.state.sessions.load(session_id)
            back = record.back if record is not None else None
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


def _has_handler(socketio: Any, event: str, namespace: str) -> bool:
    server = getattr(socketio, "server", None)
    if server is not None and event in server.handlers.get(namespace, {}):
        return True
    return any(
        message == event and (ns or "/") == namespace
        for message, _handler, ns in getattr(socketio, "handlers", [])
    )
