"""The parsers of configuration values: each takes ``(key, value)`` and returns the value
validated, or raises :class:`~weblab_ext.errors.InvalidConfigError` naming the key (and never
quoting a secret's value)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from ..errors import InvalidConfigError
from .secrets import mask_url

#: Human names of the parsers, for options that give no ``type`` (the docs show them).
PARSER_TYPES: dict[Callable[[str, Any], Any], str] = {}

_REDIS_SCHEMES = (
    "redis://",
    "rediss://",
    "unix://",
    "redis+cluster://",
    "rediss+cluster://",
    "redis+sentinel://",
    "fakeredis://",
)
#: Words that make a key secret: its value never appears in an error message or a log line.
_SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN")


def is_secret_key(key: str) -> bool:
    """Whether ``key`` holds a secret (a password, a secret key, a token)."""
    return any(word in key.upper() for word in _SECRET_WORDS)


def shown(key: str, value: Any) -> str:
    """``value`` as an error message may quote it: never a secret, never a URL's password."""
    if is_secret_key(key):
        return f"a {type(value).__name__} (value not shown: it is a secret)"
    if isinstance(value, str) and "://" in value:
        return repr(mask_url(value))
    if isinstance(value, str) and "@" in value:
        # A URL's user info may hold a password even when the URL is malformed: show only
        # what follows the last "@".
        scheme, _, rest = value.rpartition("://")
        return repr(f"{scheme + '://' if scheme else ''}***@{rest.rpartition('@')[2]}")
    return repr(value)


def bad(key: str, expected: str, value: Any) -> InvalidConfigError:
    return InvalidConfigError(f"{key} must be {expected}, got {shown(key, value)}")


def seconds_value(key: str, value: Any, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise bad(key, "a number of seconds", value)
    try:
        number = float(value)
    except ValueError:
        raise bad(key, "a number of seconds", value) from None
    if not math.isfinite(number):  # NaN/inf cannot be compared or passed to the Lua scripts
        raise bad(key, "a finite number of seconds", value)
    if minimum is not None and number < minimum:
        raise bad(key, f">= {minimum:g}", value)
    return number


def seconds_at_least(minimum: float) -> Callable[[str, Any], float]:
    def parse(key: str, value: Any) -> float:
        return seconds_value(key, value, minimum=minimum)

    PARSER_TYPES[parse] = f"seconds (>= {minimum:g})"
    return parse


def non_negative_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad(key, "a whole number >= 0", value)
    return value


def positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad(key, "a whole number >= 1", value)
    return value


def flag(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("1", "0", "true", "false", "yes", "no"):
        return value.lower() in ("1", "true", "yes")
    raise bad(key, "True or False", value)


def optional_text(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad(key, "a string", value)
    return value or None


def text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise bad(key, "a non-empty string", value)
    return value


def redis_url(key: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith(_REDIS_SCHEMES):
        raise bad(key, f"a URL starting with one of {', '.join(_REDIS_SCHEMES)}", value)
    return value


def scheme(key: str, value: Any) -> str | None:
    text = optional_text(key, value)
    if text is not None and text not in ("http", "https"):
        raise bad(key, "'http' or 'https'", value)
    return text


def index_mode(key: str, value: Any) -> str:
    if value not in ("legacy", "shadow", "indexed"):
        raise bad(key, "'legacy', 'shadow' or 'indexed'", value)
    return str(value)


#: A device name: it is a path segment of the device's RLMS URL, so URL-safe by itself.
_DEVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,63}")


def device_names(key: str, value: Any) -> tuple[str, ...]:
    """A list of unique, URL-safe names (a comma-separated string is accepted too, for an
    environment variable); ``None`` or an empty list: no devices."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise bad(key, "a list of device names", value)
    names: list[str] = []
    for name in value:
        if not isinstance(name, str) or not _DEVICE_NAME.fullmatch(name):
            raise bad(
                key,
                "a list of names of 1 to 64 letters, digits, '.', '_', '~' or '-' (starting "
                "with a letter or a digit)",
                name,
            )
        if name in names:
            raise bad(key, "a list of unique names", name)
        names.append(name)
    return tuple(names)


def optional_flag(key: str, value: Any) -> bool | None:
    """A boolean, or ``None`` for "decide from the app" (e.g. on unless in debug)."""
    return None if value is None else flag(key, value)


PARSER_TYPES.update(
    {
        optional_flag: "boolean or None",
        seconds_value: "seconds",
        non_negative_int: "integer (>= 0)",
        flag: "boolean",
        optional_text: "string or None",
        text: "string",
        redis_url: "URL or None",
        device_names: "list of names",
    }
)
