"""Every ``WEBLAB_*`` configuration key, its default, and its validation.

This is the only module that reads ``app.config`` for weblab keys. :func:`load_settings` runs
once in ``init_app`` and turns the config into a frozen :class:`Settings`; a bad value raises
:class:`~weblab_ext.errors.InvalidConfigError` naming the key, before anything is registered
on the app.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from .errors import InvalidConfigError

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://",
                  "redis+sentinel://", "fakeredis://")


def _seconds_value(key: str, value: Any, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidConfigError(f"{key} must be a number of seconds, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise InvalidConfigError(f"{key} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(number):  # NaN/inf cannot be compared or passed to the Lua scripts
        raise InvalidConfigError(f"{key} must be a finite number of seconds, got {value!r}")
    if minimum is not None and number < minimum:
        raise InvalidConfigError(f"{key} must be >= {minimum:g}, got {value!r}")
    return number


def _seconds_at_least(minimum: float) -> Callable[[str, Any], float]:
    def parse(key: str, value: Any) -> float:
        return _seconds_value(key, value, minimum=minimum)

    return parse


def _non_negative_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidConfigError(f"{key} must be a whole number >= 0, got {value!r}")
    return value


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidConfigError(f"{key} must be a whole number >= 1, got {value!r}")
    return value


def _flag(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("1", "0", "true", "false", "yes", "no"):
        return value.lower() in ("1", "true", "yes")
    raise InvalidConfigError(f"{key} must be True or False, got {value!r}")


def _optional_text(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidConfigError(f"{key} must be a string, got {value!r}")
    return value or None


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidConfigError(f"{key} must be a non-empty string, got {value!r}")
    return value


def _redis_url(key: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith(_REDIS_SCHEMES):
        raise InvalidConfigError(
            f"{key} must start with one of {', '.join(_REDIS_SCHEMES)}, got {value!r}"
        )
    return value


def _scheme(key: str, value: Any) -> str | None:
    text = _optional_text(key, value)
    if text is not None and text not in ("http", "https"):
        raise InvalidConfigError(f"{key} must be 'http' or 'https', got {value!r}")
    return text


def _index_mode(key: str, value: Any) -> str:
    if value not in ("legacy", "shadow", "indexed"):
        raise InvalidConfigError(f"{key} must be 'legacy', 'shadow' or 'indexed', got {value!r}")
    return str(value)


@dataclasses.dataclass(frozen=True)
class _Option:
    key: str
    default: Any
    parse: Callable[[str, Any], Any]
    doc: str


#: The table of every key. Defaults match the library weblab_ext replaces unless noted.
OPTIONS: tuple[_Option, ...] = (
    _Option("WEBLAB_USERNAME", None, _text, "Basic-auth username the RLMS sends (mandatory)."),
    _Option("WEBLAB_PASSWORD", None, _text, "Basic-auth password the RLMS sends (mandatory)."),
    _Option("WEBLAB_BASE_URL", None, _optional_text, "Prefix before /weblab and /ldl."),
    _Option("WEBLAB_CALLBACK_URL", "/callback", lambda k, v: v, "Public launch URL prefix."),
    _Option("WEBLAB_SESSION_ID_NAME", "weblab_session_id", _text, "Cookie key of the sid."),
    _Option("WEBLAB_REDIS_URL", None, _redis_url, "Store URL; unset = embedded store."),
    _Option("WEBLAB_REDIS_BASE", "lab", _text, "Prefix of every Redis key of this lab."),
    _Option("WEBLAB_TASK_EXPIRES", 3600, _seconds_at_least(1), "Task TTL."),
    _Option("WEBLAB_TIMEOUT", 15, _seconds_value, "Seconds without a poll before a user is gone."),
    _Option("WEBLAB_AUTOPOLL", True, _flag, "Every request of a student counts as a poll."),
    _Option("WEBLAB_POLL_INTERVAL", 5, _seconds_at_least(0), "Status cap."),
    _Option("WEBLAB_CLEANER_INTERVAL", 5, _seconds_at_least(0.01), "Cleaner."),
    _Option("WEBLAB_UNAUTHORIZED_LINK", None, _optional_text, "Redirect for anonymous users."),
    _Option("WEBLAB_UNAUTHORIZED_TEMPLATE", None, _optional_text, "Template for anonymous."),
    _Option("WEBLAB_SCHEME", None, _scheme, "Force http/https in the launch URL."),
    _Option("WEBLAB_EXPIRED_USERS_TIMEOUT", 3600, _seconds_at_least(1), "Kept."),
    _Option("WEBLAB_AUTOCLEAN_THREAD", True, _flag, "Run the expiry cleaner in this process."),
    _Option("WEBLAB_TASK_THREADS_PROCESS", 3, _non_negative_int, "Task threads per process."),
    _Option("WEBLAB_NO_THREAD", False, _flag, "Start no background thread at all."),
    _Option("WEBLAB_LOG_SESSION_LIFECYCLE", True, _flag, "Log JSON session lifecycle events."),
    _Option("WEBLAB_REDIS_INDEX_MODE", "legacy", _index_mode, "Accepted; always indexed."),
    _Option("WEBLAB_REDIS_INDEX_EPOCH", None, lambda k, v: v, "Accepted; unused."),
    # weblab_ext additions
    _Option("WEBLAB_DISPOSE_WAIT", 5, _seconds_at_least(0), "Dispose wait."),
    _Option("WEBLAB_DISPOSE_ASK_AGAIN", 1, _seconds_at_least(0.1), "Re-ask."),
    _Option("WEBLAB_HEARTBEAT_INTERVAL", 5, _seconds_at_least(0.05), "Lease beat."),
    _Option("WEBLAB_POWERED_BY", "weblab_ext", _optional_text, "powered-by header; None=off."),
    # issue 11: mass expiry in parallel
    _Option("WEBLAB_CLEANER_CONCURRENCY", 16, _positive_int,
            "How many on_dispose calls one process's cleaner runs at the same time."),
    _Option("WEBLAB_CLEANER_BATCH", 50, _positive_int,
            "How many due sessions a cleaner claims at once; other processes claim others."),
)

_BY_KEY = {option.key: option for option in OPTIONS}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Validated configuration of one app, resolved once at ``init_app``."""

    username: str
    password: str
    base_url: str
    callback_url: str
    session_id_name: str
    redis_url: str | None
    redis_base: str
    task_expires: float
    timeout: float
    autopoll: bool
    poll_interval: float
    cleaner_interval: float
    unauthorized_link: str | None
    unauthorized_template: str | None
    scheme: str | None
    expired_users_timeout: float
    autoclean_thread: bool
    task_threads_process: int
    no_thread: bool
    log_session_lifecycle: bool
    dispose_wait: float
    dispose_ask_again: float
    heartbeat_interval: float
    powered_by: str | None
    cleaner_concurrency: int
    cleaner_batch: int
    fingerprint: str


