"""Concurrent callers of one read share a store round trip that started after each arrived.

Runtime layer, no Flask. A burst of health probes (a load balancer, a monitor and the RLMS at
once) reads the same few keys: one round trip each costs every web thread a trip to the store
and back through the GIL. Here the first caller reads; callers arriving meanwhile wait for the
*next* read, which one of them makes once the first ends, and share its result. So no answer
is older than its request (a maintenance switch made before a call is always seen), and a
burst of any size costs about two reads per process instead of one per call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Slot(Generic[T]):
    __slots__ = ("done", "error", "result", "running")

    def __init__(self) -> None:
        self.done = 0  # reads finished
        self.running = False
        self.result: T | None = None
        self.error: BaseException | None = None


class SharedReads(Generic[T]):
    """One read in flight per key; each caller gets a read that started after it arrived."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._slots: dict[Hashable, _Slot[T]] = {}

    def read(self, key: Hashable, fetch: Callable[[], T]) -> T:
        """``fetch()``'s result, shared with the callers of ``key`` waiting for the same read.

        :raises: what ``fetch`` raised (every caller sharing that read gets it).
        """
        with self._cond:
            slot = self._slots.setdefault(key, _Slot())
            # A read already in flight may have reached the store before this call arrived:
            # wait for the one after it.
            need = slot.done + (2 if slot.running else 1)
            while slot.done < need:
                if not slot.running:
                    slot.running = True
                    break
                self._cond.wait()
            else:
                return self._outcome(slot)
        try:
            result, error = fetch(), None
        except BaseException as exc:  # handed to every caller of this read, then raised
            result, error = None, exc
        with self._cond:
            slot.done += 1
            slot.running = False
            slot.result, slot.error = result, error
            self._cond.notify_all()
            return self._outcome(slot)

    @staticmethod
    def _outcome(slot: _Slot[T]) -> T:
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]
