"""The launch URL logs in one browser only (``WEBLAB_LAUNCH_ONCE``, default on).

It used to be a reusable bearer token: it logged in a second browser, after logout and after
dispose. Its form (``<callback>/<session_id>``) is unchanged; the first browser that follows
it holds the session and may follow it again; any other browser gets a clear page.
"""

from __future__ import annotations

import logging
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
    session_id = lab.start()
    first, reply = follow(lab, session_id)
    assert reply.status_code == 302
    _, again = follow(lab, session_id, first)
    assert again.status_code == 302 and again.location.endswith("/lab")
    assert first.get("/lab").get_data(as_text=True) == "lab of john.smith"


def test_a_second_browser_gets_the_link_used_page(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    session_id = lab.start()
    follow(lab, session_id)
    second, reply = follow(lab, session_id)
    assert_link_used(reply)
    assert second.get("/lab").status_code == 403  # it got no session cookie
    assert session_id_hash(session_id) in caplog.text
    assert session_id not in caplog.text


@pytest.mark.parametrize("end", ["logout", "dispose"])
def test_after_the_session_ends_only_the_holder_gets_back_in(lab: Lab, end: str) -> None:
    session_id = lab.start()
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
    mine, theirs = lab.start(), lab.start()
    browser, _ = follow(lab, mine)
    follow(lab, theirs)
    _, reply = follow(lab, theirs, browser)
    assert_link_used(reply)
    assert browser.get("/lab").status_code == 200  # still in its own session


def test_an_ended_session_nobody_entered_can_still_be_entered_once(lab: Lab) -> None:
    session_id = lab.start()
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
    session_id = lab.start()
    for _ in range(3):
        browser, reply = follow(lab, session_id)
        assert reply.status_code == 302
        assert browser.get("/lab").status_code == 200


def test_first_browser_wins_a_race(lab: Lab) -> None:
    session_id = lab.start()
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
