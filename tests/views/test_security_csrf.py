"""Cross-site requests: the lab cookie is SameSite=Lax unless the app chose, and weblab_ext's
own routes work under Flask-WTF's CSRFProtect (the examples use it for theirs).

A cross-site form used to switch the simple example's light and log the student out.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable

import pytest
from flask import Flask

from tests.support.lab import USERNAME, Lab, base_config, json_of
from weblab_ext import WebLab, requires_active

flask_wtf = pytest.importorskip("flask_wtf.csrf")


@pytest.mark.parametrize(
    ("chosen", "sent"), [(None, "Lax"), ("Strict", "Strict"), ("None", "None"), ("Lax", "Lax")]
)
def test_samesite_is_lax_unless_the_app_chose(
    make_lab: Callable[..., Lab], chosen: str | None, sent: str
) -> None:
    lab = make_lab(SESSION_COOKIE_SAMESITE=chosen, SESSION_COOKIE_SECURE=chosen == "None")
    assert lab.app.config["SESSION_COOKIE_SAMESITE"] == sent
    reply = lab.app.test_client().get(f"/callback/{lab.start_raw()}")
    assert f"SameSite={sent}" in reply.headers["Set-Cookie"]
    assert "HttpOnly" in reply.headers["Set-Cookie"]


AUTH_PASSWORD = "Csrf-Tests-" + uuid.uuid4().hex
RLMS = {
    "Authorization": "Basic " + base64.b64encode(f"{USERNAME}:{AUTH_PASSWORD}".encode()).decode()
}


def csrf_lab(store_url: str, *, csrf_first: bool) -> tuple[Lab, list[str]]:
    """A lab with one state-changing route, under CSRFProtect set up before or after WebLab."""
    app = Flask(f"csrf_{uuid.uuid4().hex[:8]}")
    app.config.update(base_config(store_url), WEBLAB_PASSWORD=AUTH_PASSWORD)
    moves: list[str] = []
    csrf = flask_wtf.CSRFProtect(app) if csrf_first else None
    weblab = WebLab(app)
    if csrf is None:
        flask_wtf.CSRFProtect(app)
    weblab.initial_url(lambda: "/lab")

    @app.route("/lab")
    @requires_active
    def lab() -> str:
        return str(flask_wtf.generate_csrf())  # what a page puts in its forms

    @app.route("/move", methods=["POST"])
    @requires_active
    def move() -> str:
        moves.append("moved")
        return "moved"

    return Lab(app, weblab), moves


@pytest.mark.parametrize("csrf_first", [True, False], ids=["csrf-first", "weblab-first"])
def test_weblab_routes_work_under_csrfprotect(store_url: str, csrf_first: bool) -> None:
    lab, moves = csrf_lab(store_url, csrf_first=csrf_first)
    rlms = lab.app.test_client()
    # The RLMS (HTTP Basic, no cookie) needs no CSRF token, in both dialects and every call.
    reply = rlms.post("/weblab/sessions/", json=lab.start_body(), headers=RLMS)
    assert reply.status_code == 200, reply.get_data(as_text=True)
    session_id = json_of(reply)["session_id"]
    assert (
        rlms.post(
            "/ldl/sessions/status/multiple", json={"session_ids": [session_id]}, headers=RLMS
        ).status_code
        == 200
    )
    student = lab.app.test_client()
    assert student.get(f"/callback/{session_id}").status_code == 302
    # The lab's own state-changing route needs the token...
    assert student.post("/move").status_code == 400
    assert moves == []
    token = student.get("/lab").get_data(as_text=True)
    assert student.post("/move", data={"csrf_token": token}).get_data(as_text=True) == "moved"
    assert student.post("/move", headers={"X-CSRFToken": token}).status_code == 200
    # ...the logout route does not: the session id in its path is the secret, and the poll
    # script's beacon cannot send a header.
    assert student.post(f"/callback/{session_id}/logout").json == {"success": True}
    reply = rlms.post(f"/weblab/sessions/{session_id}", json={"action": "delete"}, headers=RLMS)
    assert json_of(reply)["message"] == "Deleted"
    assert rlms.delete(f"/ldl/sessions/{session_id}", headers=RLMS).status_code == 200
    assert rlms.post("/weblab/sessions/nowhere/else", headers=RLMS).status_code == 404


def test_examples_protect_their_own_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.examples import EXAMPLES, example_env, load_module, start_with_client

    example_env(monkeypatch, WEBLAB_NO_THREAD=True)
    simple = load_module(EXAMPLES / "simple" / "app.py")
    app = simple.app
    session_id = start_with_client(app)
    student = app.test_client()
    student.get(f"/callback/{session_id}")
    page = student.get("/lab").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    assert student.post("/lab/switch").status_code == 400  # no token: refused
    assert student.post("/lab/logout").status_code == 400
    assert simple.LIGHT["on"] is False
    assert student.post("/lab/switch", data={"csrf_token": token.group(1)}).status_code == 302
    assert simple.LIGHT["on"] is True
