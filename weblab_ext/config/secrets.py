"""Weak and published secrets: what ``init_app`` warns about and ``flask weblab check``
refuses, and the rule the examples follow for their own secrets."""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

from ..errors import InvalidConfigError

#: Passwords and secret keys written down in weblab_ext's repository (examples, docs, tests):
#: a lab running with one of them is open to anyone who read it. A test keeps this list in
#: step with the repository.
PUBLISHED_SECRETS = frozenset(
    {
        "change-me-in-production",
        "change-me-too",
        "change me",
        "secret",
        "password",
        "dev-only-rlms-password",
        "dev-only-secret-key-published-in-weblab-ext",
        "test-secret",
        "bench-secret",
        "rlms-s3cret",
        "hunter2secret",
        "hunter2-hunter2",
        "Zebra-Quartz-8431-password",
        "fifteen-bytes!!",
        "0123456789abcde",
        "THE-PASSWORD",
        "a-long-random-secret",
        "change-me-admin",
    }
)
#: What may follow a URL's user info: a host, or several (``h1:7000,h2:7001``, ``[::1]:6379``).
_HOST_LIST = re.compile(r"[A-Za-z0-9._~%:,\[\]-]*")
#: A query option that holds a credential (``?password=``, ``sentinel_password=``...).
_SECRET_OPTION = re.compile(r"([?&;][^=&#;]*(?:pass|secret|token|auth)[^=&#;]*=)[^&;]*", re.I)

#: Shortest ``WEBLAB_PASSWORD`` (characters) and ``SECRET_KEY`` (bytes) not reported as weak.
MIN_PASSWORD_LENGTH = 12
MIN_SECRET_KEY_BYTES = 16
#: What :func:`require_secrets` raises; weblab_ext's command line puts a subclass here that
#: the ``flask`` command prints as one line.
refusal_error: type[InvalidConfigError] = InvalidConfigError


def _password_problems(key: str, password: Any, *, opens: str) -> list[str]:
    """What is weak about one password, in lines starting with its key.

    :param opens: what its holder can do, completing "anyone can ...".
    """
    if not isinstance(password, str):
        return []
    if not password.strip():
        return [f"{key} is blank: anyone who sends a blank password can {opens}."]
    if len(password) < MIN_PASSWORD_LENGTH:
        return [f"{key} is shorter than {MIN_PASSWORD_LENGTH} characters: it can be guessed."]
    if password in PUBLISHED_SECRETS:
        return [
            f"{key} is a value published in weblab_ext's examples, docs or tests: anyone "
            f"can {opens}."
        ]
    return []


def weak_secrets(config: Mapping[str, Any]) -> list[str]:
    """What is weak about the RLMS and admin passwords and the session-signing key, in plain
    words.

    Each line starts with the key's name and never quotes its value. The caller decides
    when it matters (weblab_ext warns outside debug and testing).

    :param config: the Flask app's config.
    """
    problems = _password_problems(
        "WEBLAB_PASSWORD", config.get("WEBLAB_PASSWORD"), opens="start sessions and drive the lab"
    )
    admin = config.get("WEBLAB_ADMIN_PASSWORD")
    problems += _password_problems(
        "WEBLAB_ADMIN_PASSWORD", admin, opens="read the admin page and end any session"
    )
    if isinstance(admin, str) and admin.strip() and admin == config.get("WEBLAB_PASSWORD"):
        problems.append(
            "WEBLAB_ADMIN_PASSWORD is the same as WEBLAB_PASSWORD: the RLMS (and "
            "whoever reads its configuration) can use the admin page."
        )
    key = config.get("SECRET_KEY")
    if isinstance(key, (str, bytes)) and key:
        raw = key.encode() if isinstance(key, str) else key
        if len(raw) < MIN_SECRET_KEY_BYTES:
            problems.append(
                f"SECRET_KEY is shorter than {MIN_SECRET_KEY_BYTES} bytes: "
                "students' session cookies can be forged."
            )
        elif raw.decode(errors="replace") in PUBLISHED_SECRETS:
            problems.append(
                "SECRET_KEY is a value published in weblab_ext's examples, docs "
                "or tests: anyone can forge students' session cookies."
            )
    return problems


def require_secrets(
    config: MutableMapping[str, Any],
    development: Mapping[str, Any],
    *,
    debug: bool,
    env_prefix: str = "FLASK_",
) -> None:
    """Refuse to run outside debug and testing mode unless every secret is configured.

    In debug mode, or in testing mode (``TESTING`` in the config: weblab_ext's pytest plugin
    sets ``FLASK_TESTING`` while it builds the lab's app), the missing ones take the
    ``development`` values (published with the lab's code, so never fit for production);
    otherwise nothing starts until the environment (or the config) provides them.

    :param config: the app's config, after ``from_prefixed_env()``.
    :param development: key → development value, for each secret the lab needs.
    :param debug: ``app.debug``.
    :param env_prefix: the prefix ``from_prefixed_env()`` reads, named in the error.
    :raises InvalidConfigError: outside debug and testing mode, naming every missing variable.

    .. code-block:: python

        app.config.from_prefixed_env()
        require_secrets(app.config, {"SECRET_KEY": "dev-only", "WEBLAB_USERNAME": "weblab",
                                     "WEBLAB_PASSWORD": "dev-only"}, debug=app.debug)
    """
    missing = [key for key in development if not config.get(key)]
    if missing and not debug and not config.get("TESTING"):
        raise refusal_error(
            "Refusing to start without "
            + ", ".join(env_prefix + key for key in missing)
            + " in the environment; run with --debug to use development values instead"
        )
    config.update({key: development[key] for key in missing})


def split_userinfo(url: str) -> tuple[str, str, str]:
    """``(scheme + "://", user info, rest)`` of a URL whose password may hold unencoded
    ``/``, ``#``, ``?`` or ``@`` (which a standard URL parser splits in the wrong place).

    The user info ends at the last ``@`` followed by a host list; ``""`` when there is none.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "", "", url
    ats = [index for index, char in enumerate(rest) if char == "@"]
    for at in reversed(ats):
        host = re.split(r"[/?#]", rest[at + 1 :], maxsplit=1)[0]
        if _HOST_LIST.fullmatch(host):
            return scheme + sep, rest[:at], rest[at + 1 :]
    if ats:  # no host after any "@": hide all up to the last one rather than risk a password
        return scheme + sep, rest[: ats[-1]], rest[ats[-1] + 1 :]
    return scheme + sep, "", rest


def mask_url(url: str) -> str:
    """``url`` as logs and output may show it: the password of its user info and every
    credential option of its query (``?password=``) replaced by ``***``, even in a URL too
    malformed to connect with. A user info without ``:`` is masked whole (some services put
    the password there)."""
    prefix, userinfo, rest = split_userinfo(url)
    if userinfo:
        user, colon, _ = userinfo.partition(":")
        rest = (f"{user}:***@" if colon else "***@") + rest
    return prefix + _SECRET_OPTION.sub(r"\1***", rest)
