"""The maintenance notice as a student sees it: the poll script's banner in Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.support.examples import EXAMPLES, LiveServer, example_env, load_module, wait_until
from tests.support.screenshots import Shots


@pytest.fixture
def quickstart(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, LiveServer]]:
    example_env(monkeypatch, WEBLAB_TIMEOUT=2, WEBLAB_CLEANER_INTERVAL=0.2)
    module = load_module(EXAMPLES / "quickstart" / "app.py")
    with LiveServer(module.app) as server:
        yield module, server
    module.weblab.stop_threads()


@pytest.mark.browser
@pytest.mark.slow
def test_the_maintenance_banner_in_chromium(
    quickstart: tuple[ModuleType, LiveServer],
    page: Any,
    shots: Shots,
) -> None:
    module, server = quickstart
    launch = server.start_session()
    page.goto(launch)
    page.wait_for_selector("#press")
    runner = module.app.test_cli_runner()
    result = runner.invoke(args=["weblab", "maintenance", "on", "--message", "Back at <14:00>"])
    assert result.exit_code == 0, result.output
    banner = page.wait_for_selector("#weblab-notice", timeout=10_000)
    assert banner.inner_text() == "Back at <14:00>"  # text, never markup
    assert banner.get_attribute("role") == "status"
    shots("maintenance-banner")
    # The student keeps the slot: the lab still answers.
    page.click("#press")
    page.wait_for_selector("#presses:text('1')")
    assert runner.invoke(args=["weblab", "maintenance", "off"]).exit_code == 0
    page.wait_for_selector("#weblab-notice", state="detached", timeout=10_000)
    shots("banner-gone")
    session_id = launch.rstrip("/").rsplit("/", 1)[-1]
    wait_until(lambda: module.app.extensions["weblab"].sessions.load(session_id) is not None)
    assert module.app.extensions["weblab"].sessions.load(session_id).state == "active"
    assert page.js_errors == []
