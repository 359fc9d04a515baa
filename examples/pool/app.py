"""A pool of three identical boards served by one lab app (``WEBLAB_DEVICES``).

* each board is its own RLMS resource: ``<base>/devices/board-1``, ``board-2``, ``board-3``;
* a session holds one board (``weblab_user.device``); a start on a board still being cleaned
  up is refused, so the next student never gets a board in use;
* the student's page shows the state of *their* board (four LEDs and a counter);
* ``self_test`` is ``unique="global"``: one at a time per board, each board independently;
* ``board_ok(device)`` is a health check per board: ``<base>/devices/board-2/weblab/health``;
* the board's LEDs are pushed to the student's page over Socket.IO, to the session's room:
  with ``FLASK_SOCKETIO_MESSAGE_QUEUE=redis://...`` several web and worker processes share
  the pushes (a self-test running in one process reaches a page connected to another).

Run it with ``FLASK_DEBUG=1 python examples/pool/app.py`` and start a session on a board with
``flask --app examples/pool/app.py --debug weblab fake new --device board-2``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Flask, abort, jsonify, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_socketio import SocketIO
from flask_wtf.csrf import CSRFProtect

from weblab_ext import WebLab, current_task, logout, requires_active, requires_login, weblab_user
from weblab_ext.config import require_secrets
from weblab_ext.socketio import init_socketio, session_room

#: Used in debug mode only: published here, so a lab running on them is open to anyone.
DEVELOPMENT_SECRETS = {
    "SECRET_KEY": "dev-only-secret-key-published-in-weblab-ext",
    "WEBLAB_USERNAME": "weblabdeusto",
    "WEBLAB_PASSWORD": "dev-only-rlms-password",
}

app = Flask(__name__)
app.config.update(
    SESSION_COOKIE_NAME="pool_lab_session",  # not "session": the RLMS may share the host
    SESSION_COOKIE_HTTPONLY=True,
    SESSION_COOKIE_SECURE=not app.debug,
    WEBLAB_DEVICES=["board-1", "board-2", "board-3"],
)
app.config.from_prefixed_env()  # e.g. FLASK_WEBLAB_REDIS_URL=redis://localhost:6379/0
require_secrets(app.config, DEVELOPMENT_SECRETS, debug=app.debug)
CSRFProtect(app)
# One message queue for every process of the lab: a push from any process (a web process
# handling a request, a task running elsewhere) reaches the process holding the socket.
socketio = SocketIO(
    app, async_mode="threading", message_queue=app.config.get("SOCKETIO_MESSAGE_QUEUE")
)
weblab = WebLab(app)
push = init_socketio(socketio, weblab)


class Board:
    """One simulated board: four LEDs, a press counter, power."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.leds = [False] * 4
        self.presses = 0
        self.powered = False
        self.connected = True  # set False to see its health URL fail
        self.resets = 0
        self.lock = threading.Lock()

    def power(self, on: bool) -> None:
        with self.lock:
            self.powered, self.leds, self.presses = on, [False] * 4, 0

    def toggle(self, led: int) -> None:
        with self.lock:
            self.leds[led] = not self.leds[led]
            self.presses += 1

    def set_leds(self, leds: list[bool]) -> None:
        with self.lock:
            self.leds = list(leds)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"board": self.name, "leds": list(self.leds), "presses": self.presses}


def push_board(snapshot: dict[str, Any]) -> None:
    """Send a board's state to the page of the session holding it (whatever the process)."""
    socketio.emit("board", snapshot, to=session_room(weblab_user.session_id))


#: The hardware, one object per declared device (a real lab opens a serial port per board).
boards = {name: Board(name) for name in weblab.state().settings.devices}


@weblab.initial_url
def initial_url() -> str:
    return url_for("lab")


@weblab.on_start
def start(client_data: Any, server_data: Any) -> None:
    boards[weblab_user.device].power(True)  # the board this session holds


@weblab.on_dispose
def dispose() -> None:
    boards[weblab_user.device].power(False)


@weblab.on_reset
def reset(device: str) -> None:
    """Bring a board to its safe state with no session: run when the lab first sees it (or
    the store lost it), after a clean-up that failed, and when an operator asks."""
    boards[device].power(False)
    boards[device].resets += 1


@weblab.health_check
def board_ok(device: str) -> bool:
    """Asked at ``<base>/devices/<device>/weblab/health``, for that board only."""
    return boards[device].connected


@weblab.task(unique="global")  # on a pool: one self-test at a time on each board
def self_test() -> dict[str, Any]:
    """Light the board's LEDs one by one; each step is pushed to the student's page."""
    board = boards[weblab_user.device]
    for led in range(4):
        board.set_leds([index <= led for index in range(4)])
        push_board({**board.snapshot(), "step": led + 1})
        current_task.data["done"] = led + 1
        current_task.store()  # also pushed, as weblab:task-progress
        time.sleep(0.05)
    return {"board": board.name, "ok": True}


@app.route("/lab")
@requires_active
def lab() -> ResponseReturnValue:
    return render_template("lab.html", board=boards[weblab_user.device].snapshot())


@app.route("/board")
@requires_active
def board_state() -> ResponseReturnValue:
    return jsonify(boards[weblab_user.device].snapshot())


@app.route("/toggle/<int:led>", methods=["POST"])
@requires_active
def toggle(led: int) -> ResponseReturnValue:
    if not 0 <= led < 4:
        abort(404)
    board = boards[weblab_user.device]
    board.toggle(led)
    push_board(board.snapshot())
    return redirect(url_for("lab"))


@app.route("/self-test", methods=["POST"])
@requires_active
def start_self_test() -> ResponseReturnValue:
    task = self_test.delay()
    return jsonify(task_id=task.task_id, status=task.status)


@app.route("/leave", methods=["POST"])
@requires_login
def leave() -> ResponseReturnValue:
    back = weblab_user.back
    logout()
    return redirect(back or url_for("lab"))


if __name__ == "__main__":
    import os

    port = int(os.environ.get("PORT", "5000"))
    socketio.run(app, host="127.0.0.1", port=port, allow_unsafe_werkzeug=True)
