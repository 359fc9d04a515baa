"""The RLMS-facing HTTP endpoints, for both dialects.

``/weblab/sessions/...`` (WebLab-Deusto, and LabDiscoveryEngine's weblablib client) and
``/ldl/sessions/...`` (labdiscoverylib's schema, with ``DELETE``) share one session store.
Every failure answers JSON; nothing is stored unless the whole start request is valid.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from . import lifecycle_log
from .context import lab_state, session_context
from .disposal import DisposeOutcome
from .protocol import (
    API_VERSION_REPLY,
    ProtocolError,
    StartRequest,
    decode_body,
    dispose_done_reply,
    dispose_not_found_reply,
    dispose_pending_reply,
    dispose_unknown_op_reply,
    multiple_status_error_json,
    parse_dispose_action,
    parse_ldl_start,
    parse_multiple_status,
    parse_weblab_start,
    should_finish,
    start_failed_reply,
    start_reply,
    test_reply,
)
from .tokens import create_token
from .users import CurrentUser

logger = logging.getLogger("weblab_ext")

_NOT_AN_RLMS = "You don't seem to be a WebLab-Instance"
#: How many ids of a status/multiple call are read per round trip when a time limit is set.
_MULTIPLE_STATUS_CHUNK = 1000


def _json(payload: Any, status: int = 200) -> Response:
    response = jsonify(payload)
    response.status_code = status
    return response


def _credentials_valid() -> tuple[bool, str | None]:
    settings = lab_state().settings
    auth = request.authorization
    given_user = auth.username if auth is not None and auth.username is not None else ""
    given_password = auth.password if auth is not None and auth.password is not None else ""
    # Both comparisons always run, in constant time, so timing tells nothing about which failed.
    user_ok = hmac.compare_digest(given_user.encode(), settings.username.encode())
    password_ok = hmac.compare_digest(given_password.encode(), settings.password.encode())
    # Never hand the expected username to the logs: a right username is reported as such.
    shown = None if not given_user else ("<the right username>" if user_ok else given_user)
    return user_ok and password_ok, shown


def _require_rlms_credentials() -> Response | None:
    # Exempt by endpoint, never by URL text: `?x=/api` must not skip authentication.
    endpoint = request.endpoint or ""
    if endpoint.endswith("._api_version"):
        return None
    valid, given_user = _credentials_valid()
    if valid:
        return None
    logger.warning(
        "Refused an RLMS call to %s: wrong credentials (username given: %r)",
        endpoint or request.path, given_user,
    )
    if endpoint.endswith("._test"):
        # WebLab-Deusto reads only 2xx replies: a 401 would hide the message from its admin.
        if given_user is None:
            return _json(test_reply(False, "Invalid credentials: no username provided"))
        return _json(
            test_reply(
                False,
                "Invalid credentials: wrong username or password provided. "
                "Check the lab logs for further information.",
            )
        )
    response = _json({"error": True, "code": "unauthorized", "message": _NOT_AN_RLMS}, 401)
    response.headers["WWW-Authenticate"] = 'Basic realm="Login Required"'
    return response


def _protocol_error(error: ProtocolError) -> Response:
    return _json(error.to_json(), error.status)


def _api_version() -> Response:
    return _json(API_VERSION_REPLY)


def _test() -> Response:
    return _json(test_reply(True))


def _start(parse: Callable[[Any], StartRequest]) -> Response:
    state = lab_state()
    try:
        start = parse(decode_body(request.get_data(cache=True), request.mimetype))
    except ProtocolError as error:
        return _protocol_error(error)
    now = state.clock()
    session_id = create_token()
    fields = _session_fields(start, now=now)
    record = state.sessions.create(session_id, fields, now=now)
    if record is None:  # pragma: no cover - 256 random bits
        return _json({"error": True, "code": "conflict", "message": "Session id clash"}, 500)
    user = CurrentUser(record, state, clock=state.clock)
    with session_context(session_id, user):
        failure = _run_on_start(state.weblab._on_start, start, user)
    if failure is not None:
        state.dispose(session_id, wait=state.settings.dispose_wait, background=False)
        reply = start_failed_reply()
        reply["code"] = "on-start-failed"
        # Non-2xx so that WebLab-Deusto (which ignores `error`) also marks the lab as failed.
        return _json(reply, 500)
    scheme = state.app.config.get("WEBLAB_SCHEME") or state.settings.scheme
    options: dict[str, Any] = {"_external": True}
    if scheme:
        options["_scheme"] = scheme
    url = url_for("weblab_callback_url", session_id=session_id, **options)
    return _json(start_reply(url, session_id))


def _run_on_start(
    on_start: Callable[..., Any] | None, start: StartRequest, user: CurrentUser
) -> Exception | None:
    if on_start is None:
        return None
    try:
        result = on_start(start.client_data, start.server_data)
        if result:
            if not isinstance(result, dict):
                raise TypeError(f"on_start must return a dict or None, not {type(result).__name__}")
            user.data = result
        user.data.store_if_modified()
    except Exception as exc:
        logger.exception("on_start raised: the session is disposed and the RLMS told")
        return exc
    return None


def _session_fields(start: StartRequest, *, now: float) -> dict[str, str]:
    # The fields that never change after start travel as one JSON value: a small hash keeps
    # Redis memory per session below the original layout's and reads stay one round trip.
    info = {
        "dialect": start.dialect,
        "start_date": start.start_date,
        "username": start.username,
        "username_unique": start.username_unique,
        "full_name": start.full_name,
        "locale": start.locale,
        "experiment_name": start.experiment_name,
        "category_name": start.category_name,
        "back": start.back,
        "request_client_data": start.request_client_data,
        "request_server_data": start.request_server_data,
    }
    return {
        "max_date": repr(start.max_date),
        "last_poll": repr(now),
        "info": json.dumps(info, separators=(",", ":")),
        "data": "{}",
    }


def _start_weblab() -> Response:
    return _start(parse_weblab_start)


def _start_ldl() -> Response:
    return _start(parse_ldl_start)


def _status(session_id: str) -> Response:
    state = lab_state()
    (fields,) = state.sessions.status_fields([session_id])
    now = state.clock()
    value = _should_finish(fields, now)
    if value < 0 and fields.state in ("active", "exited") and state.settings.log_session_lifecycle:
        _log_expiry_once(session_id, now)
    return _json({"should_finish": value})


def _should_finish(fields: Any, now: float) -> int:
    state = lab_state()
    return should_finish(
        state=fields.state, max_date=fields.max_date, last_poll=fields.last_poll,
        now=now, timeout=state.timeout, poll_interval=state.poll_interval,
    )


def _log_expiry_once(session_id: str, now: float) -> None:
    state = lab_state()
    if not state.sessions.mark_once(session_id, "expiry-logged"):
        return
    record = state.sessions.load(session_id)
    if record is None:
        return
    lifecycle_log.log_event(
        "expiry_detected", source="status", now=now, timeout=state.timeout, record=record,
        reason=lifecycle_log.expiry_reason(record, now=now, timeout=state.timeout),
        lab_name=state.app.config.get("LAB_NAME"), environment=state.app.config.get("ENVIRONMENT"),
    )


def _multiple_status() -> Response:
    state = lab_state()
    try:
        body = decode_body(request.get_data(cache=True), request.mimetype)
        session_ids, time_limit = parse_multiple_status(body)
    except ProtocolError:
        return _json(multiple_status_error_json())
    started = time.monotonic()
    result: dict[str, int] = {}
    # Without a time limit all ids go in one round trip; with one, in chunks between checks.
    step = _MULTIPLE_STATUS_CHUNK if time_limit else max(1, len(session_ids))
    for first in range(0, len(session_ids), step):
        chunk = session_ids[first : first + step]
        now = state.clock()
        for session_id, fields in zip(chunk, state.sessions.status_fields(chunk), strict=True):
            result[session_id] = _should_finish(fields, now)
        if time_limit and time.monotonic() - started > time_limit:
            break
    return _json({"status": result})


def _dispose(session_id: str) -> Response:
    state = lab_state()
    if request.method == "POST":
        try:
            action = parse_dispose_action(
                decode_body(request.get_data(cache=True), request.mimetype)
            )
        except ProtocolError as error:
            return _protocol_error(error)
        if action != "delete":
            return _json(dispose_unknown_op_reply())
    outcome = state.dispose(session_id, wait=state.settings.dispose_wait)
    if outcome is DisposeOutcome.NOT_FOUND:
        return _json(dispose_not_found_reply())
    if outcome is DisposeOutcome.PENDING:
        return _json(dispose_pending_reply(state.settings.dispose_ask_again))
    return _json(dispose_done_reply())


def create_rlms_blueprint(name: str, url_prefix: str, *, dialect: str) -> Blueprint:
    """The RLMS endpoints of one dialect (``weblab`` or ``ldl``) under ``url_prefix``.

    Endpoint names match the original library (``weblab._start_session``, ...).
    """
    blueprint = Blueprint(name, __name__, url_prefix=url_prefix)
    blueprint.before_request(_require_rlms_credentials)
    add = blueprint.add_url_rule
    add("/sessions/api", "_api_version", _api_version, methods=["GET"])
    add("/sessions/test", "_test", _test, methods=["GET"])
    start_view = _start_weblab if dialect == "weblab" else _start_ldl
    # strict_slashes=False: RLMS clients do not follow redirects (urllib2 ignores 308).
    add("/sessions/", "_start_session", start_view, methods=["POST"], strict_slashes=False)
    add("/sessions/<session_id>/status", "_status", _status, methods=["GET"])
    add("/sessions/status/multiple", "_multiple_status", _multiple_status, methods=["POST"])
    methods = ["POST"] if dialect == "weblab" else ["POST", "DELETE"]
    add("/sessions/<session_id>", "_dispose_experiment", _dispose, methods=methods)
    return blueprint
