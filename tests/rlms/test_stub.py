"""The recording stub lab the RLMS client tests drive (tests/support/rlms_stub.py)."""

from __future__ import annotations

from tests.support.rlms_stub import ClientFactory, Reply, StubLab


def test_stub_records_and_scripts() -> None:
    lab = StubLab()
    lab.script("status", {"should_finish": 1}, Reply(raw="oops", status=500))
    client = lab.app.test_client()
    assert client.get("/weblab/sessions/x/status").get_json() == {"should_finish": 1}
    assert client.get("/weblab/sessions/x/status").status_code == 500
    assert client.get("/weblab/sessions/x/status").get_json() == {"should_finish": 5}
    assert [c.sid for c in lab.calls] == ["x", "x", "x"]


def test_serve_answers_over_http(make_client: ClientFactory) -> None:
    lab = StubLab()
    assert make_client(lab).api() == "1"
    assert lab.endpoints() == ["api"]
