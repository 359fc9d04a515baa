"""The smallest useful lab: one file, one light bulb, no JavaScript framework.

Run it with ``flask --app examples/simple/app.py run --debug`` and start a session with
``flask --app examples/simple/app.py weblab fake new`` (see README.md). Any setting can be
overridden from the environment with a ``FLASK_`` prefix, e.g.
``FLASK_WEBLAB_REDIS_URL=redis://localhost:6379/0``. Outside debug mode the secrets must come
from the environment: ``FLASK_SECRET_KEY``, ``FLASK_WEBLAB_USERNAME``, ``FLASK_WEBLAB_PASSWORD``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, redirect, render_template_string, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect

from weblab_ext import WebLab, logout, requires_active, requires_login, weblab_user
from weblab_ext.config import require_secrets

logger = logging.getLogger("simple_lab")

#: Used in debug mode only. They are published here, so a lab running on them is open to
#: anyone: in production the lab refuses to start unless the environment sets all three.
DEVELOPMENT_SECRETS = {
    "SECRET_KEY": "dev-only-secret-key-published-in-weblab-ext",  # signs the student's cookie
    "WEBLAB_USERNAME": "weblabdeusto",  # what the RLMS sends in its Basic auth header
    "WEBLAB_PASSWORD": "dev-only-rlms-password",
}

app = Flask(__name__)
app.config.update(
    # Flask's default cookie name ("session") would clash with an RLMS on the same host.
    SESSION_COOKIE_NAME="simple_lab_session",
    WEBLAB_TIMEOUT=15,  # seconds without news from the browser before the student is gone
    # One light bulb: one session at a time, so a second student never switches it under the
    # first (the RLMS is told the device is busy; see docs/devices.md).
    WEBLAB_DEVICES=["light"],
    SESSION_COOKIE_HTTPONLY=True,  # page scripts never read the session cookie
    SESSION_COOKIE_SECURE=not app.debug,  # production is HTTPS (FLASK_SESSION_COOKIE_SECURE=false)
)
app.config.from_prefixed_env()  # FLASK_SECRET_KEY=..., FLASK_WEBLAB_TIMEOUT=2 etc.
require_secrets(app.config, DEVELOPMENT_SECRETS, debug=app.debug)
csrf = CSRFProtect(app)  # every POST of the lab's pages carries the form's csrf_token
weblab = WebLab(app)

#: The "hardware": one light bulb. A real lab would talk to a device here.
LIGHT = {"on": False}
#: Ids of the sessions whose clean-up ran, in order (the demo prints them; tests check them).
disposed_sessions: list[str] = []


@weblab.initial_url
def initial_url() -> str:
    """Where the student lands after the RLMS sends them to the lab."""
    return url_for("lab")


@weblab.on_start
def on_start(client_data: Any, server_data: Any) -> dict[str, Any]:
    """Prepare the hardware; the returned dict becomes ``weblab_user.data``."""
    logger.info("Session starts for %s", weblab_user.username)
    LIGHT["on"] = False
    return {"switches": 0}


@weblab.on_dispose
def on_dispose() -> None:
    """Leave the hardware as the next student expects it, whatever happened."""
    logger.info(
        "Session over for %s after %s switches",
        weblab_user.username,
        weblab_user.data.get("switches"),
    )
    LIGHT["on"] = False
    disposed_sessions.append(weblab_user.session_id)


PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Light lab</title></head>
<body>
  <h1>Light lab</h1>
  <p id="welcome">Hello {{ weblab_user.full_name }}; <span id="time-left">{{
    weblab_user.time_left | int }}</span> seconds left.</p>
  <p>The light is <strong id="light">{{ "on" if light else "off" }}</strong>
     (switched <span id="switches">{{ weblab_user.data.switches }}</span> times).</p>
  <form method="post" action="{{ url_for('switch') }}">
    <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
    <button id="switch" type="submit">Switch {{ "off" if light else "on" }}</button>
  </form>
  <form method="post" action="{{ url_for('leave') }}">
    <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
    <button id="logout" type="submit">Leave the lab</button>
  </form>
  {# Keeps the session alive while the page is open; when it ends, lab.js says so and the
     script takes the student back to the RLMS (weblab_user.back). #}
  {{ weblab_poll_script(callback="weblabSessionOver") }}
  <script src="{{ url_for('static', filename='lab.js') }}"></script>
</body>
</html>
"""


@app.route("/lab")
@requires_active
def lab() -> ResponseReturnValue:
    """The lab page (active students only)."""
    return render_template_string(PAGE, light=LIGHT["on"])


@app.route("/lab/switch", methods=["POST"])
@requires_active
def switch() -> ResponseReturnValue:
    """Toggle the light; the change of ``weblab_user.data`` is stored with the response."""
    LIGHT["on"] = not LIGHT["on"]
    weblab_user.data["switches"] = weblab_user.data.get("switches", 0) + 1
    return redirect(url_for("lab"))


@app.route("/lab/logout", methods=["POST"])
@requires_login
def leave() -> ResponseReturnValue:
    """Leave before the slot ends: the RLMS disposes the session at its next status call."""
    back = weblab_user.back
    logout()
    return redirect(back or url_for("lab"))


@app.route("/demo-back")
def demo_back() -> ResponseReturnValue:
    """Stands in for the RLMS page students return to (used by the demo and the tests)."""
    return "<!doctype html><title>Back</title><h1 id='back'>Back at the RLMS</h1>"
