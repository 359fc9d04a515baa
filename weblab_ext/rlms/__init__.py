"""A client that calls a lab server exactly as a real RLMS does.

``weblab_ext.rlms`` re-implements, from their observable behaviour, the two real clients of
the lab protocol: WebLab-Deusto's ``HttpExperiment`` (Python 2, flat string values, lenient
loops) and LabDiscoveryEngine (Python 3, ISO dates, bounded fail-closed loops), in five
:data:`PROFILES`. Use it to check that a lab answers every RLMS correctly,
over real HTTP (a pooled ``requests`` session, loaded only when a network client is made) or
in-process through a Flask test client.

Layering: this package knows HTTP and JSON only. It imports Flask solely for
:class:`FlaskTransport` (type hints) and never touches the lab's store or runtime.

Modules: ``client.py`` (:class:`RLMSClient`), ``loops.py`` (the status and dispose loops),
``profiles.py`` (the five profiles), ``payloads.py`` (start bodies), ``replies.py`` (reading
the lab's replies), ``messages.py`` (requests and replies), ``transport.py`` (HTTP or a
Flask test client), ``pooling.py`` (the pooled ``requests`` session behind it),
``config.py`` (URL and credentials from arguments, the environment, ``.env`` or ``.netrc``),
``health.py`` (reading a health URL as LabDiscoveryEngine does), ``errors.py``.

.. code-block:: python

    from weblab_ext.rlms import PROFILES, FlaskTransport, RLMSClient

    for name in PROFILES:
        client = RLMSClient(profile=name, transport=FlaskTransport(app),
                            username="weblab", password="secret", sleep=lambda s: None)
        session = client.start(username="john", slot_length=60)
        trace = client.run_status_loop(session.session_id, max_calls=50)
"""

from __future__ import annotations

from .client import RLMSClient
from .config import RLMSSettings, read_dotenv, resolve_settings, rlms_context
from .errors import (
    DisposeNotFinished,
    LabStartFailed,
    ResourceBroken,
    RLMSConfigError,
    RLMSConnectionError,
    RLMSCredentialsError,
    RLMSError,
    RLMSHTTPError,
    RLMSProtocolError,
)
from .health import HealthReading
from .messages import HTTPRequest, HTTPResponse
from .payloads import StartParams, build_start_body
from .profiles import PROFILE_ALIASES, PROFILES, RLMSProfile, get_profile
from .replies import (
    WLD_INVALID_SESSION_ID,
    WLD_INVALID_URL,
    DisposeResult,
    StartedSession,
    StatusTrace,
)
from .transport import FlaskTransport, RequestsTransport, Transport

__all__ = [
    "PROFILES",
    "PROFILE_ALIASES",
    "WLD_INVALID_SESSION_ID",
    "WLD_INVALID_URL",
    "DisposeNotFinished",
    "DisposeResult",
    "FlaskTransport",
    "HTTPRequest",
    "HTTPResponse",
    "HealthReading",
    "LabStartFailed",
    "RLMSClient",
    "RLMSConfigError",
    "RLMSConnectionError",
    "RLMSCredentialsError",
    "RLMSError",
    "RLMSHTTPError",
    "RLMSProfile",
    "RLMSProtocolError",
    "RLMSSettings",
    "RequestsTransport",
    "ResourceBroken",
    "StartParams",
    "StartedSession",
    "StatusTrace",
    "Transport",
    "build_start_body",
    "get_profile",
    "read_dotenv",
    "resolve_settings",
    "rlms_context",
]
