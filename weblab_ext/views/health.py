"""``GET <base>/weblab/health`` (and ``/ldl/health``): the lab's health, as LabDiscoveryEngine
reads it.

LabDiscoveryEngine's ``robotchecker`` health check GETs a configured URL without credentials
and reads ``{"found": true, "success": <bool>, "message": <str>}``; ``success: false`` marks
the resource broken so no student is sent there. ``success`` is true when the store answers
and every ``@weblab.health_check`` function returns something true; ``message`` says what
failed, by check name (no secrets, no tracebacks). The checks run in the background, once per
``WEBLAB_HEALTH_CHECK_INTERVAL`` (:mod:`weblab_ext.runtime.health_monitor`): a call reads
their stored result, one store read, and never starts hardware work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from ..context import lab_state
from ..runtime.callbacks import HealthCheck
from ..runtime.devices import takes_device
from ..runtime.health import HealthReport
from ..runtime.health_monitor import HealthAnswer, HealthMonitor
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


def run_checks(state: LabState, device: str | None = None, *, busy: bool = False) -> HealthReport:
    """Run the store ping and the lab's hardware checks now, within
    ``WEBLAB_HEALTH_CHECK_TIMEOUT`` seconds (a round of the background checks).

    :param device: the device checked (``WEBLAB_DEVICES``): the checks that take a device
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
    return state.operator.run_health_checks(checks)


def background_checks(state: LabState) -> Callable[[str | None, bool], HealthReport]:
    """What the background health checks run for a device (``None``: a lab without
    devices), busy or not: the store ping and the lab's checks, in the app, within the
    timeout."""
    return lambda device, busy: run_checks(state, device, busy=busy)


def monitor_of(state: LabState) -> HealthMonitor:
    """The lab's health monitor (set up by ``init_app``)."""
    monitor = state.threads.health
    assert monitor is not None, "init_app sets the health monitor"
    return monitor


def stored_health(
    state: LabState, environ: Mapping[str, Any], device: str | None
) -> HealthAnswer | HealthReport:
    """The stored health of ``device`` (``None``: the lab without devices), as the health URL
    answers it; a :class:`HealthReport` when the store does not answer."""
    try:
        problem = state.operator.deployment_problem(environ)
        return monitor_of(state).answer(device, problem=problem)
    except ANY_STORE_ERROR as error:
        return HealthReport(False, f"store: raised {type(error).__name__}")


def health_view() -> Response:
    """The lab's health (of the device in the URL, if any), read from the store.

    The result of the last round of background checks is read from the store (one read, no
    hardware work): a lab or device under maintenance, or a broken device, answers ``success:
    false`` with the operator's message (or the reason); a device in use answers ``success:
    true`` (busy, not broken). The reply adds ``state``, ``since`` and ``checked_at``.
    """
    state = lab_state()
    answer = stored_health(state, request.environ, current_device())
    if isinstance(answer, HealthReport):
        return health_reply(answer)
    more = {"state": answer.state, "since": answer.since, "checked_at": answer.checked_at}
    return health_reply(HealthReport(answer.success, answer.message), **more)


def admin_health(state: LabState, environ: Mapping[str, Any]) -> tuple[HealthReport, str]:
    """What the admin page's Health card shows: the stored health of the lab (of every
    device, in a lab with devices) and when the last round stored it (no check runs here)."""
    devices: list[str | None] = list(state.settings.devices) or [None]
    answers: list[tuple[str | None, HealthAnswer]] = []
    for device in devices:
        answer = stored_health(state, environ, device)
        if isinstance(answer, HealthReport):
            return answer, ""
        answers.append((device, answer))
    failing = [
        (f"{device}: " if device else "") + answer.message
        for device, answer in answers
        if not answer.success
    ]
    if failing:
        report = HealthReport(False, "; ".join(failing))
    elif devices == [None]:
        report = HealthReport(True, answers[0][1].message)
    else:
        report = HealthReport(True, f"ok: {len(devices)} devices")
    checked = [answer.checked_at for _, answer in answers if answer.checked_at is not None]
    age = ""
    if checked:
        age = f"checked {max(0.0, state.clock() - max(checked)):.0f} s ago"
    return report, age
