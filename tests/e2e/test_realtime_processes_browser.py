"""``examples/socketio`` as two gunicorn processes on one Redis (store and message queue), in
a real browser: a student's two tabs, each on another process, see each other's changes; a tab
whose process restarts reconnects by itself and shows what changed while it was away."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.redis_server import RedisServer
from tests.support.screenshots import Shots
from tests.support.socketio_processes import Server, Student, gunicorn

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def two_processes(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    base = f"browser-{uuid.uuid4().hex[:8]}"
    one = gunicorn(tmp_path, redis_server.url, base)
    two = gunicorn(tmp_path, redis_server.url, base)
    try:
        yield one.start(), two.start()
    finally:
        one.stop()
        two.stop()


def heater_says(page: Any, text: str) -> None:
    page.wait_for_selector(f"#heater:text('{text}')")


def test_tabs_on_two_processes_agree_and_a_restarted_one_catches_up(
    two_processes: tuple[Server, Server], page: Any, shots: Shots
) -> None:
    one, two = two_processes
    page.goto(f"{one.url}/callback/{Student.start(one)}")
    page.wait_for_selector("#connection:text('live')")
    # The same student's second tab, served by the other process (cookies ignore the port).
    other = page.context.new_page()
    other_errors: list[str] = []
    other.on("pageerror", lambda error: other_errors.append(str(error)))
    other.goto(two.url + "/lab")
    other.wait_for_selector("#connection:text('live')")
    other_shots = Shots(other, shots.folder.name + "-other-tab")

    page.click("#heater")  # handled by process one
    heater_says(page, "Turn heater off")
    heater_says(other, "Turn heater off")  # pushed through the queue to process two
    other.wait_for_function("parseFloat(document.getElementById('temperature').textContent) > 22")
    shots("heater-on")
    other_shots("heater-on-seen-by-process-two")

    other.evaluate("window.sameDocument = true")  # gone if the tab reloads
    two.stop()
    other.wait_for_selector("#connection:text('disconnected')")
    # A poll of that tab fails while its process is down: the page stays (no reload to the
    # browser's error page); the first tab's polls keep the session alive meanwhile.
    other.evaluate("window.weblabPoll.pollNow()")
    other.wait_for_function("window.weblabPoll.ended")
    page.click("#heater")  # while the other tab is away
    heater_says(page, "Turn heater on")
    assert other.locator("#heater").inner_text() == "Turn heater off"  # it missed the push
    other_shots("away")
    two.start()
    other.wait_for_selector("#connection:text('live')", timeout=30_000)
    heater_says(other, "Turn heater on")  # from the full state sent on reconnect
    assert other.evaluate("window.sameDocument") is True  # the socket's reconnect, no reload
    other_shots("caught-up-after-restart")
    assert page.js_errors == [] and other_errors == []
