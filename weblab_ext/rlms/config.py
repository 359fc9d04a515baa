"""Where an :class:`~weblab_ext.rlms.RLMSClient` finds its URL, credentials and timeout.

Each setting comes from the first source that has it, as ``requests``-based clients do:

1. the argument given to the client;
2. the innermost :func:`rlms_context` around the client's creation;
3. the environment: ``WEBLAB_URL``, ``WEBLAB_USERNAME``, ``WEBLAB_PASSWORD``,
   ``WEBLAB_TIMEOUT_S``;
4. a ``.env`` file in the current directory (``KEY=VALUE`` lines, same keys);
5. for credentials only, ``~/.netrc``: the entry of the URL's host, used when no source above
   gave a username or password (or when its login equals the username given).

Two switches, given to the client or to :func:`rlms_context` (the argument wins), change what
happens to credentials:

* ``force_noauth=True``: never send credentials, whatever a source gives (``~/.netrc`` is not
  even read) — to check that a lab refuses calls without them;
* ``fail_if_noauth=True``: raise :class:`~weblab_ext.rlms.errors.RLMSCredentialsError` when
  the client is created if no source gave both a username and a password, instead of calling
  the lab without them.

.. code-block:: python

    from weblab_ext.rlms import RLMSClient, rlms_context

    with rlms_context(url="http://localhost:5000", username="weblab", password="secret"):
        client = RLMSClient(profile="labdiscoveryengine")
"""

from __future__ import annotations

import contextlib
import logging
import netrc
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from .errors import RLMSConfigError, RLMSCredentialsError
from .profiles import RLMSProfile

logger = logging.getLogger("weblab_ext")

#: Environment / ``.env`` key of each setting.
ENV_KEYS: Mapping[str, str] = {
    "url": "WEBLAB_URL",
    "username": "WEBLAB_USERNAME",
    "password": "WEBLAB_PASSWORD",
    "timeout": "WEBLAB_TIMEOUT_S",
}

#: Timeout used when no source sets one. WebLab-Deusto has none; a harness must not hang.
DEFAULT_TIMEOUT_S = 30.0

_TIMEOUT_LABELS = {
    "argument": "the timeout argument",
    "rlms_context": "the rlms_context timeout",
    "environment": "WEBLAB_TIMEOUT_S in the environment",
    ".env": "WEBLAB_TIMEOUT_S in .env",
}
_SETTINGS = ("url", "username", "password", "timeout", "profile")
_SWITCHES = ("force_noauth", "fail_if_noauth")
_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "weblab_ext_rlms_context", default=MappingProxyType({})
)


@dataclass(frozen=True)
class RLMSSettings:
    """Resolved settings of a client.

    :param url: lab base URL (``None`` only acceptable with an in-process transport).
    :param username: HTTP Basic user.
    :param password: HTTP Basic password.
    :param timeout: seconds per request.
    :param profile: profile name or object, if a context set one.
    :param force_noauth: credentials are never sent (``username`` and ``password`` are
        ``None``).
    :param fail_if_noauth: the client refuses to be created without credentials.
    """

    url: str | None
    username: str | None
    password: str | None
    timeout: float
    profile: str | RLMSProfile | None = None
    force_noauth: bool = False
    fail_if_noauth: bool = False


