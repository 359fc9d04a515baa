"""A real-time lab: a heated plate whose temperature streams live over Socket.IO.

* a background task streams the (simulated) thermometer to the page twice a second;
* the heater switch is a Socket.IO event guarded by ``socket_requires_active``;
* "Calibrate" starts a weblab task whose progress bar updates live (``weblab:task-progress``
  and ``weblab:task-done`` pushed by weblab_ext);
* when the session ends (logout, slot over, RLMS dispose) weblab_ext pushes
  ``weblab:session-ended`` and the page goes back to the RLMS at once.

Run it with ``python examples/socketio/app.py`` (see README.md). Settings can be overridden
from the environment with a ``FLASK_`` prefix, e.g. ``FLASK_WEBLAB_REDIS_URL=redis://...``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any

from flask import Flask, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_socketio import SocketIO, emit
from flask_wtf.csrf import CSRFProtect

from weblab_ext import (
    WebLab,
    current_task,
    current_task_stopping,
    requires_active,
    socket_requires_active,
    weblab_user,
)
from weblab_ext.config import require_secrets
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
socketio = SocketIO(app, async_mode="threading")
weblab = WebLab(app)
push = init_socketio(socketio, weblab)


class Plate:
    """The simulated hardware: a plate with a heater and a thermometer."""

    AMBIENT = 21.0
    HOT = 60.0

    def __init__(self) -> None:
        self.heater = False
        self.offset = 0.0
        self.temperature = self.AMBIENT
        self._lock = threading.Lock()

    def read(self) -> float:
        """One reading: the plate drifts towards its target, plus sensor noise."""
        with self._lock:
            target = self.HOT if self.heater else self.AMBIENT
            self.temperature += (target - self.temperature) * 0.1
            return round(self.temperature + self.offset + random.uniform(-0.2, 0.2), 2)

    def reset(self) -> None:
        with self._lock:
            self.heater = False


plate = Plate()
#: Ids of the sessions whose clean-up ran, in order (the demo prints them; tests check them).
disposed_sessions: list[str] = []
#: Set it to stop the sensor stream (tests do, when they are done with this app).
stop_stream = threading.Event()
_stream_started = threading.Lock()
_stream_running = False


def _stream_sensor() -> None:
    while not stop_stream.wait(0.5):
        socketio.emit(
            "sensor", {"t": time.time(), "temperature": plate.read(), "heater": plate.heater}
        )


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
    plate.reset()
    return {"heater": False, "calibrations": []}


@weblab.on_dispose
def on_dispose() -> None:
    plate.reset()
    disposed_sessions.append(weblab_user.session_id)
    logger.info("Session of %s disposed", weblab_user.username)


@weblab.task(unique="user")
def calibrate(steps: int = 10) -> dict[str, Any]:
    """Measure the plate ``steps`` times; each step is published as progress."""
    errors = []
    for step in range(steps):
        if current_task_stopping:
            break
        errors.append(plate.read() - plate.temperature)  # sensor error against the truth
        time.sleep(0.2)
        current_task.data["progress"] = int(100 * (step + 1) / steps)
        current_task.store()  # pushed to the page as weblab:task-progress
    offset = round(sum(errors) / max(1, len(errors)), 3)
    return {"offset": offset, "readings": len(errors)}


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
    """Only active students connect; the guard also puts the socket in its session's room."""
    ensure_stream()
    emit("heater", {"on": plate.heater})


@socketio.on("heater")
@socket_requires_active
def on_heater(message: dict[str, Any]) -> None:
    plate.heater = bool(message.get("on"))
    weblab_user.data["heater"] = plate.heater  # stored by the guard after this handler
    emit("heater", {"on": plate.heater})


@socketio.on("calibrate")
@socket_requires_active
def on_calibrate() -> dict[str, Any]:
    task = calibrate.delay(10)
    return {"task_id": task.task_id}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    socketio.run(app, host="127.0.0.1", port=5000, allow_unsafe_werkzeug=True)
