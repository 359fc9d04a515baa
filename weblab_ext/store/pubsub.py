"""Pub/sub: publishing, and subscriptions, so that nothing outside ``store/`` holds a client.

The background listeners (task stops, Socket.IO push) receive a :class:`Subscription` from the
session and task stores and only ever call :meth:`Subscription.next_message` and
:meth:`Subscription.close` on it.

On a Redis Cluster, pub/sub is *sharded*: a plain ``PUBLISH`` is copied to every node of the
cluster, while ``SPUBLISH`` stays on the shard that holds the channel's slot. Every channel of
a lab carries the lab's hash tag, so a lab's events stay on the node that holds its keys, and
the listeners subscribe there with ``SSUBSCRIBE``. A single server (or Sentinel) keeps plain
``PUBLISH``/``SUBSCRIBE``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import redis
from redis.commands.core import Script

from .connection import StoreClient, is_cluster, node_client

logger = logging.getLogger("weblab_ext")

#: Message types that carry a published payload (plain and sharded).
_PAYLOAD_TYPES = ("message", "smessage")


def register_script(client: StoreClient, script: str) -> Script:
    """Register ``script`` as it must run on ``client``: on a cluster, ``PUBLISH`` becomes
    ``SPUBLISH``.

    Scripts publish with ``redis.call('PUBLISH', channel, message)``; inside a script the
    sharded variant is allowed because the channel hashes to the script's own slot.
    """
    if is_cluster(client):
        script = script.replace("redis.call('PUBLISH',", "redis.call('SPUBLISH',")
    return client.register_script(script)


def publish(client: StoreClient, channel: str, message: str) -> None:
    """Publish ``message`` on ``channel`` (sharded on a cluster)."""
    if is_cluster(client):
        client.spublish(channel, message)
    else:
        client.publish(channel, message)


class Subscription:
    """Messages of some channels of one lab, as ``(channel, data)`` text pairs.

    :param client: a redis-py client with ``decode_responses=True`` (or a cluster client).
    :param channels: the channel names (built by :mod:`.keys`; on a cluster they must share
        one slot, which the lab's hash tag guarantees).
    """

    def __init__(self, client: StoreClient, channels: Sequence[str]) -> None:
        self.channels = tuple(channels)
        self.sharded = is_cluster(client)
        # On a cluster: a plain pub/sub connection to the node that holds the slot (redis-py
        # 5.0's cluster pub/sub object does not release its node connections on close).
        server = node_client(client, self.channels[0]) if self.sharded else client
        self._pubsub: Any = server.pubsub()
        try:
            if self.sharded:
                self._pubsub.ssubscribe(*self.channels)
            else:
                self._pubsub.subscribe(*self.channels)
        except BaseException:
            self.close()
            if self.sharded:
                _refresh_slots(client)
            raise

    def next_message(self, timeout: float) -> tuple[str, str] | None:
        """Wait up to ``timeout`` seconds for one message; ``None`` when none came.

        :raises redis.ConnectionError: when the server dropped the subscription (a cluster
            moved the lab's slot to another node): subscribe again.
        """
        message = self._pubsub.get_message(timeout=timeout)
        if message is None:
            return None
        kind = message.get("type")
        if kind in _PAYLOAD_TYPES:
            return str(message["channel"]), str(message["data"])
        if kind == "sunsubscribe":
            # A cluster unsubscribes the clients of a slot that moved (failover, resharding).
            raise redis.ConnectionError("the lab's slot moved to another node")
        return None

    def close(self) -> None:
        """Release the connection (never raises: it may already be broken)."""
        try:
            self._pubsub.close()
        except Exception:
            logger.debug("Closing a pub/sub connection failed", exc_info=True)


def _refresh_slots(client: StoreClient) -> None:
    # The node we tried may be a master that died: ask the cluster who holds the slot now,
    # so that the next attempt goes there.
    try:
        client.nodes_manager.initialize()  # type: ignore[union-attr]
    except Exception:
        logger.debug("Refreshing the cluster's slot table failed", exc_info=True)
