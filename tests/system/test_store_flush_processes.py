"""The store flushed under a running session, across processes: a gunicorn web process and a
``flask weblab loop`` worker share a real Redis; a student holds board-1 with a task running
in the worker; the Redis is flushed (FLUSHALL) under them.

What must hold: board-1 is never offered as idle before a reset ran (no record is not idle),
the old student's requests no longer pass as active, the worker keeps running and recovers
(its running task is told to stop, new tasks run), and ``GET {base}/weblab/devices`` and
``flask weblab devices`` tell the operator what they know.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.fault_lab import Browser, FaultLab
from tests.support.redis_server import RedisServer
from tests.support.socketio_processes import wait_until
from weblab_ext.rlms import RLMSError

pytestmark = pytest.mark.slow

BOARDS = ["board-1", "board-2"]
#: The web process answers requests only: tasks and the cleaner run in the worker.
WEB_ONLY = {"WEBLAB_TASK_THREADS_PROCESS": "0", "WEBLAB_AUTOCLEAN_THREAD": "false"}


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own: it is flushed, which the suite's shared one must not be."""
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


def _row(lab: FaultLab, device: str = "board-1") -> dict[str, Any]:
    status, reply = lab.get("/weblab/devices", auth=True)
    assert status == 200, status
    return dict(next(row for row in reply["devices"] if row["name"] == device))


def _listed(lab: FaultLab, device: str = "board-1") -> str:
    """The line of ``flask weblab devices`` (an operator's terminal) about ``device``."""
    listing = lab.flask("weblab", "devices")
    assert listing.returncode == 0, listing.stdout + listing.stderr
    [line] = [row for row in listing.stdout.splitlines() if row.startswith(device)]
    return line


def _idle_only_after_a_reset(lab: FaultLab, flushed_at: float) -> bool:
    """Board-1 as the operator's list shows it: not idle, or idle after a reset that ran
    after the flush (no record is not idle). Returns whether it is idle."""
    row = _row(lab)
    assert row["session"] is None, row  # the session it held is gone with the store
    if row["state"] != "idle":
        assert row["state"] in ("unknown", "cleaning", "broken"), row
        assert row["cleanup_finished"] is False, row
        return False
    assert lab.evidence("reset", "board-1", after=flushed_at), (row, lab.evidence_lines())
    assert row["cleanup_finished"] is True, row
    return True


@pytest.mark.parametrize("resetter", ["cleaner", "operator"])
def test_a_flushed_store_under_a_running_session(
    own_redis: RedisServer, tmp_path: Path, resetter: str
) -> None:
    """``cleaner``: the worker's cleaner (every 0.2 s) resets board-1 once it may;
    ``operator``: the cleaner runs hourly, so the operator resets it from a terminal."""
    lab = FaultLab(
        tmp_path,
        own_redis.url,
        BOARDS,
        web=WEB_ONLY,
        config={
            "WEBLAB_HEARTBEAT_INTERVAL": "0.2",
            "WEBLAB_CLEANER_INTERVAL": "0.2" if resetter == "cleaner" else "3600",
        },
    )
    store = redis.Redis.from_url(own_redis.url, decode_responses=True)
    try:
        lab.start()
        worker = lab.workers.start("--threads", "2")
        wait_until(lambda: len(lab.evidence("reset")) == 2, 20, "the boards were never reset")
        rlms = lab.rlms("board-1")
        ana_session = rlms.start(username="ana", slot_length=600)
        ana = Browser(ana_session.url)
        assert ana.open("/drive", "POST")[0] == 200
        wait_until(lambda: lab.evidence("task-start", "board-1"), 20, "ana's task never ran")
        assert lab.evidence("task-start", "board-1")[0][1] == worker.pid
        assert _row(lab)["state"] == "in-use"

        flushed_at = time.time()
        store.flushall()  # the store loses everything under the running session

        # The old student's requests no longer pass as active; the RLMS hears it is over.
        status, body = ana.open("/lab")
        assert status != 200 and "lab of ana" not in body, (status, body)
        assert rlms.status(ana_session.session_id) == -1
        # The worker's next beat finds the task gone: it holds board-1, then tells the task
        # to stop. Until the task ended, board-1 is never idle without a reset after it.
        while not lab.evidence("task-stopped", "board-1", after=flushed_at):
            _idle_only_after_a_reset(lab, flushed_at)
            assert time.time() < flushed_at + 10, f"never stopped: {lab.evidence_lines()}"
        [(stopped_at, _)] = lab.evidence("task-stopped", "board-1", after=flushed_at)

        if resetter == "cleaner":
            wait_until(lambda: _idle_only_after_a_reset(lab, flushed_at), 10, "never reset")
            resets = lab.evidence("reset", "board-1", after=stopped_at)
            assert [pid for _, pid in resets] == [worker.pid], lab.evidence_lines()
        else:
            # Its clean-up never ran: broken, and the next student is refused until a reset.
            wait_until(lambda: _row(lab)["state"] == "broken", 10, "board-1 not broken")
            assert "reset needed" in _row(lab)["reason"]
            line = _listed(lab)
            assert line.split()[:2] == ["board-1", "broken"] and "NOT finished" in line, line
            with pytest.raises(RLMSError, match="409"):
                rlms.start(username="bob")
            assert not lab.evidence("start", "board-1", after=flushed_at)
            reset = lab.flask("weblab", "devices", "reset", "board-1")
            assert reset.returncode == 0, reset.stdout + reset.stderr
            resets = lab.evidence("reset", "board-1", after=stopped_at)
            assert [pid for _, pid in resets] not in ([worker.pid], []), lab.evidence_lines()
            assert _idle_only_after_a_reset(lab, flushed_at)
            # Board-2 had no task: the next start there finds no record and resets it first.
            carl = lab.rlms("board-2").start(username="carl")
            after = [line[2:4] for line in lab.evidence_lines() if float(line[0]) > flushed_at]
            assert [w for w in after if w[1] == "board-2"] == [
                ["reset", "board-2"],
                ["start", "board-2"],
            ], after
            assert Browser(carl.url).open("/lab") == (200, "lab of carl on board-2")

        # The next student on board-1: started only after the reset that followed the task.
        bob_session = rlms.start(username="bob", slot_length=600)
        [(started_at, _)] = lab.evidence("start", "board-1", "bob")
        assert stopped_at < max(at for at, _ in resets) < started_at
        assert _row(lab)["state"] == "in-use"

        # The worker kept running and recovered: registered again, it runs bob's task.
        assert worker.poll() is None
        wait_until(lambda: store.zcard(lab.workers.workers_key) >= 1, 10, "not registered")
        bob = Browser(bob_session.url)
        assert bob.open("/lab") == (200, "lab of bob on board-1")
        assert bob.open("/drive", "POST")[0] == 200
        wait_until(
            lambda: lab.evidence("task-start", "board-1", after=started_at),
            20,
            "bob's task never ran",
        )
        assert lab.evidence("task-start", "board-1", after=started_at)[0][1] == worker.pid
        # Hand-over as usual: bob's task stops and on_dispose runs before board-1 is idle.
        assert rlms.dispose_until_finished(bob_session.session_id).finished
        assert lab.evidence("dispose", "board-1", "bob")
        assert lab.evidence("task-stopped", "board-1", after=started_at)
        row = _row(lab)
        assert (row["state"], row["cleanup_finished"]) == ("idle", True), row
        line = _listed(lab)
        assert line.split()[:2] == ["board-1", "idle"] and "NOT" not in line, line
        assert worker.poll() is None
    finally:
        store.close()
        lab.stop()
