"""The "Session records and analytics" page: its analysis runs on its export sample and
prints what the page says, and the sample has the shape of a real export."""

from __future__ import annotations

import json
from typing import Any

from tests.support.doc_blocks import blocks
from tests.support.lab import Lab
from tests.support.paths import DOCS

PAGE = DOCS / "records.md"


def page_block(language: str, containing: str) -> str:
    found = [b.code for b in blocks(PAGE) if b.language == language and containing in b.code]
    assert len(found) == 1, (language, containing)
    return found[0]


def test_the_analysis_prints_what_the_page_says(
    capsys: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    sample = page_block("json", '"session"')
    code = page_block("python", "minutes_per_course")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "december.jsonl").write_text(sample, encoding="utf-8")
    exec(compile(code, "records.md", "exec"), {"__name__": "__main__"})
    printed = capsys.readouterr().out
    assert printed == page_block("text", "min")


def test_the_export_sample_has_the_shape_of_a_real_export(lab: Lab) -> None:
    sid = lab.start_raw(server={"request.course": "Physics 101", "request.group": "G2"})
    lab.browser(sid)
    lab.dispose(sid)
    real = json.loads(lab.app.test_cli_runner().invoke(args=["weblab", "export"]).stdout)
    sample = [json.loads(line) for line in page_block("json", '"session"').splitlines()]
    for session in sample:
        assert set(session) == set(real)
    shown = sample[0]["events"]
    assert set(shown[0]) == set(real["events"][0])  # the start event
    assert [e["event"] for e in real["events"]][:2] == [e["event"] for e in shown][:2]
    assert shown[-1]["event"] == "end" and set(shown[-1]) == {"event", "reason", "time", "used"}
