"""``@weblab.task(record_arguments=True)``: the arguments in the record's ``task_submitted``
event (and in every export format); arguments that cannot be recorded never fail the task."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Callable
from typing import Any

import pytest

from tests.cli.test_export import check_statement
from tests.support.lab import Lab
from weblab_ext import session_context


@pytest.fixture
def tasks_lab(make_lab: Callable[..., Lab]) -> Lab:
    lab = make_lab()
    weblab = lab.weblab

    @weblab.task(record_arguments=True)
    def measure(points: Any, unit: str = "mV") -> Any:
        return points

    @weblab.task()
    def secret(pin: str) -> str:
        return "ok"

    lab.tasks = {"measure": measure, "secret": secret}  # type: ignore[attr-defined]
    return lab


def submitted(lab: Lab, sid: str) -> list[dict[str, Any]]:
    return [e for e in lab.state.journal.timeline(sid)[0] if e["e"] == "task_submitted"]


def delay(lab: Lab, sid: str, name: str, *args: Any, **kwargs: Any) -> Any:
    with lab.app.test_request_context(), session_context(sid):
        return lab.tasks[name].delay(*args, **kwargs)  # type: ignore[attr-defined]


def test_the_submitted_event_carries_the_arguments_when_asked(tasks_lab: Lab) -> None:
    sid = tasks_lab.start_raw()
    delay(tasks_lab, sid, "measure", [1, 2.5], unit="V")
    delay(tasks_lab, sid, "secret", "1234")
    assert tasks_lab.weblab.run_tasks() == 2
    first, second = submitted(tasks_lab, sid)
    assert first["task"] == "measure"
    assert first["arguments"] == {"args": [[1, 2.5]], "kwargs": {"unit": "V"}}
    assert second["task"] == "secret" and "arguments" not in second
    assert "1234" not in json.dumps(tasks_lab.state.journal.timeline(sid)[0])
    assert tasks_lab.tasks["measure"].record_arguments is True  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("argument", "reason"),
    [("x" * 5000, "larger than 2048 bytes"), (math.nan, "not finite")],
)
def test_arguments_that_cannot_be_recorded_never_fail_the_task(
    tasks_lab: Lab, caplog: pytest.LogCaptureFixture, argument: Any, reason: str
) -> None:
    sid = tasks_lab.start_raw()
    with caplog.at_level(logging.WARNING, logger="weblab_ext"):
        tasks = [delay(tasks_lab, sid, "measure", argument) for _ in range(2)]
    assert tasks_lab.weblab.run_tasks() == 2
    for task in tasks:
        task.join(timeout=5)
        assert task.status == "done"
    events = submitted(tasks_lab, sid)
    assert len(events) == 2
    for event in events:
        assert "arguments" not in event and reason in event["arguments_error"]
    warnings = [r for r in caplog.records if "arguments" in r.getMessage()]
    assert len(warnings) == 1, warnings  # once per task and process
    assert "measure" in warnings[0].getMessage() and "xxxx" not in warnings[0].getMessage()


def test_run_sync_records_the_arguments_too(tasks_lab: Lab) -> None:
    sid = tasks_lab.start_raw()
    with tasks_lab.app.test_request_context(), session_context(sid):
        task = tasks_lab.tasks["measure"].run_sync(3, timeout=0.01)  # type: ignore[attr-defined]
    assert task.status in ("submitted", "running", "done")
    assert submitted(tasks_lab, sid)[0]["arguments"] == {"args": [3], "kwargs": {}}


def test_exports_carry_the_arguments(tasks_lab: Lab) -> None:
    sid = tasks_lab.start_raw()
    delay(tasks_lab, sid, "measure", 7, unit="mA")
    delay(tasks_lab, sid, "secret", "1234")
    tasks_lab.weblab.run_tasks()
    tasks_lab.dispose(sid)
    runner = tasks_lab.app.test_cli_runner()
    expected = {"args": [7], "kwargs": {"unit": "mA"}}

    line = runner.invoke(args=["weblab", "export", "--format", "jsonl"]).stdout
    events = json.loads(line)["events"]
    [event] = [e for e in events if e["event"] == "task_submitted" and e["task"] == "measure"]
    assert event["arguments"] == expected

    text = runner.invoke(args=["weblab", "export", "--format", "csv"]).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    measured = [r for r in rows if r["event"] == "task_submitted" and '"measure"' in r["details"]]
    assert json.loads(measured[0]["arguments"]) == expected
    assert "arguments" not in json.loads(measured[0]["details"])
    assert all(r["arguments"] == "" for r in rows if r is not measured[0])

    home = "https://lab.example.org/"
    out = runner.invoke(args=["weblab", "export", "--format", "xapi", "--home-page", home])
    statements = json.loads(out.stdout)
    for statement in statements:
        check_statement(statement, home)
    attempted = [s for s in statements if s["verb"]["display"]["en-US"] == "attempted"]
    assert len(attempted) == 1  # the task that records no arguments makes no statement
    assert attempted[0]["verb"]["id"] == "http://adlnet.gov/expapi/verbs/attempted"
    extensions = attempted[0]["result"]["extensions"]
    assert extensions[home + "xapi/extensions/task"] == "measure"
    assert extensions[home + "xapi/extensions/arguments"] == expected
    assert "1234" not in out.stdout
