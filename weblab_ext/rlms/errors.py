"""Errors raised by the RLMS client (:mod:`weblab_ext.rlms`).

All of them derive from :class:`RLMSError`, itself a :class:`~weblab_ext.errors.WebLabError`,
so one ``except RLMSError`` catches every failure of a call to a lab server.
"""

from __future__ import annotations

from typing import Any

from weblab_ext.errors import WebLabError

#: How much of a reply body an error message quotes (the full body stays on the exception).
_QUOTE = 200


class RLMSError(WebLabError):
    """Base class of every error of the RLMS client."""


class RLMSConfigError(RLMSError, ValueError):
    """The client is missing a setting (such as the lab URL) or a setting is malformed."""


class RLMSCredentialsError(RLMSConfigError):
    """``fail_if_noauth`` is set and no source gave both a username and a password, so the
    client would call the lab without credentials. Raised when the client is created: nothing
    has been sent.
    """


class RLMSConnectionError(RLMSError):
    """The lab server could not be reached, or did not answer within the timeout.

    :param url: the URL that was requested.
    :param reason: what the network layer reported.
    :param timed_out: ``True`` when the request timed out rather than failed to connect.
    """

    def __init__(self, url: str, reason: str, *, timed_out: bool = False) -> None:
        self.url = url
        self.reason = reason
        self.timed_out = timed_out
        hint = (
            " (the real WebLab-Deusto client sets no timeout and would block here forever)"
            if timed_out
            else "; check that the lab server is running and the URL is right"
        )
        super().__init__(f"cannot reach {url}: {reason}{hint}")


class RLMSHTTPError(RLMSError):
    """The lab answered with a status outside 2xx (redirects included: RLMSs do not follow them).

    :param status: the HTTP status code.
    :param body: the reply body decoded as UTF-8 (WebLab-Deusto itself never reads it).
    :param url: the URL that was requested.
    :param method: the HTTP method used.
    """

    def __init__(self, status: int, body: str, url: str, method: str = "GET") -> None:
        self.status = status
        self.body = body
        self.url = url
        self.method = method
        super().__init__(f"{method} {url} answered HTTP {status}: {body[:_QUOTE]!r}")


class RLMSProtocolError(RLMSError):
    """The lab answered 2xx but the reply is not what the RLMS expects (bad JSON, wrong shape).

    :param message: what was wrong.
    :param url: the URL that was requested.
    :param body: the reply body decoded as UTF-8.
    """

    def __init__(self, message: str, url: str = "", body: str = "") -> None:
        self.url = url
        self.body = body
        where = f" from {url}" if url else ""
        super().__init__(f"{message}{where}: {body[:_QUOTE]!r}")


class LabStartFailed(RLMSError):
    """The lab refused to start the session (LabDiscoveryEngine profiles: ``error`` or
    ``success: false`` in the start reply).

    :param reply: the start reply as parsed.
    """

    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply
        message = reply.get("message") or reply.get("error") or "no message"
        super().__init__(f"the lab refused to start the session: {message}")


class DisposeNotFinished(RLMSError):
    """The lab still reported work in progress after the last dispose attempt allowed.

    LabDiscoveryEngine fails closed at this point: it marks the reservation broken and does
    not release the resource.

    :param session_id: the lab session being disposed.
    :param calls: how many dispose calls were made.
    :param reply: the last dispose reply.
    """

    def __init__(self, session_id: str, calls: int, reply: dict[str, Any]) -> None:
        self.session_id = session_id
        self.calls = calls
        self.reply = reply
        super().__init__(
            f"session {session_id!r} was still not disposed after {calls} dispose calls "
            f"(last reply {reply!r}); the RLMS would now mark the lab broken"
        )


class ResourceBroken(RLMSError):
    """Refused by the RLMS itself, before calling the lab: the last reading of the resource's
    health URL was not successful, so an RLMS that follows it (LabDiscoveryEngine) has the
    resource marked broken and sends no student there.

    :param reading: that reading (a :class:`~weblab_ext.rlms.health.HealthReading`).
    """

    def __init__(self, reading: Any) -> None:
        self.reading = reading
        super().__init__(
            f"the resource is marked broken (its health URL {reading.url} said: "
            f"{reading.message or 'no message'}): no student is sent there"
        )


__all__ = [
    "DisposeNotFinished",
    "LabStartFailed",
    "RLMSConfigError",
    "RLMSConnectionError",
    "RLMSCredentialsError",
    "RLMSError",
    "RLMSHTTPError",
    "RLMSProtocolError",
    "ResourceBroken",
]
