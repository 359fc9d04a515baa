"""Browser fixtures: headless Chromium driven by Playwright, screenshots in test-artifacts/.

The tests skip (with the reason) only when Chromium is missing outside CI; under ``CI=true``
they must run, so a missing browser or Playwright is an error there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.screenshots import Shots

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


# Package scope: Playwright's sync API keeps an asyncio loop running in the main thread while
# it is open, which breaks Flask's async views (asgiref) in tests that run after this package.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists() and not _in_ci():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); CI installs it")
    if _in_ci():
        from playwright.sync_api import sync_playwright
    else:
        sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
        sync_playwright = sync_api.sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 900, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.js_errors = errors
    yield page
    context.close()


@pytest.fixture
def shots(page: Any, request: pytest.FixtureRequest) -> Shots:
    return Shots(page, request.node.name)
