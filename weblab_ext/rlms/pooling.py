"""The machinery behind :class:`~weblab_ext.rlms.transport.RequestsTransport`: pooled
``requests`` sessions and urllib3's ``Retry``.

Imported only when a network transport is created, so that a lab process (which imports
:mod:`weblab_ext.rlms` for its command line) never loads ``requests``.

Two sessions share one connection pool: calls that are safe to send twice (``/api``,
``/test``, status, dispose) retry connection failures and 502/503/504 replies; the others
(start) retry only a connection that could not be opened, when nothing reached the lab.
"""

from __future__ import annotations

import http.cookiejar
import logging
import time
import warnings
from collections.abc import Callable, Collection, Mapping
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    InsecureRequestWarning,
    InvalidHeader,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from .errors import RLMSConnectionError

if TYPE_CHECKING:
    import ssl

    from .messages import HTTPRequest

logger = logging.getLogger("weblab_ext")


class RLMSRetry(Retry):
    """urllib3's ``Retry`` with the client's injectable ``sleep``, a first delay of
    ``backoff_factor`` (doubled at each retry), ``Retry-After`` capped at
    ``retry_after_max`` seconds, and no retry after a read timeout (the lab may still be
    acting on the call; WebLab-Deusto would have blocked there).

    :param sleep: called with the seconds of every wait.
    :param retry_after_max: the longest ``Retry-After`` obeyed, in seconds.
    """

    #: Only the statuses in ``status_forcelist`` are retried (not 413/429 with Retry-After).
    RETRY_AFTER_STATUS_CODES: frozenset[int] = frozenset()

    def __init__(
        self,
        *args: Any,
        sleep: Callable[[float], None] = time.sleep,
        retry_after_max: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.sleep_function = sleep
        self.retry_after_max = retry_after_max  # type: ignore[assignment]

    def new(self, **kw: Any) -> RLMSRetry:
        retry = super().new(**kw)
        retry.sleep_function = self.sleep_function
        retry.retry_after_max = self.retry_after_max
        return retry

    def get_backoff_time(self) -> float:
        """``backoff_factor`` before the first retry, doubled before each next one."""
        failures = len(self.history)
        if failures == 0 or self.backoff_factor <= 0:
            return 0.0
        return float(min(self.backoff_max, self.backoff_factor * 2 ** (failures - 1)))

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> RLMSRetry:
        if isinstance(error, ReadTimeoutError):
            raise error  # never repeat a call the lab may still be running
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        """Wait before the next attempt: the reply's ``Retry-After`` if it has a valid one,
        else the backoff; never longer than ``retry_after_max``."""
        delay = None
        if response is not None and self.respect_retry_after_header:
            try:
                delay = self.get_retry_after(response)
            except InvalidHeader:
                delay = None
        if delay is None:
            delay = self.get_backoff_time()
        delay = max(0.0, min(float(delay), float(self.retry_after_max)))
        last = self.history[-1] if self.history else None
        if last is not None:
            cause = f"HTTP {last.status}" if last.status else repr(last.error)
            logger.warning(
                "RLMS client: %s call failed (%s); retrying in %.2f s", last.method, cause, delay
            )
        if delay > 0:
            self.sleep_function(delay)


class _OwnRetriesLogged(logging.Filter):
    """Drops urllib3's "Retrying (...)" line for this client's retries: it quotes the path,
    session id included; :meth:`RLMSRetry.sleep` logs one without it."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (isinstance(args, tuple) and args and isinstance(args[0], RLMSRetry))


logging.getLogger("urllib3.connectionpool").addFilter(_OwnRetriesLogged())


class RLMSAdapter(HTTPAdapter):
    """``HTTPAdapter`` that verifies certificates with the system's trust store (as the
    standard library does, ``SSL_CERT_FILE`` included), not with ``certifi``'s bundle.

    :param retry: the retry policy of every call through this adapter.
    :param contexts: the TLS context of verified (``True``) and unverified calls.
    :param pool_maxsize: connections kept per host.
    """

    def __init__(
        self, retry: Retry, contexts: Mapping[bool, ssl.SSLContext], pool_maxsize: int = 10
    ) -> None:
        self._contexts = contexts
        super().__init__(pool_maxsize=pool_maxsize, max_retries=retry)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        if host.get("scheme") != "https":
            return host, {}  # TLS settings would only split plain-HTTP connections in pools
        # One context per verification mode: urllib3 sets the mode on the context it is
        # given, so a shared one would be switched back and forth.
        pool["ssl_context"] = self._contexts[verify is not False]
        return host, pool

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)
        if verify is True:
            conn.ca_certs = None  # the context's system store decides, not certifi
            conn.ca_cert_dir = None


def build_sessions(
    retries: int,
    backoff: float,
    sleep: Callable[[float], None],
    retry_after_max: float,
    retry_statuses: Collection[int],
    contexts: Mapping[bool, ssl.SSLContext],
    pool_maxsize: int = 10,
) -> dict[bool, requests.Session]:
    """Two sessions over one connection pool: ``{True: repeatable calls, False: others}``.

    :param retries: retries after the first attempt.
    :param backoff: first backoff delay in seconds.
    :param sleep: waits between attempts.
    :param retry_after_max: longest ``Retry-After`` obeyed.
    :param retry_statuses: statuses retried on repeatable calls.
    :param contexts: the TLS context of verified (``True``) and unverified calls.
    :param pool_maxsize: connections kept per host.
    """
    common: dict[str, Any] = {
        "total": retries,
        "backoff_factor": backoff,
        "raise_on_status": False,  # the last reply is returned: the client raises RLMSHTTPError
        "allowed_methods": None,  # whether a call may be repeated is decided per call
        "other": 0,  # TLS and protocol errors: repeating gives the same answer
        "sleep": sleep,
        "retry_after_max": retry_after_max,
    }
    repeatable = RLMSAdapter(
        RLMSRetry(status_forcelist=tuple(retry_statuses), **common), contexts, pool_maxsize
    )
    # A start is never sent twice: only a connection that was never opened is retried.
    once = RLMSAdapter(RLMSRetry(read=False, status=0, **common), contexts, pool_maxsize)
    once.poolmanager = repeatable.poolmanager  # one pool: start and status share connections
    once.proxy_manager = repeatable.proxy_manager
    return {True: _session(repeatable), False: _session(once)}


def _session(adapter: HTTPAdapter) -> requests.Session:
    session = requests.Session()
    # No ~/.netrc, no REQUESTS_CA_BUNDLE: the client resolves credentials itself (it may be
    # told never to send any); proxies from the environment are passed per call.
    session.trust_env = False
    session.headers.clear()  # only the headers the RLMS profile sends (no "Accept: */*")
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def close_sessions(sessions: Mapping[bool, requests.Session]) -> None:
    """Close the sessions and their pooled connections."""
    for session in sessions.values():
        session.close()


def send(
    sessions: Mapping[bool, requests.Session],
    request: HTTPRequest,
    proxies: dict[str, dict[str, str]],
) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` through the session of its kind; map failures to
    :class:`~weblab_ext.rlms.errors.RLMSConnectionError`.

    :param sessions: from :func:`build_sessions`.
    :param request: the call.
    :param proxies: the environment's proxies per scheme and host, filled on first use
        (reading them costs more than the rest of a call on a kept-alive connection).
    :returns: the status, the headers (lower-case names) and the body of the reply.
    """
    session = sessions[request.repeatable]
    parts = urlsplit(request.url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if origin not in proxies:
        proxies[origin] = requests.utils.get_environ_proxies(request.url)
    try:
        # An unverified call was chosen (profile, --insecure): urllib3's warning on every
        # call would be noise. (Filters are process-wide: only touched in that case.)
        unverified = warnings.catch_warnings() if not request.verify_tls else nullcontext()
        with unverified:
            if not request.verify_tls:
                warnings.simplefilter("ignore", InsecureRequestWarning)
            reply = session.request(
                request.method,
                request.url,
                data=request.body,
                headers=dict(request.headers),
                timeout=request.timeout,
                verify=request.verify_tls,
                allow_redirects=False,
                proxies=proxies[origin],
            )
        with reply:
            headers = {name.lower(): value for name, value in reply.headers.items()}
            return reply.status_code, headers, reply.content
    except requests.RequestException as error:
        cause = _cause(error)
        timed_out = isinstance(error, requests.Timeout) or (
            isinstance(cause, Urllib3Timeout) and not isinstance(cause, NewConnectionError)
        )
        raise RLMSConnectionError(request.url, str(cause), timed_out=timed_out) from error


def _cause(error: BaseException) -> BaseException:
    """The urllib3 error inside a requests exception (inside a MaxRetryError)."""
    cause = error.args[0] if error.args and isinstance(error.args[0], BaseException) else error
    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        cause = cause.reason
    return cause


__all__ = ["RLMSAdapter", "RLMSRetry", "build_sessions", "send"]
