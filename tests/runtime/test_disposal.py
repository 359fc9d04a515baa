"""Disposal: bounded wait, idempotence, and on_dispose exactly once across threads and processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from tests.support.disposal import blocking_on_dispose
from tests.support.lab import AUTH, Lab, json_of, real_redis_only
from tests.support.paths import REPO
from weblab_ext.runtime.disposal import DisposeOutcome
from weblab_ext.runtime.users import ExpiredUser


def test_bounded_wait_then_deleted(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_DISPOSE_WAIT=0.2, WEBLAB_DISPOSE_ASK_AGAIN=1.5)
    entered, release, calls = blocking_on_dispose(lab)
    session_id = lab.start_raw()
    started = time.monotonic()
    reply = lab.dispose(session_id)
    assert time.monotonic() - started < 2
    assert entered.is_set()
    assert reply["finished"] is False
    assert reply["ask_again"] == 1.5
    assert reply["should_finish"] >= 1
    assert "data" not in reply  # WebLab-Deusto would read it as "finished"
    # Asking again while still running: still pending, on_dispose not run again.
    again = lab.dispose(session_id)
    assert again["finished"] is False
    assert "data" not in again
    release.set()
    assert lab.state.service.disposer.wait_idle(5)
    final = lab.dispose(session_id)
    assert final["message"] == "Deleted"
    assert final.get("finished", True) is True
    assert calls == [session_id]


def test_dispose_wait_zero_answers_at_once(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_DISPOSE_WAIT=0)
    _entered, release, calls = blocking_on_dispose(lab)
    session_id = lab.start_raw()
    assert lab.dispose(session_id)["finished"] is False
    release.set()
    assert lab.state.service.disposer.wait_idle(5)
    assert lab.dispose(session_id)["message"] == "Deleted"
    assert calls == [session_id]


def test_on_dispose_sees_the_user_and_can_store_data(lab: Lab) -> None:
    seen: dict[str, Any] = {}

    def on_dispose() -> None:
        from weblab_ext import weblab_user

        seen["sid"] = weblab_user.session_id
        seen["username"] = weblab_user.username
        weblab_user.data["final"] = "saved"

    lab.weblab.callbacks.on_dispose = on_dispose
    session_id = lab.start_raw()
    assert lab.dispose(session_id)["message"] == "Deleted"
    assert seen == {"sid": session_id, "username": "john.smith"}
    with lab.app.app_context():
        user = lab.state.service.load_user(session_id, poll=False)
    assert type(user).__name__ == "ExpiredUser"
    assert dict(cast(ExpiredUser, user).data) == {"final": "saved"}


def test_dispose_from_eight_threads_runs_on_dispose_once(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_DISPOSE_WAIT=5)
    calls: list[str] = []
    lock = threading.Lock()

    def on_dispose() -> None:
        from weblab_ext import weblab_user

        time.sleep(0.05)  # widen the race window
        with lock:
            calls.append(weblab_user.session_id)

    lab.weblab.callbacks.on_dispose = on_dispose
    session_ids = [lab.start_raw() for _ in range(3)]
    barrier = threading.Barrier(8)
    replies: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            client = lab.app.test_client()
            barrier.wait(5)
            for session_id in session_ids:
                if index % 2 == 0:
                    reply = client.post(
                        f"/weblab/sessions/{session_id}", json={"action": "delete"}, headers=AUTH
                    )
                    with lock:
                        replies.append(json_of(reply))
                else:
                    with lab.app.app_context():
                        lab.weblab.clean_expired_users()
                        lab.state.service.dispose(session_id, wait=5)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not errors
    assert sorted(calls) == sorted(session_ids)
    assert all(reply["message"] == "Deleted" for reply in replies)
    for session_id in session_ids:
        assert lab.status(session_id) == -1


def test_disposer_outcomes(lab: Lab) -> None:
    session_id = lab.start_raw()
    with lab.app.app_context():
        assert lab.state.service.dispose("unknown", wait=1) is DisposeOutcome.NOT_FOUND
        assert lab.state.service.dispose(session_id, wait=1) is DisposeOutcome.DONE
        assert lab.state.service.dispose(session_id, wait=1) is DisposeOutcome.DONE
    assert lab.disposed == [session_id]


def test_dispose_of_logged_out_session(lab: Lab) -> None:
    session_id = lab.start_raw()
    student = lab.browser(session_id)
    student.get(f"/callback/{session_id}/logout")
    assert lab.disposed == []  # logout only marks
    assert lab.dispose(session_id)["message"] == "Deleted"
    assert lab.disposed == [session_id]


def test_stale_disposing_record_is_finished(lab: Lab) -> None:
    """A disposer killed mid-clean-up does not leave the session 'disposing' for an hour."""
    session_id = lab.start_raw()
    key = lab.state.keys.session(session_id)
    lab.state.client.hset(
        key, mapping={"state": "disposing", "disposing_since": repr(time.time() - 10_000)}
    )
    assert lab.status(session_id) == 2
    assert lab.dispose(session_id)["message"] == "Deleted"
    assert lab.status(session_id) == -1


# -- several processes ------------------------------------------------------------------------

_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import redis
    from flask import Flask
    from weblab_ext import WebLab

    url, base, counter, go_at, mode = sys.argv[1:6]
    session_ids = sys.argv[6:]
    app = Flask("lab")
    app.config.update(SECRET_KEY="s", SERVER_NAME="localhost:5000", WEBLAB_USERNAME="u",
                      WEBLAB_PASSWORD="p", WEBLAB_REDIS_URL=url, WEBLAB_REDIS_BASE=base,
                      WEBLAB_NO_THREAD=True, WEBLAB_LOG_SESSION_LIFECYCLE=False,
                      WEBLAB_DISPOSE_WAIT=10, WEBLAB_TIMEOUT=1000)
    weblab = WebLab(app)
    counts = redis.Redis.from_url(url)

    @weblab.on_dispose
    def on_dispose():
        from weblab_ext import weblab_user
        counts.incr(counter + ":" + weblab_user.session_id)
        time.sleep(0.1)

    client = app.test_client()
    with app.app_context():
        weblab.clean_expired_users()  # warm up the scripts before the race
    while time.time() < float(go_at):
        time.sleep(0.001)
    for sid in session_ids:
        if mode == "http":
            reply = client.post("/weblab/sessions/" + sid, json={"action": "delete"},
                                auth=("u", "p"))
            assert reply.json["message"] == "Deleted", reply.json
        else:
            with app.app_context():
                weblab.clean_expired_users()
                weblab.state().service.dispose(sid, wait=10)
    """
)


