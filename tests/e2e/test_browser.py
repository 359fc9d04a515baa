"""End to end, in a real browser: each example served over HTTP, driven by headless Chromium.

For each example: an RLMS starts a session over HTTP, the browser opens the launch URL, sees
the lab, uses a control, stays in past ``WEBLAB_TIMEOUT`` thanks to the poll script, and is
sent to the RLMS's back URL after logging out or when the slot ends; ``on_dispose`` runs once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.support.examples import (
    EXAMPLES,
    LiveServer,
    example_env,
    load_module,
    on_path,
    rlms_headers,
    wait_until,
)
from tests.support.screenshots import Shots
from weblab_ext.runtime.sessions import CLOSE_GRACE

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Short enough that staying in proves the poll script works; the poll runs every TIMEOUT/2.
TIMEOUT = 2
E2E_CONFIG = {"WEBLAB_TIMEOUT": TIMEOUT, "WEBLAB_CLEANER_INTERVAL": 0.2}
BACK_PAGE = "<!doctype html><title>Back</title><h1 id='back'>Back at the RLMS</h1>"


def state_of(app: Any, launch_url: str) -> str:
    session_id = launch_url.rstrip("/").rsplit("/", 1)[-1]
    record = app.extensions["weblab"].sessions.load(session_id)
    return record.state if record is not None else "missing"


def session_id_of(launch_url: str) -> str:
    return launch_url.rstrip("/").rsplit("/", 1)[-1]


def stored_data(app: Any, launch_url: str) -> dict[str, Any]:
    """The session's ``weblab_user.data`` as stored (``{}`` once the session is gone)."""
    record = app.extensions["weblab"].sessions.load(session_id_of(launch_url))
    return json.loads(record.data_json) if record is not None else {}


def stay_past_timeout(page: Any, app: Any, launch_url: str) -> None:
    """Idle for longer than the timeout: only the poll script keeps the session alive."""
    time.sleep(TIMEOUT * 1.5 + 0.5)
    assert state_of(app, launch_url) == "active"
    assert not page.evaluate("window.weblabPoll.ended")


def expect_back(page: Any, server: LiveServer) -> None:
    page.wait_for_url(server.url + "/demo-back", timeout=15_000)
    assert page.locator("#back").inner_text() == "Back at the RLMS"


# -- simple -----------------------------------------------------------------------------------


@pytest.fixture
def simple(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, LiveServer]]:
    example_env(monkeypatch, **E2E_CONFIG)
    module = load_module(EXAMPLES / "simple" / "app.py")
    with LiveServer(module.app) as server:
        yield module, server
    module.weblab.stop_threads()


def test_simple_logout(simple: tuple[ModuleType, LiveServer], page: Any, shots: Shots) -> None:
    module, server = simple
    launch = server.start_session()
    page.goto(launch)
    assert page.url == server.url + "/lab"
    assert "John Smith" in page.locator("#welcome").inner_text()
    shots("lab")
    page.click("#switch")
    page.wait_for_selector("#light:text('on')")
    assert page.locator("#switches").inner_text() == "1"
    shots("light-on")
    stay_past_timeout(page, module.app, launch)
    page.click("#switch")
    page.wait_for_selector("#light:text('off')")
    shots("still-in-after-timeout")
    page.click("#logout")
    expect_back(page, server)
    shots("back")
    wait_until(lambda: module.disposed_sessions, timeout=10)
    time.sleep(0.5)  # a second clean-up would show up here
    assert module.disposed_sessions == [session_id_of(launch)]
    assert page.js_errors == []


def test_simple_slot_end(simple: tuple[ModuleType, LiveServer], page: Any, shots: Shots) -> None:
    module, server = simple
    launch = server.start_session(slot=3)
    page.goto(launch)
    page.wait_for_selector("#switch")
    shots("lab")
    expect_back(page, server)
    shots("back-after-slot")
    wait_until(lambda: module.disposed_sessions, timeout=10)
    assert module.disposed_sessions == [session_id_of(launch)]


