"""An app's ``WEBLAB_*`` keys validated into a frozen :class:`Settings`.

:func:`load_settings` runs once in ``init_app``; a bad value raises
:class:`~weblab_ext.errors.InvalidConfigError` naming the key, before anything is registered
on the app. The keys themselves are listed in :mod:`.options`.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidConfigError
from .advice import EXAMPLES, how_to_set
from .flags import read_flag
from .options import BY_KEY, OPTIONS
from .parsers import flag


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
    dispose_max: float
    dispose_ask_again: float
    heartbeat_interval: float
    powered_by: str | None
    health_check_timeout: float
    health_check_interval: float
    max_start_body: int
    max_status_ids: int
    launch_once: bool
    admin_username: str | None
    admin_password: str | None
    cleaner_concurrency: int
    cleaner_batch: int
    devices: tuple[str, ...]
    record: bool
    record_max_events: int
    record_retention: float
    record_pseudonyms: bool | None
    record_pseudonym_secret: str | None
    fingerprint: str


#: Largest ``WEBLAB_DISPOSE_MAX``: under the 600 s after which a disposal still running is
#: taken for one whose process died.
MAX_DISPOSE_MAX = 540


def _value(config: Mapping[str, Any], key: str, environ: Mapping[str, str] | None) -> Any:
    option = BY_KEY[key]
    if key not in config:
        return option.default
    if option.parse is flag:  # weblablib's meaning in code, the parsed one from the environment
        return read_flag(key, config[key], environ)[0]
    return option.parse(key, config[key])


def flag_warnings(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> list[str]:
    """A warning for every boolean key set in code to a value that is not a bool (read by its
    Python truth value, see :mod:`.flags`).

    :param environ: the environment (default :data:`os.environ`).
    """
    keys = [option.key for option in OPTIONS if option.parse is flag and option.key in config]
    return [note for key in keys if (note := read_flag(key, config[key], environ)[1])]


def load_settings(
    config: Mapping[str, Any],
    *,
    base_url: str | None = None,
    callback_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Validate the ``WEBLAB_*`` keys of ``config`` into :class:`Settings`.

    :param config: the Flask app's config.
    :param base_url: constructor override of ``WEBLAB_BASE_URL``.
    :param callback_url: constructor override of ``WEBLAB_CALLBACK_URL``.
    :param environ: the environment, which tells a boolean key's value that came from it
        (parsed: ``'false'`` is false) from one set in code (weblablib's truth value: any
        non-empty string is true); default :data:`os.environ`.
    :raises InvalidConfigError: naming the first bad key.
    """
    for option in OPTIONS:
        if option.required and option.key not in config:
            example = EXAMPLES.get(option.key, "...")
            raise InvalidConfigError(
                f"Invalid configuration. Missing {option.key}: {how_to_set(option.key, example)}"
            )
    values = {option.key: _value(config, option.key, environ) for option in OPTIONS}

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
    if (
        no_thread
        and values["WEBLAB_TASK_THREADS_PROCESS"] > 0
        and ("WEBLAB_TASK_THREADS_PROCESS" in config)
    ):
        raise InvalidConfigError(
            "WEBLAB_NO_THREAD=True is incompatible with WEBLAB_TASK_THREADS_PROCESS > 0"
        )
    if (values["WEBLAB_ADMIN_USERNAME"] is None) != (values["WEBLAB_ADMIN_PASSWORD"] is None):
        given, missing = sorted(
            ("WEBLAB_ADMIN_USERNAME", "WEBLAB_ADMIN_PASSWORD"), key=lambda key: values[key] is None
        )
        raise InvalidConfigError(
            f"{given} is set but {missing} is not: set both to turn on the metrics and the "
            "admin page, or neither"
        )
    if values["WEBLAB_DISPOSE_MAX"] > MAX_DISPOSE_MAX:
        raise InvalidConfigError(
            f"WEBLAB_DISPOSE_MAX must be at most {MAX_DISPOSE_MAX} seconds: a disposal still "
            "running after 10 minutes is taken for abandoned by its process's death"
        )
    mode = values["WEBLAB_REDIS_INDEX_MODE"]
    if mode != "legacy" and not values["WEBLAB_REDIS_INDEX_EPOCH"]:
        raise InvalidConfigError(f"WEBLAB_REDIS_INDEX_EPOCH is required when the mode is {mode}")

    # Every other field is the key without its prefix, lower-cased (WEBLAB_TIMEOUT → timeout).
    fields = {field.name for field in dataclasses.fields(Settings)}
    derived = {
        name: value
        for key, value in values.items()
        if (name := key.removeprefix("WEBLAB_").lower()) in fields
    }
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


def unknown_keys(config: Mapping[str, Any]) -> list[str]:
    """A warning for every ``WEBLAB_*`` key of ``config`` that no option reads.

    A misspelt key would otherwise be ignored in silence; the closest known key is named.
    """
    prefix = "WEBLAB_"
    # Compared without the shared prefix, which would make any two keys look alike.
    known = [key[len(prefix) :] for key in BY_KEY]
    warnings = []
    for key in sorted(k for k in config if isinstance(k, str) and k.startswith(prefix)):
        if key in BY_KEY:
            continue
        close = difflib.get_close_matches(key[len(prefix) :], known, n=1, cutoff=0.6)
        hint = f"did you mean {prefix}{close[0]}?" if close else "weblab_ext does not read it"
        warnings.append(f"Unknown configuration key {key} (ignored): {hint}")
    return warnings
