"""Following a lab's health URL as LabDiscoveryEngine's health checker does.

LabDiscoveryEngine can be given a health URL per resource. It GETs that URL without
credentials, on its own schedule, and reads ``{"found": ..., "success": ..., "message": ...}``:
``success: false`` marks the resource broken (no student is sent there; the message says why)
and ``success: true`` makes it available again.

:meth:`RLMSClient.health <weblab_ext.rlms.RLMSClient.health>` takes one such reading and keeps
it; :meth:`RLMSClient.start <weblab_ext.rlms.RLMSClient.start>` then refuses, as the RLMS
would, while the last reading was not successful (:class:`~weblab_ext.rlms.ResourceBroken`).
A reading that could not be taken (lab unreachable, a reply other than 2xx, a body that is not
a JSON object with ``success: true``) counts as failed: the resource is not offered on a guess.

.. code-block:: python

    reading = client.health()        # GET <url>/weblab/health, no Authorization header
    reading.success, reading.message  # False, "The lab is under maintenance"
    client.start(username="ana")      # raises ResourceBroken: no student is sent there
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from .errors import RLMSError
from .messages import HTTPRequest
from .profiles import RLMSProfile
from .transport import Transport


@dataclasses.dataclass(frozen=True)
class HealthReading:
    """One reading of a health URL, as the RLMS keeps it.

    :param success: the resource may be offered (the reply said ``success: true``).
    :param message: why not (the lab's ``message``, or what went wrong with the call).
    :param url: the health URL read.
    :param reply: the JSON object the lab answered (``{}`` when there was none): ``state``,
        ``since``, ``checked_at`` when the lab sends them.
    :param at: when it was read (epoch seconds, the client's ``now()``).
    """

    success: bool
    message: str
    url: str
    reply: dict[str, Any]
    at: float


def default_health_url(url: str, profile: RLMSProfile) -> str:
    """The health URL of a lab (or device) base URL: ``<url><prefix>/health``."""
    return f"{url.rstrip('/')}{profile.prefix}/health"


def read_health(
    transport: Transport,
    url: str,
    user_agent: str,
    timeout: float | None = None,
    verify_tls: bool = True,
    now: float | None = None,
) -> HealthReading:
    """GET ``url`` without credentials and read it as LabDiscoveryEngine does (see the
    module). Never raises for what the lab answers or for a lab that cannot be reached.

    :param transport: carries the call (over HTTP, or in-process).
    :param url: the health URL.
    :param user_agent: the ``User-Agent`` header.
    :param timeout: seconds before the call counts as failed.
    :param verify_tls: verify the certificate of an HTTPS URL.
    :param now: when the reading is taken (default: the wall clock).
    """
    at = time.time() if now is None else now
    headers = {"User-Agent": user_agent, "Accept": "application/json"}
    call = HTTPRequest("GET", url, headers, None, timeout, verify_tls, True)
    try:
        response = transport.send(call)
    except RLMSError as error:
        return HealthReading(False, f"health URL not reachable: {error}", url, {}, at)
    if not 200 <= response.status < 300:
        return HealthReading(False, f"health URL answered HTTP {response.status}", url, {}, at)
    try:
        reply = json.loads(response.text)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        return HealthReading(False, "health URL answered no JSON object", url, {}, at)
    message = reply.get("message")
    text = message if isinstance(message, str) else ""
    return HealthReading(reply.get("success") is True, text, url, reply, at)


__all__ = ["HealthReading", "default_health_url", "read_health"]
