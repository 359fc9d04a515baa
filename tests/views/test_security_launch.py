"""The launch URL logs in one browser only (``WEBLAB_LAUNCH_ONCE``, default on).

It used to be a reusable bearer token: it logged in a second browser, after logout and after
dispose. Its form (``<callback>/<session_id>``) is unchanged; the first browser that follows
it holds the session and may follow it again; any other browser gets a clear page.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.lab import Lab
from weblab_ext.runtime.lifecycle_log import session_id_hash


def follow(lab: Lab, session_id: str, client: Any = None) -> Any:
    client = client or lab.app.test_client()
    return client, client.get(f"/callback/{session_id}")


def assert_link_used(reply: Any) -> None:
    assert reply.status_code == 403
    assert reply.mimetype == "text/html"
    assert "This lab link was already used" in reply.get_data(as_text=True)
    assert "Location" not in reply.headers


def test_the_first_browser_holds_the_session_and_may_follow_again(lab: Lab) -> None:
    session_id = lab.start_raw()
    first, reply = follow(lab, session_id)
    assert reply.status_code == 302
    _, again = follow(lab, session_id, first)
    assert again.status_code == 302 and again.location.endswith("/lab")
    assert first.get("/lab").get_data(as_text=True) == "lab of john.smith"


def test_a_second_browser_gets_the_link_used_page(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    session_id = lab.start_raw()
    follow(lab, session_id)
    second, reply = follow(lab, session_id)
    assert_link_used(reply)
    assert second.get("/lab").status_code == 403  # it got no session cookie
    assert session_id_hash(session_id) in caplog.text
    assert session_id not in caplog.text


@pytest.mark.parametrize("end", ["logout", "dispose"])
def test_after_the_session_ends_only_the_holder_gets_back_in(lab: Lab, end: str) -> None:
    session_id = lab.start_raw()
    first, _ = follow(lab, session_id)
    if end == "logout":
        first.get(f"/callback/{session_id}/logout")
    else:
        lab.dispose(session_id)
    _, reply = follow(lab, session_id)
    assert_link_used(reply)
    _, reply = follow(lab, session_id, first)
    assert reply.status_code == 302
    assert first.get("/results").get_data(as_text=True) == "results of john.smith"


def test_a_browser_holding_another_session_is_still_another_browser(lab: Lab) -> None:
    mine, theirs = lab.start_raw(), lab.start_raw()
    browser, _ = follow(lab, mine)
    follow(lab, theirs)
    _, reply = follow(lab, theirs, browser)
    assert_link_used(reply)
    assert browser.get("/lab").status_code == 200  # still in its own session


def test_an_ended_session_nobody_entered_can_still_be_entered_once(lab: Lab) -> None:
    session_id = lab.start_raw()
    lab.dispose(session_id)
    _, reply = follow(lab, session_id)
    assert reply.status_code == 302
    assert_link_used(follow(lab, session_id)[1])


def test_unknown_ids_still_get_the_forbidden_page_and_create_nothing(lab: Lab) -> None:
    _, reply = follow(lab, "no-such-session")
    assert reply.status_code == 403
    assert "Access forbidden" in reply.get_data(as_text=True)
    assert lab.state.client.exists(lab.state.keys.session("no-such-session")) == 0


def test_launch_once_can_be_turned_off(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_LAUNCH_ONCE=False)
    session_id = lab.start_raw()
    for _ in range(3):
        browser, reply = follow(lab, session_id)
        assert reply.status_code == 302
        assert browser.get("/lab").status_code == 200


def test_first_browser_wins_a_race(lab: Lab) -> None:
    session_id = lab.start_raw()
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def race() -> None:
        client = lab.app.test_client()
        barrier.wait(5)
        statuses.append(client.get(f"/callback/{session_id}").status_code)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(statuses) == [302] + [403] * 7


def test_the_harness_student_follows_the_link_once(make_lab: Callable[..., Lab]) -> None:
    from weblab_ext.testing.harness import LabUnderTest

    lab = LabUnderTest(make_lab().app)
    student = lab.student()
    assert student.landing.status_code == 302
    assert student.get("/lab").status_code == 200
    assert_link_used(lab.test_client().get(f"/callback/{student.session_id}"))


# -- another launch URL while this browser is in an active session ----------------------------

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def confirm_page(reply: Any) -> str:
    """The confirmation page's HTML (asserting it is one)."""
    assert reply.status_code == 200, reply.get_data(as_text=True)
    assert reply.mimetype == "text/html"
    page: str = reply.get_data(as_text=True)
    assert 'id="weblab-launch-confirm"' in page
    assert "Location" not in reply.headers
    return page


