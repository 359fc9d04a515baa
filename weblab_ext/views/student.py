"""The student-facing routes: launch (callback), poll and logout, plus the forbidden page.

The launch URL logs in one browser only (``WEBLAB_LAUNCH_ONCE``): the first browser to
follow it holds the session and may follow it again; another one gets a "this link was
already used" page, so a launch URL leaked through a log, a Referer or a shared screen is
worth nothing.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, redirect, request, session
from flask.typing import ResponseReturnValue

from ..context import cookie_session_id, get_weblab_user, lab_state, logout, request_state
from ..runtime.lifecycle_log import session_id_hash
from ..runtime.users import AnonymousUser, CurrentUser, ExpiredUser
from .pages import link_used_page, session_ended_page, unauthorized_page

logger = logging.getLogger("weblab_ext")


def _launch(session_id: str) -> ResponseReturnValue:
    state = lab_state()
    initial_url = state.callbacks.initial_url
    if initial_url is None:
        logger.error("The lab never registered @weblab.initial_url: students cannot enter")
        return (
            "ERROR: laboratory not properly configured, didn't call @weblab.initial_url",
            500,
            {"Content-Type": "text/plain; charset=utf-8"},
        )
    outcome = state.service.launch(session_id, holder=cookie_session_id() == session_id)
    if outcome == "missing":
        return unauthorized_page()
    if outcome == "used":
        logger.info(
            "The launch URL of session %s was followed by a second browser: refused "
            "(WEBLAB_LAUNCH_ONCE)",
            session_id_hash(session_id),
        )
        return link_used_page()
    session[state.settings.session_id_name] = session_id
    here = request_state()
    here.user, here.polled = None, False  # the user of this request is now the one launched
    return redirect(initial_url())


def _poll(session_id: str) -> ResponseReturnValue:
    state = lab_state()
    if cookie_session_id() != session_id:
        return jsonify(success=False, reason="Different session identifier")
    user = state.service.load_user(session_id, poll=True)
    request_state().polled = True
    if isinstance(user, AnonymousUser):
        return jsonify(success=False, reason="Not found")
    if not user.active:
        assert isinstance(user, (CurrentUser, ExpiredUser))
        # `back` lets the poll script leave the dead page for the RLMS at once.
        return jsonify(success=False, reason="User inactive", back=user.back)
    return jsonify(success=True)


def _navigating() -> bool:
    """A browser navigation (the poll script's fallback, a link) rather than a script call:
    scripts and test clients never prefer HTML."""
    accept = request.accept_mimetypes
    return accept["text/html"] > accept["application/json"]


def logout_view(session_id: str) -> ResponseReturnValue:
    """End the session of the browser whose cookie names ``session_id`` (GET or POST); a
    browser navigation then goes to the session's back URL."""
    navigating = request.method == "GET" and _navigating()
    if cookie_session_id() != session_id:
        if navigating:
            return unauthorized_page()
        return jsonify(success=False, reason="Different session identifier")
    logout()
    if navigating:
        user = get_weblab_user(cached=False)
        if not isinstance(user, (CurrentUser, ExpiredUser)):
            return unauthorized_page()  # the record is gone: nothing to go back to
        return redirect(user.back) if user.back else session_ended_page()
    return jsonify(success=True)


def register_student_routes(app: Flask, callback_url: str) -> None:
    """Add the launch, poll and logout routes (endpoint names kept from the original)."""
    prefix = callback_url.rstrip("/") if callback_url != "/" else ""
    app.add_url_rule(f"{prefix}/<session_id>", "weblab_callback_url", _launch, methods=["GET"])
    app.add_url_rule(f"{prefix}/<session_id>/poll", "weblab_poll_url", _poll, methods=["GET"])
    app.add_url_rule(
        f"{prefix}/<session_id>/logout",
        "weblab_logout_url",
        logout_view,
        methods=["GET", "POST"],
    )
