"""Examples that drive one piece of hardware declare it as one device (``WEBLAB_DEVICES``):
one session at a time, so a second student never switches it under the first.

The demo's ``/demo-start`` stands in for the RLMS: a second visit while the heater is in use
gets a page saying so (the browser already in the session is taken back to its lab). The
browser version is tests/e2e/test_demo_browser.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.examples import (
    EXAMPLES,
    example_env,
    load_module,
    on_path,
    post_as_page,
    rlms_headers,
    start_body,
    start_with_client,
    wait_until,
)

BACK = "http://rlms.example/back"
BASE = "http://127.0.0.1:5000"


def start_reply(app: Any) -> Any:
    return app.test_client().post(
        "/weblab/sessions/", json=start_body(BACK), headers=rlms_headers()
    )


def state_of(app: Any, session_id: str) -> str:
    record = app.extensions["weblab"].sessions.load(session_id)
    return record.state if record is not None else "missing"


@pytest.fixture
def demo_lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, ModuleType]]:
    """The demo's lab as ``make demo`` serves it (debug mode, development secrets)."""
    for key in (
        "FLASK_DEBUG",
        "FLASK_SECRET_KEY",
        "FLASK_WEBLAB_USERNAME",
        "FLASK_WEBLAB_PASSWORD",
    ):
        monkeypatch.setenv(key, "")  # setenv first so that what the demo sets is undone too
        monkeypatch.delenv(key)
    monkeypatch.setenv("FLASK_WEBLAB_REDIS_URL", "fakeredis://demo-devices")
    monkeypatch.setenv("FLASK_WEBLAB_CLEANER_INTERVAL", "0.1")
    demo = load_module(EXAMPLES / "demo.py")
    lab = demo.load_lab()
    demo.add_demo_routes(lab.app, BASE)
    yield demo, lab
    if hasattr(lab, "stop_stream"):
        lab.stop_stream.set()
    if hasattr(lab, "push"):
        lab.push.stop()
    lab.weblab.stop_threads()


def enter(browser: Any) -> str:
    """Open /demo-start and follow the launch URL; the session id."""
    reply = browser.get("/demo-start")
    assert reply.status_code == 302, reply.get_data(as_text=True)
    assert reply.location.startswith(f"{BASE}/callback/")
    launch: str = reply.location[len(BASE) :]
    assert browser.get(launch).location == "/lab"
    return launch.rsplit("/", 1)[-1]


def heater_on(app: Any, session_id: str) -> bool:
    """Whether the session's heater is on: the example keeps the plate in the session's data."""
    from weblab_ext import session_context, weblab_user

    with app.app_context(), session_context(session_id):
        return bool(weblab_user.data.get("heater"))


def test_a_second_demo_start_is_refused_while_the_heater_is_in_use(
    demo_lab: tuple[ModuleType, ModuleType],
) -> None:
    pytest.importorskip("flask_socketio")
    _demo, lab = demo_lab
    app = lab.app
    first = app.test_client()
    sid = enter(first)
    socket = lab.socketio.test_client(app, flask_test_client=first)
    socket.emit("heater", {"on": True})
    assert heater_on(app, sid)

    second = app.test_client()
    reply = second.get("/demo-start")
    assert reply.status_code == 409
    assert reply.mimetype == "text/html"
    page = reply.get_data(as_text=True)
    assert "The heater is in use by another session" in page
    assert "Try again when it ends" in page and 'href="/demo-start"' in page
    assert sid not in page  # a session id is its student's credential
    # Nothing happened to the first session or to its heater.
    assert heater_on(app, sid)
    assert lab.disposed_sessions == []
    assert state_of(app, sid) == "active"
    assert first.get("/lab").status_code == 200
    assert second.get("/lab").status_code == 403  # the second browser has no session

    # The browser that holds the session is taken back to its lab, no new session.
    again = first.get("/demo-start")
    assert again.status_code == 302 and again.location == "/lab"
    assert state_of(app, sid) == "active" and heater_on(app, sid)

    # Once the first session ends, the second browser gets in.
    first.get(f"/callback/{sid}/logout")
    wait_until(lambda: lab.disposed_sessions == [sid], timeout=10)
    other = wait_until(lambda: second.get("/demo-start").status_code == 302 or None, timeout=5)
    assert other


@pytest.mark.parametrize(
    ("relative", "device"),
    [("simple/app.py", "light"), ("socketio/app.py", "heater")],
)
def test_examples_with_one_piece_of_hardware_hold_one_session(
    monkeypatch: pytest.MonkeyPatch, relative: str, device: str
) -> None:
    if relative.startswith("socketio"):
        pytest.importorskip("flask_socketio")
    example_env(monkeypatch, WEBLAB_NO_THREAD=True)
    module = load_module(EXAMPLES / relative)
    try:
        app = module.app
        assert app.config["WEBLAB_DEVICES"] == [device]
        sid = start_with_client(app, BACK)
        reply = start_reply(app)
        assert reply.status_code == 409 and reply.json["code"] == "device-busy"
        assert state_of(app, sid) == "active"
        app.test_client().post(
            f"/weblab/sessions/{sid}", json={"action": "delete"}, headers=rlms_headers()
        )
        assert start_reply(app).status_code == 200  # free again once disposed
    finally:
        if hasattr(module, "stop_stream"):
            module.stop_stream.set()
        if hasattr(module, "push"):
            module.push.stop()
        module.weblab.stop_threads()


def test_the_simple_light_is_not_switched_by_a_second_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    example_env(monkeypatch, WEBLAB_NO_THREAD=True)
    simple = load_module(EXAMPLES / "simple" / "app.py")
    app = simple.app
    sid = start_with_client(app, BACK)
    student = app.test_client()
    student.get(f"/callback/{sid}")
    post_as_page(student, "/lab/switch")
    assert simple.LIGHT["on"] is True
    assert start_reply(app).status_code == 409
    assert simple.LIGHT["on"] is True  # on_start of a second session never ran
    simple.weblab.stop_threads()


def test_the_advanced_slider_holds_one_session(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    example_env(monkeypatch, WEBLAB_NO_THREAD=True)
    with on_path(EXAMPLES / "advanced"):
        import mylab

        app = mylab.create_app({"LAB_DATABASE": str(tmp_path / "students.sqlite3")})
        try:
            assert app.config["WEBLAB_DEVICES"] == ["slider"]
            sid = start_with_client(app, BACK)
            assert start_reply(app).status_code == 409
            assert state_of(app, sid) == "active"
        finally:
            mylab.weblab.stop_threads()


def test_the_demo_without_socketio_says_the_light_is_in_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without Flask-SocketIO the demo serves the simple lab: the same rule, its own device."""
    monkeypatch.setitem(sys.modules, "flask_socketio", None)  # import fails: simple lab
    for key in (
        "FLASK_DEBUG",
        "FLASK_SECRET_KEY",
        "FLASK_WEBLAB_USERNAME",
        "FLASK_WEBLAB_PASSWORD",
    ):
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    monkeypatch.setenv("FLASK_WEBLAB_REDIS_URL", "fakeredis://demo-simple")
    demo = load_module(EXAMPLES / "demo.py")
    lab = demo.load_lab()
    try:
        assert hasattr(lab, "LIGHT")
        demo.add_demo_routes(lab.app, BASE)
        first = lab.app.test_client()
        enter(first)
        post_as_page(first, "/lab/switch")
        reply = lab.app.test_client().get("/demo-start")
        assert reply.status_code == 409
        assert "The light is in use by another session" in reply.get_data(as_text=True)
        assert lab.LIGHT["on"] is True
    finally:
        lab.weblab.stop_threads()
