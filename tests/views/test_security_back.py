"""The ``back`` URL: only empty or an absolute http(s) URL without control characters.

It reaches a redirect and the poll script's ``location.assign``: a ``javascript:`` back ran
script in the lab's origin, a CR/LF in it made every later page of the student a 500, and an
empty one left a dead-end page. The start refuses bad values (400 naming the field, nothing
stored); the redirect, the server push and the poll script check again, for records written
before this rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import pytest
from werkzeug.urls import iri_to_uri

from tests.support.lab import AUTH, Lab
from tests.support.rlms_api import assert_nothing_stored, ldl_body
from weblab_ext.protocol import is_safe_back_url
from weblab_ext.runtime.users import CurrentUser

BAD_BACKS = [
    "javascript:document.title='pwned'",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/back",
    "/relative/back",
    "back.html",
    "ftp://rlms.example/back",
    "http://",
    "http:rlms.example",
    "https://[::1",
    "http://rlms.example/back\r\nSet-Cookie: x=1",
    "http://rlms.example/\x00",
    "http://rlms.example/\x7f",
    "http://rlms.example/\x85",
    "http://rlms.example/back ",
    "\thttp://rlms.example/back",
]
GOOD_BACKS = [
    "",
    "http://rlms.example/back",
    "HTTPS://RLMS.example:8443/weblab/client/?id=3#done",
    "https://rlms.example/r\u00e9sum\u00e9?q=a b",
    "http://127.0.0.1:5000/demo-back",
]


@pytest.mark.parametrize("url", BAD_BACKS)
def test_bad_back_urls(url: str) -> None:
    assert not is_safe_back_url(url)


@pytest.mark.parametrize("url", GOOD_BACKS)
def test_good_back_urls(url: str) -> None:
    assert is_safe_back_url(url)


@pytest.mark.parametrize("url", BAD_BACKS)
def test_weblab_start_refuses_a_bad_back(lab: Lab, url: str) -> None:
    reply = lab.raw_rlms.post("/weblab/sessions/", json=lab.start_body(back=url), headers=AUTH)
    assert reply.status_code == 400
    assert reply.json["code"] == "invalid-field"
    assert reply.json["field"] == "back"
    assert "http(s)" in reply.json["message"]
    assert_nothing_stored(lab)


def test_weblab_start_refuses_a_bad_back_in_the_client_data(lab: Lab) -> None:
    body = lab.start_body(back="")
    body["client_initial_data"]["back"] = "javascript:alert(1)"
    reply = lab.raw_rlms.post("/weblab/sessions/", json=body, headers=AUTH)
    assert reply.status_code == 400
    assert reply.json["field"] == "client_initial_data.back"
    assert_nothing_stored(lab)


def test_form_encoded_start_refuses_a_bad_back(lab: Lab) -> None:
    body = lab.start_body(back="javascript:alert(1)")
    form = {
        key: value if isinstance(value, str) else json.dumps(value) for key, value in body.items()
    }
    reply = lab.raw_rlms.post("/weblab/sessions/", data=form, headers=AUTH)
    assert reply.status_code == 400 and reply.json["field"] == "back"
    assert_nothing_stored(lab)


@pytest.mark.parametrize("url", ["javascript:alert(1)", "http://x/\r\nA: b", "/back"])
def test_ldl_start_refuses_a_bad_back(lab: Lab, url: str) -> None:
    body = ldl_body()
    body["request"]["backUrl"] = url
    reply = lab.raw_rlms.post("/ldl/sessions/", json=body, headers=AUTH)
    assert reply.status_code == 400
    assert reply.json["field"] == "request.backUrl"
    assert_nothing_stored(lab)


@pytest.mark.parametrize("url", GOOD_BACKS)
def test_start_accepts_good_backs(lab: Lab, url: str) -> None:
    session_id = lab.start_raw(back=url)
    student = lab.browser(session_id)
    student.get(f"/callback/{session_id}/logout")
    reply = student.get("/lab")
    if url:
        assert reply.status_code == 302
        assert reply.location == iri_to_uri(url)  # as Werkzeug writes a Location header
    else:
        assert reply.status_code == 403  # the "session ended" page, below


# -- records written before the rule (an older version, another lab on the same store) --------


def tamper_back(lab: Lab, session_id: str, back: str) -> None:
    """Write ``back`` into a stored session as an older version could have."""
    key = lab.state.keys.session(session_id)
    info = json.loads(cast(str, lab.state.client.hget(key, "info")))
    info["back"] = back
    lab.state.client.hset(key, "info", json.dumps(info))


@pytest.fixture
def tampered(lab: Lab, request: pytest.FixtureRequest) -> Iterator[tuple[Any, str]]:
    session_id = lab.start_raw()
    student = lab.browser(session_id)
    tamper_back(lab, session_id, request.param)
    yield student, session_id


@pytest.mark.parametrize("tampered", BAD_BACKS[:4] + BAD_BACKS[13:14], indirect=True)
def test_a_stored_bad_back_is_never_followed(lab: Lab, tampered: tuple[Any, str]) -> None:
    student, session_id = tampered
    assert student.get("/lab").status_code == 200
    student.get(f"/callback/{session_id}/logout")
    reply = student.get("/lab")
    assert reply.status_code == 403
    assert "Location" not in reply.headers
    assert "session has ended" in reply.get_data(as_text=True)
    reply = student.get("/lab", headers={"Accept": "application/json"})
    assert reply.status_code == 403 and reply.json["back"] == ""
    assert student.get("/results").status_code == 200  # no 500 on any later page
    with lab.app.app_context():
        user = lab.state.service.user_of(lab.state.service.load(session_id))
        assert cast(CurrentUser, user).back == ""


@pytest.mark.parametrize("tampered", ["javascript:alert(1)"], indirect=True)
def test_the_session_ended_event_carries_no_bad_back(lab: Lab, tampered: tuple[Any, str]) -> None:
    _student, session_id = tampered
    subscription = lab.state.sessions.subscribe_events()
    try:
        lab.dispose(session_id)
        seen: list[dict[str, Any]] = []
        for _ in range(50):
            message = subscription.next_message(0.1)
            if message is not None:
                seen.append(json.loads(message[1]))
            if any(event.get("event") == "disposed" for event in seen):
                break
    finally:
        subscription.close()
    disposed = [event for event in seen if event.get("event") == "disposed"]
    assert disposed and disposed[0]["back"] == ""


def test_an_empty_back_shows_the_session_ended_page(lab: Lab) -> None:
    session_id = lab.start_raw(back="")
    student = lab.browser(session_id)
    student.get(f"/callback/{session_id}/logout")
    reply = student.get("/lab")
    assert reply.status_code == 403
    assert reply.mimetype == "text/html"
    page = reply.get_data(as_text=True)
    assert "Your lab session has ended" in page
    assert "close this tab" in page
