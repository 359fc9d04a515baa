"""Error replies: JSON on every RLMS path, and a clear 503 while the store is unreachable.

An RLMS reads JSON only: under the RLMS prefixes every error (unknown path, wrong method,
``OPTIONS``, an unexpected exception, the store down) is a JSON object
``{"error": true, "code": ..., "message": ...}``, never an HTML page or a redirect. Students
get a short 503 page (JSON when they ask for JSON) while the store is unreachable; the next
request after the store is back works again without a restart.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from flask import Blueprint, Flask, Response, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.routing import BaseConverter

from ..context import lab_state
from ..runtime.store_errors import STORE_ERRORS

logger = logging.getLogger("weblab_ext")

#: Names of the RLMS blueprints (WebLab-Deusto's dialect, LabDiscoveryEngine's ``/ldl``).
RLMS_BLUEPRINTS = ("weblab", "weblab_ldl")
#: Names of the RLMS blueprints of the declared devices (``WEBLAB_DEVICES``), same order.
DEVICE_BLUEPRINTS = ("weblab_device", "weblab_device_ldl")
#: Name of the operator's blueprint (metrics, admin page), under the RLMS prefix too.
ADMIN_BLUEPRINT = "weblab_admin"
#: Blueprints whose errors are always JSON: everything under the RLMS prefixes.
_JSON_BLUEPRINTS = (*RLMS_BLUEPRINTS, *DEVICE_BLUEPRINTS, ADMIN_BLUEPRINT)
#: Seconds an RLMS or a browser is told to wait before trying again while the store is down.
RETRY_AFTER_SECONDS = 5
#: Error code of the 503 answered while the store is down (the Socket.IO event is
#: :data:`weblab_ext.socketio.STORE_UNAVAILABLE`).
STORE_UNAVAILABLE_CODE = "store-unavailable"
#: Code of the 500 every request gets while the lab's deployment is refused.
MISCONFIGURED = "lab-misconfigured"
_STORE_MESSAGE = (
    "The lab's session store is unreachable; the lab is temporarily unavailable. "
    "Try again in a few seconds."
)
#: The HTTP errors an RLMS path may raise; each gets a JSON handler on the blueprint, which
#: beats an app-wide handler for the same code (lab code often has ``errorhandler(404)``).
_HTTP_CODES = (400, 401, 403, 404, 405, 406, 408, 409, 411, 413, 414, 415, 422, 429, 500, 501, 503)
#: The paths an RLMS may call, below the dialect's prefix, and their methods (the dispose
#: path's depend on the dialect): what is not among them is a 404, a known path with
#: another method is a 405.
_KNOWN_PATHS: tuple[tuple[re.Pattern[str], tuple[str, ...] | None], ...] = (
    (re.compile(r"/sessions/api"), ("GET",)),
    (re.compile(r"/sessions/test"), ("GET",)),
    (re.compile(r"/sessions/?"), ("POST",)),
    (re.compile(r"/sessions/status/multiple"), ("POST",)),
    (re.compile(r"/sessions/[^/]+/status"), ("GET",)),
    (re.compile(r"/sessions/[^/]+"), None),
    (re.compile(r"/health"), ("GET",)),
)


def compact_json(payload: Any, status: int = 200) -> Response:
    """JSON as the RLMS endpoints send it: compact, keys in the order written.

    ``json.dumps``, not ``jsonify``: these replies are small fixed shapes, and the app's JSON
    provider (key sorting, indenting in debug mode, a lab's customisation) has nothing to add.
    """
    return Response(
        json.dumps(payload, separators=(",", ":")), status=status, mimetype="application/json"
    )


def json_error(status: int, code: str, message: str, **extra: Any) -> Response:
    """A JSON error reply: ``{"error":true,"code":...,"message":...,...}``."""
    return compact_json({"error": True, "code": code, "message": message, **extra}, status)


def store_unavailable_json() -> Response:
    """503 JSON with ``Retry-After``: what RLMS calls get while the store is down."""
    response = json_error(503, STORE_UNAVAILABLE_CODE, _STORE_MESSAGE)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _store_unavailable_page() -> Response:
    response = Response(_STORE_MESSAGE, status=503, mimetype="text/plain")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _wants_json() -> bool:
    accept = request.accept_mimetypes
    return request.is_json or accept["application/json"] > accept["text/html"]


def store_unavailable_response() -> Response:
    """503 for the request in context: JSON for an RLMS path or a JSON client, else a page."""
    rlms = request.blueprint in _JSON_BLUEPRINTS
    return store_unavailable_json() if rlms or _wants_json() else _store_unavailable_page()


def misconfigured_response(message: str) -> Response:
    """500 for a lab that must not serve (e.g. the embedded store under gunicorn).

    The message is the operator's fix; it names no secret. JSON on RLMS paths and for JSON
    clients, plain text otherwise.
    """
    if request.blueprint in _JSON_BLUEPRINTS or _wants_json():
        return json_error(500, MISCONFIGURED, message)
    return Response(
        f"The lab is not configured correctly.\n\n{message}\n", status=500, mimetype="text/plain"
    )


def log_store_error(error: Exception) -> None:
    """One warning line: the store (password masked), the request and the error class."""
    state = lab_state()
    logger.warning(
        "The store at %s is unreachable while serving %s %s: %s",
        state.store_label,
        request.method,
        request.path,
        type(error).__name__,
    )


def _on_store_error(error: Exception) -> Response:
    log_store_error(error)
    return store_unavailable_response()


def rlms_http_error(error: HTTPException) -> Response:
    """The JSON reply of an HTTP error under the RLMS prefixes."""
    code = (error.name or "error").lower().replace(" ", "-")
    return json_error(error.code or 500, code, error.description or error.name)


def _on_crash_for_rlms(error: InternalServerError) -> Response:
    original = getattr(error, "original_exception", None)
    if isinstance(original, STORE_ERRORS):
        return _on_store_error(original)
    return json_error(
        500, "internal-error", "The lab failed while answering; its log has the details."
    )


def unknown_rlms_path(dispose_methods: tuple[str, ...], rest: str = "") -> Response:
    """The catch-all route under an RLMS prefix: 405 for a known path, else 404 (JSON).

    :param dispose_methods: the methods of the dialect's dispose path.
    :param rest: the path below the prefix.
    """
    path = "/" + rest
    for pattern, known_methods in _KNOWN_PATHS:
        methods = known_methods or dispose_methods
        if pattern.fullmatch(path):
            response = json_error(
                405,
                "method-not-allowed",
                f"{request.method} is not allowed here; use {' or '.join(methods)}",
            )
            response.headers["Allow"] = ", ".join(methods)
            return response
    return json_error(404, "not-found", "No RLMS endpoint at this path")


class AnyPathConverter(BaseConverter):
    """Matches any rest of a path, empty or starting with ``/`` (Werkzeug's ``path`` does not:
    ``/weblab//sessions/`` must reach the catch-all too)."""

    regex = r"[\s\S]*"  # "." would stop at a newline (an id holding %0A)
    part_isolating = False


#: Name under which :class:`AnyPathConverter` is registered on the app's URL map.
ANY_PATH_CONVERTER = "weblab_any_path"


def _add_converter(setup: BlueprintSetupState) -> None:
    setup.app.url_map.converters.setdefault(ANY_PATH_CONVERTER, AnyPathConverter)


def add_rlms_error_handlers(blueprint: Blueprint) -> None:
    """Make every error under this RLMS blueprint a JSON reply.

    Call it before adding the blueprint's catch-all rule: it registers the converter that rule
    uses.
    """
    blueprint.record_once(_add_converter)
    for code in _HTTP_CODES:
        blueprint.register_error_handler(code, rlms_http_error)
    blueprint.register_error_handler(InternalServerError, _on_crash_for_rlms)
    for error_class in STORE_ERRORS:
        blueprint.register_error_handler(error_class, _on_store_error)


def add_store_error_handlers(app: Flask) -> None:
    """Answer 503 (page or JSON) instead of a 500 when the store is unreachable."""
    for error_class in STORE_ERRORS:
        app.register_error_handler(error_class, _on_store_error)
