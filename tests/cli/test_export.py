"""``flask weblab export``: JSON Lines, CSV and xAPI 1.0.3 (each statement checked field by
field against the spec's required properties and formats), filters, streaming."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import json
import re
import time
import tracemalloc
import uuid
from collections.abc import Callable
from typing import IO, Any, cast
from urllib.parse import urlsplit

import pytest

from tests.support.lab import Lab, real_redis_only
from weblab_ext.runtime.lifecycle_log import session_id_hash
from weblab_ext.runtime.record_export import (
    exported_sessions,
    iso_duration,
    write_jsonl,
)

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# ISO 8601 duration as xAPI uses it (no weeks mixed with other units).
ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
STATEMENT_KEYS = {
    "id",
    "actor",
    "verb",
    "object",
    "result",
    "context",
    "timestamp",
    "stored",
    "authority",
    "version",
    "attachments",
}


def iri(value: Any) -> bool:
    parts = urlsplit(value) if isinstance(value, str) else None
    return bool(parts and parts.scheme in ("http", "https") and parts.netloc and " " not in value)


def language_map(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(LANGUAGE_TAG.match(k) and isinstance(v, str) for k, v in value.items())
    )


def check_activity(activity: Any) -> None:
    assert activity["objectType"] == "Activity" and iri(activity["id"]), activity
    definition = activity["definition"]
    assert language_map(definition["name"]) and iri(definition["type"]), definition


def check_statement(statement: dict[str, Any], home_page: str) -> None:
    """The required properties of an xAPI 1.0.3 statement and the formats of those we set."""
    assert set(statement) <= STATEMENT_KEYS, set(statement) - STATEMENT_KEYS
    assert str(uuid.UUID(statement["id"])) == statement["id"]  # lower-case canonical UUID
    assert statement["version"] == "1.0.3"
    assert ISO_UTC.match(statement["timestamp"]), statement["timestamp"]
    datetime.datetime.fromisoformat(statement["timestamp"].replace("Z", "+00:00"))
    actor = statement["actor"]
    # An Agent identified by exactly one inverse functional identifier: the account.
    assert actor["objectType"] == "Agent"
    assert not {"mbox", "mbox_sha1sum", "openid"} & set(actor), actor
    assert set(actor["account"]) == {"homePage", "name"}
    assert actor["account"]["homePage"] == home_page and iri(home_page)
    assert isinstance(actor["account"]["name"], str) and actor["account"]["name"]
    verb = statement["verb"]
    assert iri(verb["id"]) and verb["id"].startswith("http://adlnet.gov/expapi/verbs/")
    assert language_map(verb["display"])
    check_activity(statement["object"])
    context = statement["context"]
    assert str(uuid.UUID(context["registration"])) == context["registration"]
    assert "language" not in context or LANGUAGE_TAG.match(context["language"])
    for parent in context.get("contextActivities", {}).get("parent", []):
        check_activity(parent)
    assert all(iri(key) for key in context.get("extensions", {}))
    result = statement.get("result", {})
    assert "duration" not in result or ISO_DURATION.match(result["duration"]), result
    assert "success" not in result or isinstance(result["success"], bool)
    assert all(iri(key) for key in result.get("extensions", {}))


def a_session(lab: Lab, **server: Any) -> str:
    sid = lab.start_raw(server=server)
    lab.browser(sid)
    with lab.app.test_request_context():
        from weblab_ext import session_context

        with session_context(sid):
            lab.weblab.record("command", value="=cmd|' /C calc'!A0")
    lab.dispose(sid)
    return sid


def run_export(lab: Lab, *args: str) -> str:
    result = lab.app.test_cli_runner().invoke(args=["weblab", "export", *args])
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def test_jsonl_one_session_per_line(lab: Lab) -> None:
    sid = a_session(lab, **{"request.course": "Physics"})
    text = run_export(lab, "--format", "jsonl")
    assert sid not in text and "John Smith" not in text and "john.smith" not in text
    [line] = text.splitlines()
    session = json.loads(line)
    assert session["session"] == session_id_hash(sid)
    assert session["course"] == "Physics" and session["user"].startswith("u-")
    assert ISO_UTC.match(session["start"]) and ISO_UTC.match(session["end"])
    assert session["reason"] == "rlms" and session["used_seconds"] >= 0
    assert [e["event"] for e in session["events"]][:3] == ["start", "launch", "lab"]
    assert all(ISO_UTC.match(e["time"]) for e in session["events"])


def test_csv_one_event_per_row_and_no_formulas(lab: Lab, tmp_path: Any) -> None:
    a_session(lab)
    target = tmp_path / "records.csv"
    result = lab.app.test_cli_runner().invoke(
        args=["weblab", "export", "--format", "csv", "--output", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert "Exported 1 sessions" in result.output
    with target.open(newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    assert [row["event"] for row in rows][:3] == ["start", "launch", "lab"]
    assert all(ISO_UTC.match(row["time"]) for row in rows)
    lab_row = next(row for row in rows if row["event"] == "lab")
    assert json.loads(lab_row["details"])["fields"]["value"].startswith("=cmd")
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())


def test_xapi_statements_meet_the_spec(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_DEVICES=["board-1"])
    sid = a_session(lab, **{"request.group": "G1"})
    text = run_export(lab, "--format", "xapi", "--home-page", "https://lab.example.org/")
    statements = json.loads(text)
    verbs = [s["verb"]["display"]["en-US"] for s in statements]
    assert verbs == ["launched", "initialized", "interacted", "terminated"]
    for statement in statements:
        check_statement(statement, "https://lab.example.org/")
    first = statements[0]
    assert first["object"]["id"] == "https://lab.example.org/xapi/device/board-1"
    assert first["context"]["contextActivities"]["parent"][0]["definition"]["name"] == {
        "en-US": "mylab@Lab experiments"
    }
    assert first["context"]["language"] == "es-ES"
    terminated = statements[-1]
    assert terminated["result"]["duration"].startswith("PT")
    assert len({s["id"] for s in statements}) == len(statements)
    assert len({s["context"]["registration"] for s in statements}) == 1
    # Exported twice, the same statements: an LRS takes a repeated export as the same data.
    assert (
        json.loads(run_export(lab, "--format", "xapi", "--home-page", "https://lab.example.org/"))
        == statements
    )
    assert sid not in text


def test_iso_durations() -> None:
    assert iso_duration(0) == "PT0S"
    assert iso_duration(12.5) == "PT12.5S"
    assert iso_duration(3723.456) == "PT1H2M3.46S"
    assert iso_duration(3600) == "PT1H"
    for seconds in (0, 0.01, 59.999, 60, 3599.99, 86400 * 3 + 1):
        assert ISO_DURATION.match(iso_duration(seconds)), seconds


def test_filters_by_time_and_device(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    journal = lab.state.journal
    first = lab.start_raw()  # now: after the period exported below
    record = lab.state.sessions.load(first)
    assert record is not None
    for index, (device, day) in enumerate([("a", 1), ("b", 2), ("a", 3)]):
        moment = datetime.datetime(2026, 11, day, 12, tzinfo=datetime.timezone.utc).timestamp()
        copy = dataclasses.replace(record, session_id=f"s{index}" + "x" * 40, device=device)
        journal.started(copy, now=moment)
    lines = run_export(lab, "--since", "2026-11-02", "--until", "2026-11-30").splitlines()
    assert [json.loads(line)["device"] for line in lines] == ["b", "a"]
    lines = run_export(lab, "--device", "a", "--until", "2026-11-30T00:00:00+00:00").splitlines()
    assert [json.loads(line)["start"][:10] for line in lines] == ["2026-11-01", "2026-11-03"]
    lines = run_export(lab, "--since", "2026-11-03T00:00:00Z", "--until", "2026-11-30").splitlines()
    assert [json.loads(line)["device"] for line in lines] == ["a"]
    bad = lab.app.test_cli_runner().invoke(args=["weblab", "export", "--since", "yesterday"])
    assert bad.exit_code == 2 and "--since" in bad.output


def test_export_pages_skip_nothing_when_starts_tie(lab: Lab) -> None:
    record = lab.state.sessions.load(lab.start_raw())
    assert record is not None
    moment = time.time() + 100  # all 25 at the same moment
    for index in range(25):
        copy = dataclasses.replace(record, session_id=f"tie{index:02d}" + "x" * 38)
        lab.state.journal.started(copy, now=moment)
    found = list(exported_sessions(lab.state.journal, page=4))
    assert len({s.session for s in found}) == len(found) == 26


@real_redis_only
def test_ten_thousand_sessions_export_in_constant_memory(lab: Lab) -> None:
    journal = lab.state.journal
    record = lab.state.sessions.load(lab.start_raw())
    assert record is not None
    client = lab.state.client
    # 10,000 recorded sessions of 6 events, written with the journal's own script and
    # pipelined (the journal's calls, one round trip each, would only make this test slow).
    base = 1_790_000_000.0
    store = journal.store
    assert store is not None
    pipe = client.pipeline(transaction=False)
    for index in range(10_000):
        sid = f"bulk{index:05d}" + "x" * 34
        at = base + index
        events = [
            {"t": at, "e": "start", "user": f"u-{index % 300}", "course": f"c{index % 7}"},
            {"t": at + 1, "e": "socket_connect"},
            {"t": at + 1, "e": "launch", "outcome": "enter"},
            {"t": at + 2, "e": "lab", "name": "command", "fields": {"n": index}},
            {"t": at + 3, "e": "lab", "name": "command", "fields": {"n": index}},
            {"t": at + 60, "e": "end", "reason": "slot_end", "used": 60.0},
        ]
        for number, event in enumerate(events):
            store.append(
                sid,
                json.dumps(event),
                max_events=500,
                ttl=3600 * 24 * 30,
                start=at if number == 0 else None,
                pipe=pipe,
            )
        if index % 500 == 499:
            pipe.execute()
    pipe.execute()
    assert client.zcard(lab.state.keys.records_by_start()) == 10_001

    class Sink(io.TextIOBase):
        written = 0

        def write(self, text: str) -> int:
            self.written += len(text)
            return len(text)

    def peak(until: float) -> tuple[int, int, float]:
        sink = Sink()
        tracemalloc.start()
        started = time.perf_counter()
        count = write_jsonl(exported_sessions(journal, until=until), cast(IO[str], sink))
        took = time.perf_counter() - started
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return count, top, took

    small, small_peak, _ = peak(base + 999)
    large, large_peak, _ = peak(base + 10_000)
    assert (small, large) == (1_000, 10_000)
    # One page in memory whatever the number of sessions.
    assert large_peak < 2 * small_peak + 256 * 1024, (small_peak, large_peak)
    started = time.perf_counter()
    assert (
        write_jsonl(exported_sessions(journal, until=base + 10_000), cast(IO[str], Sink()))
        == 10_000
    )
    took = time.perf_counter() - started
    assert took < 10, took


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "xapi"])
def test_what_a_student_typed_never_reaches_a_terminal_raw(lab: Lab, fmt: str) -> None:
    sid = lab.start_raw(server={"request.course": "Physik\u202e101"})
    with lab.app.test_request_context():
        from weblab_ext import session_context

        with session_context(sid):
            lab.weblab.record("typed", text="\x1b]52;c;aGk=\x07 line\nbreak \x9b2J é")
    lab.dispose(sid)
    text = run_export(lab, "--format", fmt)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", text), repr(text)
    if fmt == "jsonl":
        # Kept for analysis: the parsed value is what the lab recorded.
        lab_event = next(e for e in json.loads(text)["events"] if e["event"] == "lab")
        assert lab_event["fields"]["text"].startswith("\x1b]52")
    if fmt == "csv":
        assert "\\u001b]52" in text and "é" in text
