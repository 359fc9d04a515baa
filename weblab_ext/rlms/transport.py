"""How the RLMS client moves bytes: real HTTP (a pooled ``requests`` session) or a Flask
test client.

A transport sends one :class:`HTTPRequest` and returns the :class:`HTTPResponse` whatever its
status; it raises only :class:`~weblab_ext.rlms.errors.RLMSConnectionError` (the lab could not
be reached). Neither transport follows redirects: real RLMSs do not reliably follow them on
their POSTs, so a lab must not depend on them.

.. code-block:: python

    from weblab_ext.rlms import FlaskTransport, RLMSClient

    client = RLMSClient(profile="ldl", transport=FlaskTransport(app))
"""

from __future__ import annotations

import ssl
import time
import weakref
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from .errors import RLMSConfigError
from .messages import HTTPRequest, HTTPResponse

if TYPE_CHECKING:
    import requests
    from flask import Flask

#: Statuses retried on calls that are safe to repeat.
RETRY_STATUSES = (502, 503, 504)
#: The longest ``Retry-After`` (seconds) the network transport obeys.
RETRY_AFTER_MAX = 30.0


class Transport(Protocol):
    """Anything that can send an :class:`HTTPRequest`."""

    def send(self, request: HTTPRequest) -> HTTPResponse:
        """Send ``request`` and return the reply, raising only ``RLMSConnectionError``.

        :param request: the request to send.
        """
        ...


def tls_context(verify: bool) -> ssl.SSLContext:
    """Return the TLS context a profile uses.

    :param verify: ``False`` reproduces WebLab-Deusto since 2021 (no hostname check,
        ``CERT_NONE``).
    """
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class RequestsTransport:
    """Real HTTP through a pooled :class:`requests.Session` with urllib3's ``Retry``.

    Connections are kept open and reused from call to call (HTTP keep-alive). A failed call
    is sent again, at most ``retries`` times, waiting ``backoff`` seconds before the first
    retry and twice as long before each next one, or what the lab's ``Retry-After`` header
    asks (up to ``retry_after_max``):

    * a connection that could not be opened (refused, DNS, connect timeout): every call,
      since nothing reached the lab;
    * a connection lost mid-call, or a reply with a status in ``retry_statuses`` (502, 503,
      504): only calls marked :attr:`HTTPRequest.repeatable` (status, dispose, ``/api``,
      ``/test``), never a start;
    * never after a read timeout (the lab may still be acting on the call), a TLS error or
      any other status.

    Certificates are checked against the system's trust store (``SSL_CERT_FILE`` is
    honoured), as the standard library does. Proxies from the environment are honoured (read
    once per lab host);
    ``~/.netrc`` is not read here (the client resolves credentials itself). No cookie is
    kept between calls.

    :param retries: retries after the first attempt (0: none).
    :param backoff: seconds before the first retry.
    :param sleep: called with the seconds of every wait; inject it to not wait.
    :param retry_statuses: statuses retried on repeatable calls.
    :param retry_after_max: longest ``Retry-After`` obeyed, in seconds.
    :param pool_maxsize: connections kept open per lab host.
    :raises RLMSConfigError: ``retries`` or ``backoff`` is negative.

    .. code-block:: python

        with RLMSClient(url="http://127.0.0.1:5000", transport=RequestsTransport(retries=5)) as c:
            c.status(sid)
    """

    def __init__(
        self,
        retries: int = 2,
        backoff: float = 0.5,
        *,
        sleep: Callable[[float], None] = time.sleep,
        retry_statuses: Collection[int] = RETRY_STATUSES,
        retry_after_max: float = RETRY_AFTER_MAX,
        pool_maxsize: int = 10,
    ) -> None:
        if retries < 0 or backoff < 0:
            raise RLMSConfigError(f"retries and backoff must be >= 0, not {retries}, {backoff}")
        # Imported here: a lab process imports this package but never loads requests.
        from .pooling import build_sessions, close_sessions, send

        self.retries = retries
        self.backoff = backoff
        contexts = {True: tls_context(True), False: tls_context(False)}
        self._sessions: dict[bool, requests.Session] = build_sessions(
            retries, backoff, sleep, retry_after_max, retry_statuses, contexts, pool_maxsize
        )
        self._send = send
        self._proxies: dict[str, dict[str, str]] = {}
        self._closer = weakref.finalize(self, close_sessions, self._sessions)

    def send(self, request: HTTPRequest) -> HTTPResponse:
        """Send ``request`` over the network, retrying as the class docstring says.

        :param request: the request to send.
        :raises RLMSConnectionError: the connection failed or timed out (after the retries).
        """
        status, headers, body = self._send(self._sessions, request, self._proxies)
        return HTTPResponse(status, headers, body, request.url)

    def close(self) -> None:
        """Close the pooled connections (also done when the transport is garbage-collected)."""
        self._closer()

    def __enter__(self) -> RequestsTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _lower(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()} if headers else {}


class FlaskTransport:
    """In-process transport through ``app.test_client()``: no socket, same client API.

    The scheme and host of each URL become the test request's base URL; the rest is the
    path, so a lab URL ending in ``/`` still produces WebLab-Deusto's ``//weblab/…``.
    Timeouts and TLS settings do not apply.

    :param app: the Flask application serving the lab.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app

    def send(self, request: HTTPRequest) -> HTTPResponse:
        """Run ``request`` through the app's test client.

        :param request: the request to send.
        """
        parts = urlsplit(request.url)
        base_url = f"{parts.scheme or 'http'}://{parts.netloc or 'localhost'}"
        client = self.app.test_client()
        reply = client.open(
            # A path starting with "//" would be read as a host; the full URL is not.
            base_url + (parts.path or "/"),
            base_url=base_url,
            method=request.method,
            headers=dict(request.headers),
            data=request.body,
            query_string=parts.query or None,
        )
        try:
            return HTTPResponse(
                reply.status_code, _lower(reply.headers), reply.get_data(), request.url
            )
        finally:
            reply.close()


__all__ = [
    "RETRY_AFTER_MAX",
    "RETRY_STATUSES",
    "FlaskTransport",
    "HTTPRequest",
    "HTTPResponse",
    "RequestsTransport",
    "Transport",
    "tls_context",
]
