"""The admin page in a real browser (headless Chromium), served over HTTP on 127.0.0.1.

* The operator logs in with HTTP Basic, sees the live session's user, and ends it from the
  page: ``on_dispose`` runs once. The page refreshes by itself (no script: a meta refresh)
  and is readable on a phone-sized screen. Screenshots in ``test-artifacts/``.
* A page on another site (``localhost:<port2>`` while the lab is on ``127.0.0.1:<port1>``)
  posts the "end session" form to the lab in the operator's browser, which answers the
  lab's Basic challenge by itself: refused (403), with no token and even with a leaked one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from tests.support.admin import ADMIN, ADMIN_PASSWORD, ADMIN_USER, page_token, row_keys
from tests.support.examples import LiveServer, wait_until
from tests.support.lab import Lab
from tests.support.screenshots import Shots

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CREDENTIALS = {"username": ADMIN_USER, "password": ADMIN_PASSWORD}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def served(make_lab: Callable[..., Lab]) -> Iterator[tuple[Lab, LiveServer]]:
    # SERVER_NAME off: the lab answers on 127.0.0.1:<port>, where the browser calls it.
    lab = make_lab(SERVER_NAME=None, LAB_NAME="Heater lab", **ADMIN)
    with LiveServer(lab.app) as server:
        yield lab, server


def operator_page(
    browser: Any, viewport: dict[str, int] | None = None, **options: Any
) -> tuple[Any, Any, list[str]]:
    """A page in a browser that holds the admin credentials; its console messages."""
    context = browser.new_context(
        http_credentials=CREDENTIALS, viewport=viewport or {"width": 1100, "height": 800}, **options
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.on("pageerror", lambda error: console.append(str(error)))
    return context, page, console


@pytest.mark.parametrize("store_url", ["embedded"], indirect=True)
def test_the_operator_ends_a_session_from_the_page(
    browser: Any, served: tuple[Lab, LiveServer], request: pytest.FixtureRequest
) -> None:
    lab, server = served
    session_id = lab.start_raw()
    lab.start_raw(server={"request.username": "ana.garcia"})
    context, page, console = operator_page(browser)
    shots = Shots(page, request.node.name)
    try:
        reply = page.goto(server.url + "/weblab/admin/")
        assert reply.status == 200
        rows = page.locator("tr.session")
        assert rows.count() == 2
        assert "john.smith" in page.locator("#sessions").inner_text()
        assert page.locator("#health .big").inner_text() == "OK"
        assert session_id not in page.content()
        # The stylesheet loaded (a card has its border), under the page's own strict CSP.
        assert (
            page.evaluate("getComputedStyle(document.querySelector('.card')).borderTopWidth")
            == "4px"
        )
        shots("admin-page")

        assert page.title() == "Heater lab · lab admin"

        # "End session" asks first; Cancel changes nothing.
        john = rows.filter(has_text="john.smith")
        john.get_by_role("button", name="End session").click()
        page.wait_for_selector("#confirm")
        assert "john.smith" in page.locator("#confirm h2").inner_text()
        assert lab.disposed == []
        shots("confirm")
        page.click("#cancel")
        page.wait_for_selector("tr.session")
        assert page.locator("tr.session").count() == 2
        assert lab.disposed == []

        rows.filter(has_text="john.smith").get_by_role("button", name="End session").click()
        page.get_by_role("button", name="End session").click()  # on the confirmation page
        page.wait_for_selector("#notice")
        assert "ended" in page.locator("#notice").inner_text()
        assert lab.disposed == [session_id]
        assert page.locator("tr.session").count() == 1
        shots("after-ending")

        # It refreshes by itself: a session started now shows up without any click.
        lab.start_raw(server={"request.username": "new.student"})
        # (Polled from here: the page's CSP even refuses Playwright's wait_for_function.)
        wait_until(lambda: page.locator("tr.session").count() == 2, timeout=15, step=0.2)
        assert "new.student" in page.locator("#sessions").inner_text()
        assert lab.disposed == [session_id]  # the refresh re-sent nothing
        assert not [line for line in console if "Content Security Policy" in line], console
    finally:
        context.close()


@pytest.mark.parametrize("store_url", ["embedded"], indirect=True)
def test_the_page_is_readable_on_a_phone(
    browser: Any, served: tuple[Lab, LiveServer], request: pytest.FixtureRequest
) -> None:
    lab, server = served
    session_id = lab.start_raw(server={"request.username": "maria.fernandez-de-la-cruz"})

    @lab.weblab.task
    def calibrate() -> None: ...

    from weblab_ext.context import session_context

    with lab.app.app_context(), session_context(session_id):
        calibrate.delay()
    lab.state.tasks.heartbeat_tick(threads=4)
    context, page, _ = operator_page(
        browser, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    shots = Shots(page, request.node.name)
    try:
        page.goto(server.url + "/weblab/admin/")
        # Nothing wider than the screen: no sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        # Rows are cards: each cell carries its column's name.
        cell = page.locator("tr.session td[data-label='User']")
        assert cell.inner_text().strip() == "maria.fernandez-de-la-cruz"
        label = page.evaluate(
            "getComputedStyle(document.querySelector(\"tr.session td[data-label='User']\"), "
            "'::before').content"
        )
        assert label == '"User"'
        button = page.get_by_role("button", name="End session").bounding_box()
        assert button is not None and button["height"] >= 36  # big enough for a finger
        shots("phone")
    finally:
        context.close()


class OtherSite(LiveServer):
    """Another site on ``localhost:<port>``: a page that posts the lab's "end session" form
    at once, with the fields it is given."""

    def __init__(self) -> None:
        super().__init__(Request.application(self.page))
        self.url = f"http://localhost:{self.server.server_port}"
        self.target = ""
        self.fields: dict[str, str] = {}

    def page(self, request: Request) -> Response:
        inputs = "".join(
            f"<input type='hidden' name='{name}' value='{value}'>"
            for name, value in self.fields.items()
        )
        html = (
            "<!doctype html><title>Cute cats</title><h1>Cute cats</h1>"
            f"<form id='f' method='post' action='{self.target}'>{inputs}</form>"
            "<script>document.getElementById('f').submit()</script>"
        )
        return Response(html, mimetype="text/html")


@pytest.mark.parametrize("store_url", ["embedded"], indirect=True)
@pytest.mark.parametrize("leaked", [False, True], ids=["no-token", "leaked-token"])
def test_another_site_cannot_end_a_session(
    browser: Any, served: tuple[Lab, LiveServer], request: pytest.FixtureRequest, leaked: bool
) -> None:
    lab, server = served
    session_id = lab.start_raw()
    html = (
        lab.app.test_client()
        .get("/weblab/admin/", auth=(ADMIN_USER, ADMIN_PASSWORD))
        .get_data(as_text=True)
    )
    context, page, _ = operator_page(browser)
    shots = Shots(page, request.node.name)
    answers: list[int] = []
    page.on(
        "response",
        lambda reply: (
            answers.append(reply.status) if "/weblab/admin/sessions/end" in reply.url else None
        ),
    )
    try:
        page.goto(server.url + "/weblab/admin/")  # the operator is logged in to the lab
        with OtherSite() as other:
            other.target = server.url + "/weblab/admin/sessions/end"
            other.fields = {"session": row_keys(html, "session")[0]}
            if leaked:  # the worst case: the token leaked somehow (it expires soon anyway)
                other.fields["token"] = page_token(html)
            page.goto(other.url)
            wait_until(lambda: 403 in answers, timeout=15)
            shots("refused")
        assert "forbidden" in page.content()
        assert lab.disposed == []
        assert lab.record(session_id).state == "active"
    finally:
        context.close()
