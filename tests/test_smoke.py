"""The shortest full session, on both stores: start, launch, view, logout, dispose."""

from __future__ import annotations

from tests.support.lab import Lab


def test_full_session(lab: Lab) -> None:
    session_id = lab.start_raw()
    assert lab.status(session_id) == 5
    student = lab.browser(session_id)
    assert student.get("/lab").get_data(as_text=True) == "lab of john.smith"
    assert student.get(f"/callback/{session_id}/logout").json == {"success": True}
    assert lab.status(session_id) == -1
    assert student.get("/lab").location == "http://rlms.example/back"
    assert lab.dispose(session_id)["message"] == "Deleted"
    assert lab.disposed == [session_id]
