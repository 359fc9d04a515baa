"""The lab's pages and the JSON API its page polls."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from weblab_ext import logout, requires_active, requires_login, weblab_user

from .hardware import MAX_POSITION, slider
from .lab import move, weblab

bp = Blueprint(
    "mylab",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/mylab-static",
)


@bp.route("/lab")
@requires_active
def lab() -> ResponseReturnValue:
    return render_template(
        "lab.html", student=weblab_user.user, position=slider.position, max_position=MAX_POSITION
    )


@bp.route("/api/move", methods=["POST"])
@requires_active
def start_move() -> ResponseReturnValue:
    target = request.get_json(silent=True) or {}
    try:
        position = int(target.get("position"))
    except (TypeError, ValueError):
        return jsonify(error="position must be a whole number of millimetres"), 400
    task = move.delay(position)
    return jsonify(task_id=task.task_id), 202


@bp.route("/api/tasks/<task_id>")
@requires_login
def task_status(task_id: str) -> ResponseReturnValue:
    """Progress of one of this student's tasks (other sessions' ids are not found)."""
    task = weblab.get_task(task_id)
    if task is None:
        abort(404)
    return jsonify(
        task_id=task.task_id,
        status=task.status,
        data=dict(task.data or {}),
        result=task.result,
        error=task.error,
    )


@bp.route("/lab/logout", methods=["POST"])
@requires_login
def leave() -> ResponseReturnValue:
    back = weblab_user.back
    logout()
    return redirect(back or url_for("mylab.lab"))


@bp.route("/demo-back")
def demo_back() -> ResponseReturnValue:
    """Stands in for the RLMS page students return to (used by the demo and the tests)."""
    return "<!doctype html><title>Back</title><h1 id='back'>Back at the RLMS</h1>"
