"""Counting Redis round trips where they happen: every packet a connection sends.

Counted on the connection, not on ``Redis.execute_command``: the hot path's direct commands
(``store/hot_path.py``) never go through the client's command method. A whole pipeline is one
packet, so one round trip.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis


class RoundTrips:
    """What was sent since the last :meth:`reset`: packets and the start of each."""

    def __init__(self) -> None:
        self.count = 0
        self.commands: list[str] = []

    def reset(self) -> None:
        self.count = 0
        self.commands = []

    def of(self, action: Callable[[], Any]) -> int:
        """Round trips ``action`` makes (no warm-up: the first call of a script loads it)."""
        self.reset()
        action()
        return self.count


def count_round_trips(monkeypatch: pytest.MonkeyPatch, *, this_thread_only: bool) -> RoundTrips:
    """Count every packet sent from now on (until ``monkeypatch`` undoes it).

    :param this_thread_only: count only this thread (a background thread left by another test
        must not be counted); otherwise count every thread, such as a disposal's own thread.
    """
    counter = RoundTrips()
    original = redis.connection.Connection.send_packed_command
    me = threading.get_ident()

    def send_packed_command(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        if not this_thread_only or threading.get_ident() == me:
            counter.count += 1
            first = command[0] if isinstance(command, list) else command
            counter.commands.append(bytes(first)[:60].decode(errors="replace"))
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", send_packed_command)
    return counter
