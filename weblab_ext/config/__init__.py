"""Configuration: every ``WEBLAB_*`` key, its default, and its validation (a base package).

Rule: this package reads a ``Mapping`` and returns values; it imports nothing of weblab_ext but
:mod:`weblab_ext.errors`, and no web framework or store. It is the only place that reads
``app.config`` for weblab keys.

* :mod:`.options` — the table of keys (``OPTIONS``); :mod:`.option` — one key of it;
* :mod:`.settings` — ``Settings`` and ``load_settings``, which validates a config against it;
* :mod:`.parsers` — the validators of values, which never quote a secret;
* :mod:`.flags` — what a boolean key's value means: weblablib's reading in code, the parsed
  one from the environment;
* :mod:`.secrets` — weak and published secrets, and the examples' rule for their own;
* :mod:`.advice` — how a message tells a person to set a key.
"""

from __future__ import annotations

from .advice import how_to_set as how_to_set
from .advice import redis_url_advice as redis_url_advice
from .options import OPTIONS as OPTIONS
from .parsers import is_secret_key as is_secret_key
from .secrets import MIN_PASSWORD_LENGTH as MIN_PASSWORD_LENGTH
from .secrets import MIN_SECRET_KEY_BYTES as MIN_SECRET_KEY_BYTES
from .secrets import PUBLISHED_SECRETS as PUBLISHED_SECRETS
from .secrets import require_secrets as require_secrets
from .secrets import weak_secrets as weak_secrets
from .settings import Settings as Settings
from .settings import fingerprint as fingerprint
from .settings import flag_warnings as flag_warnings
from .settings import load_settings as load_settings
from .settings import unknown_keys as unknown_keys

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "MIN_SECRET_KEY_BYTES",
    "OPTIONS",
    "PUBLISHED_SECRETS",
    "Settings",
    "fingerprint",
    "flag_warnings",
    "how_to_set",
    "is_secret_key",
    "load_settings",
    "redis_url_advice",
    "require_secrets",
    "unknown_keys",
    "weak_secrets",
]
