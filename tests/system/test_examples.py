"""Every example runs: driven through Flask's (and Flask-SocketIO's) test clients.

The browser versions of these journeys are in tests/e2e/test_browser.py.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
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

ROOT = EXAMPLES.parent
BACK = "http://rlms.example/back"


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ModuleType]]:
    """Load an example file as a fresh module; stop its threads afterwards."""
    loaded: list[ModuleType] = []

    def loader(relative: str, **config: Any) -> ModuleType:
        config.setdefault("WEBLAB_CLEANER_INTERVAL", 0.1)
        example_env(monkeypatch, **config)
        module = load_module(EXAMPLES / relative)
        loaded.append(module)
        return module

    yield loader
    for module in loaded:
        if hasattr(module, "stop_stream"):
            module.stop_stream.set()
        if hasattr(module, "push"):
            module.push.stop()
        module.weblab.stop_threads()


def launch(app: Any, session_id: str) -> Any:
    """A student's browser that followed the launch URL."""
    client = app.test_client()
    reply = client.get(f"/callback/{session_id}")
    assert reply.status_code == 302
    return client


def state_of(app: Any, session_id: str) -> str:
    record = app.extensions["weblab"].sessions.load(session_id)
    return record.state if record is not None else "missing"


def dispose_via_rlms(app: Any, session_id: str) -> None:
    from tests.support.examples import rlms_headers

    reply = app.test_client().post(
        f"/weblab/sessions/{session_id}", json={"action": "delete"}, headers=rlms_headers()
    )
    assert reply.status_code == 200


# -- simple -------------------------------------------------------------------------------


def test_simple_lab_journey(load: Callable[..., ModuleType]) -> None:
    simple = load("simple/app.py", WEBLAB_NO_THREAD=True)
    app = simple.app
    assert app.test_client().get("/lab").status_code == 403  # no session: forbidden
    sid = start_with_client(app, BACK)
    student = launch(app, sid)
    page = student.get("/lab").get_data(as_text=True)
    assert "Hello John Smith" in page
    assert "weblab_poll.js" in page and 'data-callback="weblabSessionOver"' in page
    with student.get("/static/lab.js") as script:
        assert script.status_code == 200
    assert student.post("/lab/switch").status_code == 400  # no CSRF token: refused
    assert simple.LIGHT["on"] is False
    post_as_page(student, "/lab/switch")
    assert simple.LIGHT["on"] is True
    assert 'id="switches">1<' in student.get("/lab").get_data(as_text=True)
    reply = post_as_page(student, "/lab/logout")
    assert reply.status_code == 302 and reply.location == BACK
    assert student.get("/lab").location == BACK  # requires_active sends ended users back
    assert simple.weblab.clean_expired_users() == 1
    assert simple.disposed_sessions == [sid]
    assert simple.LIGHT["on"] is False
    assert simple.weblab.clean_expired_users() == 0  # on_dispose runs once


# -- cookie names -------------------------------------------------------------------------


def _cookie_of(app: Any) -> str:
    cookie = str(app.config["SESSION_COOKIE_NAME"])
    sid = start_with_client(app, BACK)
    reply = app.test_client().get(f"/callback/{sid}")
    assert reply.headers["Set-Cookie"].startswith(f"{cookie}=")
    return cookie


def test_every_example_has_its_own_cookie_name(
    load: Callable[..., ModuleType], tmp_path: Any
) -> None:
    """An RLMS on the same host uses Flask's default cookie name ("session") too: a lab with
    the same name would overwrite the student's RLMS login."""
    names = {
        name: _cookie_of(load(f"{name}/app.py", WEBLAB_NO_THREAD=True).app)
        for name in ("simple", "quickstart", "socketio")
    }
    with on_path(EXAMPLES / "advanced"):
        import mylab

        app = mylab.create_app(
            {
                "LAB_DATABASE": str(tmp_path / "students.sqlite3"),
                "WEBLAB_REDIS_URL": f"fakeredis://{tmp_path.name}",
            }
        )
        try:
            names["advanced"] = _cookie_of(app)
        finally:
            mylab.weblab.stop_threads()
    assert "session" not in names.values()
    assert len(set(names.values())) == 4, names


# -- quickstart ---------------------------------------------------------------------------


def test_quickstart_lab_journey(load: Callable[..., ModuleType]) -> None:
    quickstart = load("quickstart/app.py")
    app = quickstart.app
    sid = start_with_client(app, BACK)
    student = launch(app, sid)
    assert "Hello John Smith" in student.get("/lab").get_data(as_text=True)
    post_as_page(student, "/press")
    post_as_page(student, "/press")
    assert 'id="presses">2<' in student.get("/lab").get_data(as_text=True)
    task_id = post_as_page(student, "/measure").json["task_id"]

    def finished() -> Any:
        status = student.get(f"/measure/{task_id}").json
        return status if status["status"] in ("done", "failed") else None

    status = wait_until(finished, timeout=10)
    assert status == {"status": "done", "data": {"done": 5}, "result": {"average": 2.0}}
    assert student.get("/measure/not-a-task").status_code == 404
    assert post_as_page(student, "/leave").location == BACK
    wait_until(lambda: state_of(app, sid) == "disposed", timeout=5)


