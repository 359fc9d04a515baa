"""The session records pages in headless Chromium: charts drawn under the page's strict CSP
(no violation, styles from the stylesheet), readable on a phone. Screenshots in
``test-artifacts/``."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.admin import ADMIN, ADMIN_PASSWORD, ADMIN_USER
from tests.support.examples import LiveServer
from tests.support.lab import Lab
from tests.support.screenshots import Shots
from weblab_ext.runtime.lifecycle_log import session_id_hash

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.parametrize("store_url", ["embedded"], indirect=True)
@pytest.mark.parametrize("viewport", [(1100, 800), (390, 844)], ids=["desk", "phone"])
def test_records_pages_in_a_browser(
    browser: Any,
    make_lab: Callable[..., Lab],
    request: pytest.FixtureRequest,
    viewport: tuple[int, int],
) -> None:
    lab = make_lab(SERVER_NAME=None, LAB_NAME="Heater lab", **ADMIN)
    sid = lab.start_raw()
    lab.state.journal.call(sid, "dispose", "done")
    record = lab.state.sessions.load(sid)
    assert record is not None
    now = time.time()
    for index in range(12):
        at = now - (index % 7) * 86400 - 1
        copy = dataclasses.replace(
            record, session_id=f"b{index:02d}" + "x" * 40, device=f"board-{index % 2 + 1}"
        )
        copy = dataclasses.replace(copy, start_date=at, max_date=at + 3600)
        lab.state.journal.started(copy, now=at)
        lab.state.journal.ended(copy, "slot_end", now=at + 300 + index * 60)
        lab.state.journal.call(copy.session_id, "dispose", "done", now=at + 301 + index * 60)
    width, height = viewport
    with LiveServer(lab.app) as server:
        context = browser.new_context(
            http_credentials={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
            viewport={"width": width, "height": height},
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.on("pageerror", lambda error: console.append(str(error)))
        shots = Shots(page, request.node.name)
        try:
            assert page.goto(server.url + "/weblab/admin/records/").status == 200
            assert page.locator("svg.bars").count() == 6
            assert page.locator("svg.bars rect.bar").count() == 6 * 7
            fill = page.evaluate("getComputedStyle(document.querySelector('rect.bar')).fill")
            assert fill == "rgb(59, 110, 165)"
            shots("records")
            page.locator("tr.record a").first.click()
            assert page.locator("#timeline li").count() >= 1
            assert page.locator("#calls").inner_text() == "RLMS calls: dispose (done 1)."
            shots("timeline")
            assert page.locator("text=Back to the session records").count() == 1
            assert sid not in page.content() and session_id_hash(sid) in page.url
            assert not [line for line in console if "Content Security Policy" in line], console
            assert not [line for line in console if "favicon" not in line and "404" not in line]
        finally:
            context.close()
