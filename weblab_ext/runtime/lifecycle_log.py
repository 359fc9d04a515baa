"""Structured (JSON) log lines for the session lifecycle, free of personal data.

Emitted at INFO when ``WEBLAB_LOG_SESSION_LIFECYCLE`` is true, on the logger the Flask layer
hands in (the app's ``app.logger``, where weblablib logs them; ``weblab_ext.lifecycle``
without one). Session ids are logged only as a hash prefix; usernames, full names and back
URLs never appear.

Events (``action``, ``source``): ``expiry_detected`` (``status_time``: the RLMS status call
found the session over, once per session), ``disposed`` (``dispose_user``), and
``protected_request_rejected`` (``requires_active``; anonymous students with the reasons
``anonymous_no_session_cookie`` / ``anonymous_session_not_found``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from ..states import SessionState
from ..store.records import SessionRecord

default_logger = logging.getLogger("weblab_ext.lifecycle")

#: ``source`` of the events, as weblablib names them.
SOURCE_STATUS = "status_time"
SOURCE_DISPOSE = "dispose_user"
SOURCE_REQUIRES_ACTIVE = "requires_active"


def session_id_hash(session_id: str) -> str:
    """First 16 hex characters of the SHA-256 of a session id."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:16]


def expiry_reason(record: SessionRecord, *, now: float, timeout: float) -> str:
    """Why a session is (or was) over: ``user_exited``, ``time_limit_reached``, ..."""
    if record.exited:
        return "user_exited"
    if now >= record.max_date:
        return "time_limit_reached"
    if timeout > 0 and now - record.last_poll >= timeout:
        return "inactivity_timeout"
    return "unknown_expiry"


def log_event(
    action: str,
    *,
    source: str,
    reason: str,
    now: float,
    timeout: float,
    record: SessionRecord | None = None,
    session_id: str | None = None,
    lab_name: str | None = None,
    environment: str | None = None,
    logger: logging.Logger = default_logger,
    **extra: Any,
) -> None:
    """Log one lifecycle event as a JSON line on ``logger``; never raises."""
    try:
        event: dict[str, Any] = {
            "event": "weblab_session_lifecycle",
            "action": action,
            "source": source,
            "reason": reason,
            "lab_name": lab_name,
            "environment": environment,
            "configured_timeout_seconds": timeout,
        }
        sid = record.session_id if record is not None else session_id
        # Always present: null for a request without a session id (as weblablib logs it).
        event["session_id_hash"] = session_id_hash(sid) if sid else None
        if record is not None:
            event.update(
                experiment_name=record.experiment_name,
                category_name=record.category_name,
                experiment_id=record.experiment_id,
                seconds_since_start=round(now - record.start_date),
                seconds_since_last_poll=round(now - record.last_poll),
                # 0 until the slot is over (a session disposed early), never negative.
                seconds_past_max_date=max(0, round(now - record.max_date)),
                disposing_resources=record.state == SessionState.DISPOSING,
            )
            if record.device:  # WEBLAB_DEVICES: which device the session held
                event["device"] = record.device
        event.update(extra)
        logger.info(json.dumps(event, sort_keys=True))
    except Exception:  # logging must never break a request
        default_logger.debug("lifecycle log failed", exc_info=True)


class LifecycleLog:
    """The lifecycle log of one lab: on or off, and the lab's name and environment.

    :param enabled: ``WEBLAB_LOG_SESSION_LIFECYCLE``.
    :param lab_name: the app's ``LAB_NAME`` config, logged with every event.
    :param environment: the app's ``ENVIRONMENT`` config, logged with every event.
    :param logger: where the lines go (the app's logger).
    """

    def __init__(
        self,
        *,
        enabled: bool,
        lab_name: str | None = None,
        environment: str | None = None,
        logger: logging.Logger = default_logger,
    ) -> None:
        self.enabled = enabled
        self.lab_name = lab_name
        self.environment = environment
        self.logger = logger

    def session_event(
        self,
        action: str,
        record: SessionRecord,
        *,
        source: str,
        now: float,
        timeout: float,
        **extra: Any,
    ) -> None:
        """Log ``action`` about a session, with the reason it is over; never raises."""
        if not self.enabled:
            return
        log_event(
            action,
            source=source,
            now=now,
            timeout=timeout,
            record=record,
            reason=expiry_reason(record, now=now, timeout=timeout),
            lab_name=self.lab_name,
            environment=self.environment,
            logger=self.logger,
            **extra,
        )

    def anonymous_event(
        self,
        action: str,
        *,
        reason: str,
        session_id: str | None,
        source: str,
        now: float,
        timeout: float,
        **extra: Any,
    ) -> None:
        """Log ``action`` about a request without a session (``session_id``: the cookie's,
        when it names a session that does not exist); never raises."""
        if not self.enabled:
            return
        log_event(
            action,
            source=source,
            reason=reason,
            now=now,
            timeout=timeout,
            session_id=session_id,
            lab_name=self.lab_name,
            environment=self.environment,
            logger=self.logger,
            **extra,
        )


def show_info_lines(logger: logging.Logger, *, testing: bool) -> None:
    """Let the lab's INFO lines (``app.logger.info``, and the session lifecycle lines, which
    go to ``app.logger``) through when nobody configured logging.

    Flask gives ``app.logger`` a handler when logging is not configured, but outside debug
    mode its level stays Python's default, WARNING: under gunicorn and ``flask weblab loop``
    the lab's INFO lines were written nowhere. So when the root logger has no handler and
    ``logger`` no level of its own, the level becomes INFO; a lab or server that configures
    logging (``logging.basicConfig``, ``dictConfig``, gunicorn's ``--log-config``) is left
    alone, and so are tests (``testing``), which read the log through their own capture.

    :param logger: the app's logger (``app.logger``).
    :param testing: the app is under test (``app.testing``).
    """
    if testing:
        return
    if logger.level == logging.NOTSET and not logging.getLogger().handlers:
        logger.setLevel(logging.INFO)