# -- advanced -----------------------------------------------------------------------------


@pytest.fixture
def advanced(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ModuleType]:
    example_env(monkeypatch, WEBLAB_CLEANER_INTERVAL=0.1)
    with on_path(EXAMPLES / "advanced"):
        import mylab
        import mylab.hardware

        mylab.hardware.slider.step_seconds = 0.01
        yield mylab
        mylab.weblab.stop_threads()


def test_advanced_lab_journey(advanced: ModuleType, tmp_path: Path) -> None:
    from mylab import lab, students

    app = advanced.create_app({"LAB_DATABASE": str(tmp_path / "students.sqlite3")})
    sid = start_with_client(app, BACK)
    student = launch(app, sid)
    page = student.get("/lab").get_data(as_text=True)
    assert 'id="visits">1<' in page  # user_loader read the SQLite record on_start wrote
    with student.get("/mylab-static/lab.js") as script:
        assert script.status_code == 200

    assert student.post("/api/move", json={"position": 30}).status_code == 400  # no token
    assert post_as_page(student, "/api/move", json={"position": "far"}).status_code == 400
    reply = post_as_page(student, "/api/move", json={"position": 30})
    assert reply.status_code == 202
    task_id = reply.json["task_id"]
    progress: list[int] = []

    def finished() -> Any:
        status = student.get(f"/api/tasks/{task_id}").json
        progress.append(status["data"].get("progress", 0))
        return status if status["status"] in ("done", "failed") else None

    status = wait_until(finished, timeout=10, step=0.02)
    assert status["result"] == {"position": 30}, status
    assert any(0 < value < 100 for value in progress), progress
    with app.app_context():
        assert students.get("john.smith@institution") == students.Student(
            "john.smith@institution", 1, 30
        )
    # One slider (WEBLAB_DEVICES): no second session while this one runs.
    assert (
        app.test_client()
        .post("/weblab/sessions/", json=start_body(BACK), headers=rlms_headers())
        .json["code"]
        == "device-busy"
    )

    assert post_as_page(student, "/lab/logout").location == BACK
    wait_until(lambda: sid in lab.disposed_sessions, timeout=5)
    assert lab.disposed_sessions.count(sid) == 1
    other = start_with_client(app, BACK)
    assert launch(app, other).get(f"/api/tasks/{task_id}").status_code == 404  # not theirs
    dispose_via_rlms(app, other)
    second = start_with_client(app, BACK)
    assert 'id="visits">3<' in launch(app, second).get("/lab").get_data(as_text=True)


# -- socketio -----------------------------------------------------------------------------


def test_socketio_lab_journey(load: Callable[..., ModuleType]) -> None:
    pytest.importorskip("flask_socketio")
    realtime = load("socketio/app.py")
    app = realtime.app
    sid = start_with_client(app, BACK)
    student = launch(app, sid)
    page = student.get("/lab").get_data(as_text=True)
    assert 'data-socketio="true"' in page and "socket.io.min.js" in page
    assert realtime.socketio.test_client(app).is_connected() is False  # anonymous: refused

    socket = realtime.socketio.test_client(app, flask_test_client=student)
    assert socket.is_connected()
    state = socket.get_received()[0]  # the full state, on every (re)connect
    assert state["name"] == "state" and state["args"][0]["heater"] is False
    assert state["args"][0]["calibration"] is None
    socket.emit("heater", {"on": True})
    assert socket.get_received()[-1]["args"] == [{"on": True}]
    stored = app.extensions["weblab"].sessions.load(sid).data_json
    assert json.loads(stored)["heater"] is True  # the guard stored weblab_user.data

    reply = socket.emit("calibrate", callback=True)
    wait_until(lambda: any(e["name"] == "weblab:task-done" for e in socket.queue), timeout=10)
    events = [e for e in socket.queue if e["name"].startswith("weblab:task")]
    progress = [e["args"][0]["data"]["progress"] for e in events[:-1]]
    assert progress == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    done = events[-1]["args"][0]
    assert done["task_id"] == reply["task_id"] and done["status"] == "done"
    assert set(done["result"]) == {"offset", "readings"}
    wait_until(lambda: any(e["name"] == "sensor" for e in socket.queue), timeout=5)
    reading = next(e["args"][0] for e in socket.queue if e["name"] == "sensor")
    assert reading["heater"] is True and reading["temperature"] > 21.5  # heating up
    again = realtime.socketio.test_client(app, flask_test_client=student)  # a reconnect
    state = again.get_received()[0]["args"][0]
    assert state["heater"] is True and state["temperature"] > 21.5
    assert state["calibration"]["status"] == "done"
    assert state["calibration"]["result"] == done["result"]
    again.disconnect()

    student.get(f"/callback/{sid}/logout")
    ended = wait_until(lambda: [e for e in socket.queue if e["name"] == "weblab:session-ended"])
    assert ended[0]["args"][0] == {"reason": "logout", "back": BACK}
    wait_until(lambda: not socket.is_connected())
    wait_until(lambda: realtime.disposed_sessions == [sid], timeout=5)
    assert realtime.local_sockets == {}  # the sensor stream feeds no closed socket


