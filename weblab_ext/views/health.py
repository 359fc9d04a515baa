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
from ..runtime.devices import takes_device
from ..runtime.health import HealthReport
from ..runtime.store_errors import ANY_STORE_ERROR
from .devices import current_device
from .errors import compact_json

if TYPE_CHECKING:
    from ..app_state import LabState

#: Endpoint suffix of the health view (exempt from the RLMS credentials, by endpoint).
HEALTH_ENDPOINT = "._health"


def _in_app(app: Flask, check: HealthCheck, *args: str) -> Callable[[], Any]:
    def run() -> Any:
        with app.app_context():  # lab code expects current_app, as in any hook
            return check(*args)

    return run


def health_reply(report: HealthReport, **more: Any) -> Response:
    """The JSON LabDiscoveryEngine reads (always HTTP 200: the body carries the verdict),
    with ``more`` fields after its own (``state``, ``since``)."""
    response = compact_json(
        {"found": True, "success": report.success, "message": report.message, **more}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def lab_health(
    state: LabState, environ: Mapping[str, Any], device: str | None = None, *, busy: bool = False
) -> HealthReport:
    """The lab's health now: its deployment, the store and the lab's hardware checks, within
    ``WEBLAB_HEALTH_CHECK_TIMEOUT`` seconds (the health URL and the admin page show it).

    :param device: the device asked about (``WEBLAB_DEVICES``): the checks that take a device
        name run for it. Without one, they run only in a lab that declares no device (with
        ``""``).
    :param busy: the device is in use: only the checks registered ``while_busy`` run.
    """
    if device is None and not state.settings.devices:
        device = ""
    checks: list[tuple[str, HealthCheck]] = []
    for name, check in state.callbacks.health_checks:
        if busy and name not in state.callbacks.busy_checks:
            continue  # a session holds the device: only the checks that asked run
        if not takes_device(check):
            checks.append((name, _in_app(state.app, check)))
        elif device is not None:
            # Named per device: a check still hanging on one device does not block another's.
            label = f"{name} ({device})" if device else name
            checks.append((label, _in_app(state.app, check, device)))
    return state.operator.health(environ, checks)


def background_checks(state: LabState) -> Callable[[str | None, bool], HealthReport]:
    """What the background health checks run for a device (``None``: a lab without
    devices), busy or not: the store ping and the lab's checks, in the app, within the
    timeout."""
    return lambda device, busy: lab_health(state, {}, device, busy=busy)


def health_view() -> Response:
    """The lab's health (of the device in the URL, if any), in bounded time.

    With ``WEBLAB_HEALTH_CHECK_INTERVAL`` set, the result of the last background check is
    read from the store (one read, no hardware work) and the reply adds ``checked_at``;
    otherwise the store and the lab's checks run now. A lab or device under maintenance, or
    a broken device, answers ``success: false`` with the operator's message (or the reason).
    With devices, in maintenance or with stored checks the reply adds ``state`` and
    ``since``; a lab without any of them answers exactly as before.
    """
    state, device = lab_state(), current_device()
    try:
        view = state.devices.lifecycle.health_state(device)
    except ANY_STORE_ERROR as error:
        return health_reply(HealthReport(False, f"store: raised {type(error).__name__}"))
    stored = state.settings.health_check_interval > 0
    more: dict[str, Any] = {}
    if device is not None or view.state == "maintenance" or stored:
        more = {"state": view.state, "since": view.since}
    if stored:
        more["checked_at"] = view.stored.checked_at if view.stored else None
    if view.problem is not None:
        return health_reply(HealthReport(False, view.problem), **more)
    if not stored:
        return health_reply(lab_health(state, request.environ, device), **more)
    problem = state.operator.deployment_problem(request.environ)
    if problem is not None:
        return health_reply(HealthReport(False, problem), **more)
    if view.state in ("starting", "in-use", "cleaning"):
        # Busy, not broken: its checks wait for it to be idle again.
        return health_reply(HealthReport(True, f"busy: {view.state}"), **more)
    if view.stored is None:
        return health_reply(HealthReport(False, "not checked yet"), **more)
    return health_reply(HealthReport(view.stored.success, view.stored.message), **more)
