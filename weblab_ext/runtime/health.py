"""Health checks: is the lab fit to receive students? (store + the lab's hardware checks)

Runtime layer, no Flask. LabDiscoveryEngine asks a lab's health URL now and then and stops
sending students to a lab that answers ``success: false``; the answer must therefore come in
bounded time, whatever a check does. Each check runs in a thread of its own: the round of
background checks (:mod:`.health_monitor`) waits for all of them together at most ``timeout``
seconds, and a check still hanging from an earlier round is not started again (it fails as
"still running") so hung checks never pile up threads.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Sequence

from .callbacks import HealthCheck

logger = logging.getLogger("weblab_ext")


@dataclasses.dataclass(frozen=True)
class HealthReport:
    """The answer: ``success`` and a message saying what failed (or what was checked)."""

    success: bool
    message: str


class HealthChecker:
    """Runs named checks with a bounded wait (one per app; safe from many threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[str] = set()

    def run(self, checks: Sequence[tuple[str, HealthCheck]], *, timeout: float) -> HealthReport:
        """Run every check at once; wait for all of them ``timeout`` seconds at most.

        A check fails when it returns something false, raises (the server log gets the
        traceback; the report only the exception's class) or does not answer in time.
        """
        outcomes: dict[str, str | None] = {}
        started: list[tuple[str, threading.Thread]] = []
        for name, check in checks:
            with self._lock:
                if name in self._running:
                    outcomes[name] = "still running since an earlier round"
                    continue
                self._running.add(name)
            thread = threading.Thread(
                target=self._call,
                args=(name, check, outcomes),
                name=f"weblab-health-{name}",
                daemon=True,
            )
            thread.start()
            started.append((name, thread))
        deadline = time.monotonic() + timeout
        for name, thread in started:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                outcomes.setdefault(name, f"did not answer within {timeout:g} s")
        names = [name for name, _ in checks]
        failures = [f"{name}: {outcomes[name]}" for name in names if outcomes.get(name)]
        if failures:
            return HealthReport(False, "; ".join(failures))
        return HealthReport(True, "ok: " + ", ".join(names))

    def _call(self, name: str, check: HealthCheck, outcomes: dict[str, str | None]) -> None:
        try:
            outcome = None if check() else "returned false"
        except Exception as exc:
            logger.warning("Health check %s raised", name, exc_info=True)
            outcome = f"raised {type(exc).__name__}"
        finally:
            with self._lock:
                self._running.discard(name)
        # setdefault: a late answer never overwrites the "did not answer" already reported.
        outcomes.setdefault(name, outcome)
