"""Error replies: every RLMS path answers JSON; a store outage is a 503, never an HTML 500."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.lab import AUTH, Lab
from tests.support.redis_server import free_port

PREFIXES = ["/weblab", "/ldl"]


def assert_json_error(reply: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert reply.status_code == status, reply.get_data(as_text=True)
    assert reply.mimetype == "application/json", reply.get_data(as_text=True)
    body = dict(reply.json)
    assert body["error"] is True and body["message"]
    if code is not None:
        assert body["code"] == code
    return body


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/sessions/abc", 405),
        ("PUT", "/sessions/", 405),
        ("GET", "/sessions/status/multiple", 405),
        ("OPTIONS", "/sessions/abc/status", 405),
        ("OPTIONS", "/sessions/", 405),
        ("POST", "/sessions/a/b", 404),
        ("GET", "/sessions/a/b/status", 404),
        ("GET", "/status", 404),  # what /sessions/../status becomes once a client normalises it
        ("POST", "//sessions/", 404),
        ("GET", "/sessions//status", 404),
        ("GET", "/nothing-here", 404),
        ("GET", "/", 404),
    ],
)
def test_every_rlms_path_answers_json(
    lab: Lab, prefix: str, method: str, path: str, status: int
) -> None:
    reply = lab.raw_rlms.open(prefix + path, method=method, headers=AUTH)
    body = assert_json_error(reply, status)
    if status == 405:
        assert reply.headers["Allow"]
        assert method not in reply.headers["Allow"]
    assert "Location" not in reply.headers  # never a redirect: RLMS clients do not follow them
    assert body["code"] in ("method-not-allowed", "not-found")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_dot_dot_as_an_id_is_just_an_unknown_session(lab: Lab, prefix: str) -> None:
    reply = lab.raw_rlms.get(f"{prefix}/sessions/../status", headers=AUTH)
    assert reply.status_code == 200 and reply.json == {"should_finish": -1}


def test_dispose_path_allows_the_dialects_methods(lab: Lab) -> None:
    assert lab.raw_rlms.get("/weblab/sessions/abc", headers=AUTH).headers["Allow"] == "POST"
    assert lab.raw_rlms.get("/ldl/sessions/abc", headers=AUTH).headers["Allow"] == "POST, DELETE"


def test_unknown_rlms_paths_still_need_credentials(lab: Lab) -> None:
    assert_json_error(lab.raw_rlms.get("/weblab/nothing-here"), 401, "unauthorized")


def test_the_labs_own_error_pages_do_not_change_rlms_replies(lab: Lab) -> None:
    @lab.app.errorhandler(404)
    def html_404(error: Any) -> tuple[str, int]:
        return "<h1>lab 404</h1>", 404

    assert_json_error(lab.raw_rlms.get("/weblab/nothing-here", headers=AUTH), 404, "not-found")
    assert lab.raw_rlms.get("/not-rlms").get_data(as_text=True) == "<h1>lab 404</h1>"


def test_a_crash_in_an_rlms_view_is_a_json_500(
    make_lab: Callable[..., Lab], monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = make_lab(PROPAGATE_EXCEPTIONS=False)

    def broken(*args: Any, **kwargs: Any) -> int:
        raise ValueError("bug")

    monkeypatch.setattr(lab.state.service, "status", broken)
    assert_json_error(
        lab.raw_rlms.get("/weblab/sessions/x/status", headers=AUTH), 500, "internal-error"
    )


@pytest.fixture
def dead_store_lab(make_lab: Callable[..., Lab]) -> Lab:
    """A lab whose Redis URL (with a password) points at a port nobody listens on."""
    return make_lab(
        WEBLAB_REDIS_URL=f"redis://:hunter2secret@127.0.0.1:{free_port()}/0",
        PROPAGATE_EXCEPTIONS=False,
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get("/weblab/sessions/abc/status", headers=AUTH),
        lambda c: c.post(
            "/weblab/sessions/status/multiple", json={"session_ids": ["a"]}, headers=AUTH
        ),
        lambda c: c.post("/weblab/sessions/abc", json={"action": "delete"}, headers=AUTH),
        lambda c: c.delete("/ldl/sessions/abc", headers=AUTH),
    ],
)
def test_rlms_calls_answer_503_json_while_the_store_is_down(
    dead_store_lab: Lab, call: Callable[[Any], Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="weblab_ext")
    reply = call(dead_store_lab.raw_rlms)
    assert_json_error(reply, 503, "store-unavailable")
    assert int(reply.headers["Retry-After"]) > 0
    assert "hunter2secret" not in caplog.text
    assert "redis://:***@127.0.0.1" in caplog.text


def test_rlms_start_answers_503_json_while_the_store_is_down(dead_store_lab: Lab) -> None:
    reply = dead_store_lab.raw_rlms.post(
        "/weblab/sessions/", json=dead_store_lab.start_body(), headers=AUTH
    )
    assert_json_error(reply, 503, "store-unavailable")


def test_students_get_a_clear_503_while_the_store_is_down(dead_store_lab: Lab) -> None:
    student = dead_store_lab.app.test_client()
    with student.session_transaction() as cookie:
        cookie["weblab_session_id"] = "some-session"
    page = student.get("/lab")
    assert page.status_code == 503 and page.mimetype == "text/plain"
    assert "temporarily unavailable" in page.get_data(as_text=True)
    assert page.headers["Retry-After"]
    as_json = student.get("/lab", headers={"Accept": "application/json"})
    assert_json_error(as_json, 503, "store-unavailable")
    launch = dead_store_lab.app.test_client().get("/callback/some-session")
    assert launch.status_code == 503
