"""``GET <base>/weblab/health`` (and ``/ldl/health``): the lab's health, as LabDiscoveryEngine
reads it.

LabDiscoveryEngine's ``robotchecker`` health check GETs a configured URL without credentials
and reads ``{"found": true, "success": <bool>, "message": <str>}``; ``success: false`` marks
the resource broken so no student is sent there. ``success`` is true when the store answers
and every ``@weblab.health_check`` function returns something true; ``message`` says what
failed, by check name (no secrets, no tracebacks). The answer always comes within
``WEBLAB_HEALTH_CHECK_TIMEOUT`` seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from ..context import lab_state
from ..runtime.callbacks import HealthCheck
from ..runtime.health import HealthReport
from .errors import compact_json

if TYPE_CHECKING:
    from ..app_state import LabState

#: Endpoint suffix of the health view (exempt from the RLMS credentials, by endpoint).
HEALTH_ENDPOINT = "._health"


def _in_app(app: Flask, check: HealthCheck) -> Callable[[], Any]:
    def run() -> Any:
        with app.app_context():  # lab code expects current_app, as in any hook
            return check()

    return run


def health_reply(report: HealthReport) -> Response:
    """The JSON LabDiscoveryEngine reads (always HTTP 200: the body carries the verdict)."""
    response = compact_json({"found": True, "success": report.success, "message": report.message})
    response.headers["Cache-Control"] = "no-store"
    return response


def lab_health(state: LabState, environ: Mapping[str, Any]) -> HealthReport:
    """The lab's health now: its deployment, the store and the lab's hardware checks, within
    ``WEBLAB_HEALTH_CHECK_TIMEOUT`` seconds (the health URL and the admin page show it)."""
    checks = [(name, _in_app(state.app, check)) for name, check in state.callbacks.health_checks]
    return state.operator.health(environ, checks)


def health_view() -> Response:
    """Check the store and the lab's hardware checks; answer in bounded time."""
    return health_reply(lab_health(lab_state(), request.environ))
