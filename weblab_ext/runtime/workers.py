"""Worker loops: task runners blocking on the queue, the heartbeat, the stop listener.

Runtime layer. Each is a :class:`~weblab_ext.runtime.loops.Loop`, so they share one stop flag
per process, one backoff policy on store errors and one log line format; a lost Redis
connection is retried until the server is back.
"""

from __future__ import annotations

import threading

from ..store.connection import STORE_ERRORS
from ..store.pubsub import Subscription
from .loops import ListenerLoop, Loop
from .task_engine import TaskEngine


class TaskRunnerLoop(Loop):
    """Blocks on the task queue and runs what it receives, one task at a time."""

    def __init__(
        self, engine: TaskEngine, stop: threading.Event, number: int, *, store_label: str
    ) -> None:
        super().__init__(f"weblab-task-runner-{number}", stop, store_label=store_label)
        self.engine = engine
        #: Taken from the queue, claim not attempted yet (kept across a store error).
        self.pending: str | None = None

    def tick(self, now: float) -> float:
        engine = self.engine
        if self.pending is None:
            self.pending = engine.store.next_from_queue(engine.worker_id, engine.queue_block)
        if self.pending is not None:
            try:
                engine.execute(self.pending)
            except STORE_ERRORS:
                raise  # keep it: the claim is tried again once the store is back
            except Exception:
                self.pending = None
                raise
            self.pending = None
        return 0.0


class HeartbeatLoop(Loop):
    """Renews this process's leases every half heartbeat interval and reaps lapsed ones.

    When stopped it drains: running tasks are asked to stop and get a grace period.
    """

    def __init__(
        self, engine: TaskEngine, stop: threading.Event, threads: int, *, store_label: str
    ) -> None:
        super().__init__("weblab-task-heartbeat", stop, store_label=store_label)
        self.engine = engine
        self.threads = threads

    def initialize(self) -> None:
        self.engine.heartbeat_alive.set()

    def tick(self, now: float) -> float:
        self.engine.heartbeat_tick(now, threads=self.threads)
        return self.engine.heartbeat_interval / 2

    def step(self) -> float:
        # A store error must not delay the next beat past the lease: cap the backoff.
        pause = super().step()
        return min(pause, self.engine.heartbeat_interval / 2)

    def clock(self) -> float:
        return self.engine.clock()

    def shutdown(self) -> None:
        try:
            self.engine.drain(self.engine.shutdown_grace)
        finally:
            self.engine.heartbeat_alive.clear()


class StopListenerLoop(ListenerLoop):
    """Keeps the engine's set of stopping tasks current from the stop channel."""

    def __init__(self, engine: TaskEngine, stop: threading.Event, *, store_label: str) -> None:
        super().__init__("weblab-task-stops", stop, store_label=store_label)
        self.engine = engine

    def subscribe(self) -> Subscription:
        engine = self.engine
        subscription = engine.store.subscribe_stops()
        # Flags set while we were not listening are in the task hashes.
        for task_id in engine.watched_ids():
            if engine.store.is_stopping(task_id):
                engine.mark_stopping(task_id)
        engine.listener_alive.set()
        return subscription

    def on_message(self, channel: str, data: str) -> None:
        self.engine.mark_stopping(data)

    def reset(self) -> None:
        self.engine.listener_alive.clear()
        super().reset()


def start_task_threads(
    engine: TaskEngine, stop: threading.Event, threads: int, *, store_label: str
) -> list[threading.Thread]:
    """Start ``threads`` runners plus the heartbeat and the stop listener (none if 0).

    The heartbeat comes first in the list: at shutdown it is the one to wait for (it drains).
    """
    if threads <= 0:
        return []
    # Set before any runner claims, so the first claims already get the short lease.
    engine.heartbeat_alive.set()
    loops: list[Loop] = [
        HeartbeatLoop(engine, stop, threads, store_label=store_label),
        StopListenerLoop(engine, stop, store_label=store_label),
    ]
    loops.extend(
        TaskRunnerLoop(engine, stop, number, store_label=store_label)
        for number in range(1, threads + 1)
    )
    return [loop.start() for loop in loops]
