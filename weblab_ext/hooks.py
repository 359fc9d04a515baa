"""App-wide request hooks: lazy thread start, data persistence, autopoll, header."""

from __future__ import annotations

import logging

from flask import Flask, Response, g

from .context import cached_current_user, cookie_session_id, lab_state

logger = logging.getLogger("weblab_ext")


def _before_request() -> None:
    # Threads start with the first request of each process: after gunicorn forks, never at
    # import or init_app time.
    lab_state().ensure_threads()


def _after_request(response: Response) -> Response:
    state = lab_state()
    user = cached_current_user()
    if user is not None and "_weblab_session_id" not in g:
        try:
            user.data.store_if_modified()
        except TypeError:
            logger.exception("weblab_user.data holds a value that is not JSON: not stored")
    if state.settings.autopoll and not g.get("_weblab_polled", False):
        session_id = cookie_session_id()
        if session_id is not None:
            state.sessions.poll(session_id, now=state.clock())
            g._weblab_polled = True
    if state.settings.powered_by:
        response.headers.setdefault("powered-by", state.settings.powered_by)
    return response


def register_request_hooks(app: Flask) -> None:
    """Install the hooks on ``app``."""
    app.before_request(_before_request)
    app.after_request(_after_request)
