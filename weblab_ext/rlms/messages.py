"""The request and the reply as the RLMS client sees them, whatever carries them.

Their own module so that the transports (:mod:`.transport`) and the machinery of the network
transport (:mod:`.pooling`) both use them without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HTTPRequest:
    """One request as the RLMS sends it.

    :param method: ``GET``, ``POST`` or ``DELETE``.
    :param url: the absolute URL.
    :param headers: request headers.
    :param body: the encoded body, if any.
    :param timeout: seconds before giving up (``None``: wait forever, like WebLab-Deusto).
    :param verify_tls: verify the server certificate on HTTPS.
    :param repeatable: the call may be sent again if an attempt failed after it may have
        reached the lab (status, dispose, ``/api``, ``/test``); ``False`` for a start.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout: float | None = None
    verify_tls: bool = True
    repeatable: bool = False


@dataclass(frozen=True)
class HTTPResponse:
    """One reply, whatever its status.

    :param status: the HTTP status code.
    :param headers: reply headers with lower-case names.
    :param body: the raw body.
    :param url: the URL that was requested.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header, or ``""``."""
        return self.headers.get("content-type", "")
