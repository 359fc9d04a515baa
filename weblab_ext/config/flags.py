"""Boolean options: what a value means, depending on where it came from.

A value set in code (``app.config["WEBLAB_AUTOPOLL"] = ...``) keeps weblablib's meaning: a
``bool`` is itself, anything else counts by its Python truth value, so the string ``'False'``
is true, as it is for weblablib, and a lab written for it runs the same. Such a value is
read with a warning naming the key, the value and its meaning.

A value that came from the environment keeps its parsed meaning: ``true``/``false``,
``yes``/``no``, ``1``/``0`` (any case), as Flask's ``from_prefixed_env`` gives them (JSON
``false`` becomes the bool ``False``; ``False`` stays the string ``'False'``). A value counts
as from the environment when an environment variable named the key, or ending in ``_`` plus the
key (``FLASK_WEBLAB_AUTOPOLL``, or another ``from_prefixed_env`` prefix), holds that value: its
raw text, or the JSON reading of it. The config itself does not say where a value came from,
and this is the one thing that tells the two apart.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from typing import Any

from .parsers import flag, shown


def _env_readings(raw: str) -> list[Any]:
    """What ``from_prefixed_env`` may have stored for the text ``raw``."""
    readings: list[Any] = [raw]
    with contextlib.suppress(ValueError):
        readings.append(json.loads(raw))
    return readings


def from_environment(key: str, value: Any, environ: Mapping[str, str]) -> bool:
    """Whether ``value`` of ``key`` came from an environment variable (see the module)."""
    suffix = "_" + key
    for name, raw in environ.items():
        if name != key and not name.endswith(suffix):
            continue
        # Same type as well as equal: 1 == True, but the environment never gives a bool for "1".
        if any(type(read) is type(value) and read == value for read in _env_readings(raw)):
            return True
    return False


def read_flag(
    key: str, value: Any, environ: Mapping[str, str] | None = None
) -> tuple[bool, str | None]:
    """The meaning of a boolean option's value, and a warning when it is not a bool set in code.

    :param environ: the environment (default :data:`os.environ`).
    :raises InvalidConfigError: for a value from the environment that is not a boolean.
    """
    if isinstance(value, bool):
        return value, None
    if from_environment(key, value, os.environ if environ is None else environ):
        return flag(key, value), None
    meaning = bool(value)
    return meaning, (
        f"{key} = {shown(key, value)} means {meaning}: a value set in code that is not True or "
        "False counts by its Python truth value, as in weblablib (any non-empty string is "
        f"true, 'False' included). Set {key} = True or {key} = False to say what you mean."
    )
