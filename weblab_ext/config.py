"""Every ``WEBLAB_*`` configuration key, its default, and its validation.

This is the only module that reads ``app.config`` for weblab keys. :func:`load_settings` runs
once in ``init_app`` and turns the config into a frozen :class:`Settings`; a bad value raises
:class:`~weblab_ext.errors.InvalidConfigError` naming the key, before anything is registered
on the app.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from .errors import InvalidConfigError

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "fakeredis://")


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

    _PARSER_TYPES[parse] = f"seconds (>= {minimum:g})"
    return parse


def _non_negative_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidConfigError(f"{key} must be a whole number >= 0, got {value!r}")
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
    """One configuration key: the documentation site's reference is generated from these."""

    key: str
    default: Any
    parse: Callable[[str, Any], Any]
    #: One or more full sentences: what the key does, in the words a lab author uses.
    doc: str
    #: The accepted values, for humans ("seconds (>= 1)"); derived from ``parse`` if empty.
    type: str = ""
    #: ``init_app`` refuses a config without this key.
    required: bool = False

    @property
    def type_name(self) -> str:
        """The accepted values, for the configuration reference."""
        if self.type:
            return self.type
        if self.parse in _PARSER_TYPES:
            return _PARSER_TYPES[self.parse]
        if isinstance(self.default, bool):
            return "boolean"
        if isinstance(self.default, int | float):
            return "number"
        return "string"


#: Human names of the parsers above, for options that give no ``type``.
_PARSER_TYPES: dict[Callable[[str, Any], Any], str] = {
    _seconds_value: "seconds",
    _non_negative_int: "integer (>= 0)",
    _flag: "boolean",
    _optional_text: "string or None",
    _text: "string",
    _redis_url: "URL or None",
}


def _as_given(key: str, value: Any) -> Any:
    return value


