"""The student-facing routes: launch (callback), poll and logout, plus the forbidden page."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, redirect, request, session
from flask.typing import ResponseReturnValue

from ..context import cookie_session_id, get_weblab_user, lab_state, logout, request_state
from ..runtime.users import AnonymousUser, CurrentUser, ExpiredUser

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
    if state.service.load(session_id) is None:
        return state.unauthorized()
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


def _logout(session_id: str) -> ResponseReturnValue:
    navigating = request.method == "GET" and _navigating()
    if cookie_session_id() != session_id:
        if navigating:
            return lab_state().unauthorized()
        return jsonify(success=False, reason="Different session identifier")
    logout()
    if navigating:
        user = get_weblab_user(cached=False)
        back = user.back if isinstance(user, (CurrentUser, ExpiredUser)) else None
        return redirect(back) if back else lab_state().unauthorized()
    return jsonify(success=True)


def register_student_routes(app: Flask, callback_url: str) -> None:
    """Add the launch, poll and logout routes (endpoint names kept from the original)."""
    prefix = callback_url.rstrip("/") if callback_url != "/" else ""
    app.add_url_rule(f"{prefix}/<session_id>", "weblab_callback_url", _launch, methods=["GET"])
    app.add_url_rule(f"{prefix}/<session_id>/poll", "weblab_poll_url", _poll, methods=["GET"])
    app.add_url_rule(
        f"{prefix}/<session_id>/logout", "weblab_logout_url", _logout, methods=["GET", "POST"]
    )


