"""Pub/sub subscriptions, so that nothing outside ``store/`` holds a Redis client.

The background listeners (task stops, Socket.IO push) receive a :class:`Subscription` from the
session and task stores and only ever call :meth:`Subscription.next_message` and
:meth:`Subscription.close` on it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import redis

logger = logging.getLogger("weblab_ext")


class Subscription:
    """Messages of some channels, as ``(channel, data)`` text pairs.

    :param client: a redis-py client with ``decode_responses=True``.
    :param channels: the channel names (built by :mod:`.keys`).
    """

    def __init__(self, client: redis.Redis, channels: Sequence[str]) -> None:
        self.channels = tuple(channels)
        self._pubsub: Any = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            self._pubsub.subscribe(*self.channels)
        except BaseException:
            self.close()
            raise

    def next_message(self, timeout: float) -> tuple[str, str] | None:
        """Wait up to ``timeout`` seconds for one message; ``None`` when none came."""
        message = self._pubsub.get_message(timeout=timeout)
        if message is None or message.get("type") != "message":
            return None
        return str(message["channel"]), str(message["data"])

    def close(self) -> None:
        """Release the connection (never raises: it may already be broken)."""
        try:
            self._pubsub.close()
        except Exception:
            logger.debug("Closing a pub/sub connection failed", exc_info=True)
