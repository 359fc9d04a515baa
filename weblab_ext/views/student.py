"""The student-facing routes: launch (callback), poll, logout and close, plus the forbidden
page.

The launch URL logs in one browser only (``WEBLAB_LAUNCH_ONCE``): the first browser to
follow it holds the session and may follow it again; another one gets a "this link was
already used" page, so a launch URL leaked through a log, a Referer or a shared screen is
worth nothing. Each browser gets a random name in its signed cookie on its first launch; the
store records (a hash of) it as the holder, so a browser that entered other sessions since
still gets back into its own.

A browser in an active session that follows another session's launch URL (a link another
site or a message planted) is asked first, on a page whose button POSTs back to the launch
URL with a token bound to the browser's cookie: a link alone never replaces the session a
student is in.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from flask import Flask, jsonify, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from ..context import cookie_session_id, get_weblab_user, lab_state, logout, request_state
from ..random_ids import create_token
from ..runtime.callbacks import InitialUrl
from ..runtime.lifecycle_log import session_id_hash
from ..runtime.sessions import SessionRecord
from ..runtime.users import AnonymousUser, CurrentUser, ExpiredUser
from .pages import (
    launch_confirm_page,
    launch_refused_page,
    link_used_page,
    session_ended_page,
    unauthorized_page,
)

logger = logging.getLogger("weblab_ext")

#: Added to ``WEBLAB_SESSION_ID_NAME`` for the cookie key of the browser's own random name.
_BROWSER_SUFFIX = "_browser"


def _browser_secret(*, create: bool) -> str | None:
    """The random value naming this browser in its signed cookie (made on first launch)."""
    key = lab_state().settings.session_id_name + _BROWSER_SUFFIX
    value = session.get(key)
    if isinstance(value, str) and value:
        return value
    if not create:
        return None
    value = session[key] = create_token()
    return value


def _browser_tag(secret: str) -> str:
    """What the store records as the holder of a launch URL: a hash of the browser's secret,
    so that reading the store gives nothing to build a confirmation from."""
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


def _confirm_token(secret: str, session_id: str) -> str:
    """The confirmation form's token: bound to this browser's cookie and to the session."""
    message = f"weblab-launch-confirm:{session_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _describe(record: SessionRecord | None) -> str:
    if record is None:
        return "a session that has ended"
    return f"{record.experiment_name} as {record.username}"


def _confirm_page(
    session_id: str, current: str | None, secret: str, initial_url: InitialUrl
) -> ResponseReturnValue:
    state = lab_state()
    try:  # where "stay" goes: the lab's page, as the current session's user sees it
        stay_url: str | None = str(initial_url())
    except Exception:
        logger.exception("@weblab.initial_url raised while building the confirmation page")
        stay_url = None
    return launch_confirm_page(
        current=_describe(state.service.load(current) if current else None),
        new=_describe(state.service.load(session_id)),
        action=url_for("weblab_callback_url", session_id=session_id),
        token=_confirm_token(secret, session_id),
        stay_url=stay_url,
    )


def launch_view(session_id: str) -> ResponseReturnValue:
    """The launch URL: ``GET`` enters the lab (or asks first, when the browser is in another
    active session); ``POST`` is the confirmation page's "open the new session"."""
    state = lab_state()
    initial_url = state.callbacks.initial_url
    if initial_url is None:
        logger.error("The lab never registered @weblab.initial_url: students cannot enter")
        return (
            "ERROR: laboratory not properly configured, didn't call @weblab.initial_url",
            500,
            {"Content-Type": "text/plain; charset=utf-8"},
        )
    confirmed = request.method == "POST"
    secret = _browser_secret(create=not confirmed)
    if confirmed and (
        secret is None
        or not hmac.compare_digest(
            request.form.get("csrf_token", ""), _confirm_token(secret, session_id)
        )
    ):
        logger.warning(
            "A switch to session %s came without this browser's confirmation token: refused",
            session_id_hash(session_id),
        )
        return launch_refused_page()
    assert secret is not None
    current = cookie_session_id()
    outcome = state.service.launch(
        session_id, browser=_browser_tag(secret), current=current, confirmed=confirmed
    )
    if outcome == "missing":
        return unauthorized_page()
    if outcome == "used":
        logger.info(
            "The launch URL of session %s was followed by a second browser: refused "
            "(WEBLAB_LAUNCH_ONCE)",
            session_id_hash(session_id),
        )
        return link_used_page()
    if outcome == "confirm":
        logger.info(
            "A browser in session %s followed the launch URL of session %s: asked to confirm",
            session_id_hash(current or ""),
            session_id_hash(session_id),
        )
        return _confirm_page(session_id, current, secret, initial_url)
    session[state.settings.session_id_name] = session_id
    here = request_state()
    here.user, here.polled = None, False  # the user of this request is now the one launched
    # 303 after the form: the browser follows with a GET.
    return redirect(initial_url(), 303 if confirmed else 302)


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
    # Maintenance: the student keeps the slot and the page shows the operator's message.
    notice = state.devices.lifecycle.notice(getattr(user, "device", "") or "")
    return jsonify(success=True, notice=notice) if notice else jsonify(success=True)


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


def close_view(session_id: str) -> ResponseReturnValue:
    """The poll script's beacon when its page goes away (POST, ``logout_on_close``). A page
    cannot tell a closed tab from a reload, so the session ends a few seconds later
    (``CLOSE_GRACE``) unless a request of it comes first: the reloaded page's poll."""
    here = request_state()
    here.polled = True  # this request is the page leaving: not activity (no autopoll)
    if cookie_session_id() != session_id:
        return jsonify(success=False, reason="Different session identifier")
    return jsonify(success=lab_state().service.page_closed(session_id))


def register_student_routes(app: Flask, callback_url: str) -> None:
    """Add the launch, poll and logout routes (endpoint names kept from the original)."""
    prefix = callback_url.rstrip("/") if callback_url != "/" else ""
    app.add_url_rule(
        f"{prefix}/<session_id>", "weblab_callback_url", launch_view, methods=["GET", "POST"]
    )
    app.add_url_rule(f"{prefix}/<session_id>/poll", "weblab_poll_url", _poll, methods=["GET"])
    app.add_url_rule(
        f"{prefix}/<session_id>/logout",
        "weblab_logout_url",
        logout_view,
        methods=["GET", "POST"],
    )
    app.add_url_rule(
        f"{prefix}/<session_id>/close", "weblab_close_url", close_view, methods=["POST"]
    )
