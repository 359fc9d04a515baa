"""weblab_ext: turn a Flask app into a remote laboratory.

This module is the table of contents of the public API: a lab written for weblablib runs by
changing only its import (``from weblab_ext import WebLab, weblab_user, requires_active``).
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"

from .context import get_weblab_user, logout, poll, socket_weblab_user, weblab_user
from .decorators import requires_active, requires_login
from .errors import (
    AlreadyRunningError,
    InvalidConfigError,
    NoContextError,
    NotFoundError,
    TimeoutError,
    WebLabError,
    WebLabNotInitializedError,
)
from .extension import WebLab
from .socketio import socket_requires_active, socket_requires_login
from .tasks.api import WebLabTask, current_task, current_task_stopping
from .tokens import create_token
from .users import AnonymousUser, CurrentUser, ExpiredUser, WebLabUser

__all__ = [
    "AlreadyRunningError",
    "AnonymousUser",
    "CurrentUser",
    "ExpiredUser",
    "InvalidConfigError",
    "NoContextError",
    "TimeoutError",
    "WebLab",
    "WebLabError",
    "WebLabNotInitializedError",
    "WebLabTask",
    "create_token",
    "current_task",
    "current_task_stopping",
    "get_weblab_user",
    "logout",
    "poll",
    "requires_active",
    "requires_login",
    "socket_requires_active",
    "socket_requires_login",
    "socket_weblab_user",
    "weblab_user",
]

# Importable but not in __all__, as in the original library.
_EXTRA = (NotFoundError, WebLabUser)
