"""Session records at the edges: device pools and device states, a store that went away, a
hook queue that is full, the export's progress bar, and a Redis Cluster."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from tests.support.lab import AUTH, Lab, real_redis_only
from weblab_ext import requires_active, session_context
from weblab_ext.runtime.record_hooks import RecordHooks
from weblab_ext.testing.harness import LabUnderTest


def test_a_pool_session_names_its_device_and_device_states(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_DEVICES=["board-1", "board-2"])
    under_test = LabUnderTest(lab.app)
    sid = under_test.start(device="board-2").session_id
    journal = lab.state.journal
    # The hook the device states call on each change of the session's device.
    journal.device_state(sid, "board-2", "in-use")
    events = journal.timeline(sid)[0]
    assert events[0]["e"] == "start" and events[0]["device"] == "board-2"
    assert events[-1] == {
        "t": events[-1]["t"],
        "e": "device_state",
        "device": "board-2",
        "state": "in-use",
    }
    out = lab.app.test_cli_runner().invoke(args=["weblab", "export", "--device", "board-1"])
    assert out.exit_code == 0 and out.stdout == ""
    out = lab.app.test_cli_runner().invoke(args=["weblab", "export", "--device", "board-2"])
    assert '"device": "board-2"' in out.stdout


def test_a_store_that_went_away_never_fails_the_request(
    make_lab: Callable[..., Lab], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    lab = make_lab()
    weblab = lab.weblab

    @lab.app.route("/note")
    @requires_active
    def note() -> Any:
        return {"recorded": weblab.record("note", text="hello")}

    student = lab.browser(lab.start_raw())
    store = lab.state.journal.store

    def down(*args: Any, **kwargs: Any) -> bool:
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(store, "append", down)
    reply = student.get("/note")
    assert reply.status_code == 200 and reply.json == {"recorded": False}
    assert "Could not record a lab event: ConnectionError" in caplog.text
    assert "hello" not in caplog.text


def test_a_full_hook_queue_drops_for_the_hooks_only() -> None:
    gate = threading.Event()
    seen: list[str] = []

    def slow(session: str, event: dict[str, Any]) -> None:
        gate.wait(5)
        seen.append(event["e"])

    hooks = RecordHooks([slow], size=2)
    started = time.perf_counter()
    for index in range(10):
        hooks.put("s", f'{{"t": 1, "e": "e{index}"}}')
    assert time.perf_counter() - started < 0.5  # never waits for the hook
    gate.set()
    assert hooks.wait_idle(5)
    assert 2 <= len(seen) <= 3 and hooks.dropped == 10 - len(seen)


def test_export_shows_a_progress_bar_on_a_terminal(
    lab: Lab, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from weblab_ext.cli import records

    lab.dispose(lab.start_raw())
    monkeypatch.setattr(records, "_interactive", lambda: True)
    target = tmp_path / "out.jsonl"
    result = lab.app.test_cli_runner().invoke(args=["weblab", "export", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert "Exporting" in result.stderr and "Exported 1 sessions" in result.stderr
    assert target.read_text().count("\n") == 1
    monkeypatch.setattr(records, "_interactive", lambda: False)
    result = lab.app.test_cli_runner().invoke(args=["weblab", "export", "--output", str(target)])
    assert "Exporting" not in result.stderr


def test_a_task_session_records_from_the_task(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    weblab = lab.weblab

    @weblab.task()
    def fails() -> None:
        raise RuntimeError("broken sensor")

    sid = lab.start_raw()
    with lab.app.test_request_context(), session_context(sid):
        fails.delay()
    weblab.run_tasks()
    finished = [e for e in lab.state.journal.timeline(sid)[0] if e["e"] == "task_finished"]
    assert finished[0]["status"] == "failed" and finished[0]["task"] == "fails"
    assert "broken sensor" not in str(finished)


@pytest.mark.slow
@real_redis_only
def test_records_on_a_redis_cluster(
    make_lab: Callable[..., Lab], request: pytest.FixtureRequest
) -> None:
    cluster = request.getfixturevalue("redis_cluster")
    lab = make_lab(WEBLAB_REDIS_URL=str(cluster.url))
    sid = lab.start_raw()
    with lab.app.test_request_context(), session_context(sid):
        assert lab.weblab.record("note", n=1) is True
    assert lab.status(sid) > 0
    reply = lab.raw_rlms.post(
        "/weblab/sessions/status/multiple", headers=AUTH, json={"session_ids": [sid, "other"]}
    )
    assert reply.json["status"][sid] > 0
    lab.dispose(sid)
    assert lab.state.journal.calls(sid) == {"status": {"active": 2}, "dispose": {"done": 1}}
    out = lab.app.test_cli_runner().invoke(args=["weblab", "export", "--format", "xapi"])
    assert out.exit_code == 0, out.output
    assert '"terminated"' in out.stdout and "rlms-calls" in out.stdout


def test_export_on_the_embedded_store_says_so_on_stderr(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_REDIS_URL=None)
    assert lab.state.embedded_by_default
    result = lab.app.test_cli_runner().invoke(args=["weblab", "export"])
    assert result.exit_code == 0 and result.stdout == ""
    assert "embedded store" in result.stderr
