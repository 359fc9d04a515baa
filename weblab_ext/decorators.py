"""View decorators: ``requires_login`` and ``requires_active``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import jsonify, make_response, redirect, request
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from .context import cookie_session_id, get_weblab_user, lab_state
from .runtime.lifecycle_log import SOURCE_REQUIRES_ACTIVE
from .runtime.users import AnonymousUser, CurrentUser, ExpiredUser

F = TypeVar("F", bound=Callable[..., Any])


def _wants_json() -> bool:
    # Single-page front ends ask for JSON explicitly; a browser navigation prefers HTML and
    # `*/*` counts for both, so only an explicit preference switches to JSON answers.
    accept = request.accept_mimetypes
    return request.is_json or accept["application/json"] > accept["text/html"]


def _anonymous_answer() -> ResponseReturnValue:
    if _wants_json():
        return jsonify(error=True, code="not-logged-in",
                       message="No lab session: enter the lab through the RLMS"), 401
    return lab_state().unauthorized()


def requires_login(view: F) -> F:
    """Let in students with a session, current or expired; others get the forbidden page.

    .. code-block:: python

        @app.route("/results")
        @requires_login
        def results():
            return render_template("results.html", data=weblab_user.data)
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request.method != "OPTIONS" and isinstance(get_weblab_user(), AnonymousUser):
            return _anonymous_answer()
        return view(*args, **kwargs)

    return cast(F, wrapper)


def requires_active(view: F) -> F:
    """Let in only students whose session is active; send the others back to the RLMS.

    Anonymous students get the forbidden page; students who logged out or whose slot ended
    are redirected to their ``back`` URL (JSON 401/403 when the request asks for JSON).

    .. code-block:: python

        @app.route("/lab")
        @requires_active
        def lab():
            return render_template("lab.html")
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request.method == "OPTIONS":
            return view(*args, **kwargs)
        user = get_weblab_user()
        if isinstance(user, AnonymousUser):
            return _log_rejection(None, make_response(_anonymous_answer()))
        assert isinstance(user, (CurrentUser, ExpiredUser))
        if not user.active:
            if _wants_json():
                answer = jsonify(error=True, code="session-inactive",
                                 message="The lab session is over", back=user.back), 403
                return _log_rejection(user, make_response(answer))
            return _log_rejection(user, redirect(user.back))
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _log_rejection(user: CurrentUser | ExpiredUser | None, response: Response) -> Response:
    """Log a ``protected_request_rejected`` lifecycle event; return ``response``."""
    service = lab_state().service
    where = {"status": response.status_code, "endpoint": request.endpoint,
             "method": request.method,
             # The route rule (`/lab/<id>`), never the concrete path: it may carry data.
             "path": request.url_rule.rule if request.url_rule else None}
    now = service.clock()
    if user is not None:
        service.lifecycle.session_event("protected_request_rejected", user.record,
                                        source=SOURCE_REQUIRES_ACTIVE, now=now,
                                        timeout=service.timeout, **where)
        return response
    session_id = cookie_session_id()
    reason = ("anonymous_no_session_cookie" if session_id is None
              else "anonymous_session_not_found")
    service.lifecycle.anonymous_event("protected_request_rejected", reason=reason,
                                      session_id=session_id, source=SOURCE_REQUIRES_ACTIVE,
                                      now=now, timeout=service.timeout, **where)
    return response
