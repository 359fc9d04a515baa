"""requires_login / requires_active for each user state, HTML and JSON clients, OPTIONS."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.lab import Lab

JSON = {"Accept": "application/json"}


@pytest.fixture
def states(lab: Lab) -> dict[str, object]:
    """A browser for each user state of SPEC §4.10."""
    active = lab.start_raw()
    exited = lab.start_raw()
    expired = lab.start_raw()
    clients: dict[str, object] = {
        "anonymous": lab.app.test_client(),
        "active": lab.browser(active),
        "exited": lab.browser(exited),
        "expired": lab.browser(expired),
    }
    clients["exited"].get(f"/callback/{exited}/logout")  # type: ignore[attr-defined]
    lab.dispose(expired)
    return clients


@pytest.mark.parametrize(
    ("who", "status", "body_or_location"),
    [
        ("anonymous", 403, "Access forbidden"),
        ("active", 200, "lab of john.smith"),
        ("exited", 302, "http://rlms.example/back"),
        ("expired", 302, "http://rlms.example/back"),
    ],
)
def test_requires_active(
    states: dict[str, object], who: str, status: int, body_or_location: str
) -> None:
    reply = states[who].get("/lab")  # type: ignore[attr-defined]
    assert reply.status_code == status
    if status == 302:
        assert reply.location == body_or_location
    else:
        assert reply.get_data(as_text=True) == body_or_location


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 403), ("active", 200), ("exited", 200), ("expired", 200)],
)
def test_requires_login(states: dict[str, object], who: str, status: int) -> None:
    reply = states[who].get("/results")  # type: ignore[attr-defined]
    assert reply.status_code == status
    if status == 200:
        assert reply.get_data(as_text=True) == "results of john.smith"


@pytest.mark.parametrize(
    ("who", "route", "status", "code"),
    [
        ("anonymous", "/lab", 401, "not-logged-in"),
        ("anonymous", "/results", 401, "not-logged-in"),
        ("exited", "/lab", 403, "session-inactive"),
        ("expired", "/lab", 403, "session-inactive"),
    ],
)
def test_json_clients_get_json_errors(
    states: dict[str, object], who: str, route: str, status: int, code: str
) -> None:
    reply = states[who].get(route, headers=JSON)  # type: ignore[attr-defined]
    assert reply.status_code == status
    assert reply.mimetype == "application/json"
    assert reply.json["error"] is True
    assert reply.json["code"] == code
    if status == 403:
        assert reply.json["back"] == "http://rlms.example/back"


def test_browser_accept_header_gets_html(states: dict[str, object]) -> None:
    accept = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    reply = states["anonymous"].get("/lab", headers=accept)  # type: ignore[attr-defined]
    assert reply.status_code == 403
    assert reply.mimetype == "text/plain"


@pytest.mark.parametrize("who", ["anonymous", "exited", "expired"])
def test_options_is_exempt(states: dict[str, object], who: str) -> None:
    for route in ("/lab", "/results"):
        reply = states[who].options(route)  # type: ignore[attr-defined]
        assert reply.status_code == 200


def test_decorators_keep_the_view_name(make_lab: Callable[..., Lab]) -> None:
    from weblab_ext import requires_active, requires_login

    def my_view() -> str:
        """Doc."""
        return "x"

    assert requires_active(my_view).__name__ == "my_view"
    assert requires_login(my_view).__doc__ == "Doc."


def test_view_is_not_run_for_rejected_users(lab: Lab) -> None:
    from weblab_ext import requires_active

    runs: list[str] = []

    @lab.app.route("/count")
    @requires_active
    def count() -> str:
        runs.append("run")
        return "ok"

    session_id = lab.start_raw()
    lab.app.test_client().get("/count")
    student = lab.browser(session_id)
    student.get(f"/callback/{session_id}/logout")
    student.get("/count")
    assert runs == []


def test_slot_over_but_not_disposed_is_inactive(lab: Lab) -> None:
    import time

    now = [time.time()]
    lab.state.clock = lambda: now[0]
    session_id = lab.start_raw(
        server={
            "priority.queue.slot.start.timestamp": repr(now[0]),
            "priority.queue.slot.length": "10",
        }
    )
    student = lab.browser(session_id)
    assert student.get("/lab").status_code == 200
    now[0] += 11
    assert student.get("/lab").location == "http://rlms.example/back"
    assert student.get("/results").status_code == 200
    assert lab.disposed == []


# -- a guard never runs the view of a request that fails it, whatever the method -------------


def _motor_routes(lab: Lab) -> list[str]:
    """Routes that list OPTIONS themselves (so Flask does not answer it for them)."""
    from weblab_ext import requires_active, requires_login

    moves: list[str] = []

    @lab.app.route("/motor", methods=["POST", "OPTIONS"])
    @requires_active
    def motor() -> str:
        moves.append("motor")
        return "moved"

    @lab.app.route("/motor-log", methods=["GET", "OPTIONS"])
    @requires_login
    def motor_log() -> str:
        moves.append("log")
        return "log"

    return moves


@pytest.mark.parametrize(("who", "status"), [("anonymous", 403), ("exited", 302), ("expired", 302)])
def test_options_failing_requires_active_never_runs_the_view(
    lab: Lab, who: str, status: int
) -> None:
    moves = _motor_routes(lab)
    session_id = lab.start_raw()
    client = lab.app.test_client() if who == "anonymous" else lab.browser(session_id)
    if who == "exited":
        client.get(f"/callback/{session_id}/logout")
    elif who == "expired":
        lab.dispose(session_id)
    reply = client.options("/motor")
    assert reply.status_code == status
    assert moves == []


def test_options_failing_requires_login_never_runs_the_view(lab: Lab) -> None:
    moves = _motor_routes(lab)
    reply = lab.app.test_client().options("/motor-log")
    assert reply.status_code == 403
    assert lab.app.test_client().options("/motor-log", headers=JSON).status_code == 401
    assert moves == []


def test_options_passing_the_guard_runs_the_view(lab: Lab) -> None:
    moves = _motor_routes(lab)
    student = lab.browser(lab.start_raw())
    assert student.options("/motor").get_data(as_text=True) == "moved"
    assert student.options("/motor-log").get_data(as_text=True) == "log"
    assert moves == ["motor", "log"]


def test_async_views_under_the_guards(lab: Lab) -> None:
    from weblab_ext import requires_active, requires_login, weblab_user

    @lab.app.route("/async-lab")
    @requires_active
    async def async_lab() -> str:
        return f"async lab of {weblab_user.username}"

    @lab.app.route("/async-results")
    @requires_login
    async def async_results() -> str:
        return f"async results of {weblab_user.username}"

    session_id = lab.start_raw()
    student = lab.browser(session_id)
    assert student.get("/async-lab").get_data(as_text=True) == "async lab of john.smith"
    assert student.get("/async-results").get_data(as_text=True) == "async results of john.smith"
    anonymous = lab.app.test_client()
    assert anonymous.get("/async-lab").status_code == 403
    assert anonymous.get("/async-results").status_code == 403
    student.get(f"/callback/{session_id}/logout")
    assert student.get("/async-lab").location == "http://rlms.example/back"
    assert student.get("/async-results").status_code == 200
