"""Exceptions raised by weblab_ext.

Every error derives from :class:`WebLabError`. The names and bases match the library
weblab_ext replaces, so ``except`` clauses in existing labs keep working.
"""

from __future__ import annotations

import builtins


class WebLabError(Exception):
    """Base class of every weblab_ext error."""


class NoContextError(WebLabError):
    """A lab session was needed outside a request, task, hook or CLI session context."""


class InvalidConfigError(WebLabError, ValueError):
    """A ``WEBLAB_*`` configuration value is missing or invalid; the message names the key."""


class WebLabNotInitializedError(WebLabError):
    """The Flask app in use was never passed to ``WebLab.init_app()``."""


# Shadows the builtin name on purpose (the public API promises it) and still derives from it,
# so `except TimeoutError` catches it whichever name is in scope.
class TimeoutError(WebLabError, builtins.TimeoutError):
    """Waiting for a task took longer than the timeout given."""


class DeadlockError(TimeoutError, RuntimeError):
    """A task tried to join itself: it would wait for ever.

    It is both a :class:`TimeoutError` (what the task API promises for a join that cannot
    end) and a ``RuntimeError`` (what weblablib raised), so either ``except`` catches it. A
    task that fails with it records ``error["class"] == "RuntimeError"``, as it always did.
    """

    reported_class = "RuntimeError"


class AlreadyRunningError(WebLabError):
    """A task declared ``unique`` is already running for the same scope."""


class NotFoundError(WebLabError, KeyError):
    """The lab session asked for does not exist (never started, or long expired)."""


class StoreUnavailableError(WebLabError):
    """The session store (Redis) could not be reached."""


__all__ = [
    "AlreadyRunningError",
    "DeadlockError",
    "InvalidConfigError",
    "NoContextError",
    "NotFoundError",
    "StoreUnavailableError",
    "TimeoutError",
    "WebLabError",
    "WebLabNotInitializedError",
]
