"""``flask weblab check|status|clean-expired-users|run-tasks|loop``: output that tells the truth,
on the embedded store and on Redis."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.admin import sessions_in_each_state
from tests.support.lab import Lab
from tests.support.redis_server import NO_PERSISTENCE, RedisServer
from weblab_ext import session_context
from weblab_ext.runtime.lifecycle_log import session_id_hash

HOW_TO_SET = (
    'app.config["WEBLAB_REDIS_URL"] = "redis://localhost:6379/0"',
    "FLASK_WEBLAB_REDIS_URL=redis://localhost:6379/0",
    "app.config.from_prefixed_env()",
)


def cli(lab: Lab, *args: str) -> Any:
    return lab.app.test_cli_runner().invoke(args=list(args), prog_name="flask")


@pytest.fixture
def embedded_lab(make_lab: Callable[..., Lab]) -> Lab:
    """A lab with WEBLAB_REDIS_URL unset, as a newcomer runs it (tests using it pick one
    ``store_url`` run: the URL is replaced anyway)."""
    return make_lab(WEBLAB_REDIS_URL=None)


# -- check ------------------------------------------------------------------------------------


@pytest.mark.parametrize("store_url", ["embedded"], indirect=True)
def test_check_works_on_the_embedded_store(embedded_lab: Lab) -> None:
    result = cli(embedded_lab, "weblab", "check")
    assert result.exit_code == 0, result.output
    assert "ok: Store reachable (the embedded store of this process)." in result.output
    assert "ok: WEBLAB_REDIS_URL is not set" in result.output
    for advice in HOW_TO_SET:
        assert advice in result.output
    assert result.output.splitlines()[-1] == "Everything looks fine."


@pytest.mark.parametrize("store_url", ["redis"], indirect=True)
def test_check_names_the_redis_version(
    make_lab: Callable[..., Lab], redis_server: RedisServer
) -> None:
    lab = make_lab(WEBLAB_REDIS_URL=redis_server.url)
    result = cli(lab, "weblab", "check")
    assert result.exit_code == 0, result.output
    assert f"ok: Store reachable at {redis_server.url} (Redis 7." in result.output


@pytest.mark.parametrize("store_url", ["redis"], indirect=True)
def test_check_reports_an_unreachable_store_without_its_password(
    make_lab: Callable[..., Lab],
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    lab = make_lab(WEBLAB_REDIS_URL=f"redis://:s3cret@127.0.0.1:{port}/0")
    result = cli(lab, "weblab", "check")
    assert result.exit_code == 1
    assert f"PROBLEM: Cannot reach the store at redis://:***@127.0.0.1:{port}/0" in result.output
    assert "s3cret" not in result.output


# -- status -----------------------------------------------------------------------------------


def test_status_shows_sessions_tasks_and_live_workers(lab: Lab) -> None:
    @lab.weblab.task
    def measure() -> int:
        return 1

    first, second = lab.start_raw(), lab.start_raw()
    with lab.app.app_context(), session_context(first):
        queued, claimed = measure.delay(), measure.delay()
    engine = lab.state.tasks
    engine.heartbeat_tick(threads=3)  # this process now beats as a worker with 3 threads
    engine.store.pop_from_queue(engine.worker_id)  # the oldest one is taken and claimed
    record = engine.store.claim(
        queued.task_id, engine.worker_id, now=engine.clock(), lease=60, ttl=600, duplicate_error={}
    )
    assert record is not None and claimed.status == "submitted"

    result = cli(lab, "weblab", "status")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Sessions: 2 active, 0 exited, 0 disposing"
    assert lines[1].split() == ["session", "user", "state", "time", "left", "last", "poll"]
    rows = [line.split() for line in lines[3:5]]
    assert sorted(row[0] for row in rows) == sorted(
        session_id_hash(s)[:10] for s in (first, second)
    )
    assert all(row[1:3] == ["john.smith", "active"] for row in rows)
    assert "Tasks: 1 queued, 1 running" in lines
    assert "Live workers: 1" in lines
    worker = lines[-1].split()
    assert worker[1:4] == [os.uname().nodename, str(os.getpid()), "3"]
    for secret in (first, second, queued.task_id):
        assert secret not in result.output


def test_status_counts_sessions_by_state(lab: Lab) -> None:
    """Sessions being disposed or logged out are not counted as active; the three counts add
    up to the ``weblab_sessions_active`` gauge (every session not disposed yet)."""
    sessions_in_each_state(lab)
    result = cli(lab, "weblab", "status")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Sessions: 2 active, 1 exited, 1 disposing"
    states = sorted(line.split()[2] for line in lines[3:7])
    assert states == ["active", "active", "disposing", "exited"]
    reading = lab.state.monitoring.read(now=lab.state.clock(), timeout=0)
    assert reading.sessions_active == 4
    result = cli(lab, "weblab", "status", "--limit", "3")
    assert result.output.splitlines()[0] == (
        "Sessions: 2 active, 1 exited, 1 disposing (the first 3 listed)"
    )


@pytest.mark.parametrize("store_url", ["embedded"], indirect=True)
def test_status_on_the_embedded_store_says_what_it_sees(embedded_lab: Lab) -> None:
    result = cli(embedded_lab, "weblab", "status")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Note: this lab uses the embedded store")
    assert "Sessions: 0 active, 0 exited, 0 disposing" in result.output
    assert "Tasks: 0 queued, 0 running" in result.output
    assert "Live workers: 0" in result.output


# -- clean-expired-users ----------------------------------------------------------------------


@pytest.mark.parametrize("store_url", ["redis"], indirect=True)  # a store shared by processes
def test_clean_expired_users_over_many_sessions_shows_progress(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = [lab.start_raw() for _ in range(250)]  # more than one cleaner pass takes
    lab.state.clock = lambda: 4_000_000_000.0  # every slot is over
    monkeypatch.setattr("click._termui_impl.isatty", lambda stream: True)  # a terminal
    result = cli(lab, "weblab", "clean-expired-users")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Sessions that are over: 250\n")
    assert "\rDisposing  [------" in result.output and "0/250" in result.output
    assert "Disposing  [#####" in result.output and "250/250" in result.output
    assert result.output.splitlines()[-1] == "Disposed 250 session(s)."
    assert sorted(lab.disposed) == sorted(sessions)
    result = cli(lab, "weblab", "clean-expired-users")
    assert result.output == "No session is over.\n"


@pytest.mark.parametrize("store_url", ["embedded"], indirect=True)
@pytest.mark.parametrize(
    "command", [("weblab", "clean-expired-users"), ("clean_expired_users",), ("weblab", "loop")]
)
def test_refusals_name_the_command_typed(embedded_lab: Lab, command: tuple[str, ...]) -> None:
    result = cli(embedded_lab, *command)
    assert result.exit_code == 1
    assert f"`flask {' '.join(command)}` needs a store shared" in result.output
    for advice in HOW_TO_SET:
        assert advice in result.output


# -- run-tasks and loop -----------------------------------------------------------------------


def test_run_tasks_prints_what_it_ran(lab: Lab) -> None:
    @lab.weblab.task
    def triple(x: int) -> int:
        return 3 * x

    @lab.weblab.task
    def broken() -> None:
        raise ZeroDivisionError("no")

    assert cli(lab, "weblab", "run-tasks").output == "No task was queued.\n"
    with lab.app.app_context(), session_context(lab.start_raw()):
        ok, failing = triple.delay(2), broken.delay()
    result = cli(lab, "weblab", "run-tasks")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Ran 2 task(s):"
    assert lines[1].startswith(f"  triple [{ok.task_id[:8]}]: done in ")
    assert lines[2].startswith(f"  broken [{failing.task_id[:8]}]: failed (ZeroDivisionError) in ")


@pytest.mark.parametrize("store_url", ["redis"], indirect=True)
def test_loop_logs_each_task_at_info(
    make_lab: Callable[..., Lab], redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    lab = make_lab(WEBLAB_REDIS_URL=redis_server.url)
    release = threading.Event()

    @lab.weblab.task
    def slow() -> str:
        release.wait(5)
        return "ok"

    with lab.app.app_context(), session_context(lab.start_raw()):
        task = slow.delay()
    caplog.set_level(logging.INFO, logger="weblab_ext")
    threading.Timer(0.3, release.set).start()
    result = cli(lab, "weblab", "loop", "--threads", "1", "--max-seconds", "1.5")
    assert result.exit_code == 0, result.output
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert f"Task slow ({task.task_id}) started" in lines
    done = [line for line in lines if line.startswith(f"Task slow ({task.task_id}) done in ")]
    assert len(done) == 1
    assert 0.2 <= float(done[0].rsplit(" in ", 1)[1].split()[0]) < 5


# -- the embedded-store note is not printed by every command ----------------------------------

QUIET_LAB = """
import secrets
from flask import Flask
from weblab_ext import WebLab

