"""weblab_ext: turn a Flask app into a remote laboratory.

This module is the table of contents of the public API: a lab written for weblablib runs by
changing only its import (``from weblab_ext import WebLab, weblab_user, requires_active``).
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"

from .context import get_weblab_user as get_weblab_user
from .context import logout as logout
from .context import poll as poll
from .context import session_context as session_context
from .context import socket_weblab_user as socket_weblab_user
from .context import weblab_user as weblab_user
from .decorators import requires_active as requires_active
from .decorators import requires_login as requires_login
from .errors import AlreadyRunningError as AlreadyRunningError
from .errors import InvalidConfigError as InvalidConfigError
from .errors import NoContextError as NoContextError
from .errors import NotFoundError as NotFoundError
from .errors import TimeoutError as TimeoutError
from .errors import WebLabError as WebLabError
from .errors import WebLabNotInitializedError as WebLabNotInitializedError
from .extension import WebLab as WebLab
from .random_ids import create_token as create_token
from .runtime.users import AnonymousUser as AnonymousUser
from .runtime.users import CurrentUser as CurrentUser
from .runtime.users import ExpiredUser as ExpiredUser
from .runtime.users import WebLabUser as WebLabUser
from .socketio import socket_requires_active as socket_requires_active
from .socketio import socket_requires_login as socket_requires_login
from .tasks import WebLabTask as WebLabTask
from .tasks import current_task as current_task
from .tasks import current_task_stopping as current_task_stopping

# ``NotFoundError`` and ``WebLabUser`` are importable but not in __all__, as in the original
# library.
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
    "session_context",
    "socket_requires_active",
    "socket_requires_login",
    "socket_weblab_user",
    "weblab_user",
]
