"""Worker threads: task runners blocking on the queue, the heartbeat, the stop listener.

Runtime layer. Each thread is a small runnable with a stop ``Event``: sleeps are
``event.wait()``, errors go to the log with exponential backoff (never a hot loop), and a lost
Redis connection is retried until the server is back.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import redis

if TYPE_CHECKING:
    from ..state import LabState
    from .runtime import TaskRuntime

logger = logging.getLogger("weblab_ext")

MAX_BACKOFF = 5.0


def backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive errors: 0.1, 0.2, 0.4 … 5."""
    return float(min(MAX_BACKOFF, 0.1 * 2 ** max(failures - 1, 0)))


class TaskRunnerThread(threading.Thread):
    """Blocks on the task queue and runs what it receives, one task at a time."""

    def __init__(self, runtime: TaskRuntime, stop: threading.Event, number: int) -> None:
        super().__init__(name=f"weblab-task-runner-{number}", daemon=True)
        self.runtime = runtime
        self.stop = stop

    def run(self) -> None:
        failures = 0
        pending: str | None = None  # taken from the queue, claim not attempted yet
        while not self.stop.is_set():
            try:
                if pending is None:
                    pending = self.runtime.store.next_from_queue(self.runtime.worker_id,
                                                                 self.runtime.queue_block)
                if pending is not None:
                    self.runtime.execute(pending)
                    pending = None
                failures = 0
            except redis.ConnectionError:
                failures += 1
                logger.warning("Task runner cannot reach the store (attempt %d)", failures)
                self.stop.wait(backoff(failures))
            except Exception:
                failures += 1
                pending = None
                logger.exception("Task runner failed")
                self.stop.wait(backoff(failures))


class HeartbeatThread(threading.Thread):
    """Renews this process's leases every half heartbeat interval and reaps lapsed ones.

    When stopped it drains: running tasks are asked to stop and get a grace period.
    """

    def __init__(self, runtime: TaskRuntime, stop: threading.Event, threads: int) -> None:
        super().__init__(name="weblab-task-heartbeat", daemon=True)
        self.runtime = runtime
        self.stop = stop
        self.threads = threads

    def run(self) -> None:
        runtime = self.runtime
        runtime.heartbeat_alive.set()
        failures = 0
        try:
            while not self.stop.is_set():
                try:
                    runtime.heartbeat_tick(threads=self.threads)
                    failures = 0
                    pause = runtime.heartbeat_interval / 2
                except redis.ConnectionError:
                    failures += 1
                    logger.warning("Heartbeat cannot reach the store (attempt %d)", failures)
                    pause = min(backoff(failures), runtime.heartbeat_interval / 2)
                except Exception:
                    failures += 1
                    logger.exception("Heartbeat failed")
                    pause = backoff(failures)
                self.stop.wait(pause)
            runtime.drain(runtime.shutdown_grace)
        finally:
            runtime.heartbeat_alive.clear()


class StopListenerThread(threading.Thread):
    """Keeps the runtime's set of stopping tasks current from the stop channel."""

    def __init__(self, runtime: TaskRuntime, stop: threading.Event) -> None:
        super().__init__(name="weblab-task-stops", daemon=True)
        self.runtime = runtime
        self.stop = stop

    def run(self) -> None:
        runtime = self.runtime
        failures = 0
        while not self.stop.is_set():
            pubsub = runtime.store.client.pubsub(  # type: ignore[no-untyped-call]
                ignore_subscribe_messages=True
            )
            try:
                pubsub.subscribe(runtime.state.keys.task_stops())
                # Flags set while we were not listening are in the task hashes.
                for task_id in runtime.watched_ids():
                    if runtime.store.is_stopping(task_id):
                        runtime.mark_stopping(task_id)
                runtime.listener_alive.set()
                failures = 0
                while not self.stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None and message.get("type") == "message":
                        runtime.mark_stopping(str(message["data"]))
            except redis.ConnectionError:
                runtime.listener_alive.clear()
                failures += 1
                logger.warning("Stop listener cannot reach the store (attempt %d)", failures)
                self.stop.wait(backoff(failures))
            except Exception:
                runtime.listener_alive.clear()
                failures += 1
                logger.exception("Stop listener failed")
                self.stop.wait(backoff(failures))
            finally:
                try:
                    pubsub.close()
                except Exception:
                    logger.debug("Closing the stop listener failed", exc_info=True)
        runtime.listener_alive.clear()


def start_task_threads(runtime: TaskRuntime, stop: threading.Event,
                       threads: int) -> list[threading.Thread]:
    """Start ``threads`` runners plus the heartbeat and the stop listener (none if 0)."""
    if threads <= 0:
        return []
    # Set before any runner claims, so the first claims already get the short lease.
    runtime.heartbeat_alive.set()
    started: list[threading.Thread] = [HeartbeatThread(runtime, stop, threads),
                                       StopListenerThread(runtime, stop)]
    started.extend(TaskRunnerThread(runtime, stop, n) for n in range(1, threads + 1))
    for thread in started:
        thread.start()
    return started


def thread_starter(state: LabState, stop: threading.Event) -> list[threading.Thread]:
    """``LabState.thread_starters`` entry: ``WEBLAB_TASK_THREADS_PROCESS`` runners."""
    return start_task_threads(state.tasks, stop, state.settings.task_threads_process)
