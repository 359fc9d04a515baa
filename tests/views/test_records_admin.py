"""The admin page's session records: usage charts per device (inline SVG, no script, strict
CSP) and a session's timeline, behind the admin credentials."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable

from tests.support.admin import ADMIN, ADMIN_AUTH
from tests.support.lab import Lab
from weblab_ext import session_context
from weblab_ext.runtime.lifecycle_log import session_id_hash


def test_records_page_charts_usage_per_device(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(**ADMIN)
    sid = lab.start_raw()
    record = lab.state.sessions.load(sid)
    assert record is not None
    journal = lab.state.journal
    now = time.time()
    for index, (device, days_ago, used) in enumerate(
        [("board-1", 0, 600), ("board-1", 0, 300), ("board-2", 2, 1200)]
    ):
        at = now - days_ago * 86400 - 1
        copy = dataclasses.replace(
            record, session_id=f"c{index}" + "x" * 41, device=device, start_date=at - 5
        )
        journal.started(copy, now=at)
        journal.ended(dataclasses.replace(copy, max_date=at + 5000), "slot_end", now=at - 5 + used)
    client = lab.app.test_client()
    assert client.get("/weblab/admin/records/").status_code == 401
    reply = client.get("/weblab/admin/records/", headers=ADMIN_AUTH)
    assert reply.status_code == 200
    policy = reply.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script" not in policy
    html = reply.get_data(as_text=True)
    assert "<script" not in html and "style=" not in html
    assert html.count("<svg") == 2 * 3  # sessions and minutes for board-1, board-2, none
    today = time.strftime("%Y-%m-%d", time.gmtime(now))
    assert f"{today}: 2 sessions" in html and f"{today}: 15 minutes" in html
    assert "20 minutes" in html  # board-2, two days ago
    assert sid not in html and session_id_hash(sid)[:10] in html


def test_timeline_of_a_session_escapes_what_the_lab_recorded(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(**ADMIN)
    sid = lab.start_raw()
    with lab.app.test_request_context(), session_context(sid):
        lab.weblab.record("note", text="<img src=x onerror=alert(1)>")
    lab.status(sid)
    lab.status(sid)
    lab.dispose(sid)
    client = lab.app.test_client()
    key = session_id_hash(sid)
    assert client.get(f"/weblab/admin/records/{key}").status_code == 401
    reply = client.get(f"/weblab/admin/records/{key}", headers=ADMIN_AUTH)
    assert reply.status_code == 200
    html = reply.get_data(as_text=True)
    assert "<img" not in html and "&lt;img src=x" in html
    events = re.findall(r'<li class="event (\w+)">', html)
    assert events == ["start", "lab", "rlms", "end", "rlms"]
    calls = re.search(r'<p id="calls">(.*?)</p>', html)
    assert calls and calls.group(1) == (
        "RLMS calls: <code>dispose</code> (done 1); <code>status</code> (active 2)."
    )
    missing = client.get("/weblab/admin/records/" + "0" * 16, headers=ADMIN_AUTH)
    assert missing.status_code == 404 and missing.is_json
    bad = client.get("/weblab/admin/records/..%2Fx", headers=ADMIN_AUTH)
    assert bad.status_code == 404


def test_admin_page_links_to_the_records(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(**ADMIN)
    html = lab.app.test_client().get("/weblab/admin/", headers=ADMIN_AUTH).get_data(as_text=True)
    assert "/weblab/admin/records/" in html
