"""A real-time lab: a heated plate whose temperature streams live over Socket.IO.

* a background task streams the (simulated) thermometer to the page twice a second;
* the heater switch is a Socket.IO event guarded by ``socket_requires_active``; the new state
  goes to every socket of the session (each of the student's tabs, in whichever web process);
* "Calibrate" starts a weblab task whose progress bar updates live (``weblab:task-progress``
  and ``weblab:task-done`` pushed by weblab_ext);
* on every (re)connect the page receives the full current state (``state``), so a socket that
  was away (a network gap, a web process restarted) has missed nothing;
* when the session ends (logout, slot over, RLMS dispose) weblab_ext pushes
  ``weblab:session-ended`` and the page goes back to the RLMS at once.

It runs as several web processes as it is: the plate's state lives in the session's
``weblab_user.data`` (the lab's store, which every process shares), and
``FLASK_SOCKETIO_MESSAGE_QUEUE=redis://...`` gives Flask-SocketIO the message queue that lets
an emit in one process reach the sockets held by another (see docs/realtime.md, "Several
processes").

Run it with ``python examples/socketio/app.py`` (see README.md; ``PORT=5001`` serves another
port). Settings can be overridden from the environment with a ``FLASK_`` prefix, e.g.
``FLASK_WEBLAB_REDIS_URL=redis://...``.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
from typing import Any

from flask import Flask, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_socketio import SocketIO, emit
from flask_wtf.csrf import CSRFProtect
from werkzeug.serving import WSGIRequestHandler

from weblab_ext import (
    WebLab,
    current_task,
    current_task_stopping,
    requires_active,
    session_context,
    socket_requires_active,
    weblab_user,
)
from weblab_ext.config import require_secrets
from weblab_ext.errors import StoreUnavailableError
from weblab_ext.socketio import init_socketio

logger = logging.getLogger("socketio_lab")

#: Used in debug mode only (``make demo``, ``--debug``): published here, so a lab running on
#: them is open to anyone. Outside debug mode the lab refuses to start without all three in the
#: environment (FLASK_SECRET_KEY, FLASK_WEBLAB_USERNAME, FLASK_WEBLAB_PASSWORD).
DEVELOPMENT_SECRETS = {
    "SECRET_KEY": "dev-only-secret-key-published-in-weblab-ext",
    "WEBLAB_USERNAME": "weblabdeusto",
    "WEBLAB_PASSWORD": "dev-only-rlms-password",
}

app = Flask(__name__)
app.config.update(
    SESSION_COOKIE_NAME="socketio_lab_session",  # not Flask's "session": see docs/rlms.md
    WEBLAB_TIMEOUT=15,
    # One heated plate: one session at a time, so a second student never switches the heater
    # under the first (the RLMS is told "device-busy"; see docs/devices.md).
    WEBLAB_DEVICES=["heater"],
    SESSION_COOKIE_HTTPONLY=True,
    SESSION_COOKIE_SECURE=not app.debug,  # production is served over HTTPS
)
app.config.from_prefixed_env()  # FLASK_WEBLAB_REDIS_URL=redis://... etc.
require_secrets(app.config, DEVELOPMENT_SECRETS, debug=app.debug)
# The page changes state over Socket.IO (same-origin only: Flask-SocketIO's default
# cors_allowed_origins) and the logout route; CSRFProtect guards any form added later.
CSRFProtect(app)

# threading mode: no eventlet/gevent needed; see docs/realtime.md for the other modes.
# Several web processes: FLASK_SOCKETIO_MESSAGE_QUEUE=redis://... (the lab's own Redis will do)
# lets an emit in one process reach the sockets of another. The channel is this lab's, so that
# labs sharing one Redis never receive each other's events.
socketio = SocketIO(
    app,
    async_mode="threading",
    message_queue=app.config.get("SOCKETIO_MESSAGE_QUEUE"),
    channel=f"flask-socketio:{app.config.get('WEBLAB_REDIS_BASE', 'lab')}",
)
weblab = WebLab(app)
push = init_socketio(socketio, weblab)


class Plate:
    """The simulated hardware: a plate with a heater and a thermometer.

    Its state is three values kept in the session's ``weblab_user.data`` (in the lab's store,
    which every web process shares): whether the heater is on, since when, and the temperature
    then. The temperature at any moment follows from them (it drifts towards the target), so
    every process computes the same reading.
    """

    AMBIENT = 21.0
    HOT = 60.0
    #: Seconds the plate takes to cover 63 % of the way to its target.
    TAU = 5.0

    def initial(self, now: float) -> dict[str, Any]:
        return {"heater": False, "since": now, "from": self.AMBIENT}

    def temperature(self, state: Any, now: float) -> float:
        target = self.HOT if state.get("heater") else self.AMBIENT
        start = float(state.get("from", self.AMBIENT))
        elapsed = max(0.0, now - float(state.get("since", now)))
        return target + (start - target) * math.exp(-elapsed / self.TAU)

    def read(self, state: Any, now: float) -> float:
        """One reading: the plate's temperature plus sensor noise."""
        return round(self.temperature(state, now) + random.uniform(-0.2, 0.2), 2)

    def switch(self, state: Any, on: bool, now: float) -> dict[str, Any]:
        """The state after turning the heater on or off at ``now``."""
        return {"heater": on, "since": now, "from": self.temperature(state, now)}


plate = Plate()
#: Ids of the sessions whose clean-up ran in this process, in order (the demo and tests).
disposed_sessions: list[str] = []
#: Set it to stop the sensor stream (tests do, when they are done with this app).
stop_stream = threading.Event()
#: This process's own sockets (socket id -> lab session id), which its sensor stream feeds.
#: Everything else is in the store.
local_sockets: dict[str, str] = {}
_local_lock = threading.Lock()
_stream_started = threading.Lock()
_stream_running = False