def test_poll_script_callback_can_keep_the_page(
    simple: tuple[ModuleType, LiveServer], page: Any, shots: Shots
) -> None:
    _, server = simple
    launch = server.start_session(slot=3)
    page.goto(launch)
    page.wait_for_selector("#switch")
    page.evaluate(
        "window.weblabSessionOver = function (reason, back) {"
        " window.endedWith = [reason, back]; return false; }"
    )
    page.wait_for_function("window.weblabPoll.ended", timeout=15_000)
    page.wait_for_timeout(500)  # a navigation would have started by now
    assert page.url == server.url + "/lab"
    assert page.evaluate("window.endedWith") == ["User inactive", server.url + "/demo-back"]
    shots("kept-by-callback")


def test_poll_script_without_a_back_url_goes_through_the_logout_route(
    simple: tuple[ModuleType, LiveServer], page: Any, shots: Shots
) -> None:
    module, server = simple
    launch = server.start_session()
    page.goto(launch)
    page.wait_for_selector("#switch")
    state = module.app.extensions["weblab"]
    state.sessions.client.delete(state.keys.session(session_id_of(launch)))  # record gone
    page.wait_for_url(launch + "/logout", timeout=15_000)
    assert "Access forbidden" in page.content()
    shots("forbidden-after-logout-route")


# -- socketio ---------------------------------------------------------------------------------


@pytest.fixture
def realtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, LiveServer]]:
    example_env(monkeypatch, **E2E_CONFIG)
    module = load_module(EXAMPLES / "socketio" / "app.py")
    with LiveServer(module.app) as server:
        yield module, server
    module.stop_stream.set()
    module.push.stop()
    module.weblab.stop_threads()


def open_realtime_lab(page: Any, server: LiveServer, launch: str, shots: Shots) -> None:
    page.goto(launch)
    assert page.url == server.url + "/lab"
    page.wait_for_selector("#connection:text('live')")
    # The sensor stream is a Socket.IO background task: readings replace the placeholder.
    page.wait_for_function("document.getElementById('temperature').textContent !== '--'")
    shots("lab-live")


def test_socketio_controls_task_progress_and_logout(
    realtime: tuple[ModuleType, LiveServer], page: Any, shots: Shots
) -> None:
    module, server = realtime
    launch = server.start_session()
    open_realtime_lab(page, server, launch, shots)

    page.click("#heater")
    page.wait_for_selector("#heater:text('Turn heater off')")
    wait_until(lambda: stored_data(module.app, launch).get("heater") is True)
    shots("heater-on")

    # Record every progress value the page shows: they must arrive live, one by one.
    page.evaluate("""() => {
        window.seenProgress = [];
        new MutationObserver(() => window.seenProgress.push(
            document.getElementById('calibration-progress').value))
          .observe(document.getElementById('calibration-status'),
                   {childList: true, characterData: true, subtree: true});
    }""")
    page.click("#calibrate")
    page.wait_for_function("document.getElementById('calibration-progress').value >= 30")
    shots("calibration-in-progress")
    page.wait_for_selector("#calibration-status:text('done')")
    shots("calibration-done")
    seen = page.evaluate("window.seenProgress")
    assert len([value for value in seen if 0 < value < 100]) >= 3, seen
    assert "offset" in page.locator("#calibration-status").inner_text()

    stay_past_timeout(page, module.app, launch)
    assert page.locator("#connection").inner_text() == "live"
    shots("still-in-after-timeout")

    page.click("#logout")
    # The server pushes weblab:session-ended; the poll script goes to the back URL at once.
    expect_back(page, server)
    shots("back")
    wait_until(lambda: module.disposed_sessions, timeout=10)
    time.sleep(0.5)
    assert module.disposed_sessions == [session_id_of(launch)]
    assert module.local_sockets == {}  # the sensor stream feeds no closed socket
    assert page.js_errors == []


def test_socketio_slot_end_pushes_back(
    realtime: tuple[ModuleType, LiveServer], page: Any, shots: Shots
) -> None:
    module, server = realtime
    launch = server.start_session(slot=3)
    open_realtime_lab(page, server, launch, shots)
    expect_back(page, server)
    shots("back-after-slot")
    wait_until(lambda: module.disposed_sessions, timeout=10)
    assert module.disposed_sessions == [session_id_of(launch)]


# -- advanced ---------------------------------------------------------------------------------