@contextlib.contextmanager
def rlms_context(
    url: str | None = None,
    username: str | None = None,
    password: str | None = None,
    timeout: float | None = None,
    profile: str | RLMSProfile | None = None,
    *,
    force_noauth: bool | None = None,
    fail_if_noauth: bool | None = None,
) -> Iterator[Mapping[str, Any]]:
    """Set defaults for every client created inside the block (nested blocks add to them).

    Arguments given to the client still win. Safe across threads and asyncio tasks
    (:mod:`contextvars`).

    :param url: default lab URL.
    :param username: default Basic-auth user.
    :param password: default Basic-auth password.
    :param timeout: default timeout in seconds.
    :param profile: default profile.
    :param force_noauth: clients never send credentials (an inner block or the client may
        set it back to ``False``).
    :param fail_if_noauth: clients without credentials raise ``RLMSCredentialsError``.
    :returns: the defaults in force inside the block.

    .. code-block:: python

        with rlms_context(url="http://127.0.0.1:5000", profile="ldl"):
            RLMSClient().api()
    """
    given = {
        "url": url,
        "username": username,
        "password": password,
        "timeout": timeout,
        "profile": profile,
        "force_noauth": force_noauth,
        "fail_if_noauth": fail_if_noauth,
    }
    merged = {**_context.get(), **{k: v for k, v in given.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield merged
    finally:
        _context.reset(token)


def read_dotenv(path: str | os.PathLike[str]) -> dict[str, str]:
    """Parse a ``.env`` file: ``KEY=VALUE`` lines, ``#`` comments, optional ``export`` and
    quotes. A missing file gives ``{}``.

    :param path: the file to read.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def _netrc_credentials(
    url: str | None, path: str | os.PathLike[str] | None
) -> tuple[str, str] | None:
    host = urlsplit(url).hostname if url else None
    if not host:
        return None
    file = Path(path) if path is not None else Path.home() / ".netrc"
    if not file.is_file():
        return None
    try:
        entry = netrc.netrc(str(file)).authenticators(host)
    except (netrc.NetrcParseError, OSError) as error:
        logger.warning("RLMS client: ignoring unreadable netrc file %s: %s", file, error)
        return None
    if entry is None or not entry[0]:
        return None
    return entry[0], entry[2] or ""


def _parse_timeout(value: Any, source: str) -> float:
    try:
        timeout = float(value)
    except (TypeError, ValueError):
        timeout = -1.0
    if not timeout > 0:
        raise RLMSConfigError(f"{source} must be a positive number of seconds, not {value!r}")
    return timeout


def resolve_settings(
    url: str | None = None,
    username: str | None = None,
    password: str | None = None,
    timeout: float | None = None,
    profile: str | RLMSProfile | None = None,
    *,
    force_noauth: bool | None = None,
    fail_if_noauth: bool | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv_path: str | os.PathLike[str] | None = None,
    netrc_path: str | os.PathLike[str] | None = None,
) -> RLMSSettings:
    """Resolve every setting by the precedence in the module docstring.

    :param url: explicit lab URL.
    :param username: explicit user.
    :param password: explicit password.
    :param timeout: explicit timeout in seconds.
    :param profile: explicit profile.
    :param force_noauth: never send credentials (``None``: as the context says, else no).
    :param fail_if_noauth: refuse to go on without credentials (``None``: as the context
        says, else no).
    :param environ: environment to read (default :data:`os.environ`).
    :param dotenv_path: ``.env`` file to read (default ``./.env``).
    :param netrc_path: netrc file to read (default ``~/.netrc``).
    :raises RLMSConfigError: ``WEBLAB_TIMEOUT_S`` (or ``timeout``) is not a positive number;
        both switches are on.
    :raises RLMSCredentialsError: ``fail_if_noauth`` and no username or no password.
    """
    env = os.environ if environ is None else environ
    dotenv = read_dotenv(Path.cwd() / ".env" if dotenv_path is None else dotenv_path)
    given = {
        "url": url,
        "username": username,
        "password": password,
        "timeout": timeout,
        "profile": profile,
    }
    layers: list[tuple[str, Mapping[str, Any]]] = [
        ("argument", given),
        ("rlms_context", _context.get()),
        ("environment", {name: env.get(key) for name, key in ENV_KEYS.items()}),
        (".env", {name: dotenv.get(key) for name, key in ENV_KEYS.items()}),
    ]
    found: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in _SETTINGS:
        for source, layer in layers:
            if layer.get(name) not in (None, ""):
                found[name], sources[name] = layer[name], source
                break
    given_switches = {"force_noauth": force_noauth, "fail_if_noauth": fail_if_noauth}
    switches = {
        name: bool(
            next(
                (v for v in (given_switches[name], _context.get().get(name)) if v is not None),
                False,
            )
        )
        for name in _SWITCHES
    }
    if switches["force_noauth"] and switches["fail_if_noauth"]:
        raise RLMSConfigError(
            "force_noauth (never send credentials) and fail_if_noauth (require them) "
            "exclude each other"
        )
    if switches["force_noauth"]:
        found.pop("username", None)
        found.pop("password", None)
    elif found.get("username") is None or found.get("password") is None:
        entry = _netrc_credentials(found.get("url"), netrc_path)
        if entry and found.get("username") in (None, entry[0]):
            found["username"] = entry[0]
            found.setdefault("password", entry[1])
    if switches["fail_if_noauth"]:
        _require_credentials(found, sources)
    raw_timeout = found.get("timeout")
    return RLMSSettings(
        url=found.get("url"),
        username=found.get("username"),
        password=found.get("password"),
        timeout=(
            DEFAULT_TIMEOUT_S
            if raw_timeout is None
            else _parse_timeout(raw_timeout, _TIMEOUT_LABELS[sources["timeout"]])
        ),
        profile=found.get("profile"),
        **switches,
    )


def _require_credentials(found: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    missing = [name for name in ("username", "password") if found.get(name) is None]
    if not missing:
        return
    had = [
        f"a {name} ({sources.get(name, 'netrc')})"
        for name in ("username", "password")
        if found.get(name) is not None
    ]
    raise RLMSCredentialsError(
        f"fail_if_noauth: no source gave a {' or a '.join(missing)}"
        + (f" (only {had[0]})" if had else "")
        + "; nothing was sent. Pass username= and password=, use rlms_context(...), set "
        "WEBLAB_USERNAME and WEBLAB_PASSWORD (environment or .env) or add a ~/.netrc entry "
        "for the lab's host"
    )


__all__ = ["ENV_KEYS", "RLMSSettings", "read_dotenv", "resolve_settings", "rlms_context"]
