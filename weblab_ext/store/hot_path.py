"""Commands of the request hot path, sent straight on a connection.

A student's request costs one round trip (the ``TOUCH`` script), and an RLMS status call one
``HMGET`` (with session records on, one script that also counts the call, see
:mod:`.record_calls`). Through redis-py's ``execute_command`` each also pays the client's
per-command machinery: a pool checkout with a readiness probe of the socket (three system calls),
the retry wrapper, metric and event hooks, response callbacks. Measured on the benchmark
machine that is about 50 µs a call, a fifth of a lab request and most of weblab_ext's overhead
over a plain Flask view. :class:`DirectCommands` sends those few commands on connections it
keeps itself, with the behaviour that matters kept:

* a connection serves one call at a time and never crosses a ``fork`` (idle connections
  are dropped in a child process);
* a connection that failed mid-call is closed, so no stale reply is ever read;
* the connections are the client's own kind, with its settings: the socket and connect
  timeouts of :func:`.connection.connect` (or of a ``backend=`` client) apply;
* a lost connection is opened again and the call retried once, as :func:`.connection.connect`
  configures redis-py to do; a timeout is not retried (the server may be stuck: a second
  attempt would double the wait, and the first may have run);
* ``NOSCRIPT`` (a restarted or flushed server) loads the script and calls it again.

A Redis Cluster has a connection pool per node, and a pipeline queues its commands: both
keep the ordinary path. The embedded store's connections (fakeredis) talk to the in-process
server the same way, so it takes the direct path too.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence
from typing import Any

import redis
from redis.client import Pipeline
from redis.commands.core import Script

from .connection import StoreClient, is_cluster


class DirectCommands:
    """Sends hot-path commands of one client on connections of its own pool.

    :param client: the store's client.
    """

    def __init__(self, client: StoreClient) -> None:
        self._client = client
        # A pipeline must keep queueing; a cluster has no single pool.
        self._direct = not (is_cluster(client) or isinstance(client, Pipeline))
        self._idle: deque[Any] = deque()
        self._pid = os.getpid()

    def script(self, script: Script, keys: Sequence[str | bytes], args: Sequence[Any]) -> Any:
        """Run a registered script (``EVALSHA``, loading it when the server lacks it)."""
        if not self._direct:
            return script(keys=keys, args=args)
        return self._evalsha(script, _pack(("EVALSHA", script.sha, len(keys), *keys, *args)))

    def script_per_id(
        self,
        script: Script,
        prefixes: Sequence[bytes],
        ids: Sequence[str],
        args: Sequence[Any],
    ) -> Any:
        """Run a registered script whose keys are, for each id in order, each of
        ``prefixes`` followed by the id (the session hash and record keys of many sessions).

        Packed without building the keys: with 10,000 ids and four keys each, building and
        packing 40,000 key strings one by one would cost more than the script.
        """
        if not self._direct:
            raws = [sid.encode() for sid in ids]
            keys = [prefix + raw for raw in raws for prefix in prefixes]
            return script(keys=keys, args=args)
        count = len(prefixes) * len(ids)
        packed = (
            b"*%d\r\n" % (3 + count + len(args))
            + _pack_args(("EVALSHA", script.sha, count))
            + _pack_keys_per_id(prefixes, ids)
            + _pack_args(args)
        )
        return self._evalsha(script, packed)

    def _evalsha(self, script: Script, packed: bytes) -> Any:
        try:
            return self._call(packed)
        except redis.exceptions.NoScriptError:
            self._client.script_load(script.script)
            return self._call(packed)

    def command(self, *args: Any) -> Any:
        """Run one command and return its raw reply (no response callback)."""
        if not self._direct:
            return self._client.execute_command(*args)  # type: ignore[no-untyped-call]
        return self._call(_pack(args))

    def close(self) -> None:
        """Close the idle connections (at shutdown; a later call opens new ones)."""
        while self._idle:
            self._idle.pop().disconnect()

    def _call(self, packed: bytes) -> Any:
        connection = self._take()
        try:
            for attempt in (1, 2):
                try:
                    # Explicitly (a no-op when connected): a Sentinel-managed connection
                    # finds the master only in connect(), not when a send opens the socket.
                    connection.connect()
                    connection.send_packed_command([packed])
                    return connection.read_response()
                except redis.ConnectionError:
                    connection.disconnect()
                    if attempt == 2:
                        raise
                except redis.ResponseError:
                    raise  # the error reply was read: the connection is clean
                except BaseException:
                    connection.disconnect()  # a reply may be left unread
                    raise
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self._idle.append(connection)

    def _take(self) -> Any:
        if self._pid != os.getpid():
            # A forked child: the parent's sockets are not ours (redis-py closes a
            # connection only in the process that opened it).
            self._idle, self._pid = deque(), os.getpid()
        try:
            return self._idle.pop()
        except IndexError:
            return self._client.connection_pool.make_connection()  # type: ignore[union-attr]


def _pack(command: tuple[Any, ...]) -> bytes:
    """``command`` in RESP, in one join (arguments: bytes, or text and numbers as text).

    redis-py's packer takes about 0.4 µs per argument: a third of the client's time for the
    10,000 keys of a large status/multiple call.
    """
    return b"*%d\r\n" % len(command) + _pack_args(command)


def _pack_args(args: Sequence[Any]) -> bytes:
    """The RESP bulk strings of ``args``, without the array header."""
    parts = [arg if isinstance(arg, bytes) else str(arg).encode() for arg in args]
    return b"".join([b"$%d\r\n%s\r\n" % (len(part), part) for part in parts])


def _pack_keys_per_id(prefixes: Sequence[bytes], ids: Sequence[str]) -> bytes:
    """The RESP bulk strings of each prefix followed by each id, id after id.

    Built from C-level slices and one join: the id's bytes are shared, and the length header
    and prefix of a key depend only on the id's length (ids are mostly all of one length).
    """
    raws = list(map(str.encode, ids))
    lengths = list(map(len, raws))
    step = 2 * len(prefixes)
    parts: list[bytes] = [b""] * (step * len(raws))
    for index, prefix in enumerate(prefixes):
        # Each piece ends the previous key ("\r\n") and starts this one; the first "\r\n"
        # is cut below and the last key ended after the join.
        head = {n: b"\r\n$%d\r\n%s" % (len(prefix) + n, prefix) for n in set(lengths)}
        parts[2 * index :: step] = list(map(head.__getitem__, lengths))
        parts[2 * index + 1 :: step] = raws
    return b"".join(parts)[2:] + b"\r\n" if parts else b""