app = Flask("quiet")
# Secrets strong enough not to be warned about, and published nowhere.
app.config.update(SECRET_KEY=secrets.token_hex(16), WEBLAB_USERNAME="u",
                  WEBLAB_PASSWORD=secrets.token_hex(16))
weblab = WebLab(app)

@weblab.initial_url
def initial_url():
    return "/"
"""


@pytest.mark.slow
def test_no_command_prints_the_embedded_store_warning(tmp_path: Path) -> None:
    (tmp_path / "quiet_lab.py").write_text(QUIET_LAB)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    for args in (
        ["--help"],
        ["weblab", "--help"],
        ["weblab", "fake", "--help"],
        ["--debug", "weblab", "check"],  # outside debug mode the embedded store is a problem
        ["weblab", "run-tasks"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "quiet_lab", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr == "", (args, done.stderr)


@pytest.fixture
def no_config_server() -> Iterator[RedisServer]:
    """A Redis that refuses CONFIG, as managed services do; INFO still answers."""
    server = RedisServer((*NO_PERSISTENCE, "--rename-command", "CONFIG", ""))
    server.start()
    yield server
    server.cleanup()


def test_check_warns_about_aof_on_a_server_refusing_config(
    make_lab: Callable[..., Lab],
    no_config_server: RedisServer,
) -> None:
    lab = make_lab(WEBLAB_REDIS_URL=no_config_server.url)
    with lab.app.app_context():  # what `flask` does for every command
        result = lab.app.test_cli_runner().invoke(args=["weblab", "check"])
    assert result.exit_code == 0, result.output
    assert "ok: Store reachable at redis://127.0.0.1:" in result.output
    assert "WARNING: Redis has AOF persistence off (appendonly no)" in result.output
