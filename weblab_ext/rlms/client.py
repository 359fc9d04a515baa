"""The RLMS client: calls a lab server exactly as one of the real RLMSs does.

.. code-block:: python

    from weblab_ext.rlms import RLMSClient

    client = RLMSClient(url="http://127.0.0.1:5000", username="weblab", password="secret")
    session = client.start(username="john", slot_length=120)
    client.status(session.session_id)                    # 5.0
    client.run_status_loop(session.session_id)           # [5.0, 5.0, ..., -1.0], then dispose
    client.close()                                       # or use the client as a context manager
"""

from __future__ import annotations

import base64
import functools
import importlib.metadata
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from . import loops
from .config import resolve_settings
from .errors import (
    ResourceBroken,
    RLMSConfigError,
    RLMSConnectionError,
    RLMSError,
    RLMSHTTPError,
    RLMSProtocolError,
)
from .health import HealthReading, default_health_url, read_health
from .messages import HTTPRequest, HTTPResponse
from .payloads import StartParams, build_start_body
from .profiles import RLMSProfile, get_profile
from .replies import (
    DisposeResult,
    StartedSession,
    StatusTrace,
    parse_json,
    read_dispose,
    read_should_finish,
    read_start,
)
from .transport import FlaskTransport, RequestsTransport, Transport

logger = logging.getLogger("weblab_ext")

_LOCAL_URL = "http://localhost"
#: Methods that HTTP defines as idempotent: a call with one of them may be sent again.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@functools.cache
def _package_version() -> str:
    # From the installed metadata, not ``weblab_ext.__version__``: importing the package would
    # load the whole lab server into a client that needs none of it.
    try:
        return importlib.metadata.version("weblab_ext")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


