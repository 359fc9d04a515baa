"""The health URL answered ahead of Flask's request cycle: a probe's call costs one store read
and a few dozen microseconds of Python.

A monitor, a load balancer's probe and LabDiscoveryEngine may all poll the health URL at once.
Its answer is the stored result of the background checks (:mod:`.health`), so nothing of
Flask's request cycle (request context, session cookie, URL routing, the app's hooks) adds
to it: this WSGI layer, installed on ``app.wsgi_app`` by ``init_app``, answers a plain ``GET``
of a health path itself, with the same body and headers as the view. Anything else goes on to
Flask: another method, a body, an unknown device, a lab with no stored result yet (the view
waits for the first round) or a store that does not answer (the view says so).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..runtime.health_monitor import NOT_CHECKED
from ..runtime.store_errors import ANY_STORE_ERROR

if TYPE_CHECKING:
    from ..app_state import LabState

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def health_paths(base_url: str, devices: tuple[str, ...]) -> dict[str, str | None]:
    """Each health path of the lab and the device it asks about (``None``: the lab)."""
    base = base_url.rstrip("/")
    paths: dict[str, str | None] = {}
    if len(devices) <= 1:  # with one device the un-prefixed paths serve it
        for dialect in ("weblab", "ldl"):
            paths[f"{base}/{dialect}/health"] = devices[0] if devices else None
    for device in devices:
        for dialect in ("weblab", "ldl"):
            paths[f"{base}/devices/{device}/{dialect}/health"] = device
    return paths


class HealthShortcut:
    """WSGI middleware answering the lab's health paths from the stored result.

    :param inner: the app's WSGI callable (Flask's ``wsgi_app``).
    :param state: the lab's state, read at call time.
    """

    def __init__(self, inner: WSGIApp, state: LabState) -> None:
        self.inner = inner
        self.state = state
        settings = state.settings
        self.paths = health_paths(settings.base_url, tuple(settings.devices))
        headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        if settings.powered_by:
            headers.append(("powered-by", settings.powered_by))
        self._headers = headers

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if (
            path in self.paths
            and environ.get("REQUEST_METHOD") == "GET"
            and environ.get("CONTENT_LENGTH", "") in ("", "0")
            and "HTTP_TRANSFER_ENCODING" not in environ
        ):
            body = self._answer(environ, self.paths[path])
            if body is not None:
                start_response("200 OK", [*self._headers, ("Content-Length", str(len(body)))])
                return [body]
        return self.inner(environ, start_response)

    def _answer(self, environ: dict[str, Any], device: str | None) -> bytes | None:
        state = self.state
        monitor = state.threads.health
        if monitor is None:
            return None
        try:
            state.ensure_threads()  # as Flask's first request of a process would
            problem = state.operator.deployment_problem(environ)
            answer = monitor.answer(device, problem=problem, wait=False)
        except ANY_STORE_ERROR:
            return None  # the view answers it (and logs nothing more)
        if answer.checked_at is None and answer.message == NOT_CHECKED:
            return None  # the view waits for the first round
        reply = {
            "found": True,
            "success": answer.success,
            "message": answer.message,
            "state": answer.state,
            "since": answer.since,
            "checked_at": answer.checked_at,
        }
        return json.dumps(reply, separators=(",", ":")).encode()
