"""App-wide request hooks: lazy thread start, data persistence, autopoll, header."""

from __future__ import annotations

import logging

from flask import Flask, Response

from .context import cookie_session_id, request_state
from .runtime.users import CurrentUser
from .store.connection import STORE_ERRORS
from .views.errors import log_store_error, store_unavailable_response

logger = logging.getLogger("weblab_ext")


def _before_request() -> None:
    # Threads start with the first request of each process: after gunicorn forks, never at
    # import or init_app time. This also resolves the app's weblab state once per request.
    request_state().lab.ensure_threads()


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
