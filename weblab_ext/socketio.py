"""Socket.IO guards (being written by the real-time work)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def socket_requires_login(func: Callable[..., Any]) -> Callable[..., Any]:
    """Placeholder until the Socket.IO work lands."""
    return func


def socket_requires_active(func: Callable[..., Any]) -> Callable[..., Any]:
    """Placeholder until the Socket.IO work lands."""
    return func
