"""A lab whose ``on_dispose`` blocks until the test releases it (disposal tests, docs tests)."""

from __future__ import annotations

import threading

from tests.support.lab import Lab


def blocking_on_dispose(lab: Lab) -> tuple[threading.Event, threading.Event, list[str]]:
    """Replace the lab's on_dispose with one that waits for ``release``."""
    entered, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def on_dispose() -> None:
        from weblab_ext import weblab_user

        calls.append(weblab_user.session_id)
        entered.set()
        release.wait(10)

    lab.weblab.callbacks.on_dispose = on_dispose
    return entered, release, calls
