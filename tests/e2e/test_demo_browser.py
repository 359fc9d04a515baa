"""``make demo`` in a real browser: ``/demo-start`` opened in two browsers while the one
heater is in use. The second is told so (and never gets a session that would switch the heater
under the first); the first is taken back to its lab; once the first leaves, the second gets in.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.support.examples import EXAMPLES, LiveServer, load_module, wait_until
from tests.support.screenshots import Shots

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, LiveServer]]:
    """The demo's lab as ``make demo`` serves it: debug mode, its development secrets."""
    pytest.importorskip("flask_socketio")
    for key in (
        "FLASK_DEBUG",
        "FLASK_SECRET_KEY",
        "FLASK_WEBLAB_USERNAME",
        "FLASK_WEBLAB_PASSWORD",
    ):
        monkeypatch.setenv(key, "")  # setenv first so that what the demo sets is undone too
        monkeypatch.delenv(key)
    monkeypatch.setenv("FLASK_WEBLAB_REDIS_URL", "fakeredis://demo-browser")
    monkeypatch.setenv("FLASK_WEBLAB_CLEANER_INTERVAL", "0.2")
    script = load_module(EXAMPLES / "demo.py")
    lab = script.load_lab()
    with LiveServer(lab.app) as server:
        script.add_demo_routes(lab.app, server.url)
        yield lab, server
    lab.stop_stream.set()
    lab.push.stop()
    lab.weblab.stop_threads()


def session_of(app: Any) -> str:
    rows = app.extensions["weblab"].devices.overview()
    assert [row.name for row in rows] == ["heater"]
    return str(rows[0].state)


def test_demo_start_in_a_second_browser_says_the_heater_is_in_use(
    demo: tuple[ModuleType, LiveServer], page: Any, browser: Any, shots: Shots
) -> None:
    lab, server = demo
    page.goto(server.url + "/demo-start")
    page.wait_for_url(server.url + "/lab")
    page.wait_for_selector("#connection:text('live')")
    page.click("#heater")
    page.wait_for_selector("#heater:text('Turn heater off')")  # stored in the session's data
    shots("first-browser-heater-on")

    other = browser.new_context(viewport={"width": 900, "height": 800})
    try:
        second = other.new_page()
        reply = second.goto(server.url + "/demo-start")
        assert reply is not None and reply.status == 409
        assert second.url == server.url + "/demo-start"
        heading = second.locator("#demo-busy").inner_text()
        assert heading == "The heater is in use by another session"
        assert "Try again when it ends" in second.locator("body").inner_text()
        second.screenshot(path=str(shots.folder / "second-browser-busy.png"), full_page=True)

        # The first session and its heater are untouched.
        assert lab.disposed_sessions == []
        assert session_of(lab.app) == "active"
        page.wait_for_timeout(1200)  # a few sensor pushes later
        assert page.locator("#heater").inner_text() == "Turn heater off"
        assert page.locator("#connection").inner_text() == "live"
        shots("first-browser-untouched")

        # The first browser opening /demo-start again is taken back to its own lab.
        page.goto(server.url + "/demo-start")
        page.wait_for_url(server.url + "/lab")
        page.wait_for_selector("#connection:text('live')")
        assert "Demo Student" in page.locator("body").inner_text()
        assert page.locator("#heater").inner_text() == "Turn heater off"
        assert lab.disposed_sessions == []
        shots("first-browser-back-in-its-lab")

        # The first student leaves; the second one's retry gets in.
        page.click("#logout")
        page.wait_for_url(server.url + "/demo-back")
        wait_until(lambda: lab.disposed_sessions, timeout=10)
        second.click("#demo-retry")
        second.wait_for_url(server.url + "/lab")
        second.wait_for_selector("#connection:text('live')")
        second.screenshot(path=str(shots.folder / "second-browser-in.png"), full_page=True)
        assert session_of(lab.app) == "active"
    finally:
        other.close()
    assert page.js_errors == []
