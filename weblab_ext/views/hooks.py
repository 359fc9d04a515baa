"""App-wide request hooks: lazy thread start, data persistence, autopoll, header (Flask
layer: they run for every request of the app, not only weblab_ext's routes)."""

from __future__ import annotations

import logging

from flask import Flask, Response, request

from ..context import cookie_session_id, request_state
from ..runtime.store_errors import STORE_ERRORS
from ..runtime.users import CurrentUser
from . import exempt_from_csrf
from .errors import log_store_error, misconfigured_response, store_unavailable_response
from .health import HEALTH_ENDPOINT

logger = logging.getLogger("weblab_ext")


def _before_request() -> Response | None:
    # This also resolves the app's weblab state once per request (see context.request_state).
    state = request_state().lab
    problem = state.operator.deployment_problem(request.environ)
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
    here = request_state()
    settings = here.lab.settings
    user = here.user
    if isinstance(user, CurrentUser) and here.session_id is None:
        try:
            user.store_data_if_modified()
        except TypeError:
            logger.exception("weblab_user.data holds a value that is not JSON: not stored")
        except STORE_ERRORS as error:
            # The view's change to weblab_user.data is not saved: the student must not be
            # told all went well.
            log_store_error(error)
            response = store_unavailable_response()
    if settings.autopoll and not here.polled:
        session_id = cookie_session_id(here)
        if session_id is not None:
            try:
                here.lab.service.poll(session_id)
                here.polled = True
            except STORE_ERRORS as error:
                log_store_error(error)  # the reply stands; the next request polls again
    if settings.powered_by:
        response.headers.setdefault("powered-by", settings.powered_by)
    return response


def register_request_hooks(app: Flask) -> None:
    """Install the hooks on ``app``."""
    app.before_request(_before_request)
    app.after_request(_after_request)
