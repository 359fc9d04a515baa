"""The WebLab object: init_app rules, app factories, hook registration, runtime attributes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.support.lab import AUTH, Lab, base_config, json_of
from weblab_ext import WebLab, WebLabNotInitializedError, create_token, weblab_user
from weblab_ext.extension import weblab_of


def new_app(store_url: str, **config: Any) -> Flask:
    app = Flask(f"ext_{uuid.uuid4().hex[:8]}")
    app.config.update(base_config(store_url))
    app.config.update(config)
    return app


def test_init_app_none() -> None:
    with pytest.raises(ValueError, match="Flask app"):
        WebLab().init_app(None)  # type: ignore[arg-type]


def test_init_app_twice_is_a_no_op(store_url: str) -> None:
    app = new_app(store_url)
    weblab = WebLab(app)
    state = app.extensions["weblab"]
    rules = len(list(app.url_map.iter_rules()))
    weblab.init_app(app)
    assert app.extensions["weblab"] is state
    assert len(list(app.url_map.iter_rules())) == rules


def test_init_app_after_config_change(store_url: str) -> None:
    app = new_app(store_url)
    weblab = WebLab(app)
    app.config["WEBLAB_TIMEOUT"] = 99
    with pytest.raises(ValueError, match="different config"):
        weblab.init_app(app)


def test_second_extension_on_same_app(store_url: str) -> None:
    app = new_app(store_url)
    WebLab(app)
    with pytest.raises(ValueError, match="already installed"):
        WebLab(app)


def test_one_weblab_on_two_apps(store_url: str) -> None:
    weblab = WebLab()
    first, second = new_app(store_url), new_app(store_url, WEBLAB_TIMEOUT=30)
    weblab.init_app(first)
    weblab.init_app(second)
    weblab.initial_url(lambda: "/")
    body = Lab(first, weblab).start_body()
    reply = first.test_client().post("/weblab/sessions/", json=body, headers=AUTH)
    session_id = json_of(reply)["session_id"]
    status = f"/weblab/sessions/{session_id}/status"
    assert first.test_client().get(status, headers=AUTH).json == {"should_finish": 5}
    # The second app has its own store prefix: the session is unknown there.
    assert second.test_client().get(status, headers=AUTH).json == {"should_finish": -1}
    with first.app_context():
        assert weblab.timeout == 15
        weblab.timeout = 1
        assert weblab.timeout == 1
    with second.app_context():
        assert weblab.timeout == 30
    assert weblab_of(first) is weblab_of(second) is weblab


@pytest.mark.parametrize("hook", ["initial_url", "on_start", "on_dispose", "user_loader"])
def test_hooks_register_once(hook: str) -> None:
    weblab = WebLab()

    def func(*args: Any) -> None:
        return None

    assert getattr(weblab, hook)(func) is func
    with pytest.raises(ValueError, match="already"):
        getattr(weblab, hook)(func)


def test_hooks_may_be_registered_before_init_app(store_url: str) -> None:
    weblab = WebLab()
    started: list[Any] = []
    weblab.initial_url(lambda: "/landing")
    weblab.on_start(lambda client, server: started.append(client))
    app = new_app(store_url)
    weblab.init_app(app)
    lab = Lab(app, weblab)
    session_id = lab.start_raw()
    assert started == [{"in_test": True}]
    assert app.test_client().get(f"/callback/{session_id}").location == "/landing"


def test_not_initialized() -> None:
    weblab = WebLab()
    with pytest.raises(WebLabNotInitializedError):
        weblab.timeout  # noqa: B018
    app = Flask("plain")
    with app.test_request_context("/"), pytest.raises(WebLabNotInitializedError):
        weblab_user.active  # noqa: B018


def test_runtime_attributes(lab: Lab) -> None:
    with lab.app.app_context():
        assert (lab.weblab.timeout, lab.weblab.poll_interval) == (15, 5)
        assert lab.weblab.cleaner_thread_interval == 5
        lab.weblab.poll_interval = 3
        lab.weblab.cleaner_thread_interval = 0.1
        assert lab.state.cleaner_interval == 0.1
    assert lab.status(lab.start_raw()) == 3


def test_base_and_callback_urls(store_url: str) -> None:
    app = new_app(store_url, WEBLAB_BASE_URL="/ignored", WEBLAB_CALLBACK_URL="/ignored-too")
    weblab = WebLab(app, callback_url="/enter", base_url="/labs/one")
    weblab.initial_url(lambda: "/")
    client = app.test_client()
    assert client.get("/labs/one/weblab/sessions/api").json == {"api_version": "1"}
    assert client.get("/labs/one/ldl/sessions/api").json == {"api_version": "1"}
    assert client.get("/weblab/sessions/api").status_code == 404
    reply = client.post(
        "/labs/one/weblab/sessions/", json=Lab(app, weblab).start_body(), headers=AUTH
    )
    session_id = json_of(reply)["session_id"]
    assert json_of(reply)["url"] == f"http://localhost:5000/enter/{session_id}"
    assert client.get(f"/enter/{session_id}").status_code == 302


def test_trailing_slash_only_warns(store_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="weblab_ext")
    app = new_app(store_url, WEBLAB_BASE_URL="/base/", WEBLAB_CALLBACK_URL="/cb/")
    WebLab(app)
    assert "'/base/'" in caplog.text
    assert "'/cb/'" in caplog.text


def test_powered_by_header_everywhere_or_off(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    assert lab.app.test_client().get("/nothing-here").headers["powered-by"] == "weblab_ext"
    quiet = make_lab(WEBLAB_POWERED_BY=None)
    assert "powered-by" not in quiet.app.test_client().get("/lab").headers


def test_endpoint_names(lab: Lab) -> None:
    endpoints = {rule.endpoint for rule in lab.app.url_map.iter_rules()}
    assert {
        "weblab._api_version",
        "weblab._test",
        "weblab._start_session",
        "weblab._status",
        "weblab._multiple_status",
        "weblab._dispose_experiment",
        "weblab_callback_url",
        "weblab_poll_url",
        "weblab_logout_url",
    } <= endpoints


def test_create_token() -> None:
    first, second = create_token(), WebLab.create_token()
    assert len(first) == len(second) == 43
    assert first != second
    assert set(first) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def test_threads_start_with_first_request_and_stop(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(
        WEBLAB_NO_THREAD=False,
        WEBLAB_AUTOCLEAN_THREAD=True,
        WEBLAB_TASK_THREADS_PROCESS=0,
        WEBLAB_CLEANER_INTERVAL=0.05,
    )
    assert lab.state.threads.running == []  # nothing at init_app time
    lab.app.test_client().get("/weblab/sessions/api")
    try:
        names = [thread.name for thread in lab.state.threads.running]
        assert names == ["weblab-cleaner", "weblab-health"]  # the health checks beside it
        assert all(thread.is_alive() for thread in lab.state.threads.running)
    finally:
        with lab.app.app_context():
            lab.weblab.stop_threads(2)
    assert lab.state.threads.running == []


def test_no_thread_starts_nothing(lab: Lab) -> None:
    lab.app.test_client().get("/weblab/sessions/api")
    with lab.app.app_context():
        lab.weblab.start_threads()
    assert lab.state.threads.running == []


def test_stopped_threads_stay_stopped_until_started(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(
        WEBLAB_NO_THREAD=False,
        WEBLAB_AUTOCLEAN_THREAD=True,
        WEBLAB_TASK_THREADS_PROCESS=0,
        WEBLAB_CLEANER_INTERVAL=0.05,
    )
    client = lab.app.test_client()
    client.get("/weblab/sessions/api")
    with lab.app.app_context():
        lab.weblab.stop_threads(2)
    client.get("/weblab/sessions/api")  # a later request does not restart them quietly
    assert lab.state.threads.running == []
    with lab.app.app_context():
        lab.weblab.start_threads()
        try:
            names = [thread.name for thread in lab.state.threads.running]
            assert names == ["weblab-cleaner", "weblab-health"]
        finally:
            lab.weblab.stop_threads(2)
    assert lab.state.threads.running == []
