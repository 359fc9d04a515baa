"""Builders of the JSON reply bodies the RLMS endpoints send, in the shapes both
WebLab-Deusto and LabDiscoveryEngine read."""

from __future__ import annotations

import math
from typing import Any

#: Reply of ``GET /sessions/api``: the version is a string, as WebLab-Deusto expects.
API_VERSION_REPLY: dict[str, Any] = {"api_version": "1"}


def test_reply(valid: bool, error: str | None = None) -> dict[str, Any]:
    """Return the ``/sessions/test`` reply.

    :param valid: whether the credentials were right.
    :param error: the message shown to the RLMS administrator when they were not.
    """
    if valid:
        return {"valid": True}
    return {"valid": False, "error_messages": [error] if error is not None else []}


# The name starts with "test_"; keep pytest from collecting it when a test module imports it.
test_reply.__test__ = False  # type: ignore[attr-defined]


def start_reply(url: str, session_id: str) -> dict[str, Any]:
    """Return the reply of a successful start.

    :param url: the launch URL the RLMS sends the user to.
    :param session_id: the new session id.
    """
    return {"url": url, "session_id": session_id}


def start_failed_reply(message: str = "Error initializing laboratory") -> dict[str, Any]:
    """Return the reply of a failed start (send it with a non-2xx status for WebLab-Deusto).

    :param message: the reason given to the RLMS.
    """
    return {"error": True, "message": message}


def dispose_done_reply() -> dict[str, Any]:
    """Return the reply of a finished disposal."""
    return {"message": "Deleted", "finished": True, "should_finish": -1}


def dispose_pending_reply(ask_again: float) -> dict[str, Any]:
    """Return the reply of a disposal still running: the RLMS calls dispose again later.

    There is never a ``data`` key: WebLab-Deusto reads a non-None ``data`` as ``finished``
    and stops calling. LabDiscoveryEngine reads ``should_finish`` and WebLab-Deusto
    ``finished``/``ask_again``; both are given.

    :param ask_again: seconds after which the RLMS should ask again.
    """
    return {
        "message": "Disposing",
        "finished": False,
        "ask_again": ask_again,
        "should_finish": max(1, math.ceil(ask_again)),
    }


def dispose_not_found_reply() -> dict[str, Any]:
    """Return the reply of a dispose for an unknown session (counts as finished)."""
    return {"message": "Not found", "finished": True, "should_finish": -1}


def dispose_unknown_op_reply() -> dict[str, Any]:
    """Return the reply of a dispose call whose ``action`` is not ``delete``."""
    return {"message": "Unknown op"}


def parse_dispose_action(body: object) -> str | None:
    """Return the ``action`` of a dispose request body, or ``None`` when there is none.

    :param body: the decoded body.
    """
    action = body.get("action") if isinstance(body, dict) else None
    return action if isinstance(action, str) else None


__all__ = [
    "API_VERSION_REPLY",
    "dispose_done_reply",
    "dispose_not_found_reply",
    "dispose_pending_reply",
    "dispose_unknown_op_reply",
    "parse_dispose_action",
    "start_failed_reply",
    "start_reply",
    "test_reply",
]