@pytest.fixture
def advanced(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> Iterator[tuple[ModuleType, Any, LiveServer]]:
    example_env(monkeypatch, **E2E_CONFIG)
    with on_path(EXAMPLES / "advanced"):
        import mylab
        import mylab.hardware
        import mylab.lab

        mylab.hardware.slider.step_seconds = 0.03
        app = mylab.create_app({"LAB_DATABASE": str(tmp_path / "students.sqlite3")})
        with LiveServer(app) as server:
            yield mylab.lab, app, server
        mylab.weblab.stop_threads()


def test_advanced_task_progress_and_slot_end(
    advanced: tuple[ModuleType, Any, LiveServer], page: Any, shots: Shots
) -> None:
    lab, app, server = advanced
    launch = server.start_session(slot=12)
    page.goto(launch)
    assert "visit" in page.locator("#welcome").inner_text()
    assert page.locator("#visits").inner_text() == "1"
    shots("lab")
    page.fill("#target", "60")
    page.click("#move")
    page.wait_for_function("document.getElementById('move-progress').value >= 20")
    shots("moving")
    page.wait_for_selector("#move-status:text('done')")
    assert page.locator("#position").inner_text() == "60"
    shots("moved")
    stay_past_timeout(page, app, launch)
    # The slot (12 s) ends: the poll reply carries the back URL and the script goes there
    # (the page has no callback and no Socket.IO: weblab_poll.js's default).
    expect_back(page, server)
    shots("back-after-slot")
    wait_until(lambda: lab.disposed_sessions, timeout=10)
    assert lab.disposed_sessions == [session_id_of(launch)]


# -- quickstart -------------------------------------------------------------------------------


@pytest.fixture
def quickstart(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, LiveServer]]:
    example_env(monkeypatch, **E2E_CONFIG)
    module = load_module(EXAMPLES / "quickstart" / "app.py")
    # The tutorial has no page standing in for the RLMS; add one for the back URL.
    module.app.add_url_rule("/demo-back", "demo_back", lambda: BACK_PAGE)
    with LiveServer(module.app) as server:
        yield module, server
    module.weblab.stop_threads()


def test_quickstart_press_and_leave(
    quickstart: tuple[ModuleType, LiveServer], page: Any, shots: Shots
) -> None:
    module, server = quickstart
    disposed: list[str] = []
    original = module.weblab.callbacks.on_dispose

    def on_dispose() -> None:
        disposed.append("x")
        original()

    module.weblab.callbacks.on_dispose = on_dispose
    launch = server.start_session()
    page.goto(launch)
    assert page.locator("h1").inner_text() == "Hello John Smith"
    shots("lab")
    page.click("#press")
    page.wait_for_selector("#presses:text('1')")
    shots("pressed")
    stay_past_timeout(page, module.app, launch)
    page.click("#press")
    page.wait_for_selector("#presses:text('2')")
    page.click("#logout")
    expect_back(page, server)
    shots("back")
    wait_until(lambda: state_of(module.app, launch) == "disposed", timeout=10)
    assert disposed == ["x"]


def test_quickstart_rlms_dispose_sends_the_page_back(
    quickstart: tuple[ModuleType, LiveServer], page: Any, shots: Shots
) -> None:
    """A plain ``weblab_poll_script()`` (no callback, no Socket.IO) leaves the dead page."""
    module, server = quickstart
    launch = server.start_session()
    page.goto(launch)
    page.wait_for_selector("#press")
    shots("lab")
    reply = module.app.test_client().post(
        f"/weblab/sessions/{session_id_of(launch)}",
        json={"action": "delete"},
        headers=rlms_headers(),
    )
    assert reply.json["finished"] is True
    expect_back(page, server)
    shots("back-after-rlms-dispose")
    assert page.js_errors == []


def test_quickstart_closing_the_tab_logs_out(
    quickstart: tuple[ModuleType, LiveServer], page: Any, shots: Shots
) -> None:
    module, server = quickstart
    launch = server.start_session()
    page.goto(launch)
    page.click("#press")  # a form post is not leaving the lab
    page.wait_for_selector("#presses:text('1')")
    shots("lab")
    assert state_of(module.app, launch) == "active"
    page.close(run_before_unload=True)  # logout_on_close=True: the page sends a beacon
    wait_until(lambda: state_of(module.app, launch) != "active", timeout=10)


