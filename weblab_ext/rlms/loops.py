"""The RLMS loops: status polling and dispose re-calls, with each profile's decisions.

WebLab-Deusto: status ``> 0`` → ask again after that many
seconds, ``0`` → never ask again, ``< 0`` → dispose; a failed status call is retried after
5 s, forever. Dispose is called again after ``ask_again`` (0.5 s) while the lab says it is not
finished, with no limit.

LabDiscoveryEngine: status ``0``/missing → ask again after 10 s, ``> 0`` → after
``min(value, 10)``, ``< 0`` → dispose; a failed status call is retried 3 times, 1 s apart,
then the error propagates. Dispose is called again after ``min(should_finish or 1, 30)`` s
while ``should_finish >= 0``, at most 60 calls, then it fails closed
(:class:`~weblab_ext.rlms.errors.DisposeNotFinished`).

Both loops wait through the client's injected ``sleep`` and are bounded by ``max_calls`` so a
test never spins forever; they run in the calling thread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

from .errors import DisposeNotFinished, RLMSError
from .profiles import RLMSProfile
from .replies import DisposeResult, StatusTrace, next_status_step


class LoopClient(Protocol):
    """What the loops use of a :class:`weblab_ext.rlms.RLMSClient` (a protocol: the client
    module imports this one, which therefore does not import it back, not even for types)."""

    profile: RLMSProfile
    sleep: Callable[[float], None]
    now: Callable[[], float]

    def status(self, session_id: str) -> float: ...

    def dispose(self, session_id: str) -> DisposeResult: ...


#: Dispose calls allowed when the profile sets no limit (WebLab-Deusto would go on forever).
DEFAULT_DISPOSE_MAX_CALLS = 1000


def dispose_until_finished(
    client: LoopClient, session_id: str, max_calls: int | None = None
) -> DisposeResult:
    """Call dispose until the profile considers the session finished.

    :param client: the client (its profile decides and its ``sleep`` waits).
    :param session_id: the lab session id.
    :param max_calls: bound on dispose calls; default the profile's limit (60 for LDE), else
        :data:`DEFAULT_DISPOSE_MAX_CALLS`.
    :returns: the last outcome, ``calls`` counting every call. With a profile that never
        gives up (WebLab-Deusto) hitting ``max_calls`` returns ``finished=False``.
    :raises DisposeNotFinished: a fail-closed profile (LDE) reached its limit unfinished.
    :raises RLMSError: LDE profiles, when a dispose call fails.

    .. code-block:: python

        outcome = client.dispose_until_finished(sid)
        assert outcome.finished and outcome.calls == 1
    """
    profile = client.profile
    limit = max_calls or profile.dispose_max_calls or DEFAULT_DISPOSE_MAX_CALLS
    calls = 0
    while True:
        calls += 1
        outcome = dataclasses.replace(client.dispose(session_id), calls=calls)
        if outcome.finished:
            return outcome
        if calls >= limit:
            break
        client.sleep(outcome.wait if outcome.wait is not None else profile.dispose_default_wait)
    if profile.dispose_max_calls is not None:
        raise DisposeNotFinished(session_id, calls, outcome.reply)
    return outcome


def run_status_loop(
    client: LoopClient,
    session_id: str,
    max_calls: int = 1000,
    on_value: Callable[[float], None] | None = None,
    deadline: float | None = None,
) -> StatusTrace:
    """Poll status as the profile does until it stops, disposes, or ``max_calls`` is reached.

    The first call is made at once (the RLMS asks right after the start is confirmed).

    :param client: the client (its profile decides, its ``sleep`` waits, its ``now`` is
        compared with ``deadline``).
    :param session_id: the lab session id.
    :param max_calls: bound on status calls, failed ones included.
    :param on_value: called with every value seen (e.g. to change a stub lab's script).
    :param deadline: epoch of the slot end; reaching it disposes, as both RLMSs do at slot end.
    :returns: the values seen, with ``reason``, ``dispose``, ``errors`` and ``sleeps``.
    :raises RLMSError: LDE profiles, when status fails more than the retries allow; or what
        the dispose loop raises.

    .. code-block:: python

        trace = client.run_status_loop(sid)
        trace == [5.0, 5.0, -1.0] and trace.reason == "dispose" and trace.dispose.finished
    """
    profile = client.profile
    trace = StatusTrace()
    failures = 0
    pending: float | None = None
    for _ in range(max_calls):
        if pending is not None:
            trace.sleeps.append(pending)
            client.sleep(pending)
        if deadline is not None and client.now() >= deadline:
            trace.reason = "deadline"
            trace.dispose = dispose_until_finished(client, session_id)
            return trace
        try:
            value = client.status(session_id)
        except RLMSError as error:
            trace.errors.append(error)
            failures += 1
            if profile.status_error_retries is not None and failures > profile.status_error_retries:
                raise
            pending = profile.status_error_delay
            continue
        failures = 0
        trace.append(value)
        if on_value is not None:
            on_value(value)
        step = next_status_step(profile, value)
        if step.action == "stop":
            trace.reason = "stop"
            return trace
        if step.action == "dispose":
            trace.reason = "dispose"
            trace.dispose = dispose_until_finished(client, session_id)
            return trace
        pending = step.seconds
    trace.reason = "max_calls"
    return trace


__all__ = ["DEFAULT_DISPOSE_MAX_CALLS", "dispose_until_finished", "run_status_loop"]