def confirm(client: Any, session_id: str, page: str) -> Any:
    token = TOKEN.search(page)
    assert token is not None, page
    return client.post(f"/callback/{session_id}", data={"csrf_token": token.group(1)})


def mallory(lab: Lab) -> str:
    """The attacker's own booking: a session of theirs, whose launch URL they pass around."""
    return lab.start_raw(server={"request.username": "mallory"})


def test_a_link_never_replaces_an_active_session_silently(lab: Lab) -> None:
    mine, theirs = lab.start_raw(), mallory(lab)
    browser, _ = follow(lab, mine)
    _, reply = follow(lab, theirs, browser)
    page = confirm_page(reply)
    assert "john.smith" in page and "mallory" in page
    assert f'action="/callback/{theirs}"' in page and 'method="post"' in page
    assert browser.get("/lab").get_data(as_text=True) == "lab of john.smith"  # still mine
    # Nothing was used up: the link still opens the lab in a browser that is in no session.
    assert follow(lab, theirs)[1].status_code == 302


def test_the_student_may_confirm_and_switch(lab: Lab) -> None:
    mine, other = lab.start_raw(), lab.start_raw(server={"request.username": "second.booking"})
    browser, _ = follow(lab, mine)
    reply = confirm(browser, other, confirm_page(follow(lab, other, browser)[1]))
    assert reply.status_code == 303 and reply.location.endswith("/lab")
    assert browser.get("/lab").get_data(as_text=True) == "lab of second.booking"
    assert_link_used(follow(lab, other)[1])  # the switch used the link up: one browser only


def test_the_rightful_browser_is_never_locked_out_of_its_own_link(lab: Lab) -> None:
    mine, theirs = lab.start_raw(), mallory(lab)
    browser, _ = follow(lab, mine)
    follow(lab, theirs, browser)  # the cross-site link, not confirmed
    _, reply = follow(lab, mine, browser)
    assert reply.status_code == 302  # straight back in
    # Even after switching to the other session on purpose, its own link brings it back.
    confirm(browser, theirs, confirm_page(follow(lab, theirs, browser)[1]))
    assert browser.get("/lab").get_data(as_text=True) == "lab of mallory"
    reply = confirm(browser, mine, confirm_page(follow(lab, mine, browser)[1]))
    assert reply.status_code == 303
    assert browser.get("/lab").get_data(as_text=True) == "lab of john.smith"


def test_a_browser_whose_session_is_over_goes_straight_to_the_new_one(lab: Lab) -> None:
    first, second = lab.start_raw(), lab.start_raw(server={"request.username": "next.slot"})
    browser, _ = follow(lab, first)
    lab.dispose(first)
    _, reply = follow(lab, second, browser)
    assert reply.status_code == 302
    assert browser.get("/lab").get_data(as_text=True) == "lab of next.slot"


@pytest.mark.parametrize(
    "token",
    ["", "forged", "other-browser"],
    ids=["no-token", "forged-token", "token-of-another-browser"],
)
def test_the_switch_needs_this_browsers_token(lab: Lab, token: str) -> None:
    mine, theirs = lab.start_raw(), mallory(lab)
    browser, _ = follow(lab, mine)
    confirm_page(follow(lab, theirs, browser)[1])
    if token == "other-browser":
        other, _ = follow(lab, lab.start_raw())
        found = TOKEN.search(confirm_page(follow(lab, theirs, other)[1]))
        assert found is not None
        token = found.group(1)
    reply = browser.post(f"/callback/{theirs}", data={"csrf_token": token})
    assert reply.status_code == 403
    assert 'id="weblab-launch-refused"' in reply.get_data(as_text=True)
    assert browser.get("/lab").get_data(as_text=True) == "lab of john.smith"
    assert follow(lab, theirs)[1].status_code == 302  # still unused


