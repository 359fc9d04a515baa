"""A small lab built by an app factory, as the testing guide (docs/testing.md) shows it."""

from flask import Flask, jsonify, url_for

from weblab_ext import WebLab, requires_active, requires_login, weblab_user

weblab = WebLab()


@weblab.initial_url
def initial_url():
    return url_for("lab")


@weblab.on_start
def start(client_data, server_data):
    return {"light": False}


@weblab.task()
def blink(times):
    return times * 2


def create_app(config=None):
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="change-me", WEBLAB_USERNAME="weblabdeusto", WEBLAB_PASSWORD="change-me-too"
    )
    app.config.update(config or {})  # the test's overrides last, before init_app
    weblab.init_app(app)

    @app.route("/lab")
    @requires_active
    def lab():
        return f"Hello {weblab_user.full_name}"

    @app.route("/light/on", methods=["POST"])
    @requires_active
    def light_on():
        weblab_user.data["light"] = True
        return jsonify(task=blink.delay(3).task_id)

    @app.route("/task/<task_id>")
    @requires_login
    def task_status(task_id):
        task = weblab.get_task(task_id)
        return jsonify(done=task.done, result=task.result)

    return app
