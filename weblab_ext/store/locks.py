"""Locks with an owner: ``SET NX PX`` to take, compare-and-delete to release.

One :class:`Lock` type serves the unique-task locks of direct calls (tasks); its lifetimes
are always given in seconds. The task scripts take and release
unique locks inside their own Lua transitions with the same owner-token rule.
"""

from __future__ import annotations

from types import TracebackType

from .connection import StoreClient

# KEYS[1] lock key
# ARGV[1] owner token
# Compare-and-delete: only the owner releases a lock, never a process that merely saw it.
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lock:
    """A Redis lock owned by a token, with a lifetime in seconds.

    :param client: a redis-py client.
    :param key: the lock key (built by :mod:`.keys`).

    .. code-block:: python

        lock = Lock(client, keys.unique_lock("calibrate"))
        if lock.acquire(token, ttl=30):
            try:
                ...
            finally:
                lock.release(token)
    """

    def __init__(self, client: StoreClient, key: str) -> None:
        self.client = client
        self.key = key
        self._release = client.register_script(RELEASE_LOCK)

    def acquire(self, token: str, ttl: float) -> bool:
        """Take the lock for ``ttl`` seconds unless someone holds it; ``True`` if taken."""
        return bool(self.client.set(self.key, token, nx=True, px=max(1, int(ttl * 1000))))

    def release(self, token: str) -> bool:
        """Release the lock only if ``token`` still owns it."""
        return bool(self._release(keys=[self.key], args=[token]))

    def held(self, token: str, ttl: float) -> _Held:
        """Context manager: hold the lock for the block, or enter with ``False``."""
        return _Held(self, token, ttl)


class _Held:
    def __init__(self, lock: Lock, token: str, ttl: float) -> None:
        self.lock = lock
        self.token = token
        self.ttl = ttl
        self.acquired = False

    def __enter__(self) -> bool:
        self.acquired = self.lock.acquire(self.token, self.ttl)
        return self.acquired

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.acquired:
            self.lock.release(self.token)
