"""The RLMS-facing HTTP endpoints, for both dialects: parse, call the session service, reply.

``/weblab/sessions/...`` (WebLab-Deusto, and LabDiscoveryEngine's weblablib client) and
``/ldl/sessions/...`` (labdiscoverylib's schema, with ``DELETE``) share one session store.
Every failure answers JSON; nothing is stored unless the whole start request is valid.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request, url_for
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import RequestRedirect

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
from ..runtime.devices import DeviceBusyError
from ..runtime.disposal import DisposeOutcome
from .devices import (
    DEVICES_ENDPOINT,
    admin_credentials_given,
    current_device,
    device_refused,
    devices_view,
    rlms_sessions,
)
from .errors import (
    add_rlms_error_handlers,
    compact_json,
    json_error,
    rlms_http_error,
    unknown_rlms_path,
)
from .health import HEALTH_ENDPOINT, health_view

logger = logging.getLogger("weblab_ext")

_NOT_AN_RLMS = "You don't seem to be a WebLab-Instance"
#: Bytes of a status/multiple body allowed per id of ``WEBLAB_MAX_STATUS_IDS`` (a 43-character
#: id takes about 47 in JSON; pretty-printing adds a few more), plus room for the rest.
STATUS_BYTES_PER_ID = 128
_STATUS_BODY_EXTRA = 4096


def _json(payload: Any, status: int = 200) -> Response:
    return compact_json(payload, status)


def _refusal_reason(user_ok: bool, swapped: bool) -> str:
    """Why credentials were refused, in words that never quote what was sent.

    What arrived may be the password itself (a header without ``user:``, user and password
    swapped), so only which part failed is said.
    """
    auth = request.authorization
    if auth is None or (not auth.username and not auth.password):
        return "no credentials"
    if auth.type == "basic" and ":" not in _decoded_basic():
        return "a Basic header with no colon (user:password expected)"
    if swapped:
        return "username and password swapped"
    return "wrong password" if user_ok else "wrong username"


def _decoded_basic() -> str:
    token = request.headers.get("Authorization", "").partition(" ")[2]
    try:
        return base64.b64decode(token).decode("utf-8", "replace")
    except (ValueError, binascii.Error):
        return ""


def _credentials_valid() -> tuple[bool, str]:
    """Whether the RLMS sent the right credentials, and if not, why (never what was sent)."""
    settings = lab_state().settings
    auth = request.authorization
    given_user = (auth.username or "") if auth is not None else ""
    given_password = (auth.password or "") if auth is not None else ""
    user, password = given_user.encode(), given_password.encode()
    expected_user, expected_password = settings.username.encode(), settings.password.encode()
    # Every comparison always runs, in constant time, so timing tells nothing about which failed.
    user_ok = hmac.compare_digest(user, expected_user)
    password_ok = hmac.compare_digest(password, expected_password)
    swapped = hmac.compare_digest(user, expected_password) & hmac.compare_digest(
        password, expected_user
    )
    if user_ok and password_ok:
        return True, ""
    return False, _refusal_reason(user_ok, swapped)


def _require_rlms_credentials() -> Response | None:
    # Exempt by endpoint, never by URL text: `?x=/api` must not skip authentication.
    endpoint = request.endpoint or ""
    if endpoint.endswith(("._api_version", HEALTH_ENDPOINT)):
        return None
    valid, reason = _credentials_valid()
    if valid:
        return None
    if endpoint.endswith(DEVICES_ENDPOINT) and admin_credentials_given(lab_state().settings):
        return None
    logger.warning("Refused an RLMS call to %s: %s", endpoint or request.path, reason)
    if endpoint.endswith("._test"):
        # WebLab-Deusto reads only 2xx replies: a 401 would hide the message from its admin.
        auth = request.authorization
        if auth is None or not auth.username:
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


#: Longest exception text put in a debug start reply.
_DETAIL_CHARS = 500


def on_start_detail(error: Exception) -> str:
    """What a debug start reply says about the exception ``on_start`` raised."""
    return f"on_start raised {type(error).__name__}: {str(error)[:_DETAIL_CHARS]}"


#: Bytes of body every other RLMS call may carry: a dispose call's is ``{"action": "delete"}``,
#: and the other calls have none.
SMALL_BODY_LIMIT = 64 * 1024


def _body_limit() -> tuple[int, str]:
    """The body limit of the RLMS call in context, and what sets it (named in the 413)."""
    endpoint = request.endpoint or ""
    settings = lab_state().settings
    if endpoint.endswith("._start_session"):
        limit, key = settings.max_start_body, "WEBLAB_MAX_START_BODY"
    elif endpoint.endswith("._multiple_status"):
        limit = STATUS_BYTES_PER_ID * settings.max_status_ids + _STATUS_BODY_EXTRA
        key = "WEBLAB_MAX_STATUS_IDS"
    else:
        limit, key = SMALL_BODY_LIMIT, "weblab_ext for this call"
    app_limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if app_limit is not None and app_limit < limit:
        return app_limit, "MAX_CONTENT_LENGTH"
    return limit, key


def _too_large(limit: int, key: str) -> Response:
    return json_error(
        413,
        "body-too-large",
        f"The request body is larger than {limit} bytes, the limit set by {key}",
    )


def limit_body() -> Response | None:
    """Bound the body of every RLMS call before its view runs: a ``Content-Length`` over the
    call's limit is refused at once, unread; a chunked body (no length) is read one byte past
    the limit at most (see :func:`_read_body`), whether the call uses a body or not."""
    length = request.content_length
    if length is None:
        if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            raw = _read_body()  # bounded; the view then reads the cached copy
            return raw if isinstance(raw, Response) else None
        return None
    limit, key = _body_limit()
    return _too_large(limit, key) if length > limit else None


def _read_body() -> bytes | Response:
    """The request body, read only up to the call's limit; past it, the 413 JSON reply.

    Werkzeug refuses a ``Content-Length`` over the limit before reading anything, and stops
    reading a chunked body (no length) one byte past it: an oversized body is never held in
    memory. ``MAX_CONTENT_LENGTH`` still wins when the app set a smaller one.
    """
    limit, key = _body_limit()
    request.max_content_length = limit + 1
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raw = None
    if raw is None or len(raw) > limit:
        return _too_large(limit, key)
    return raw


def _start(parse: Callable[[Any], StartRequest]) -> Response:
    state = lab_state()
    raw = _read_body()
    if isinstance(raw, Response):
        return raw
    try:
        start = parse(decode_body(raw, request.mimetype))
    except ProtocolError as error:
        return _protocol_error(error)
    try:
        if current_device() is None and state.devices.lifecycle.maintenance_message():
            raise DeviceBusyError("", "maintenance")  # with devices, the start script checks
        outcome = rlms_sessions().start(start)
    except DeviceBusyError as busy:
        return device_refused(busy, ldl=parse is parse_ldl_start)
    if outcome.error is not None:
        reply = start_failed_reply()
        reply["code"] = "on-start-failed"
        if current_app.debug or current_app.testing:
            # Only to a developer's own lab (`flask run --debug`, tests): a real RLMS may show
            # the reply to students and admins, and the exception text is the lab's internals.
            reply["detail"] = on_start_detail(outcome.error)
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
    return _json({"should_finish": rlms_sessions().status(session_id)})


def _multiple_status() -> Response:
    state = lab_state()
    settings = state.settings
    raw = _read_body()
    if isinstance(raw, Response):
        return raw
    try:
        body = decode_body(raw, request.mimetype)
    except ProtocolError:
        body = None  # an undecodable body counts as one without ids, as in weblablib
    try:
        session_ids, time_limit = parse_multiple_status(body, max_ids=settings.max_status_ids)
    except ProtocolError as error:
        if error.status == 200:
            return _json(multiple_status_error_json())
        # Both error styles: this endpoint's own (success/error_code) and everyone else's.
        return _json(
            {
                **error.to_json(),
                "success": False,
                "error_code": error.code,
                "error_human": error.message,
            },
            error.status,
        )
    return _json({"status": rlms_sessions().status_many(session_ids, time_limit=time_limit)})


def _dispose(session_id: str) -> Response:
    state = lab_state()
    if request.method == "POST":
        raw = _read_body()
        if isinstance(raw, Response):
            return raw
        try:
            action = parse_dispose_action(decode_body(raw, request.mimetype))
        except ProtocolError as error:
            return _protocol_error(error)
        if action != "delete":
            return _json(dispose_unknown_op_reply())
    outcome = rlms_sessions().dispose(session_id, wait=state.settings.dispose_wait)
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
    blueprint.before_request(limit_body)
    add_rlms_error_handlers(blueprint)

    def add(
        rule: str, endpoint: str, view: Callable[..., Response], methods: list[str], **options: Any
    ) -> None:
        # No automatic OPTIONS (an empty 200 is not JSON) and no slash merging (Werkzeug would
        # answer `//` with a 308 redirect, which RLMS clients do not follow).
        blueprint.add_url_rule(
            rule,
            endpoint,
            view,
            methods=methods,
            provide_automatic_options=False,
            merge_slashes=False,
            **options,
        )

    add("/sessions/api", "_api_version", _api_version, ["GET"])
    add("/health", "_health", health_view, ["GET"])
    add("/sessions/test", "_test", _test, ["GET"])
    if dialect == "weblab":
        add("/devices", "_devices", devices_view, ["GET"])
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


#: The operator's pages below ``<base>/weblab``: their own blueprint, their own credentials.
_OPERATOR_PAGES = ("admin", "metrics")


def add_rlms_routing_replies(app: Flask, base: str) -> None:
    """Answer JSON for what the router itself refuses under the RLMS prefixes.

    A method no rule knows (``TRACE``, ``FOO``) or a path no rule matches (the bare prefix)
    fails in Werkzeug's router before any blueprint is chosen, so the blueprints' JSON error
    handlers never see it and the app's HTML page would answer. This app-wide hook answers
    instead, after the RLMS credentials check, as the blueprint's catch-all would.
    """
    dialects = {f"{base}/weblab": ("POST",), f"{base}/ldl": ("POST", "DELETE")}

    def routing_reply() -> Response | None:
        error = request.routing_exception
        if not isinstance(error, HTTPException) or isinstance(error, RequestRedirect):
            return None
        for prefix, dispose_methods in dialects.items():
            if request.path != prefix and not request.path.startswith(prefix + "/"):
                continue
            rest = request.path[len(prefix) + 1 :]
            if dispose_methods == ("POST",) and rest.split("/", 1)[0] in _OPERATOR_PAGES:
                if not lab_state().settings.admin_username:  # off: like any unknown path
                    return json_error(404, "not-found", "No RLMS endpoint at this path")
                return rlms_http_error(error)
            return _require_rlms_credentials() or unknown_rlms_path(dispose_methods, rest)
        return None

    app.before_request(routing_reply)