def reading_of(session_id: str) -> dict[str, Any] | None:
    """The plate's reading for an active session, from its stored state."""
    with app.app_context(), session_context(session_id):
        if not weblab_user.active:
            return None
        state = weblab_user.data
    now = time.time()
    return {"t": now, "temperature": plate.read(state, now), "heater": bool(state["heater"])}


def _stream_sensor() -> None:
    while not stop_stream.wait(0.5):
        with _local_lock:
            sessions = set(local_sockets.values())
        for session_id in sessions:
            try:
                reading = reading_of(session_id)
            except StoreUnavailableError:
                continue  # the page was told (weblab:store-unavailable); next tick retries
            if reading is not None:
                # Only to this process's sockets: every process streams to its own, so each
                # socket gets each reading once, however many processes share the queue.
                socketio.emit("sensor", reading, to=session_id, ignore_queue=True)


def ensure_stream() -> None:
    """Start the sensor stream once, with the first student (never at import time)."""
    global _stream_running
    with _stream_started:
        if not _stream_running:
            _stream_running = True
            socketio.start_background_task(_stream_sensor)


# -- lab hooks ----------------------------------------------------------------------------


@weblab.initial_url
def initial_url() -> str:
    return url_for("lab")


@weblab.on_start
def on_start(client_data: Any, server_data: Any) -> dict[str, Any]:
    logger.info("Session starts for %s", weblab_user.username)
    return {**plate.initial(time.time()), "calibrations": []}


@weblab.on_dispose
def on_dispose() -> None:
    disposed_sessions.append(weblab_user.session_id)
    logger.info("Session of %s disposed", weblab_user.username)


@weblab.task(unique="user")
def calibrate(steps: int = 10) -> dict[str, Any]:
    """Measure the plate ``steps`` times; each step is published as progress."""
    errors = []
    for step in range(steps):
        if current_task_stopping:
            break
        now, state = time.time(), weblab_user.data
        errors.append(plate.read(state, now) - plate.temperature(state, now))  # sensor error
        time.sleep(0.2)
        current_task.data["progress"] = int(100 * (step + 1) / steps)
        current_task.store()  # pushed to the page as weblab:task-progress
    offset = round(sum(errors) / max(1, len(errors)), 3)
    return {"offset": offset, "readings": len(errors)}


def full_state() -> dict[str, Any]:
    """Everything the page shows, as it is now (sent on every connect and reconnect)."""
    data, now = weblab_user.data, time.time()
    task = weblab.get_task(calibrate)
    calibration = None
    if task is not None:
        calibration = {
            "task_id": task.task_id,
            "status": task.status,
            "progress": (task.data or {}).get("progress", 0),
            "result": task.result,
            "error": task.error,
        }
    return {
        "heater": bool(data["heater"]),
        "temperature": plate.read(data, now),
        "time_left": int(weblab_user.time_left),
        "calibration": calibration,
    }


# -- HTTP ---------------------------------------------------------------------------------


@app.route("/lab")
@requires_active
def lab() -> ResponseReturnValue:
    return render_template("lab.html", heater=weblab_user.data.get("heater", False))


@app.route("/demo-back")
def demo_back() -> ResponseReturnValue:
    """Stands in for the RLMS page students return to (used by the demo and the tests)."""
    return "<!doctype html><title>Back</title><h1 id='back'>Back at the RLMS</h1>"


# -- Socket.IO ----------------------------------------------------------------------------


@socketio.on("connect")
@socket_requires_active
def on_connect() -> None:
    """Only active students connect; the guard also puts the socket in its session's room.

    Every connect, the first or a reconnect (after a network gap, or to a restarted web
    process), gets the full current state: what was pushed while the socket was away is lost,
    so the page redraws from this.
    """
    with _local_lock:
        local_sockets[request.sid] = weblab_user.session_id
    ensure_stream()
    emit("state", full_state())


@socketio.on("disconnect")
def on_disconnect(reason: Any = None) -> None:
    with _local_lock:
        local_sockets.pop(request.sid, None)


@socketio.on("heater")
@socket_requires_active
def on_heater(message: Any) -> None:
    on = bool(message.get("on")) if isinstance(message, dict) else False
    weblab_user.data.update(plate.switch(weblab_user.data, on, time.time()))  # stored by the guard
    # To every socket of the session (the student's other tabs too, in any web process).
    emit("heater", {"on": on}, to=weblab_user.session_id)


@socketio.on("calibrate")
@socket_requires_active
def on_calibrate() -> dict[str, Any]:
    task = calibrate.delay(10)
    return {"task_id": task.task_id}


class DevRequestHandler(WSGIRequestHandler):
    """The development server's connection handler, for WebSockets.

    python-engineio ends a WebSocket on the development server by raising ConnectionError,
    which Werkzeug takes for a dropped connection; but it then keeps the connection open and
    reads the client's late closing frame as a new HTTP request ("code 400, message Bad
    request syntax" in the log). A dropped connection is closed here instead.
    """

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        self.close_connection = True


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    # use_debugger=False: in debug mode Werkzeug's interactive debugger would wrap the
    # Socket.IO server too, and take the ConnectionError with which python-engineio hands a
    # finished WebSocket back to the development server for an error: a 500 and a traceback
    # in the log each time a socket closes. Errors in views still log their traceback.
    socketio.run(
        app,
        host="127.0.0.1",
        port=int(os.environ.get("PORT", "5000")),
        allow_unsafe_werkzeug=True,
        use_debugger=False,
        request_handler=DevRequestHandler,
    )
