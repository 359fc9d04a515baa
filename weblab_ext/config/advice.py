"""How messages tell a person to set a key: the Flask config, or a ``FLASK_`` variable."""

from __future__ import annotations

#: Example values used in advice messages.
EXAMPLES = {
    "WEBLAB_USERNAME": "weblabdeusto",
    "WEBLAB_PASSWORD": "a-long-random-secret",
    "WEBLAB_REDIS_URL": "redis://localhost:6379/0",
}


def how_to_set(key: str, example: str) -> str:
    """Advice naming both ways to set ``key``: the Flask config, or a ``FLASK_`` variable.

    A bare ``WEBLAB_...`` environment variable is read by nobody; Flask reads ``FLASK_<KEY>``
    only when the app calls ``app.config.from_prefixed_env()`` (before ``WebLab(app)``).
    """
    return (
        f'set app.config["{key}"] = "{example}" before WebLab(app) / init_app, or export '
        f"FLASK_{key}={example} and call app.config.from_prefixed_env() before it"
    )


def redis_url_advice() -> str:
    """How to point the lab to a Redis server (:func:`how_to_set` for ``WEBLAB_REDIS_URL``)."""
    return how_to_set("WEBLAB_REDIS_URL", EXAMPLES["WEBLAB_REDIS_URL"])
