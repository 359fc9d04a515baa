"""A complete test file for a lab, using the weblab_ext pytest plugin (docs/testing.md).

In a real project ``create_app`` lives in the lab package and ``weblab_app`` in conftest.py;
both are here so that this file runs on its own: ``pytest docs/example_test_lab.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, jsonify, url_for

from weblab_ext import WebLab, requires_active, requires_login, weblab_user

# -- the lab (normally imported: from mylab import create_app) -------------------------------

weblab = WebLab()
switched_off: list[str] = []


@weblab.initial_url
def initial_url() -> str:
    return url_for("lab")


@weblab.on_start
def on_start(client_data: Any, server_data: Any) -> dict[str, Any]:
    return {"light": False}


@weblab.on_dispose
def on_dispose() -> None:
    switched_off.append(weblab_user.session_id)


@weblab.task()
def blink(times: int) -> int:
    return times * 2


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(
        {"SECRET_KEY": "dev", "WEBLAB_USERNAME": "rlms", "WEBLAB_PASSWORD": "secret"}
    )
    app.config.update(config or {})  # the test's overrides win, and come before init_app
    weblab.init_app(app)

    @app.route("/lab")
    @requires_active
    def lab() -> str:
        return f"Hello {weblab_user.username}"

    @app.route("/light/<state>", methods=["POST"])
    @requires_active
    def light(state: str) -> Any:
        weblab_user.data["light"] = state == "on"
        task = blink.delay(3)
        return jsonify(light=weblab_user.data["light"], task=task.task_id)

    @app.route("/task/<task_id>")
    @requires_login
    def task_status(task_id: str) -> Any:
        task = weblab.get_task(task_id)
        return jsonify(done=task.done, result=task.result)

    return app


# -- conftest.py ------------------------------------------------------------------------------


@pytest.fixture
def weblab_app(weblab_config: dict[str, Any]) -> Flask:
    return create_app(weblab_config)


# -- the tests --------------------------------------------------------------------------------


def test_student_sees_the_lab(student: Any) -> None:
    assert student.landing.status_code == 302
    assert student.get("/lab").get_data(as_text=True) == "Hello john"


@pytest.mark.weblab_profiles
def test_every_rlms_can_run_a_session(weblab_lab: Any, rlms: Any, rlms_profile: str) -> None:
    student = weblab_lab.student(rlms, username="ana", slot_length=60)
    assert student.get("/lab").status_code == 200
    assert student.status() > 0
    student.logout()
    trace = rlms.run_status_loop(student.session_id, max_calls=5)
    assert trace.reason == "dispose" and trace.dispose.finished
    assert switched_off.count(student.session_id) == 1


@pytest.mark.weblab_eager_tasks
def test_tasks_run_after_each_request(student: Any) -> None:
    task_id = student.post("/light/on").json["task"]
    assert student.get(f"/task/{task_id}").json == {"done": True, "result": 6}
    assert student.user().data["light"] is True


def test_tasks_run_when_asked(weblab_lab: Any, student: Any) -> None:
    task_id = student.post("/light/on").json["task"]
    assert student.get(f"/task/{task_id}").json["done"] is False
    assert weblab_lab.run_tasks() == 1
    assert student.get(f"/task/{task_id}").json == {"done": True, "result": 6}


def test_slot_end_disposes(weblab_lab: Any, rlms: Any) -> None:
    student = weblab_lab.student(rlms, slot_length=60, start=rlms.now() - 120)
    assert student.get("/lab").status_code != 200
    assert student.status() == -1
    assert student.dispose().finished
    assert switched_off.count(student.session_id) == 1
