"""How each RLMS reads the lab's replies and decides what to do next (pure functions).

WebLab-Deusto's and LabDiscoveryEngine's readings of the start, status and dispose replies.
Nothing here does I/O, so the decisions can be tested value by value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import LabStartFailed, RLMSError, RLMSProtocolError
from .messages import HTTPResponse
from .profiles import RLMSProfile

#: Where WebLab-Deusto sends the student when the start reply has no ``url``.
WLD_INVALID_URL = "http://server.sent.invalid.address"
#: The session id WebLab-Deusto uses when the start reply has no ``session_id``.
WLD_INVALID_SESSION_ID = "invalid_session_id"

# aiohttp's test for "is this JSON" (application/json, application/<x>+json)
_JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+?\+)?json", re.IGNORECASE)
_TOLERATED = ("ok", "", "deleted")


@dataclass(frozen=True)
class StartedSession:
    """What the RLMS keeps from a start reply.

    :param session_id: the lab session id (WebLab-Deusto: ``invalid_session_id`` if absent).
    :param url: where the RLMS sends the student (WebLab-Deusto:
        ``http://server.sent.invalid.address`` if absent, even on ``{"error": true}``).
    :param reply: the parsed reply.
    """

    session_id: str
    url: str
    reply: dict[str, Any]


@dataclass(frozen=True)
class DisposeResult:
    """What the RLMS concluded from one dispose call, or from its whole dispose loop.

    :param finished: the RLMS considers the lab session gone and frees the resource.
    :param reply: the last reply as parsed (``{}`` for ``ok``/empty/``deleted`` bodies or when
        the call failed).
    :param calls: dispose calls made.
    :param wait: seconds the RLMS waits before calling again (``None`` when finished).
    :param error: the failure WebLab-Deusto swallowed (it counts a failed dispose as finished).
    """

    finished: bool
    reply: dict[str, Any]
    calls: int = 1
    wait: float | None = None
    error: RLMSError | None = None


class StatusTrace(list[float]):
    """The ``should_finish`` values a status loop saw, in order (it *is* that list), plus how
    the loop ended.

    :param values: the values seen.
    :param reason: ``"stop"`` (0 with WebLab-Deusto), ``"dispose"`` (< 0), ``"deadline"``
        (slot end reached, then disposed) or ``"max_calls"``.
    :param dispose: the dispose loop's outcome when the loop disposed.
    :param errors: status calls that failed (and were retried).
    :param sleeps: every wait the loop made, in seconds.
    """

    def __init__(self, values: list[float] | None = None) -> None:
        super().__init__(values or [])
        self.reason: str = ""
        self.dispose: DisposeResult | None = None
        self.errors: list[RLMSError] = []
        self.sleeps: list[float] = []


@dataclass(frozen=True)
class StatusStep:
    """What the RLMS does after a ``should_finish`` value.

    :param action: ``"wait"`` then ask again, ``"stop"`` asking, or ``"dispose"``.
    :param seconds: the wait, for ``"wait"``.
    """

    action: Literal["wait", "stop", "dispose"]
    seconds: float = field(default=0.0)


def parse_json(profile: RLMSProfile, response: HTTPResponse, *, tolerant: bool = False) -> Any:
    """Decode a 2xx reply the way the profile's client does.

    :param profile: the RLMS profile.
    :param response: the reply.
    :param tolerant: the call is ``/api``, ``/test`` or dispose, where WebLab-Deusto accepts
        the literal bodies ``ok``, ``""`` and ``deleted`` as ``{}``.
    :raises RLMSProtocolError: not JSON (or, for LabDiscoveryEngine, not labelled as JSON).
    """
    text = response.text
    if tolerant and profile.tolerant_bodies and text in _TOLERATED:
        return {}
    if profile.require_json_content_type:
        if not _JSON_TYPE.match(response.content_type):
            raise RLMSProtocolError(
                f"reply Content-Type {response.content_type!r} is not application/json",
                response.url,
                text,
            )
        if not text.strip():
            return None
    try:
        return json.loads(text)
    except ValueError:
        raise RLMSProtocolError("reply is not valid JSON", response.url, text) from None


def read_start(profile: RLMSProfile, reply: Any, url: str = "") -> StartedSession:
    """Read a start reply.

    :param profile: the RLMS profile.
    :param reply: the parsed reply.
    :param url: the start URL, for error messages.
    :raises LabStartFailed: LabDiscoveryEngine profiles, on ``error`` or ``success: false``.
    :raises RLMSProtocolError: the reply is not an object (LDE: or lacks url/session_id).
    """
    if not isinstance(reply, dict):
        raise RLMSProtocolError("start reply is not a JSON object", url, repr(reply))
    if not profile.is_lde:
        # WebLab-Deusto ignores "error"/"message": a failed start sends the student nowhere
        return StartedSession(
            str(reply.get("session_id", WLD_INVALID_SESSION_ID)),
            str(reply.get("url", WLD_INVALID_URL)),
            reply,
        )
    if reply.get("error") or ("success" in reply and reply["success"] == False):  # noqa: E712
        raise LabStartFailed(reply)
    if not isinstance(reply.get("url"), str) or not isinstance(reply.get("session_id"), str):
        raise RLMSProtocolError("start reply lacks url or session_id", url, repr(reply))
    return StartedSession(reply["session_id"], reply["url"], reply)


def read_should_finish(profile: RLMSProfile, reply: Any, url: str = "") -> float:
    """Return ``should_finish`` as the profile reads it (``float()``; LDE: missing → 0).

    :param profile: the RLMS profile.
    :param reply: the parsed status reply.
    :param url: the status URL, for error messages.
    :raises RLMSProtocolError: no object, or (WebLab-Deusto) no ``should_finish``, or not a
        number.
    """
    if not isinstance(reply, dict):
        raise RLMSProtocolError("status reply is not a JSON object", url, repr(reply))
    if profile.is_lde:
        value = reply.get("should_finish") or 0
    elif "should_finish" in reply:
        value = reply["should_finish"]
    else:
        raise RLMSProtocolError("status reply has no should_finish", url, repr(reply))
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RLMSProtocolError("should_finish is not a number", url, repr(reply)) from None


def next_status_step(profile: RLMSProfile, value: float) -> StatusStep:
    """Decide what follows a ``should_finish`` value.

    WebLab-Deusto: ``> 0`` wait that long, ``0`` stop asking, ``< 0`` dispose.
    LabDiscoveryEngine: ``> 0`` wait ``min(value, 10)``, ``0`` wait 10, ``< 0`` dispose.

    :param profile: the RLMS profile.
    :param value: the value read by :func:`read_should_finish`.
    """
    if value < 0:
        return StatusStep("dispose")
    if value == 0:
        if profile.status_idle_wait is None:
            return StatusStep("stop")
        return StatusStep("wait", profile.status_idle_wait)
    if profile.status_max_wait is not None:
        value = min(value, profile.status_max_wait)
    return StatusStep("wait", value)


def read_dispose(profile: RLMSProfile, reply: Any, url: str = "") -> DisposeResult:
    """Read one dispose reply.

    WebLab-Deusto: a non-object counts as finished; ``finished`` defaults to true,
    ``ask_again`` to 0.5 s, and with ``profile.data_bug`` a non-``None`` ``data`` replaces
    ``finished``. LabDiscoveryEngine: ``should_finish`` (default -1) ``>= 0`` means "call
    again after ``min(value or 1, 30)`` s".

    :param profile: the RLMS profile.
    :param reply: the parsed reply.
    :param url: the dispose URL, for error messages.
    :raises RLMSProtocolError: LDE profiles only: not an object, or ``should_finish`` not a
        number.
    """
    if profile.is_lde:
        if not isinstance(reply, dict):
            raise RLMSProtocolError("dispose reply is not a JSON object", url, repr(reply))
        try:
            value = float(reply.get("should_finish", -1))
        except (TypeError, ValueError):
            raise RLMSProtocolError("should_finish is not a number", url, repr(reply)) from None
        if value < 0:
            return DisposeResult(True, reply)
        wait = value or profile.dispose_default_wait
        if profile.dispose_max_wait is not None:
            wait = min(wait, profile.dispose_max_wait)
        return DisposeResult(False, reply, wait=wait)
    if not isinstance(reply, dict):
        return DisposeResult(True, {})
    finished = reply.get("finished", True)
    if profile.data_bug and reply.get("data") is not None:
        finished = reply["data"]  # WebLab-Deusto's bug: data lands in the finished slot
    if finished:
        return DisposeResult(True, reply)
    try:
        wait = float(reply.get("ask_again", profile.dispose_default_wait))
    except (TypeError, ValueError):
        return DisposeResult(True, reply)  # WebLab-Deusto: any exception counts as finished
    return DisposeResult(False, reply, wait=wait)


__all__ = [
    "WLD_INVALID_SESSION_ID",
    "WLD_INVALID_URL",
    "DisposeResult",
    "StartedSession",
    "StatusStep",
    "StatusTrace",
    "next_status_step",
    "parse_json",
    "read_dispose",
    "read_should_finish",
    "read_start",
]
