"""Durability: what survives ``kill -9`` of Redis, and ``flask weblab check`` saying so.

Real redis-server processes with and without AOF. A session counts as acknowledged once the
RLMS got its 200 reply, a task once ``delay()`` returned (and a result once ``join()`` saw it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.lab import Lab, real_redis_only
from tests.support.redis_server import AOF, SNAPSHOT_ONLY, RedisServer
from weblab_ext.context import session_context

pytestmark = [pytest.mark.slow, real_redis_only]

SESSIONS = 40
TASKS_PER_SESSION = 3


@pytest.fixture
def server_factory() -> Iterator[Callable[..., RedisServer]]:
    servers: list[RedisServer] = []

    def factory(persistence: tuple[str, ...]) -> RedisServer:
        server = RedisServer(persistence)
        servers.append(server)
        server.start()
        return server

    yield factory
    for server in servers:
        server.cleanup()


def _acknowledged_work(lab: Lab) -> tuple[dict[str, int], dict[str, str]]:
    """Start sessions and tasks (finished, and one still queued); return what was acked."""

    @lab.weblab.task
    def double(x: int) -> int:
        return 2 * x

    sessions: dict[str, int] = {}
    tasks: dict[str, str] = {}
    with lab.app.app_context():
        for number in range(SESSIONS):
            session_id = lab.start_raw()
            sessions[session_id] = number
            with session_context(session_id):
                for x in range(TASKS_PER_SESSION):
                    task = double.delay(x)
                    tasks[task.task_id] = "submitted"
        assert lab.state.tasks.run_tasks() == len(tasks)  # they ran: results acknowledged
        for task_id in tasks:
            tasks[task_id] = "done"
        with session_context(session_id):
            late = double.delay(21)  # acknowledged, still queued at the crash
            tasks[late.task_id] = "submitted"
    return sessions, tasks


def _lost(lab: Lab, sessions: dict[str, int], tasks: dict[str, str]) -> tuple[int, int]:
    lost_sessions = sum(1 for sid in sessions if lab.status(sid) != 5)
    with lab.app.app_context():
        engine = lab.state.tasks
        lost_tasks = 0
        for task_id, status in tasks.items():
            record = engine.load(task_id)
            if record is None or record.status != status:
                lost_tasks += 1
    return lost_sessions, lost_tasks


def _check_output(lab: Lab) -> Any:
    with lab.app.app_context():  # what `flask` does for every command
        result = lab.app.test_cli_runner().invoke(args=["weblab", "check"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("persistence", ["aof", "snapshot-only"])
def test_kill_9_of_redis(
    make_lab: Callable[..., Lab], server_factory: Callable[..., RedisServer], persistence: str
) -> None:
    server = server_factory(AOF if persistence == "aof" else SNAPSHOT_ONLY)
    lab = make_lab(WEBLAB_REDIS_URL=server.url, WEBLAB_REDIS_BASE=f"d-{uuid.uuid4().hex[:8]}")
    output = _check_output(lab)
    if persistence == "aof":
        assert "WARNING" not in output
        assert "Redis persists with AOF (appendfsync everysec)" in output
    else:
        assert "WARNING: Redis has AOF persistence off" in output
        assert "appendonly yes" in output and "appendfsync everysec" in output
    sessions, tasks = _acknowledged_work(lab)
    assert _lost(lab, sessions, tasks) == (0, 0)
    server.kill()  # a crash: right after the last acknowledgement
    server.start()  # same port and directory: Redis loads what it persisted
    lost_sessions, lost_tasks = _lost(lab, sessions, tasks)
    print(
        f"\n[fault] kill -9 of Redis ({persistence}): {lost_sessions} of {len(sessions)} "
        f"sessions and {lost_tasks} of {len(tasks)} acknowledged tasks lost"
    )
    if persistence == "aof":
        assert (lost_sessions, lost_tasks) == (0, 0)
        with lab.app.app_context():
            assert lab.state.tasks.run_tasks() == 1  # the queued one is still queued
    else:  # what the warning is about: everything since the last snapshot is gone
        assert lost_sessions == len(sessions) and lost_tasks == len(tasks)
