"""The student-facing routes: launch (callback), poll and logout, plus the forbidden page."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, redirect, render_template, session
from flask.typing import ResponseReturnValue

from .context import cookie_session_id, lab_state, logout
from .users import AnonymousUser

logger = logging.getLogger("weblab_ext")


def forbidden_response() -> ResponseReturnValue:
    """What an anonymous student gets: the lab's handler, a link, a template or a 403."""
    state = lab_state()
    handler = state.weblab._unauthorized_handler
    if handler is not None:
        return handler()  # type: ignore[no-any-return]
    settings = state.settings
    if settings.unauthorized_link:
        return redirect(settings.unauthorized_link)
    if settings.unauthorized_template:
        return render_template(settings.unauthorized_template)
    return "Access forbidden", 403, {"Content-Type": "text/plain; charset=utf-8"}


def _launch(session_id: str) -> ResponseReturnValue:
    state = lab_state()
    initial_url = state.weblab._initial_url
    if initial_url is None:
        logger.error("The lab never registered @weblab.initial_url: students cannot enter")
        return (
            "ERROR: laboratory not properly configured, didn't call @weblab.initial_url",
            500,
            {"Content-Type": "text/plain; charset=utf-8"},
        )
    if state.sessions.load(session_id) is None:
        return forbidden_response()
    session[state.settings.session_id_name] = session_id
    g.pop("_weblab_user", None)  # the user of this request is now the one launched
    g.pop("_weblab_polled", None)
    return redirect(initial_url())


def _poll(session_id: str) -> ResponseReturnValue:
    state = lab_state()
    if cookie_session_id() != session_id:
        return jsonify(success=False, reason="Different session identifier")
    user = state.load_user(session_id, poll=True)
    g._weblab_polled = True
    if isinstance(user, AnonymousUser):
        return jsonify(success=False, reason="Not found")
    if not user.active:
        return jsonify(success=False, reason="User inactive")
    return jsonify(success=True)


def _logout(session_id: str) -> ResponseReturnValue:
    if cookie_session_id() != session_id:
        return jsonify(success=False, reason="Different session identifier")
    logout()
    return jsonify(success=True)


def register_user_routes(app: Flask, callback_url: str) -> None:
    """Add the launch, poll and logout routes (endpoint names kept from the original)."""
    prefix = callback_url.rstrip("/") if callback_url != "/" else ""
    app.add_url_rule(f"{prefix}/<session_id>", "weblab_callback_url", _launch, methods=["GET"])
    app.add_url_rule(f"{prefix}/<session_id>/poll", "weblab_poll_url", _poll, methods=["GET"])
    app.add_url_rule(
        f"{prefix}/<session_id>/logout", "weblab_logout_url", _logout, methods=["GET", "POST"]
    )


