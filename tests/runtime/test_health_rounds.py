"""Health rounds started by the health URL itself, where no background thread runs (tests,
``WEBLAB_NO_THREAD``, a web process without a worker): at most one round per interval across
every thread and process, whatever the request rate, and never a spurious failure.

Each test runs on a real Redis and on the embedded store (``store_url``), except the one with
two labs on one store (two processes), which needs a server both can reach.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support.lab import Lab, json_of, real_redis_only
from weblab_ext.runtime.health_monitor import HealthMonitor

CALLS = 50
PATH = "/weblab/health"


class Clock:
    """The lab's injected wall clock (stored results age without waiting)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def monitor(lab: Lab) -> HealthMonitor:
    assert lab.state.threads.health is not None
    return lab.state.threads.health


def probed_lab(make_lab: Callable[..., Lab], **config: Any) -> Lab:
    """A lab whose ``probe`` check counts its runs (``lab.runs``) and, while ``lab.gate`` is
    clear, hangs until it is set (``lab.delay``: seconds each run takes)."""
    config = {"WEBLAB_HEALTH_CHECK_INTERVAL": 10, "WEBLAB_HEALTH_CHECK_TIMEOUT": 5, **config}
    lab = make_lab(**config)
    lab.state.clock = lab.clock = Clock()  # type: ignore[attr-defined]
    lab.runs = []  # type: ignore[attr-defined]
    lab.gate = threading.Event()  # type: ignore[attr-defined]
    lab.gate.set()  # type: ignore[attr-defined]
    lab.delay = 0.0  # type: ignore[attr-defined]

    @lab.weblab.health_check
    def probe() -> bool:
        lab.runs.append(threading.get_ident())  # type: ignore[attr-defined]
        time.sleep(lab.delay)  # type: ignore[attr-defined]  # slow hardware
        return lab.gate.wait(10)  # type: ignore[attr-defined, no-any-return]

    return lab


def fire(labs: list[Lab], calls: int = CALLS, path: str = PATH) -> list[dict[str, Any]]:
    """``calls`` health calls at once, spread over ``labs``; their replies."""
    barrier = threading.Barrier(calls)

    def call(index: int) -> dict[str, Any]:
        client = labs[index % len(labs)].app.test_client()
        barrier.wait(10)
        reply = client.get(path)
        assert reply.status_code == 200
        return dict(json_of(reply))

    with ThreadPoolExecutor(calls) as pool:
        return list(pool.map(call, range(calls)))


def test_concurrent_first_calls_wait_for_one_round_and_agree(
    make_lab: Callable[..., Lab],
) -> None:
    lab = probed_lab(make_lab)
    lab.delay = 0.2  # type: ignore[attr-defined]
    replies = fire([lab])
    assert all(reply["success"] is True for reply in replies), replies
    assert {reply["message"] for reply in replies} == {"ok: store, probe"}
    assert len({reply["checked_at"] for reply in replies}) == 1
    assert monitor(lab).wait_for_round(10)
    assert len(lab.runs) == 1  # type: ignore[attr-defined]


def test_a_stale_result_starts_exactly_one_round_across_concurrent_calls(
    make_lab: Callable[..., Lab],
) -> None:
    lab = probed_lab(make_lab)
    monitor(lab).run_once(claim=False)
    old = json_of(lab.app.test_client().get(PATH))["checked_at"]
    lab.clock.now += 100  # type: ignore[attr-defined]  # older than 2 intervals + timeout
    replies = fire([lab])
    assert all(reply["success"] is True for reply in replies), replies
    assert monitor(lab).wait_for_round(10)
    assert len(lab.runs) == 2  # type: ignore[attr-defined]  # the first, and one kicked
    new = json_of(lab.app.test_client().get(PATH))["checked_at"]
    assert new == lab.clock.now  # type: ignore[attr-defined]
    assert {reply["checked_at"] for reply in replies} <= {old, new}
    # Fresh now: no call starts a round.
    fire([lab])
    assert monitor(lab).wait_for_round(10)
    assert len(lab.runs) == 2  # type: ignore[attr-defined]
    # Stale again within the same interval (the round's lock still held): still none.
    lab.clock.now += 100  # type: ignore[attr-defined]
    fire([lab])
    assert monitor(lab).wait_for_round(10)
    assert len(lab.runs) == 2  # type: ignore[attr-defined]


