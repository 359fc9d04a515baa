"""The student-facing routes: launch (callback), poll, logout, forbidden page, autopoll."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.support.clock import Clock
from tests.support.lab import Lab, base_config, json_of
from weblab_ext import WebLab


def test_callback_without_initial_url(store_url: str) -> None:
    app = Flask("no_initial_url")
    app.config.update(base_config(store_url))
    weblab = WebLab(app)
    client = app.test_client()
    reply = client.get("/callback/whatever")
    assert reply.status_code == 500
    text = reply.get_data(as_text=True)
    assert "ERROR" in text
    assert "weblab.initial_url" in text
    assert weblab.callbacks.initial_url is None


def test_callback_unknown_id_is_forbidden(lab: Lab) -> None:
    reply = lab.app.test_client().get("/callback/unknown")
    assert reply.status_code == 403
    assert "forbidden" in reply.get_data(as_text=True).lower()


def test_callback_sets_cookie_and_redirects(lab: Lab) -> None:
    session_id = lab.start_raw()
    client = lab.app.test_client()
    reply = client.get(f"/callback/{session_id}")
    assert reply.status_code == 302
    assert reply.location.endswith("/lab")
    with client.session_transaction() as session:
        assert session["weblab_session_id"] == session_id
    assert client.get("/lab").get_data(as_text=True) == "lab of john.smith"


def test_expired_user_can_reenter(lab: Lab) -> None:
    session_id = lab.start_raw()
    lab.dispose(session_id)
    client = lab.app.test_client()
    assert client.get(f"/callback/{session_id}").status_code == 302
    assert client.get("/results").get_data(as_text=True) == "results of john.smith"
    assert client.get("/lab").location == "http://rlms.example/back"


def test_callback_replaces_previous_session_once_confirmed(lab: Lab) -> None:
    """While the first session is active, the student confirms the switch first (see
    test_security_launch); once it is over, the new launch URL replaces it at once."""
    first, second, third = lab.start_raw(), lab.start_raw(), lab.start_raw()
    client = lab.browser(first)
    page = client.get(f"/callback/{second}").get_data(as_text=True)
    with client.session_transaction() as session:
        assert session["weblab_session_id"] == first
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    client.post(f"/callback/{second}", data={"csrf_token": token.group(1)})
    with client.session_transaction() as session:
        assert session["weblab_session_id"] == second
    lab.dispose(second)
    client.get(f"/callback/{third}")
    with client.session_transaction() as session:
        assert session["weblab_session_id"] == third


def test_custom_session_id_name(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_SESSION_ID_NAME="my_sid")
    session_id = lab.start_raw()
    client = lab.browser(session_id)
    with client.session_transaction() as session:
        assert session["my_sid"] == session_id


def test_poll_url_reasons(lab: Lab) -> None:
    session_id = lab.start_raw()
    client = lab.browser(session_id)
    assert client.get(f"/callback/{session_id}/poll").json == {"success": True}
    other = client.get("/callback/other/poll").json
    assert other == {"success": False, "reason": "Different session identifier"}
    anonymous = json_of(lab.app.test_client().get(f"/callback/{session_id}/poll"))
    assert anonymous["reason"] == "Different session identifier"

    with client.session_transaction() as session:
        session["weblab_session_id"] = "unknown"
    assert client.get("/callback/unknown/poll").json == {"success": False, "reason": "Not found"}

    with client.session_transaction() as session:
        session["weblab_session_id"] = session_id
    client.get(f"/callback/{session_id}/logout")
    # `back` (new in weblab_ext) lets the poll script leave the page for the RLMS at once.
    assert client.get(f"/callback/{session_id}/poll").json == {
        "success": False,
        "reason": "User inactive",
        "back": "http://rlms.example/back",
    }
    lab.dispose(session_id)
    assert client.get(f"/callback/{session_id}/poll").json == {
        "success": False,
        "reason": "User inactive",
        "back": "http://rlms.example/back",
    }


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_logout_url_as_a_browser_navigation_goes_back(lab: Lab) -> None:
    session_id = lab.start_raw()
    client = lab.browser(session_id)
    reply = client.get(f"/callback/{session_id}/logout", headers=BROWSER)
    assert (reply.status_code, reply.location) == (302, "http://rlms.example/back")
    assert lab.status(session_id) == -1
    again = client.get(f"/callback/{session_id}/logout", headers=BROWSER)  # already over
    assert again.location == "http://rlms.example/back"
    # Scripts (fetch, sendBeacon: */*) and test clients keep the JSON answer.
    assert client.get(f"/callback/{session_id}/logout").json == {"success": True}
    assert client.get(f"/callback/{session_id}/logout", headers={"Accept": "*/*"}).json == {
        "success": True
    }


def test_logout_url_navigation_without_a_session_shows_the_forbidden_page(lab: Lab) -> None:
    session_id = lab.start_raw()
    stranger = lab.app.test_client()
    reply = stranger.get(f"/callback/{session_id}/logout", headers=BROWSER)
    assert (reply.status_code, reply.get_data(as_text=True)) == (403, "Access forbidden")
    assert lab.status(session_id) > 0, "someone else's session is not logged out"
    client = lab.browser(session_id)
    lab.state.sessions.client.delete(lab.state.keys.session(session_id))  # record gone
    reply = client.get(f"/callback/{session_id}/logout", headers=BROWSER)
    assert (reply.status_code, reply.get_data(as_text=True)) == (403, "Access forbidden")


def test_poll_url_moves_last_poll(lab: Lab) -> None:
    clock = Clock()
    lab.state.clock = clock
    session_id = lab.start_raw()
    client = lab.browser(session_id)
    clock.now += 10
    client.get(f"/callback/{session_id}/poll")
    assert lab.record(session_id).last_poll == pytest.approx(clock.now)


def test_poll_after_slot_end_is_inactive(lab: Lab) -> None:
    clock = Clock()
    lab.state.clock = clock
    session_id = lab.start_raw(server={"priority.queue.slot.start.timestamp": repr(clock.now)})
    client = lab.browser(session_id)
    clock.now += 500
    assert client.get(f"/callback/{session_id}/poll").json["reason"] == "User inactive"


def test_logout_url(lab: Lab) -> None:
    session_id = lab.start_raw()
    client = lab.browser(session_id)
    assert client.get("/callback/other/logout").json == {
        "success": False,
        "reason": "Different session identifier",
    }
    assert lab.status(session_id) == 5
    assert client.get(f"/callback/{session_id}/logout").json == {"success": True}
    assert lab.status(session_id) == -1
    assert lab.disposed == []  # logout marks; disposal happens later
    # Logging out again (or after disposal) still answers success.
    assert client.get(f"/callback/{session_id}/logout").json == {"success": True}
    lab.dispose(session_id)
    assert client.get(f"/callback/{session_id}/logout").json == {"success": True}


def test_forbidden_link(make_lab: Callable[..., Lab]) -> None:
    link = "http://rlms.example/book?lab=1&x=%20"
    lab = make_lab(WEBLAB_UNAUTHORIZED_LINK=link)
    client = lab.app.test_client()
    for url in ("/lab", "/results", "/callback/unknown"):
        reply = client.get(url)
        assert reply.status_code == 302
        assert reply.headers["Location"] == link


def test_forbidden_template(make_lab: Callable[..., Lab], tmp_path: Path) -> None:
    lab = make_lab(WEBLAB_UNAUTHORIZED_TEMPLATE="denied.html")
    (tmp_path / "denied.html").write_text("Please book {{ weblab_user.is_anonymous }}")
    lab.app.template_folder = str(tmp_path)
    reply = lab.app.test_client().get("/lab")
    assert reply.status_code == 200
    assert reply.get_data(as_text=True) == "Please book True"


def test_forbidden_link_wins_over_template(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_UNAUTHORIZED_LINK="http://x/", WEBLAB_UNAUTHORIZED_TEMPLATE="t.html")
    assert lab.app.test_client().get("/lab").location == "http://x/"


def test_forbidden_default(lab: Lab) -> None:
    reply = lab.app.test_client().get("/lab")
    assert reply.status_code == 403
    assert reply.get_data(as_text=True) == "Access forbidden"


def test_unauthorized_handler_override(lab: Lab) -> None:
    @lab.weblab.unauthorized_handler
    def unauthorized() -> Any:
        return "book first", 401

    client = lab.app.test_client()
    reply = client.get("/lab")
    assert (reply.status_code, reply.get_data(as_text=True)) == (401, "book first")
    assert client.get("/callback/unknown").status_code == 401


def test_autopoll_moves_last_poll(lab: Lab) -> None:
    clock = Clock()
    lab.state.clock = clock
    session_id = lab.start_raw()
    client = lab.browser(session_id)
    for route in ("/lab", "/results", "/not-a-route"):
        clock.now += 5
        client.get(route)
        assert lab.record(session_id).last_poll == pytest.approx(clock.now)


def test_autopoll_off(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_AUTOPOLL=False)
    clock = Clock()
    lab.state.clock = clock
    session_id = lab.start_raw()
    client = lab.browser(session_id)
    started = clock.now
    clock.now += 5
    client.get("/lab")
    assert lab.record(session_id).last_poll == pytest.approx(started)
    client.get(f"/callback/{session_id}/poll")  # the explicit poll URL still polls
    assert lab.record(session_id).last_poll == pytest.approx(clock.now)


def test_explicit_poll_twice_polls_once(make_lab: Callable[..., Lab]) -> None:
    from weblab_ext import poll

    lab = make_lab(WEBLAB_AUTOPOLL=False)
    clock = Clock()
    lab.state.clock = clock

    @lab.app.route("/poll-twice")
    def poll_twice() -> str:
        poll()
        poll()
        return "ok"

    session_id = lab.start_raw()
    client = lab.browser(session_id)
    clock.now += 7
    assert client.get("/poll-twice").get_data(as_text=True) == "ok"
    assert lab.record(session_id).last_poll == pytest.approx(clock.now)


def test_autopoll_of_unknown_session_creates_nothing(lab: Lab) -> None:
    client = lab.app.test_client()
    with client.session_transaction() as session:
        session["weblab_session_id"] = "ghost"
    client.get("/results")
    assert lab.state.sessions.load("ghost") is None
    assert lab.state.monitoring.session_counts().total == 0


def test_logout_view_function(lab: Lab) -> None:
    from weblab_ext import logout

    @lab.app.route("/bye")
    def bye() -> str:
        logout()
        return "bye"

    session_id = lab.start_raw()
    client = lab.browser(session_id)
    client.get("/bye")
    assert lab.status(session_id) == -1
    assert client.get("/lab").location == "http://rlms.example/back"
    assert lab.app.test_client().get("/bye").get_data(as_text=True) == "bye"  # anonymous: no-op
