"""Security at the student boundary, in a real browser (headless Chromium).

* A cross-site page (served from ``localhost:<port2>`` while the lab is on
  ``127.0.0.1:<port1>``: different sites) cannot switch the simple example's light or log the
  student out: the cookie is ``SameSite=Lax`` and the example's forms need a CSRF token. Each
  defence is also shown to hold on its own.
* A ``javascript:`` back URL never runs, whether it comes from a stored record written before
  the back URL was checked or from a forged ``weblab:session-ended`` event.
* A launch URL opened in a second browser shows "this lab link was already used".
* A link from another site to another session's launch URL (the attacker's own booking)
  never replaces the session the student is in: the lab asks first, on a page that works
  without JavaScript, and a forged confirmation changes nothing; the student's own link
  always lets them back in.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from flask import request as request_of_flask
from flask import session as session_of_flask
from werkzeug.wrappers import Request, Response

from tests.support.examples import (
    EXAMPLES,
    LiveServer,
    example_env,
    load_module,
    rlms_headers,
    start_body,
    wait_until,
)
from tests.support.screenshots import Shots

pytestmark = [pytest.mark.browser, pytest.mark.slow]

E2E_CONFIG = {"WEBLAB_TIMEOUT": 4, "WEBLAB_CLEANER_INTERVAL": 0.2}


class Attacker(LiveServer):
    """Another site: pages on ``localhost:<port>`` that post a form to the lab at once."""

    def __init__(self, lab_url: str) -> None:
        super().__init__(Request.application(self.page))
        self.lab_url = lab_url
        self.url = f"http://localhost:{self.server.server_port}"

    def page(self, request: Request) -> Response:
        target = self.lab_url + request.args.get("path", "/lab/switch")
        html = (
            "<!doctype html><title>Win a prize</title><h1>Win a prize!</h1>"
            f"<form id='f' method='post' action='{target}'>"
            "<input type='hidden' name='on' value='1'></form>"
            "<script>document.getElementById('f').submit()</script>"
        )
        return Response(html, mimetype="text/html")


@pytest.fixture
def simple_lab(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[tuple[ModuleType, LiveServer]]:
    example_env(monkeypatch, **{**E2E_CONFIG, **getattr(request, "param", {})})
    module = load_module(EXAMPLES / "simple" / "app.py")
    vars(module)["posts_with_cookie"] = []

    def note_cookie() -> None:
        if request_of_flask.method == "POST" and not request_of_flask.path.startswith("/weblab"):
            module.posts_with_cookie.append("weblab_session_id" in session_of_flask)

    # First of all hooks, before CSRFProtect's: did the browser send the student's cookie?
    module.app.before_request_funcs.setdefault(None, []).insert(0, note_cookie)
    with LiveServer(module.app) as server:
        yield module, server
    module.weblab.stop_threads()


def state_of(app: Any, session_id: str) -> str:
    record = app.extensions["weblab"].sessions.load(session_id)
    return record.state if record is not None else "missing"


def attack(page: Any, module: ModuleType, server: LiveServer, shots: Shots) -> None:
    """A student in the lab visits the other site, which posts to the lab twice."""
    launch = server.start_session()
    session_id = launch.rsplit("/", 1)[-1]
    page.goto(launch)
    page.wait_for_selector("#switch")
    shots("student-in-the-lab")
    with Attacker(server.url) as attacker:
        for path in ("/lab/switch", "/lab/logout"):
            page.goto(f"{attacker.url}/?path={path}")
            page.wait_for_url(f"{server.url}/**")  # the form went off to the lab
            page.wait_for_load_state()
            shots(f"after-cross-site-post-{path.rsplit('/', 1)[-1]}")
            # Checked at once: on_dispose switches the light off after a logout.
            assert module.LIGHT["on"] is False, f"{path}: the light was switched"
            assert state_of(module.app, session_id) == "active", f"{path}: logged out"
    page.goto(server.url + "/lab")
    assert page.locator("#light").inner_text() == "off"
    shots("lab-untouched")


def test_a_cross_site_form_cannot_switch_the_light_or_log_out(
    simple_lab: tuple[ModuleType, LiveServer], page: Any, shots: Shots
) -> None:
    module, server = simple_lab
    attack(page, module, server, shots)
    assert module.posts_with_cookie == [False, False]


@pytest.mark.parametrize("simple_lab", [{"WTF_CSRF_ENABLED": False}], indirect=True)
def test_samesite_alone_stops_the_cross_site_form(
    simple_lab: tuple[ModuleType, LiveServer], page: Any, shots: Shots
) -> None:
    module, server = simple_lab
    attack(page, module, server, shots)
    assert module.posts_with_cookie == [False, False]  # the browser kept the cookie home


@pytest.mark.parametrize(
    "simple_lab",
    [{"SESSION_COOKIE_SAMESITE": "None", "SESSION_COOKIE_SECURE": True}],
    indirect=True,
)
def test_the_csrf_token_alone_stops_the_cross_site_form(
    simple_lab: tuple[ModuleType, LiveServer], page: Any, shots: Shots
) -> None:
    """Chromium sends a ``SameSite=None; Secure`` cookie cross-site to http://127.0.0.1."""
    module, server = simple_lab
    attack(page, module, server, shots)
    assert module.posts_with_cookie == [True, True]  # the cookie went along: the token held