@pytest.fixture
def quickstart_default_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[ModuleType, LiveServer, list[str]]]:
    """The quickstart lab with the default WEBLAB_TIMEOUT (15 s): longer than the grace of a
    closed page, so what ends the session there is the close, not the timeout."""
    example_env(monkeypatch, WEBLAB_CLEANER_INTERVAL=0.2)
    module = load_module(EXAMPLES / "quickstart" / "app.py")
    module.app.add_url_rule("/demo-back", "demo_back", lambda: BACK_PAGE)
    disposed: list[str] = []
    original = module.weblab.callbacks.on_dispose

    def on_dispose() -> None:
        disposed.append("x")
        original()

    module.weblab.callbacks.on_dispose = on_dispose
    with LiveServer(module.app) as server:
        yield module, server, disposed
    module.weblab.stop_threads()


def test_quickstart_reload_keeps_the_session(
    quickstart_default_timeout: tuple[ModuleType, LiveServer, list[str]],
    page: Any,
    shots: Shots,
) -> None:
    """logout_on_close=True: a reload (F5) sends the closing beacon too, yet the session
    lives on; the reloaded page still works."""
    module, server, disposed = quickstart_default_timeout
    launch = server.start_session()
    page.goto(launch)
    page.click("#press")
    page.wait_for_selector("#presses:text('1')")
    shots("before-reload")
    page.reload()
    page.wait_for_selector("#presses:text('1')")
    time.sleep(CLOSE_GRACE + 2)  # past the grace and a few cleaner passes
    assert state_of(module.app, launch) == "active"
    assert disposed == []
    page.reload()  # twice: still the same session
    page.click("#press")
    page.wait_for_selector("#presses:text('2')")
    shots("after-reloads")
    time.sleep(CLOSE_GRACE + 2)
    assert state_of(module.app, launch) == "active"
    assert disposed == []
    assert page.js_errors == []


def test_quickstart_closing_the_tab_ends_the_session_within_the_grace(
    quickstart_default_timeout: tuple[ModuleType, LiveServer, list[str]],
    page: Any,
) -> None:
    """Closing ends the session after CLOSE_GRACE seconds (plus a cleaner pass), well before
    the 15 s of WEBLAB_TIMEOUT."""
    module, server, disposed = quickstart_default_timeout
    launch = server.start_session()
    page.goto(launch)
    page.wait_for_selector("#press")
    closed = time.monotonic()
    page.close(run_before_unload=True)
    wait_until(lambda: state_of(module.app, launch) == "disposed", timeout=15)
    took = time.monotonic() - closed
    assert CLOSE_GRACE - 0.5 <= took <= CLOSE_GRACE + 2, took
    assert disposed == ["x"]


@pytest.fixture
def quickstart_timeout_6(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[ModuleType, LiveServer]]:
    """The quickstart lab with a 6 s timeout: polls every 3 s."""
    example_env(monkeypatch, WEBLAB_TIMEOUT=6, WEBLAB_CLEANER_INTERVAL=0.2)
    module = load_module(EXAMPLES / "quickstart" / "app.py")
    module.app.add_url_rule("/demo-back", "demo_back", lambda: BACK_PAGE)
    with LiveServer(module.app) as server:
        yield module, server
    module.weblab.stop_threads()


def test_quickstart_brief_network_loss_keeps_the_session(
    quickstart_timeout_6: tuple[ModuleType, LiveServer], page: Any, shots: Shots
) -> None:
    """The network drops for longer than a poll interval (a poll fails) but less than the
    timeout: the page retries, and the session lives on."""
    module, server = quickstart_timeout_6
    launch = server.start_session()
    page.goto(launch)
    page.wait_for_selector("#press")
    time.sleep(3)  # past the early polls
    page.context.set_offline(True)
    time.sleep(3.5)  # at least one poll fails
    page.context.set_offline(False)
    time.sleep(8)  # longer than the timeout: only polls after the outage keep the session
    assert not page.evaluate("window.weblabPoll.ended")
    assert state_of(module.app, launch) == "active"
    page.click("#press")
    page.wait_for_selector("#presses:text('1')")
    shots("after-network-loss")