def test_a_hanging_check_never_makes_a_concurrent_caller_report_failure(
    make_lab: Callable[..., Lab],
) -> None:
    lab = probed_lab(make_lab)
    monitor(lab).run_once(claim=False)
    lab.gate.clear()  # type: ignore[attr-defined]  # the next run hangs until released
    lab.clock.now += 100  # type: ignore[attr-defined]
    replies = fire([lab])
    deadline = time.monotonic() + 10
    while len(lab.runs) < 2:  # type: ignore[attr-defined]  # the kicked round hangs in it
        assert time.monotonic() < deadline
        time.sleep(0.01)
    replies += fire([lab])  # while it hangs
    assert all(reply["success"] is True for reply in replies), replies
    assert not any("running" in reply["message"] for reply in replies)
    assert not monitor(lab).wait_for_round(0.05)  # still hanging
    lab.gate.set()  # type: ignore[attr-defined]
    assert monitor(lab).wait_for_round(10)
    report = json_of(lab.app.test_client().get(PATH))
    assert report["success"] is True and report["checked_at"] == lab.clock.now  # type: ignore[attr-defined]
    assert len(lab.runs) == 2  # type: ignore[attr-defined]


@real_redis_only
def test_two_processes_share_the_round_and_its_result(make_lab: Callable[..., Lab]) -> None:
    first = probed_lab(make_lab)
    second = probed_lab(make_lab, WEBLAB_REDIS_BASE=first.app.config["WEBLAB_REDIS_BASE"])
    first.gate.clear()  # type: ignore[attr-defined]
    assert monitor(first).kick()  # the first "process" runs the first round, hanging
    release = threading.Timer(0.3, first.gate.set)  # type: ignore[attr-defined]
    release.start()
    try:
        # The second has no result yet: it waits for the first's round, polling the store,
        # instead of running the checks a second time.
        report = json_of(second.app.test_client().get(PATH))
    finally:
        release.join()
    assert report["success"] is True and report["message"] == "ok: store, probe"
    assert monitor(first).wait_for_round(10)
    assert (len(first.runs), len(second.runs)) == (1, 0)  # type: ignore[attr-defined]
    assert monitor(second).run_once() == 0  # this interval's round is taken
    # The next interval (its lock gone), stale in both: one round between the two.
    first.state.client.delete(first.state.keys.health_round())
    for lab in (first, second):
        lab.clock.now += 100  # type: ignore[attr-defined]
    replies = fire([first, second])
    assert all(reply["success"] is True for reply in replies), replies
    for lab in (first, second):
        assert monitor(lab).wait_for_round(10)
    assert len(first.runs) + len(second.runs) == 2  # type: ignore[attr-defined]


def test_a_zero_interval_is_refused(make_lab: Callable[..., Lab]) -> None:
    from weblab_ext import InvalidConfigError

    with pytest.raises(InvalidConfigError, match="WEBLAB_HEALTH_CHECK_INTERVAL"):
        make_lab(WEBLAB_HEALTH_CHECK_INTERVAL=0)


def test_a_device_in_use_during_the_round_gets_one_first_check_when_idle(
    make_lab: Callable[..., Lab],
) -> None:
    from tests.support.devices import dispose_on, start_on

    lab = make_lab(WEBLAB_DEVICES=["board-1", "board-2"], WEBLAB_HEALTH_CHECK_INTERVAL=10)
    checked: list[str] = []

    @lab.weblab.health_check
    def board_ok(device: str) -> bool:
        checked.append(device)
        return True

    session_id = start_on(lab, "board-1").json["session_id"]
    assert json_of(lab.app.test_client().get("/devices/board-2/weblab/health"))["success"]
    assert monitor(lab).wait_for_round(10)
    assert checked == ["board-2"]  # board-1 was in use: not checked
    dispose_on(lab, "board-1", session_id)
    # Idle with no result, and this interval's round already ran: checked alone, once.
    replies = fire([lab], calls=20, path="/devices/board-1/weblab/health")
    assert all(reply["success"] is True for reply in replies), replies
    assert {reply["message"] for reply in replies} == {"ok: store, board_ok (board-1)"}
    assert checked == ["board-2", "board-1"]


def test_stored_results_and_locks_expire(make_lab: Callable[..., Lab]) -> None:
    lab = probed_lab(make_lab)
    assert monitor(lab).run_once() == 1
    client, keys = lab.state.client, lab.state.keys
    assert 86_000 < client.ttl(keys.health("")) <= 86_400  # a day after the last check
    assert 0 < client.pttl(keys.health_round()) <= 9_000  # 0.9 interval, marked done
    assert client.get(keys.health_round()) == "done"