# -- a javascript: back URL never runs --------------------------------------------------------


@pytest.fixture
def realtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, LiveServer, list[str]]]:
    example_env(monkeypatch, **E2E_CONFIG)
    module = load_module(EXAMPLES / "socketio" / "app.py")
    hits: list[str] = []
    # Where the injected script would report to, had it run.

    def pwned() -> str:
        hits.append("pwned")
        return ""

    module.app.add_url_rule("/pwned", "pwned", pwned)
    with LiveServer(module.app) as server:
        yield module, server, hits
    module.stop_stream.set()
    module.push.stop()
    module.weblab.stop_threads()


PAYLOAD = "javascript:fetch('/pwned');document.title='pwned'"


def tamper_back(app: Any, session_id: str, back: str) -> None:
    """Write ``back`` into a stored session, as a version without the check could have."""
    state = app.extensions["weblab"]
    key = state.keys.session(session_id)
    info = json.loads(state.client.hget(key, "info"))
    info["back"] = back
    state.client.hset(key, "info", json.dumps(info))


def open_lab(page: Any, server: LiveServer) -> str:
    launch = server.start_session()
    page.goto(launch)
    page.wait_for_selector("#connection:text('live')")
    page.evaluate("""() => window.addEventListener('weblab:session-ended',
        e => sessionStorage.setItem('seenBack', String(e.detail.back)))""")
    return launch.rsplit("/", 1)[-1]


def seen_back(page: Any) -> str | None:
    """The back URL the page's session-ended event carried (``None``: no event yet)."""
    from playwright.sync_api import Error

    try:
        return page.evaluate("sessionStorage.getItem('seenBack')")  # type: ignore[no-any-return]
    except Error:  # the page is reloading
        return None


def test_a_stored_javascript_back_never_runs(
    realtime: tuple[ModuleType, LiveServer, list[str]], page: Any, shots: Shots
) -> None:
    module, server, hits = realtime
    session_id = open_lab(page, server)
    tamper_back(module.app, session_id, PAYLOAD)
    shots("lab")
    page.click("#logout")  # the server pushes weblab:session-ended with the (checked) back
    # No back URL to go to: the page reloads and requires_active says the session ended.
    page.wait_for_selector("#weblab-session-ended")
    shots("session-ended-page")
    assert seen_back(page) == "null"
    time.sleep(0.5)
    assert hits == []
    assert page.title() != "pwned"


def test_a_forged_session_ended_event_cannot_run_script(
    realtime: tuple[ModuleType, LiveServer, list[str]], page: Any, shots: Shots
) -> None:
    """The poll script checks the back URL itself before it navigates."""
    module, server, hits = realtime
    session_id = open_lab(page, server)
    wait_until(lambda: module.push.ready.is_set())
    module.push.emit_to_session(
        session_id, "weblab:session-ended", {"reason": "logout", "back": PAYLOAD}
    )
    assert wait_until(lambda: seen_back(page)) == "null"  # the payload was dropped
    page.wait_for_load_state()
    shots("after-forged-event")
    time.sleep(0.5)
    assert hits == []
    assert page.title() != "pwned"


# -- a launch URL logs in one browser -----------------------------------------------------------


def test_a_second_browser_sees_the_link_was_used(
    simple_lab: tuple[ModuleType, LiveServer], page: Any, browser: Any, shots: Shots
) -> None:
    _module, server = simple_lab
    launch = server.start_session()
    page.goto(launch)
    page.wait_for_selector("#switch")
    other = browser.new_context()
    try:
        second = other.new_page()
        reply = second.goto(launch)
        assert reply is not None and reply.status == 403
        assert second.locator("#weblab-link-used").inner_text() == "This lab link was already used"
        second.screenshot(path=str(shots.folder / "second-browser.png"), full_page=True)
        assert second.goto(server.url + "/lab").status == 403  # no session in that browser
    finally:
        other.close()
    page.goto(launch)  # the first browser may follow it again
    page.wait_for_selector("#switch")
    shots("first-browser-again")


