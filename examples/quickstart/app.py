"""The lab built step by step in docs/quickstart.md (this file is its final listing)."""

from __future__ import annotations

import time

from flask import Flask, abort, jsonify, redirect, render_template, url_for
from flask_wtf.csrf import CSRFProtect

from weblab_ext import WebLab, current_task, logout, requires_active, requires_login, weblab_user
from weblab_ext.config import require_secrets

# Published here, so used in debug mode only (`flask run --debug`); in production they come
# from the environment (FLASK_SECRET_KEY=... etc.) and the lab refuses to start without them.
DEVELOPMENT_SECRETS = {
    "SECRET_KEY": "dev-only-secret-key-published-in-weblab-ext",  # signs the student's cookie
    "WEBLAB_USERNAME": "weblabdeusto",  # the RLMS's credentials
    "WEBLAB_PASSWORD": "dev-only-rlms-password",
}

app = Flask(__name__)
app.config.update(
    SESSION_COOKIE_NAME="quickstart_lab_session",  # not "session": the RLMS may share the host
    SESSION_COOKIE_HTTPONLY=True,
    SESSION_COOKIE_SECURE=not app.debug,
)
app.config.from_prefixed_env()  # e.g. FLASK_WEBLAB_REDIS_URL=redis://localhost:6379/0
require_secrets(app.config, DEVELOPMENT_SECRETS, debug=app.debug)
CSRFProtect(app)  # forms send {{ csrf_token() }}, scripts the X-CSRFToken header
weblab = WebLab(app)


@weblab.initial_url
def initial_url():
    return url_for("lab")


@weblab.on_start
def start(client_data, server_data):
    app.logger.info("Power on for %s", weblab_user.username)
    return {"presses": 0}  # becomes weblab_user.data


@weblab.on_dispose
def dispose():
    app.logger.info(
        "Power off; %s pressed %s times", weblab_user.username, weblab_user.data["presses"]
    )


@weblab.task()
def measure(samples):
    total = 0
    for sample in range(samples):
        time.sleep(0.1)  # a slow instrument
        total += sample
        current_task.data["done"] = sample + 1
        current_task.store()
    return {"average": total / samples}


@app.route("/lab")
@requires_active
def lab():
    return render_template("lab.html")


@app.route("/press", methods=["POST"])
@requires_active
def press():
    weblab_user.data["presses"] += 1  # saved at the end of the request
    return redirect(url_for("lab"))


@app.route("/measure", methods=["POST"])
@requires_active
def start_measure():
    task = measure.delay(5)
    return jsonify(task_id=task.task_id)


@app.route("/measure/<task_id>")
@requires_active
def measure_status(task_id):
    task = weblab.get_task(task_id)  # None for other students' tasks
    if task is None:
        abort(404)
    return jsonify(status=task.status, data=dict(task.data or {}), result=task.result)


@app.route("/leave", methods=["POST"])
@requires_login
def leave():
    back = weblab_user.back  # "" when the RLMS gave none: /lab then says the session ended
    logout()  # the RLMS learns it at its next status call and disposes the session
    return redirect(back or url_for("lab"))
