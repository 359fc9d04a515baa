"""The ``WebLab`` object of the lab, its lifecycle hooks and its background tasks."""

from __future__ import annotations

import logging
from typing import Any

from flask import url_for

from weblab_ext import WebLab, current_task, current_task_stopping, weblab_user

from . import students
from .hardware import slider

logger = logging.getLogger("mylab")

# Created without an app: create_app() calls weblab.init_app(app) (app factory pattern).
weblab = WebLab()

#: Ids of the sessions whose clean-up ran, in order (tests check that it ran once).
disposed_sessions: list[str] = []


@weblab.initial_url
def initial_url() -> str:
    return url_for("mylab.lab")


@weblab.user_loader
def load_student(username_unique: str) -> students.Student | None:
    """What ``weblab_user.user`` returns: the lab's own record of the student."""
    return students.get(username_unique)


@weblab.on_start
def on_start(client_data: Any, server_data: Any) -> dict[str, Any]:
    students.record_visit(weblab_user.username_unique)
    slider.power_on()
    logger.info("%s starts (%s s)", weblab_user.username, int(weblab_user.time_left))
    return {"moves": 0}


@weblab.on_dispose
def on_dispose() -> None:
    # Runs exactly once per session, whoever ends it (logout, slot over, RLMS, timeout); the
    # session's tasks are stopped and waited for right after it.
    slider.power_off()
    disposed_sessions.append(weblab_user.session_id)
    logger.info("%s is done after %s moves", weblab_user.username, weblab_user.data["moves"])


@weblab.task(unique="global")
def move(target: int) -> dict[str, Any]:
    """Move the slider to ``target`` mm, publishing the progress after every step.

    ``unique="global"``: a second move while one runs fails at once (one motor).
    """
    start = slider.position
    distance = max(1, abs(int(target) - start))

    def on_step(position: int, steps: int) -> None:
        current_task.data.update(position=position, progress=int(100 * steps / distance))
        current_task.store()

    final = slider.move_to(target, on_step=on_step, should_stop=lambda: current_task_stopping)
    students.record_position(weblab_user.username_unique, final)
    # Tasks store the user's data themselves: there is no response to do it for them.
    weblab_user.data["moves"] = weblab_user.data.get("moves", 0) + 1
    weblab_user.data.store()
    return {"position": final}