# -- a cross-site link never replaces the session a student is in -----------------------------


def start_as(server: LiveServer, username: str, full_name: str) -> str:
    """Start a session for another user (the attacker's own booking); its launch URL."""
    body = start_body(server.url + "/demo-back")
    body["server_initial_data"].update(
        {"request.username": username, "request.full_name": full_name}
    )
    request = urllib.request.Request(
        server.url + "/weblab/sessions/",
        data=json.dumps(body).encode(),
        headers=rlms_headers(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["url"])


class LinkSite(LiveServer):
    """Another site: ``/go`` sends the browser to a URL at once (a link, top-level GET);
    ``/post`` posts a forged confirmation form to it."""

    def __init__(self, target: str) -> None:
        super().__init__(Request.application(self.page))
        self.target = target
        self.url = f"http://localhost:{self.server.server_port}"

    def page(self, request: Request) -> Response:
        if request.path == "/post":
            body = (
                f"<form id='f' method='post' action='{self.target}'>"
                "<input type='hidden' name='csrf_token' value='guessed'></form>"
                "<script>document.getElementById('f').submit()</script>"
            )
        else:
            body = f"<script>location.href = {json.dumps(self.target)}</script>"
        return Response(f"<!doctype html><title>Free stuff</title>{body}", mimetype="text/html")


def welcome(page: Any) -> str:
    return str(page.locator("#welcome").inner_text())


# Two bookings at once in one browser: the lab without its one-light rule (WEBLAB_DEVICES),
# which would refuse the second start (tests/test_example_devices.py).
@pytest.mark.parametrize("simple_lab", [{"WEBLAB_DEVICES": []}], indirect=True)
def test_a_cross_site_link_asks_before_replacing_the_session(
    simple_lab: tuple[ModuleType, LiveServer], page: Any, browser: Any, shots: Shots
) -> None:
    _module, server = simple_lab
    mine = server.start_session()
    theirs = start_as(server, "mallory<b>Evil</b>\u202e", "Mallory")
    page.goto(mine)
    page.wait_for_selector("#switch")
    assert "John Smith" in welcome(page)
    with LinkSite(theirs) as site:
        page.goto(site.url + "/go")
        page.wait_for_selector("#weblab-launch-confirm")
        shots("confirmation-page")
        text = page.locator("body").inner_text()
        assert "example as john.smith" in text
        # What the RLMS sent is text: no markup, no bidirectional override.
        assert "example as mallory<b>Evil</b>\\u202e" in text
        assert page.locator("b").count() == 0
        # Staying: back in the lab, the same session.
        page.click("text=Stay in my session")
        page.wait_for_selector("#switch")
        assert "John Smith" in welcome(page)
        # A forged confirmation from the other site: no cookie goes along, nothing changes.
        page.goto(site.url + "/post")
        page.wait_for_selector("#weblab-launch-refused")
        shots("forged-confirmation-refused")
    page.goto(server.url + "/lab")
    assert "John Smith" in welcome(page)
    page.goto(mine)  # its own link: straight back in, never "already used"
    page.wait_for_selector("#switch")
    shots("own-link-again")


# No poll script runs without JavaScript: a timeout longer than the test keeps both sessions
# (two at once: without the lab's one-light rule, as above).
@pytest.mark.parametrize(
    "simple_lab", [{"WEBLAB_TIMEOUT": 120, "WEBLAB_DEVICES": []}], indirect=True
)
def test_the_confirmation_works_without_javascript(
    simple_lab: tuple[ModuleType, LiveServer], browser: Any, shots: Shots
) -> None:
    _module, server = simple_lab
    mine = server.start_session()
    theirs = start_as(server, "second.booking", "Second Booking")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(mine)
        assert "John Smith" in welcome(page)
        page.goto(theirs)
        page.wait_for_selector("#weblab-launch-confirm")
        page.screenshot(path=str(shots.folder / "no-js-confirmation.png"), full_page=True)
        page.click("#weblab-launch-open")
        page.wait_for_url(server.url + "/lab")
        assert "Second Booking" in welcome(page)
        # Its own first link still lets this browser back in: asked, never locked out.
        page.goto(mine)
        page.wait_for_selector("#weblab-launch-confirm")
        page.click("#weblab-launch-open")
        page.wait_for_url(server.url + "/lab")
        assert "John Smith" in welcome(page)
    finally:
        context.close()