@pytest.mark.slow
@real_redis_only
def test_dispose_from_several_processes_runs_on_dispose_once(
    redis_server: Any, make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(WEBLAB_REDIS_URL=redis_server.url, WEBLAB_TIMEOUT=1000)
    base = lab.app.config["WEBLAB_REDIS_BASE"]
    session_ids = [lab.start_raw() for _ in range(3)]
    # One session is due for the cleaner, so the clean_expired_users path races too.
    lab.raw_rlms.get(f"/callback/{session_ids[0]}")
    client = lab.app.test_client()
    client.get(f"/callback/{session_ids[0]}")
    client.get(f"/callback/{session_ids[0]}/logout")
    script = tmp_path / "dispose_race.py"
    script.write_text(_SCRIPT)
    counter = f"{base}-on-dispose"
    go_at = time.time() + 2.0
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                redis_server.url,
                base,
                counter,
                repr(go_at),
                "http" if i % 2 else "direct",
                *session_ids,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    for process in processes:
        _out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err.decode()
    counts = redis.Redis.from_url(redis_server.url, decode_responses=True)
    per_session = {sid: counts.get(f"{counter}:{sid}") for sid in session_ids}
    assert per_session == dict.fromkeys(session_ids, "1")
    assert lab.disposed == []  # the parent never disposed anything itself
    for session_id in session_ids:
        assert lab.status(session_id) == -1
