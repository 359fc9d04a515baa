"""App-wide request hooks: lazy thread start, data persistence, autopoll, header."""

from __future__ import annotations

import logging

from flask import Flask, Response, request

from .context import cached_current_user, cookie_session_id, lab_state, request_state
from .store.connection import STORE_ERRORS
from .views import exempt_from_csrf
from .views.errors import log_store_error, misconfigured_response, store_unavailable_response
from .views.health import HEALTH_ENDPOINT

logger = logging.getLogger("weblab_ext")


def _before_request() -> Response | None:
    state = lab_state()
    problem = state.deployment_problem(request.environ)
    if problem is not None and not (request.endpoint or "").endswith(HEALTH_ENDPOINT):
        return misconfigured_response(problem)  # the health view reports it itself
    # Threads start with the first request of each process: after gunicorn forks, never at
    # import or init_app time.
    state.ensure_threads()
    if not state.csrf_exempted:
        # CSRFProtect installed after init_app: its own hook runs after this one.
        state.csrf_exempted = exempt_from_csrf(state.app)
    return None


def _after_request(response: Response) -> Response:
    state = lab_state()
    here = request_state()
    user = cached_current_user()
    if user is not None and here.session_id is None:
        try:
            user.data.store_if_modified()
        except TypeError:
            logger.exception("weblab_user.data holds a value that is not JSON: not stored")
        except STORE_ERRORS as error:
            # The view's change to weblab_user.data is not saved: the student must not be
            # told all went well.
            log_store_error(error)
            response = store_unavailable_response()
    if state.settings.autopoll and not here.polled:
        session_id = cookie_session_id()
        if session_id is not None:
            try:
                state.service.poll(session_id)
                here.polled = True
            except STORE_ERRORS as error:
                log_store_error(error)  # the reply stands; the next request polls again
    if state.settings.powered_by:
        response.headers.setdefault("powered-by", state.settings.powered_by)
    return response


def register_request_hooks(app: Flask) -> None:
    """Install the hooks on ``app``."""
    app.before_request(_before_request)
    app.after_request(_after_request)
