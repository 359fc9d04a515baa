"""The shipped harness's raw RLMS requests: what a lab author sends when an RLMS client would
not (a body of their own, a browser on a session started by hand), under any URL prefix."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask import Flask, url_for

from weblab_ext import WebLab, requires_active, weblab_user
from weblab_ext.testing.harness import LabUnderTest, isolated_config


def make_app(**config: Any) -> Flask:
    app = Flask("harness_lab")
    app.config.update(SECRET_KEY="s", WEBLAB_USERNAME="rlms", WEBLAB_PASSWORD="rlms-pass")
    app.config.update(isolated_config(), **config)
    weblab = WebLab(app)

    @weblab.initial_url
    def initial_url() -> str:
        return url_for("lab")

    @app.route("/lab")
    @requires_active
    def lab() -> str:
        return f"lab of {weblab_user.username}"

    return app


@pytest.fixture
def prefixed() -> Any:
    lab = LabUnderTest(make_app(WEBLAB_BASE_URL="/labs/one", WEBLAB_CALLBACK_URL="/go"))
    yield lab
    lab.close()


def test_a_raw_session_from_start_to_dispose_under_prefixes(prefixed: LabUnderTest) -> None:
    session_id = prefixed.start_raw(server={"request.username": "ana"})
    browser = prefixed.browser(session_id)
    assert browser.get("/lab").get_data(as_text=True) == "lab of ana"
    assert prefixed.status(session_id) > 0
    assert prefixed.dispose(session_id)["message"] == "Deleted"
    assert prefixed.status(session_id) == -1


def test_browser_is_one_client_per_session(prefixed: LabUnderTest) -> None:
    session_id = prefixed.start_raw()
    assert prefixed.browser(session_id) is prefixed.browser(session_id)


def test_start_body_overrides(prefixed: LabUnderTest) -> None:
    body = prefixed.start_body(back="", server={"request.locale": "en"})
    assert body["back"] == ""
    assert body["server_initial_data"]["request.locale"] == "en"
    assert body["server_initial_data"]["request.username"] == "john.smith"


def test_raw_requests_carry_the_apps_credentials(prefixed: LabUnderTest) -> None:
    encoded = prefixed.rlms_headers["Authorization"].removeprefix("Basic ")
    assert base64.b64decode(encoded) == b"rlms:rlms-pass"
    reply = prefixed.test_client().post(
        "/labs/one/weblab/sessions/", json=prefixed.start_body(), headers={}
    )
    assert reply.status_code == 401


def test_start_raw_and_browser_say_what_the_lab_answered(prefixed: LabUnderTest) -> None:
    with pytest.raises(AssertionError, match="server_initial_data"):
        prefixed.start_raw(server_initial_data="not a dict")
    with pytest.raises(AssertionError):
        prefixed.browser("no-such-session")