# -- demo and deployment files ------------------------------------------------------------


def test_demo_starts_sessions_and_prints_how_to_use_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FLASK_WEBLAB_REDIS_URL", raising=False)
    for key in (
        "FLASK_DEBUG",
        "FLASK_SECRET_KEY",
        "FLASK_WEBLAB_USERNAME",
        "FLASK_WEBLAB_PASSWORD",
    ):
        # Zero setup. setenv first so that what the demo sets (FLASK_DEBUG) is undone too.
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    demo = load_module(EXAMPLES / "demo.py")
    lab = demo.load_lab()
    try:
        assert lab.app.config.get("WEBLAB_REDIS_URL") in (None, "")  # the embedded store
        base = "http://127.0.0.1:5000"
        demo.add_demo_routes(lab.app, base)
        demo.print_instructions(lab, base)
        out = capsys.readouterr().out
        assert f"{base}/demo-start" in out and "curl" in out and "weblabdeusto" in out
        browser = lab.app.test_client()
        reply = browser.get("/demo-start")
        assert reply.status_code == 302
        assert reply.location.startswith(f"{base}/callback/")
        launch = reply.location[len(base) :]
        assert browser.get(launch).location == "/lab"
        page = browser.get("/lab").get_data(as_text=True)
        assert "Demo Student" in page
    finally:
        if hasattr(lab, "stop_stream"):
            lab.stop_stream.set()
        lab.weblab.stop_threads()


def test_demo_on_a_busy_port_fails_before_printing_instructions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    demo = load_module(EXAMPLES / "demo.py")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit) as info:
            demo.main(["--port", str(port)])
    message = str(info.value.code)
    assert message.startswith(f"Cannot serve the demo on 127.0.0.1:{port}: ")
    assert f"make demo PORT={port + 1}" in message
    assert capsys.readouterr().out == "", "no instructions for a demo that cannot run"


def test_make_demo_takes_a_port() -> None:
    done = subprocess.run(
        ["make", "-n", "demo", "PORT=5123"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "examples/demo.py --port 5123" in done.stdout


def test_procfile_names_real_entry_points() -> None:
    procfile = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert set(procfile) == {"web", "worker"}
    assert "gunicorn" in procfile["web"] and "weblab loop" in procfile["worker"]
    for path in re.findall(r"examples/[\w/.]+", " ".join(procfile.values())):
        assert (ROOT / path).exists(), path


@pytest.mark.parametrize("name", ["simple", "advanced", "socketio", "quickstart"])
def test_every_example_has_a_readme(name: str) -> None:
    readme = (EXAMPLES / name / "README.md").read_text()
    assert "weblab fake new" in readme or "demo" in readme


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_make_demo_first_url_opens_the_lab_and_nothing_alarms(tmp_path: Path) -> None:
    """What a newcomer sees: the first URL the demo prints works (it leads into the lab), and
    the output holds no warning (no "production deployment" from the server)."""
    import http.cookiejar
    import os
    import sys
    import time
    import urllib.error
    import urllib.parse
    import urllib.request

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "WEBLAB_"))}
    output = tmp_path / "demo.out"
    with output.open("w") as sink:
        # stdin not a terminal, as under CI, an IDE or `make demo | tee`
        demo = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "demo.py"), "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
        try:
            deadline = time.monotonic() + 60
            while "Ctrl+C" not in output.read_text():
                assert demo.poll() is None, output.read_text()
                assert time.monotonic() < deadline, output.read_text()
                time.sleep(0.1)
            printed = output.read_text()
            first = re.search(r"https?://[^\s'\"]+", printed)
            assert first is not None, printed
            browser = urllib.request.build_opener(
                urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
            )
            page = None
            while page is None:
                try:
                    page = browser.open(first[0], timeout=10)
                except urllib.error.URLError as error:
                    if isinstance(error, urllib.error.HTTPError):
                        raise AssertionError(f"{first[0]} answered {error.code}") from None
                    assert time.monotonic() < deadline, output.read_text()
                    time.sleep(0.2)
            with page:
                assert page.status == 200
                assert urllib.parse.urlsplit(page.url).path == "/lab", page.url
                assert "Demo Student" in page.read().decode()
            time.sleep(0.5)  # anything the server logs about that request
        finally:
            demo.terminate()
            demo.wait(timeout=30)
    text = output.read_text()
    assert "warning" not in text.lower(), text
    assert "production" not in text.lower(), text
    assert "Traceback" not in text, text
