"""How the RLMS client moves bytes: real HTTP (stdlib ``urllib``) or a Flask test client.

A transport sends one :class:`HTTPRequest` and returns the :class:`HTTPResponse` whatever its
status; it raises only :class:`~weblab_ext.rlms.errors.RLMSConnectionError` (the lab could not
be reached). Neither transport follows redirects: real RLMSs do not reliably follow them on
their POSTs, so a lab must not depend on them.

.. code-block:: python

    from weblab_ext.rlms import FlaskTransport, RLMSClient

    client = RLMSClient(profile="ldl", transport=FlaskTransport(app))
"""

from __future__ import annotations

import http.client
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from .errors import RLMSConnectionError

if TYPE_CHECKING:
    from flask import Flask


@dataclass(frozen=True)
class HTTPRequest:
    """One request as the RLMS sends it.

    :param method: ``GET``, ``POST`` or ``DELETE``.
    :param url: the absolute URL.
    :param headers: request headers.
    :param body: the encoded body, if any.
    :param timeout: seconds before giving up (``None``: wait forever, like WebLab-Deusto).
    :param verify_tls: verify the server certificate on HTTPS.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout: float | None = None
    verify_tls: bool = True


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


class Transport(Protocol):
    """Anything that can send an :class:`HTTPRequest`."""

    def send(self, request: HTTPRequest) -> HTTPResponse:
        """Send ``request`` and return the reply, raising only ``RLMSConnectionError``.

        :param request: the request to send.
        """
        ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        # Returning None makes urllib raise HTTPError with the 3xx, which send() returns
        # as a plain reply: the client then reports it as an HTTP error.
        return None


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


class UrllibTransport:
    """Real HTTP through :mod:`urllib.request` (no third-party dependency).

    Proxies from the environment are honoured, as they were by WebLab-Deusto's ``urllib2``.
    """

    def send(self, request: HTTPRequest) -> HTTPResponse:
        """Send ``request`` over the network.

        :param request: the request to send.
        :raises RLMSConnectionError: the connection failed or timed out.
        """
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if urlsplit(request.url).scheme == "https":
            handlers.append(urllib.request.HTTPSHandler(context=tls_context(request.verify_tls)))
        opener = urllib.request.build_opener(*handlers)
        raw = urllib.request.Request(  # noqa: S310 - the URL is the configured lab server
            request.url, data=request.body, headers=dict(request.headers), method=request.method
        )
        try:
            with opener.open(raw, timeout=request.timeout) as reply:
                return HTTPResponse(reply.status, _lower(reply.headers), reply.read(), request.url)
        except urllib.error.HTTPError as error:
            with error:
                return HTTPResponse(error.code, _lower(error.headers), error.read(), request.url)
        except TimeoutError as error:
            raise RLMSConnectionError(request.url, str(error), timed_out=True) from error
        except urllib.error.URLError as error:
            timed_out = isinstance(error.reason, TimeoutError)
            raise RLMSConnectionError(
                request.url, str(error.reason), timed_out=timed_out
            ) from error
        except (OSError, http.client.HTTPException) as error:
            raise RLMSConnectionError(request.url, repr(error)) from error


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
    "FlaskTransport",
    "HTTPRequest",
    "HTTPResponse",
    "Transport",
    "UrllibTransport",
    "tls_context",
]