def test_a_post_without_the_cookie_switches_nothing(lab: Lab) -> None:
    """A cross-site form: SameSite=Lax keeps the cookie home, so no session, no token."""
    theirs = mallory(lab)
    reply = lab.app.test_client().post(f"/callback/{theirs}", data={"csrf_token": "x"})
    assert reply.status_code == 403
    assert follow(lab, theirs)[1].status_code == 302


def test_the_confirmation_page_escapes_what_the_rlms_sent(lab: Lab) -> None:
    hostile = '<script>alert(1)</script>"\x1b]52;c;AA==\x07\u202e'
    mine = lab.start_raw()
    theirs = lab.start_raw(
        server={
            "request.username": hostile,
            "request.experiment_id.experiment_name": hostile,
            "request.experiment_id.category_name": hostile,
        }
    )
    browser, _ = follow(lab, mine)
    reply = follow(lab, theirs, browser)[1]
    page = confirm_page(reply)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "\x1b" not in page and "\u202e" not in page and "\\x1b]52" in page
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in reply.headers["Content-Security-Policy"]
    assert "script-src" not in reply.headers["Content-Security-Policy"]  # default-src 'none'
    assert reply.headers["Cache-Control"] == "no-store"


def test_without_launch_once_a_link_still_asks_first(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_LAUNCH_ONCE=False)
    mine, theirs = lab.start_raw(), mallory(lab)
    browser, _ = follow(lab, mine)
    page = confirm_page(follow(lab, theirs, browser)[1])
    assert browser.get("/lab").get_data(as_text=True) == "lab of john.smith"
    assert confirm(browser, theirs, page).status_code == 303
    assert browser.get("/lab").get_data(as_text=True) == "lab of mallory"
    assert follow(lab, mine, browser)[1].status_code == 200  # asks again, in the other direction


def test_a_second_browser_on_a_used_link_is_refused_not_asked(lab: Lab) -> None:
    mine, theirs = lab.start_raw(), lab.start_raw()
    browser, _ = follow(lab, mine)
    follow(lab, theirs)  # another browser used it
    assert_link_used(follow(lab, theirs, browser)[1])


def test_the_switch_works_under_csrfprotect(make_lab: Callable[..., Lab]) -> None:
    flask_wtf = pytest.importorskip("flask_wtf.csrf")
    lab = make_lab()
    flask_wtf.CSRFProtect(lab.app)  # after WebLab: its own token covers the launch form
    mine, theirs = lab.start_raw(), mallory(lab)
    browser, _ = follow(lab, mine)
    reply = confirm(browser, theirs, confirm_page(follow(lab, theirs, browser)[1]))
    assert reply.status_code == 303
    assert browser.get("/lab").get_data(as_text=True) == "lab of mallory"


def test_the_store_records_who_holds_a_launch_url(lab: Lab) -> None:
    store, session_id = lab.state.sessions, lab.start_raw()
    key = lab.state.keys.session(session_id)
    assert store.launch("no-such-session", holder="a") is None
    assert lab.state.client.exists(lab.state.keys.session("no-such-session")) == 0
    assert store.launch(session_id) == ""  # only looking records nothing
    assert store.launch(session_id, holder="a") == ""  # unused until now: held by "a"
    assert store.launch(session_id, holder="b") == "a"
    assert store.launch(session_id) == "a"
    assert lab.state.client.ttl(key) > 0  # the record keeps its lifetime


def test_a_record_of_an_older_version_lets_the_cookie_holder_in(lab: Lab) -> None:
    """Older versions recorded only that the URL was used ("1"), not by whom."""
    session_id = lab.start_raw()
    lab.state.client.hset(lab.state.keys.session(session_id), "launched", "1")
    browser = lab.app.test_client()
    with browser.session_transaction() as cookie:
        cookie["weblab_session_id"] = session_id
    assert follow(lab, session_id, browser)[1].status_code == 302
    assert_link_used(follow(lab, session_id)[1])
