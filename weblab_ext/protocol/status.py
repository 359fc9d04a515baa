"""The ``should_finish`` decision (seconds until the RLMS asks again, ``-1`` when the
session is over) for one session and for the bulk-status request (``status/multiple``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from weblab_ext.protocol.errors import ProtocolError

from ..states import SessionState

#: Returned while a session's resources are still being released: "ask again in 2 s".
DISPOSING_ASK_AGAIN = 2

_MULTIPLE_CODE = "missing-parameters"
_MULTIPLE_MESSAGE = "session_ids expected in POST JSON"


def session_over(
    *, max_date: float | None, last_poll: float | None, now: float, timeout: float
) -> bool:
    """Whether an active session is past its deadline: its slot ended, or it has been silent
    for ``timeout`` seconds (``timeout <= 0``: no inactivity limit).

    A session past its deadline is over for good: no later request or poll revives it.
    """
    if max_date is not None and now >= max_date:
        return True
    return timeout > 0 and last_poll is not None and now - last_poll >= timeout


def should_finish(
    *,
    state: str | None,
    max_date: float | None,
    last_poll: float | None,
    now: float,
    timeout: float,
    poll_interval: float,
) -> int:
    """Return the ``should_finish`` value for one session.

    ``-1`` means "end the session"; ``0`` means "do not ask again" (only when polling is
    disabled with ``poll_interval == 0``); ``n > 0`` means "ask again in *n* seconds".

    :param state: the stored state (``active``, ``exited``, ``disposing``, ``disposed``) or
        ``None`` when no record exists.
    :param max_date: epoch seconds at which the slot ends, ``None`` for no limit.
    :param last_poll: epoch seconds of the user's last poll, ``None`` if unknown.
    :param now: current epoch seconds.
    :param timeout: inactivity limit in seconds; ``<= 0`` disables it.
    :param poll_interval: ``WEBLAB_POLL_INTERVAL`` in seconds.
    """
    (value,) = should_finish_many(
        [(state, max_date, last_poll)], now=now, timeout=timeout, poll_interval=poll_interval
    )
    return value


def should_finish_many(
    sessions: Iterable[tuple[str | None, float | None, float | None]],
    *,
    now: float,
    timeout: float,
    poll_interval: float,
) -> list[int]:
    """:func:`should_finish` of many sessions at once (``status/multiple``).

    :param sessions: ``(state, max_date, last_poll)`` of each session, as for
        :func:`should_finish`.
    :returns: the values, in the same order.
    """
    # One flat loop with local names: with 10,000 ids a function call (or a global lookup)
    # per id would cost more than reading them from the store.
    interval = max(1, int(poll_interval)) if poll_interval > 0 else 0
    inf = math.inf
    check_idle = timeout > 0
    active, disposing = SessionState.ACTIVE, SessionState.DISPOSING
    values: list[int] = []
    append = values.append
    for state, max_date, last_poll in sessions:
        if state != active:
            append(DISPOSING_ASK_AGAIN if state == disposing else -1)
            continue
        time_left = inf if max_date is None else max_date - now
        # session_over(), inlined
        if time_left <= 0 or (check_idle and last_poll is not None and now - last_poll >= timeout):
            append(-1)
        elif not interval:
            append(0)
        elif time_left == inf:
            append(interval)
        else:
            # weblablib answered 0 in a slot's last second, which tells WebLab-Deusto to stop
            # asking; the RLMS must keep asking until we answer -1, so never go below 1.
            # (Comparisons, not min()/max(): two builtin calls per id show at 10,000 ids.)
            seconds = int(time_left)
            append(interval if seconds >= interval else seconds if seconds >= 1 else 1)
    return values


def multiple_status_error_json() -> dict[str, Any]:
    """Return the reply to a bulk-status request without ``session_ids`` (HTTP 200)."""
    return {"success": False, "error_code": _MULTIPLE_CODE, "error_human": _MULTIPLE_MESSAGE}


def _timeout(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        seconds = float(value)
    except (ValueError, OverflowError):
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def parse_multiple_status(
    body: object, *, max_ids: int | None = None
) -> tuple[list[str], float | None]:
    """Return ``(session_ids, timeout)`` from a ``status/multiple`` request body.

    :param body: the decoded body, or ``None`` when it was missing or not JSON.
    :param max_ids: most ids one call may carry (``WEBLAB_MAX_STATUS_IDS``); ``None``: any.
    :returns: the ids and the time limit in seconds (``None``: no limit; a non-number or
        ``<= 0`` also means no limit, as in weblablib).
    :raises ProtocolError: ``missing-parameters`` with status 200 when ``session_ids`` is
        missing or not a list of strings; answer it with :func:`multiple_status_error_json`.
        ``too-many-session-ids`` with status 400 past ``max_ids``.
    """
    ids = body.get("session_ids") if isinstance(body, dict) else None
    # set(map(type, ...)) runs in C: this check is per id and a call may carry 10,000 ids.
    if not isinstance(ids, list) or not set(map(type, ids)) <= {str}:
        raise ProtocolError(_MULTIPLE_CODE, _MULTIPLE_MESSAGE, status=200)
    if max_ids is not None and len(ids) > max_ids:
        raise ProtocolError(
            "too-many-session-ids",
            f"Field 'session_ids' holds {len(ids)} ids; at most {max_ids} are allowed per call "
            "(WEBLAB_MAX_STATUS_IDS): split the list",
            field="session_ids",
        )
    timeout = body.get("timeout") if isinstance(body, dict) else None
    return list(ids), _timeout(timeout)


__all__ = [
    "DISPOSING_ASK_AGAIN",
    "multiple_status_error_json",
    "parse_multiple_status",
    "session_over",
    "should_finish",
    "should_finish_many",
]