#: The table of every key. Defaults match the library weblab_ext replaces unless noted.
OPTIONS: tuple[_Option, ...] = (
    _Option("WEBLAB_USERNAME", None, _text,
            "Username the RLMS sends with HTTP Basic authentication on every call to the lab "
            "(WebLab-Deusto's `http_experiment_username`).",
            required=True),
    _Option("WEBLAB_PASSWORD", None, _text,
            "Password the RLMS sends with HTTP Basic authentication, compared in constant time "
            "(WebLab-Deusto's `http_experiment_password`).",
            required=True),
    _Option("WEBLAB_BASE_URL", None, _optional_text,
            "Path prefix of the RLMS endpoints: with `/lab1` the RLMS calls "
            "`/lab1/weblab/sessions/` and `/lab1/ldl/sessions/`. The `base_url` argument of "
            "`WebLab()` wins over it."),
    _Option("WEBLAB_CALLBACK_URL", "/callback", _as_given,
            "Path prefix of the student routes: the launch URL is `<prefix>/<session id>`, "
            "with `/poll` and `/logout` below it. The `callback_url` argument of `WebLab()` "
            "wins over it; an empty value is refused.",
            type="string"),
    _Option("WEBLAB_SESSION_ID_NAME", "weblab_session_id", _text,
            "Key, inside Flask's signed session cookie, under which the student's lab session "
            "id is kept."),
    _Option("WEBLAB_REDIS_URL", None, _redis_url,
            "Where sessions and tasks are stored: `redis://`, `rediss://`, `unix://` or "
            "`fakeredis://NAME`. Unset, an embedded in-process store is used, which only one "
            "process sees: fine for `flask run`, wrong for several workers, and "
            "`flask weblab loop` refuses it. Clients get a 10 s socket timeout "
            "(`?socket_timeout=N` in the URL changes it) and a 5 s connect timeout, whatever "
            "redis-py's defaults."),
    _Option("WEBLAB_REDIS_BASE", "lab", _text,
            "Prefix of every Redis key of this lab (`{<base>}:weblab:...`), so that several "
            "labs can share one Redis server."),
    _Option("WEBLAB_TASK_EXPIRES", 3600, _seconds_at_least(1),
            "Seconds a task's record (status, progress, result) is kept after the task ends; "
            "also how long a queued task waits for a worker before it is dropped."),
    _Option("WEBLAB_TIMEOUT", 15, _seconds_value,
            "Seconds without a poll after which a student counts as gone and the session "
            "ends. `0` or less turns the inactivity timeout off. The poll script polls every "
            "half of this."),
    _Option("WEBLAB_AUTOPOLL", True, _flag,
            "Whether every request of a student with a session counts as a poll (at no extra "
            "store round trip). Off, only the poll URL and `poll()` count."),
    _Option("WEBLAB_POLL_INTERVAL", 5, _seconds_at_least(0),
            "Largest `should_finish` a status reply gives, i.e. the most seconds the RLMS "
            "waits before asking again. `0` tells the RLMS not to ask again."),
    _Option("WEBLAB_CLEANER_INTERVAL", 5, _seconds_at_least(0.01),
            "Seconds between two passes of the expiry cleaner, which disposes the sessions "
            "whose slot is over or whose student stopped polling."),
    _Option("WEBLAB_UNAUTHORIZED_LINK", None, _optional_text,
            "URL that anonymous visitors of a protected view are redirected to (for example "
            "the RLMS's booking page) instead of the forbidden page."),
    _Option("WEBLAB_UNAUTHORIZED_TEMPLATE", None, _optional_text,
            "Template rendered (HTTP 200) for anonymous visitors of a protected view when "
            "`WEBLAB_UNAUTHORIZED_LINK` is not set."),
    _Option("WEBLAB_SCHEME", None, _scheme,
            "Scheme forced in the launch URL the lab returns to the RLMS, for a lab behind a "
            "proxy that terminates HTTPS. Unset, the scheme of the RLMS's request is used.",
            type="'http', 'https' or None"),
    _Option("WEBLAB_EXPIRED_USERS_TIMEOUT", 3600, _seconds_at_least(1),
            "Seconds the record of a disposed session is kept, so that a student who comes "
            "back to the lab page is recognised as an expired user and sent back to the RLMS."),
    _Option("WEBLAB_AUTOCLEAN_THREAD", True, _flag,
            "Whether this process runs the expiry cleaner in a background thread. Turn it off "
            "in web processes when `flask weblab loop` workers run the cleaner."),
    _Option("WEBLAB_TASK_THREADS_PROCESS", 3, _non_negative_int,
            "Number of task-runner threads each process starts at its first request. `0` runs "
            "no task in this process (leave them to `flask weblab loop`)."),
    _Option("WEBLAB_NO_THREAD", False, _flag,
            "Start no background thread at all: no cleaner, no task runner, no heartbeat. It "
            "cannot be combined with an explicit `WEBLAB_AUTOCLEAN_THREAD=True` or "
            "`WEBLAB_TASK_THREADS_PROCESS > 0`."),
    _Option("WEBLAB_LOG_SESSION_LIFECYCLE", True, _flag,
            "Whether session starts, refusals, logouts and disposals are logged as one-line "
            "JSON events on the `weblab_ext.lifecycle` logger. Session ids appear only as a "
            "hash; names and back URLs never."),
    _Option("WEBLAB_REDIS_INDEX_MODE", "legacy", _index_mode,
            "Accepted for compatibility with weblablib 0.5.9 (`shadow` and `indexed` need "
            "`WEBLAB_REDIS_INDEX_EPOCH`). weblab_ext always uses its own indexes, whatever the "
            "value.",
            type="'legacy', 'shadow' or 'indexed'"),
    _Option("WEBLAB_REDIS_INDEX_EPOCH", None, _as_given,
            "Accepted for compatibility with weblablib 0.5.9 and otherwise unused.",
            type="any"),
    # weblab_ext additions
    _Option("WEBLAB_DISPOSE_WAIT", 5, _seconds_at_least(0),
            "Seconds an RLMS dispose call waits for `on_dispose` and the session's tasks to "
            "finish before it answers \"not finished, ask again\"."),
    _Option("WEBLAB_DISPOSE_ASK_AGAIN", 1, _seconds_at_least(0.1),
            "Seconds the RLMS is told to wait before it calls dispose again while a disposal "
            "is still running."),
    _Option("WEBLAB_HEARTBEAT_INTERVAL", 5, _seconds_at_least(0.05),
            "Seconds between the heartbeats of each task-worker process. Task leases last two "
            "intervals and are renewed every half interval; a worker silent past its lease "
            "(dead, frozen, or cut off from Redis) has its tasks failed as `worker-lost` "
            "within three intervals, by any reader or cleaner."),
    _Option("WEBLAB_POWERED_BY", "weblab_ext", _optional_text,
            "Value of the `powered-by` header added to every response; `None` (or an empty "
            "string) removes the header."),
    # issue 12: operator experience
    _Option("WEBLAB_HEALTH_CHECK_TIMEOUT", 5, _seconds_at_least(0.01),
            "Seconds GET /weblab/health waits for the store and the lab's @weblab.health_check "
            "functions (all together) before it answers success false."),
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
    health_check_timeout: float
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
    for option in OPTIONS:
        if option.required and option.key not in config:
            example = _EXAMPLES.get(option.key, "...")
            raise InvalidConfigError(
                f"Invalid configuration. Missing {option.key}: {how_to_set(option.key, example)}"
            )
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

    # Every other field is the key without its prefix, lower-cased (WEBLAB_TIMEOUT → timeout).
    fields = {field.name for field in dataclasses.fields(Settings)}
    derived = {name: value for key, value in values.items()
               if (name := key.removeprefix("WEBLAB_").lower()) in fields}
    derived.update(
        base_url=base or "",
        callback_url=callback,
        autoclean_thread=values["WEBLAB_AUTOCLEAN_THREAD"] and not no_thread,
        task_threads_process=0 if no_thread else values["WEBLAB_TASK_THREADS_PROCESS"],
        fingerprint=fingerprint(config),
    )
    return Settings(**derived)


def fingerprint(config: Mapping[str, Any]) -> str:
    """Digest of the ``WEBLAB_*`` keys, to tell a re-``init_app`` with changed config."""
    items = sorted((k, repr(v)) for k, v in config.items() if k.startswith("WEBLAB_"))
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()


#: Example values used in advice messages.
_EXAMPLES = {
    "WEBLAB_USERNAME": "weblabdeusto",
    "WEBLAB_PASSWORD": "a-long-random-secret",
    "WEBLAB_REDIS_URL": "redis://localhost:6379/0",
}


def how_to_set(key: str, example: str) -> str:
    """Advice naming both ways to set ``key``: the Flask config, or a ``FLASK_`` variable.

    A bare ``WEBLAB_...`` environment variable is read by nobody; Flask reads ``FLASK_<KEY>``
    only when the app calls ``app.config.from_prefixed_env()`` (before ``WebLab(app)``).
    """
    return (f'set app.config["{key}"] = "{example}" before WebLab(app) / init_app, or export '
            f"FLASK_{key}={example} and call app.config.from_prefixed_env() before it")


def redis_url_advice() -> str:
    """How to point the lab to a Redis server (:func:`how_to_set` for ``WEBLAB_REDIS_URL``)."""
    return how_to_set("WEBLAB_REDIS_URL", _EXAMPLES["WEBLAB_REDIS_URL"])


def unknown_keys(config: Mapping[str, Any]) -> list[str]:
    """A warning for every ``WEBLAB_*`` key of ``config`` that no option reads.

    A misspelt key would otherwise be ignored in silence; the closest known key is named.
    """
    prefix = "WEBLAB_"
    # Compared without the shared prefix, which would make any two keys look alike.
    known = [key[len(prefix):] for key in _BY_KEY]
    warnings = []
    for key in sorted(k for k in config if isinstance(k, str) and k.startswith(prefix)):
        if key in _BY_KEY:
            continue
        close = difflib.get_close_matches(key[len(prefix):], known, n=1, cutoff=0.6)
        hint = f"did you mean {prefix}{close[0]}?" if close else "weblab_ext does not read it"
        warnings.append(f"Unknown configuration key {key} (ignored): {hint}")
    return warnings