class RLMSClient:
    """A client of a lab server, speaking as the RLMS ``profile`` does.

    Settings not given come from :func:`~weblab_ext.rlms.config.rlms_context`, the
    environment, ``./.env`` and ``~/.netrc`` (see :mod:`weblab_ext.rlms.config`).

    :param url: lab base URL; ``/weblab/sessions/…`` (or ``/ldl/…``) is appended. May be
        omitted with a :class:`FlaskTransport` (``http://localhost`` is used).
    :param username: HTTP Basic user (sent on every call when both user and password are set).
    :param password: HTTP Basic password.
    :param timeout: seconds per request (default 30; WebLab-Deusto itself has none).
    :param profile: a name from :data:`~weblab_ext.rlms.PROFILES` or a profile object
        (default ``"weblabdeusto"``).
    :param transport: :class:`RequestsTransport` (default, built with ``retries``,
        ``backoff`` and ``sleep``) or :class:`FlaskTransport`.
    :param sleep: called with seconds for every wait (loops, retries); inject to not wait.
    :param now: returns epoch seconds; the default slot start and loop deadlines use it.
    :param retries: retries of the default transport: a connection that could not be
        opened, on every call; a connection lost mid-call or a 502/503/504 reply, on the
        calls that are safe to repeat (status, dispose, ``/api``, ``/test``; never a start).
        ``Retry-After`` is obeyed. :class:`FlaskTransport` never retries.
    :param backoff: first retry delay in seconds, doubled at each retry.
    :param force_noauth: never send credentials, whatever a source gives (default: as
        :func:`~weblab_ext.rlms.config.rlms_context` says, else ``False``).
    :param fail_if_noauth: raise :class:`~weblab_ext.rlms.errors.RLMSCredentialsError` here if
        no source gave both a username and a password (default: as the context says, else
        ``False``).
    :param environ: environment to read settings from (default :data:`os.environ`).
    :param dotenv_path: ``.env`` file (default ``./.env``).
    :param netrc_path: netrc file (default ``~/.netrc``).
    :raises RLMSConfigError: no URL for a network transport, unknown profile, bad timeout,
        both ``force_noauth`` and ``fail_if_noauth``.
    :raises RLMSCredentialsError: ``fail_if_noauth`` and no credentials.

    A client built with the default transport keeps its connections open: close it with
    :meth:`close` or use it as a context manager (it is also closed when garbage-collected).

    .. code-block:: python

        client = RLMSClient(profile="ldl", transport=FlaskTransport(app), sleep=lambda s: None)
        sid = client.start(username="ana").session_id
        client.dispose_until_finished(sid).finished   # True
    """

    def __init__(
        self,
        url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float | None = None,
        profile: str | RLMSProfile | None = None,
        transport: Transport | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.time,
        retries: int = 2,
        backoff: float = 0.5,
        force_noauth: bool | None = None,
        fail_if_noauth: bool | None = None,
        environ: Mapping[str, str] | None = None,
        dotenv_path: str | os.PathLike[str] | None = None,
        netrc_path: str | os.PathLike[str] | None = None,
    ) -> None:
        settings = resolve_settings(
            url,
            username,
            password,
            timeout,
            profile,
            force_noauth=force_noauth,
            fail_if_noauth=fail_if_noauth,
            environ=environ,
            dotenv_path=dotenv_path,
            netrc_path=netrc_path,
        )
        if settings.url is None and not isinstance(transport, FlaskTransport):
            raise RLMSConfigError(
                "no lab URL: pass url=, use rlms_context(url=...) or set WEBLAB_URL"
            )
        self._owns_transport = transport is None
        self.transport: Transport = transport or RequestsTransport(retries, backoff, sleep=sleep)
        self.url: str = settings.url or _LOCAL_URL
        self.username = settings.username
        self.password = settings.password
        #: Credentials are never sent (:attr:`username` and :attr:`password` are ``None``).
        self.force_noauth = settings.force_noauth
        #: The client was required to have credentials.
        self.fail_if_noauth = settings.fail_if_noauth
        self.timeout: float = settings.timeout
        self.profile: RLMSProfile = get_profile(settings.profile or "weblabdeusto")
        self.sleep = sleep
        self.now = now
        self.retries = retries
        self.backoff = backoff
        #: The ``api_version`` learnt by :meth:`probe` (``None`` until a probe succeeded).
        self.api_version: str | None = None
        #: The last :meth:`health` reading (``None``: none taken, starts are not held back).
        self.last_health: HealthReading | None = None

    def __repr__(self) -> str:
        return f"<RLMSClient {self.profile.name} {self.url}>"

    def close(self) -> None:
        """Close the pooled connections of the transport this client created (a transport
        passed in is left to its owner)."""
        close = getattr(self.transport, "close", None)
        if self._owns_transport and close is not None:
            close()

    def __enter__(self) -> RLMSClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- HTTP ---------------------------------------------------------------------------

    @property
    def user_agent(self) -> str:
        """``weblab_ext/<version> (+rlms-profile <name>)``."""
        return f"weblab_ext/{_package_version()} (+rlms-profile {self.profile.name})"

    def sessions_url(self, path: str = "") -> str:
        """Return ``<url><prefix>/sessions/<path>``, joined as the profile joins it.

        :param path: what follows ``sessions/`` (``""``, ``"api"``, ``"<sid>/status"``…).
        """
        base = self.url if self.profile.keep_trailing_slash else self.url.rstrip("/")
        return f"{base}{self.profile.prefix}/sessions/{path}"

    def _headers(self, has_body: bool) -> dict[str, str]:
        headers = {"User-Agent": self.user_agent}
        if self.profile.accept is not None:
            headers["Accept"] = self.profile.accept
        if has_body:
            headers["Content-Type"] = "application/json"
        if not self.force_noauth and self.username is not None and self.password is not None:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return headers

    def request(
        self, method: str, path: str, payload: Any = None, *, repeatable: bool | None = None
    ) -> HTTPResponse:
        """Send one call and return its 2xx reply (the transport retries what it may).

        :param method: HTTP method.
        :param path: path under ``<prefix>/sessions/``.
        :param payload: JSON-serialisable body, or ``None`` for no body.
        :param repeatable: the call may be sent twice (default: ``method`` is idempotent,
            i.e. not ``POST``).
        :raises RLMSHTTPError: the reply status is not 2xx (after the transport's retries).
        :raises RLMSConnectionError: unreachable after the transport's retries, or timed out.
        """
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        call = HTTPRequest(
            method,
            self.sessions_url(path),
            self._headers(body is not None),
            body,
            self.timeout,
            self.profile.verify_tls,
            method.upper() in _IDEMPOTENT if repeatable is None else repeatable,
        )
        response = self.transport.send(call)
        if not 200 <= response.status < 300:
            raise RLMSHTTPError(response.status, response.text, call.url, method)
        return response

    # -- protocol calls -----------------------------------------------------------------

    def api(self) -> str:
        """``GET sessions/api``; return the non-empty ``api_version`` string.

        :raises RLMSProtocolError: no ``api_version`` string in the reply.
        """
        response = self.request("GET", "api")
        reply = parse_json(self.profile, response, tolerant=True)
        version = reply.get("api_version") if isinstance(reply, dict) else None
        if not isinstance(version, str) or not version:
            raise RLMSProtocolError(
                "api reply has no api_version string", response.url, response.text
            )
        return version

    def test(self) -> bool:
        """``GET sessions/test``; return whether the lab answered ``valid: true``.

        A ``valid: false`` reply is logged with its ``error_messages`` and gives ``False``.

        :raises RLMSHTTPError: e.g. a 401 (which WebLab-Deusto never reads the body of).
        """
        reply = parse_json(self.profile, self.request("GET", "test"), tolerant=True)
        if isinstance(reply, dict) and reply.get("valid") is True:
            return True
        messages = reply.get("error_messages") if isinstance(reply, dict) else reply
        logger.warning("RLMS client: lab test failed: %s", messages)
        return False

    def probe(self) -> str | None:
        """WebLab-Deusto's start-up check: ``/api`` then ``/test``, cached once it succeeds.

        Returns the API version, or ``None`` when the probe failed (WebLab-Deusto then still
        starts sessions, with initial data as objects).
        """
        if self.api_version is None:
            try:
                version = self.api()
                if self.test():
                    self.api_version = version
            except RLMSError as error:
                logger.warning("RLMS client: probing the lab failed: %s", error)
        return self.api_version

    def health(self, url: str | None = None) -> HealthReading:
        """Read the lab's health URL as LabDiscoveryEngine does (a GET without credentials;
        ``url`` defaults to ``<url><prefix>/health``) and keep the reading: while it is not
        successful, :meth:`start` refuses. See :mod:`weblab_ext.rlms.health`."""
        url = url or default_health_url(self.url, self.profile)
        agent, tls = self.user_agent, self.profile.verify_tls
        self.last_health = read_health(self.transport, url, agent, self.timeout, tls, self.now())
        return self.last_health

    def start(
        self,
        username: str = "john",
        full_name: str | None = None,
        username_unique: str | None = None,
        locale: str | None = "en",
        experiment_name: str = "mylab",
        category_name: str = "Lab experiments",
        slot_length: float = 300,
        start: float | None = None,
        back: str | None = "http://localhost/back",
        client_data: Mapping[str, Any] | None = None,
        server_extra: Mapping[str, Any] | None = None,
        reservation_id: str | None = None,
    ) -> StartedSession:
        """``POST sessions/`` with the profile's body (probing first if the profile does).

        Parameters are those of :class:`~weblab_ext.rlms.payloads.StartParams`; ``start``
        defaults to ``now()`` and ``reservation_id`` to a random UUID.

        :raises ResourceBroken: the last :meth:`health` reading failed (the lab is not called).
        :raises LabStartFailed: LDE profiles, when the lab reports a failed start.
        :raises RLMSHTTPError: non-2xx reply (WebLab-Deusto marks the lab broken).
        :raises RLMSProtocolError: reply not a JSON object.
        """
        if self.last_health is not None and not self.last_health.success:
            raise ResourceBroken(self.last_health)
        as_strings = None
        if self.profile.probe_api and self.probe() == "0":
            as_strings = True
        fields: dict[str, Any] = (
            {} if reservation_id is None else {"reservation_id": reservation_id}
        )
        request = StartParams(
            username=username,
            start=self.now() if start is None else start,
            full_name=full_name,
            username_unique=username_unique,
            locale=locale,
            experiment_name=experiment_name,
            category_name=category_name,
            slot_length=slot_length,
            back=back,
            client_data=client_data,
            server_extra=server_extra,
            **fields,
        )
        body = build_start_body(self.profile, request, as_strings=as_strings)
        response = self.request("POST", "", body)
        return read_start(self.profile, parse_json(self.profile, response), response.url)

    def status(self, session_id: str) -> float:
        """``GET sessions/<sid>/status``; return ``should_finish`` as the profile reads it.

        :param session_id: the lab session id.
        """
        response = self.request("GET", f"{session_id}/status")
        return read_should_finish(self.profile, parse_json(self.profile, response), response.url)

    def dispose(self, session_id: str) -> DisposeResult:
        """One dispose call (``POST {"action": "delete"}`` or ``DELETE``), read as the
        profile reads it.

        WebLab-Deusto counts any failure as finished (the outcome's ``error`` says which).

        :param session_id: the lab session id.
        :raises RLMSError: LDE profiles only, when the call fails.
        """
        payload = {"action": "delete"} if self.profile.dispose_method == "POST" else None
        try:
            # Dispose is made to be asked again (RLMSs re-send it until it is finished).
            response = self.request(
                self.profile.dispose_method, session_id, payload, repeatable=True
            )
            reply = parse_json(self.profile, response, tolerant=True)
        except (RLMSConnectionError, RLMSHTTPError, RLMSProtocolError) as error:
            if self.profile.is_lde:
                raise
            return DisposeResult(True, {}, error=error)
        return read_dispose(self.profile, reply, response.url)

    def dispose_until_finished(
        self, session_id: str, max_calls: int | None = None
    ) -> DisposeResult:
        """The profile's dispose loop; see :func:`weblab_ext.rlms.loops.dispose_until_finished`.

        :param session_id: the lab session id.
        :param max_calls: bound on calls (default: the profile's, else 1000).
        """
        return loops.dispose_until_finished(self, session_id, max_calls)

    def run_status_loop(
        self,
        session_id: str,
        max_calls: int = 1000,
        on_value: Callable[[float], None] | None = None,
        deadline: float | None = None,
    ) -> StatusTrace:
        """The profile's status loop; see :func:`weblab_ext.rlms.loops.run_status_loop`.

        :param session_id: the lab session id.
        :param max_calls: bound on status calls.
        :param on_value: called with each value seen.
        :param deadline: epoch at which the slot ends (then the RLMS disposes).
        """
        return loops.run_status_loop(self, session_id, max_calls, on_value, deadline)


__all__ = ["RLMSClient"]
