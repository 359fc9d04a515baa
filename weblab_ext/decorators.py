"""View decorators: ``requires_login`` and ``requires_active``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app, jsonify, make_response, redirect, request
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from .context import cookie_session_id, get_weblab_user, lab_state
from .protocol import is_safe_back_url
from .runtime.lifecycle_log import SOURCE_REQUIRES_ACTIVE
from .runtime.users import AnonymousUser, CurrentUser, ExpiredUser
from .views.pages import session_ended_page, unauthorized_page

F = TypeVar("F", bound=Callable[..., Any])


def _wants_json() -> bool:
    # Single-page front ends ask for JSON explicitly; a browser navigation prefers HTML and
    # `*/*` counts for both, so only an explicit preference switches to JSON answers.
    accept = request.accept_mimetypes
    return request.is_json or accept["application/json"] > accept["text/html"]


def _anonymous_answer() -> ResponseReturnValue:
    if _wants_json():
        return jsonify(
            error=True,
            code="not-logged-in",
            message="No lab session: enter the lab through the RLMS",
        ), 401
    return unauthorized_page()


def requires_login(view: F) -> F:
    """Let in students with a session, current or expired; others get the forbidden page.

    A refused request never reaches the view, whatever its method (``OPTIONS`` included).
    ``async def`` views run through Flask's ``ensure_sync``.

    .. code-block:: python

        @app.route("/results")
        @requires_login
        def results():
            return render_template("results.html", data=weblab_user.data)
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if isinstance(get_weblab_user(), AnonymousUser):
            return _anonymous_answer()
        return _run(view, args, kwargs)

    return cast(F, wrapper)


def requires_active(view: F) -> F:
    """Let in only students whose session is active; send the others back to the RLMS.

    Anonymous students get the forbidden page; students who logged out or whose slot ended
    are redirected to their ``back`` URL, or shown a "your lab session has ended" page when
    the RLMS gave none (JSON 401/403 when the request asks for JSON).

    .. code-block:: python

        @app.route("/lab")
        @requires_active
        def lab():
            return render_template("lab.html")
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = get_weblab_user()
        if isinstance(user, AnonymousUser):
            return _log_rejection(None, make_response(_anonymous_answer()))
        assert isinstance(user, (CurrentUser, ExpiredUser))
        if not user.active:
            back = user.back if is_safe_back_url(user.back) else ""
            if _wants_json():
                answer = (
                    jsonify(
                        error=True,
                        code="session-inactive",
                        message="The lab session is over",
                        back=back,
                    ),
                    403,
                )
                return _log_rejection(user, make_response(answer))
            ended = redirect(back) if back else make_response(session_ended_page())
            return _log_rejection(user, ended)
        return _run(view, args, kwargs)

    return cast(F, wrapper)


def _run(view: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # As Flask-Login does: an ``async def`` view runs through Flask's async support.
    return current_app.ensure_sync(view)(*args, **kwargs)


def _log_rejection(user: CurrentUser | ExpiredUser | None, response: Response) -> Response:
    """Log a ``protected_request_rejected`` lifecycle event; return ``response``."""
    service = lab_state().service
    where = {
        "status": response.status_code,
        "endpoint": request.endpoint,
        "method": request.method,
        # The route rule (`/lab/<id>`), never the concrete path: it may carry data.
        "path": request.url_rule.rule if request.url_rule else None,
    }
    now = service.clock()
    if user is not None:
        service.lifecycle.session_event(
            "protected_request_rejected",
            user.record,
            source=SOURCE_REQUIRES_ACTIVE,
            now=now,
            timeout=service.timeout,
            **where,
        )
        return response
    session_id = cookie_session_id()
    reason = "anonymous_no_session_cookie" if session_id is None else "anonymous_session_not_found"
    service.lifecycle.anonymous_event(
        "protected_request_rejected",
        reason=reason,
        session_id=session_id,
        source=SOURCE_REQUIRES_ACTIVE,
        now=now,
        timeout=service.timeout,
        **where,
    )
    return response