def _value(config: Mapping[str, Any], key: str) -> Any:
    option = _BY_KEY[key]
    if key not in config:
        return option.default
    return option.parse(key, config[key])


def load_settings(
    config: Mapping[str, Any], *, base_url: str | None = None, callback_url: str | None = None
) -> Settings:
    """Validate the ``WEBLAB_*`` keys of ``config`` into :class:`Settings`.

    :param config: the Flask app's config.
    :param base_url: constructor override of ``WEBLAB_BASE_URL``.
    :param callback_url: constructor override of ``WEBLAB_CALLBACK_URL``.
    :raises InvalidConfigError: naming the first bad key.
    """
    for key in ("WEBLAB_USERNAME", "WEBLAB_PASSWORD"):
        if key not in config:
            raise InvalidConfigError(f"Invalid configuration. Missing {key}")
    values = {option.key: _value(config, option.key) for option in OPTIONS}

    callback = callback_url if callback_url is not None else values["WEBLAB_CALLBACK_URL"]
    if not isinstance(callback, str) or not callback:
        raise InvalidConfigError(
            "Empty URL. Either provide it in the constructor or in the WEBLAB_CALLBACK_URL "
            "configuration"
        )
    base = base_url if base_url is not None else values["WEBLAB_BASE_URL"]

    no_thread = values["WEBLAB_NO_THREAD"]
    if no_thread and "WEBLAB_AUTOCLEAN_THREAD" in config and values["WEBLAB_AUTOCLEAN_THREAD"]:
        raise InvalidConfigError(
            "WEBLAB_NO_THREAD=True is incompatible with WEBLAB_AUTOCLEAN_THREAD=True"
        )
    if no_thread and values["WEBLAB_TASK_THREADS_PROCESS"] > 0 and (
        "WEBLAB_TASK_THREADS_PROCESS" in config
    ):
        raise InvalidConfigError(
            "WEBLAB_NO_THREAD=True is incompatible with WEBLAB_TASK_THREADS_PROCESS > 0"
        )
    mode = values["WEBLAB_REDIS_INDEX_MODE"]
    if mode != "legacy" and not values["WEBLAB_REDIS_INDEX_EPOCH"]:
        raise InvalidConfigError(f"WEBLAB_REDIS_INDEX_EPOCH is required when the mode is {mode}")

    return Settings(
        username=values["WEBLAB_USERNAME"],
        password=values["WEBLAB_PASSWORD"],
        base_url=base or "",
        callback_url=callback,
        session_id_name=values["WEBLAB_SESSION_ID_NAME"],
        redis_url=values["WEBLAB_REDIS_URL"],
        redis_base=values["WEBLAB_REDIS_BASE"],
        task_expires=values["WEBLAB_TASK_EXPIRES"],
        timeout=values["WEBLAB_TIMEOUT"],
        autopoll=values["WEBLAB_AUTOPOLL"],
        poll_interval=values["WEBLAB_POLL_INTERVAL"],
        cleaner_interval=values["WEBLAB_CLEANER_INTERVAL"],
        unauthorized_link=values["WEBLAB_UNAUTHORIZED_LINK"],
        unauthorized_template=values["WEBLAB_UNAUTHORIZED_TEMPLATE"],
        scheme=values["WEBLAB_SCHEME"],
        expired_users_timeout=values["WEBLAB_EXPIRED_USERS_TIMEOUT"],
        autoclean_thread=values["WEBLAB_AUTOCLEAN_THREAD"] and not no_thread,
        task_threads_process=0 if no_thread else values["WEBLAB_TASK_THREADS_PROCESS"],
        no_thread=no_thread,
        log_session_lifecycle=values["WEBLAB_LOG_SESSION_LIFECYCLE"],
        dispose_wait=values["WEBLAB_DISPOSE_WAIT"],
        dispose_ask_again=values["WEBLAB_DISPOSE_ASK_AGAIN"],
        heartbeat_interval=values["WEBLAB_HEARTBEAT_INTERVAL"],
        powered_by=values["WEBLAB_POWERED_BY"],
        cleaner_concurrency=values["WEBLAB_CLEANER_CONCURRENCY"],
        cleaner_batch=values["WEBLAB_CLEANER_BATCH"],
        fingerprint=fingerprint(config),
    )


def fingerprint(config: Mapping[str, Any]) -> str:
    """Digest of the ``WEBLAB_*`` keys, to tell a re-``init_app`` with changed config."""
    items = sorted((k, repr(v)) for k, v in config.items() if k.startswith("WEBLAB_"))
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()
