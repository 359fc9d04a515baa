"""The RLMS-facing HTTP endpoints, for both dialects: parse, call the session service, reply.

``/weblab/sessions/...`` (WebLab-Deusto, and LabDiscoveryEngine's weblablib client) and
``/ldl/sessions/...`` (labdiscoverylib's schema, with ``DELETE``) share one session store.
Every failure answers JSON; nothing is stored unless the whole start request is valid.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request, url_for

from ..context import lab_state
from ..protocol import (
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
    start_failed_reply,
    start_reply,
    test_reply,
)
from ..runtime.disposal import DisposeOutcome
from .errors import add_rlms_error_handlers, json_error, unknown_rlms_path

logger = logging.getLogger("weblab_ext")

_NOT_AN_RLMS = "You don't seem to be a WebLab-Instance"


def _json(payload: Any, status: int = 200) -> Response:
    # json.dumps, not jsonify: RLMS replies are small fixed shapes, and the app's JSON
    # provider (key sorting, a lab's customisation) has nothing to add to them.
    return Response(json.dumps(payload, separators=(",", ":")), status=status,
                    mimetype="application/json")


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
    response = json_error(401, "unauthorized", _NOT_AN_RLMS)
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
    outcome = state.service.start(start)
    if outcome.error is not None:
        reply = start_failed_reply()
        reply["code"] = "on-start-failed"
        # Non-2xx so that WebLab-Deusto (which ignores `error`) also marks the lab as failed.
        return _json(reply, 500)
    options: dict[str, Any] = {"_external": True}
    if state.settings.scheme:
        options["_scheme"] = state.settings.scheme
    url = url_for("weblab_callback_url", session_id=outcome.session_id, **options)
    return _json(start_reply(url, outcome.session_id))


def _start_weblab() -> Response:
    return _start(parse_weblab_start)


def _start_ldl() -> Response:
    return _start(parse_ldl_start)


def _status(session_id: str) -> Response:
    return _json({"should_finish": lab_state().service.status(session_id)})


def _multiple_status() -> Response:
    try:
        body = decode_body(request.get_data(cache=True), request.mimetype)
        session_ids, time_limit = parse_multiple_status(body)
    except ProtocolError:
        return _json(multiple_status_error_json())
    return _json({"status": lab_state().service.status_many(session_ids, time_limit=time_limit)})


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
    outcome = state.service.dispose(session_id, wait=state.settings.dispose_wait)
    if outcome is DisposeOutcome.NOT_FOUND:
        return _json(dispose_not_found_reply())
    if outcome is DisposeOutcome.PENDING:
        return _json(dispose_pending_reply(state.settings.dispose_ask_again))
    return _json(dispose_done_reply())


def create_rlms_blueprint(name: str, url_prefix: str, *, dialect: str) -> Blueprint:
    """The RLMS endpoints of one dialect (``weblab`` or ``ldl``) under ``url_prefix``.

    Endpoint names match the original library (``weblab._start_session``, ...). Every other
    path or method under the prefix answers a JSON error (see :mod:`.errors`).
    """
    blueprint = Blueprint(name, __name__, url_prefix=url_prefix)
    blueprint.before_request(_require_rlms_credentials)
    add_rlms_error_handlers(blueprint)

    def add(rule: str, endpoint: str, view: Callable[..., Response], methods: list[str],
            **options: Any) -> None:
        # No automatic OPTIONS (an empty 200 is not JSON) and no slash merging (Werkzeug would
        # answer `//` with a 308 redirect, which RLMS clients do not follow).
        blueprint.add_url_rule(rule, endpoint, view, methods=methods,
                               provide_automatic_options=False, merge_slashes=False, **options)

    add("/sessions/api", "_api_version", _api_version, ["GET"])
    add("/sessions/test", "_test", _test, ["GET"])
    start_view = _start_weblab if dialect == "weblab" else _start_ldl
    # strict_slashes=False: RLMS clients do not follow redirects (urllib2 ignores 308).
    add("/sessions/", "_start_session", start_view, ["POST"], strict_slashes=False)
    add("/sessions/<session_id>/status", "_status", _status, ["GET"])
    add("/sessions/status/multiple", "_multiple_status", _multiple_status, ["POST"])
    methods = ("POST",) if dialect == "weblab" else ("POST", "DELETE")
    add("/sessions/<session_id>", "_dispose_experiment", _dispose, list(methods))
    unknown = functools.partial(unknown_rlms_path, methods)
    every_method = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    add("/<weblab_any_path:rest>", "_unknown", unknown, every_method)
    return blueprint
