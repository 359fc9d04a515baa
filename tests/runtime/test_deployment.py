"""The embedded store is for one process: zero-config under the dev server, tests and the CLI;
a loud refusal under gunicorn & co. when ``WEBLAB_REDIS_URL`` is unset (never split state)."""

from __future__ import annotations

import http.cookiejar
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, url_for

from tests.support.lab import AUTH, PASSWORD, USERNAME, Lab, json_of
from tests.support.redis_server import RedisServer
from weblab_ext import InvalidConfigError, WebLab, requires_active
from weblab_ext.runtime.embedded_store_guard import server_from_environ, server_from_modules

GUNICORN = Path(sys.executable).with_name("gunicorn")
HOW_TO_SET = (
    'app.config["WEBLAB_REDIS_URL"] = "redis://localhost:6379/0"',
    "FLASK_WEBLAB_REDIS_URL=redis://localhost:6379/0",
    "app.config.from_prefixed_env()",
)


def zero_config_lab(**config: Any) -> Lab:
    """A lab as a newcomer writes it: no WEBLAB_REDIS_URL, no TESTING."""
    app = Flask(f"zero_{os.urandom(4).hex()}")
    # A fresh key prefix: the embedded store is one per process, shared by these apps.
    app.config.update(
        SECRET_KEY="s",
        WEBLAB_USERNAME=USERNAME,
        WEBLAB_PASSWORD=PASSWORD,
        WEBLAB_NO_THREAD=True,
        WEBLAB_REDIS_BASE=app.name,
        **config,
    )
    weblab = WebLab(app)

    @weblab.initial_url
    def initial_url() -> str:
        return url_for("lab_view")

    @app.route("/lab")
    @requires_active
    def lab_view() -> str:
        return "lab"

    return Lab(app, weblab)


@pytest.mark.parametrize(
    ("environ", "server"),
    [
        ({}, None),  # Flask's test client, an in-process call
        ({"SERVER_SOFTWARE": "Werkzeug/3.1.3"}, None),  # flask run, app.run()
        ({"SERVER_SOFTWARE": "gunicorn/23.0.0", "wsgi.multiprocess": True}, "gunicorn/23.0.0"),
        ({"SERVER_SOFTWARE": "waitress"}, "waitress"),
        ({"SERVER_SOFTWARE": "Apache/2.4.62 (Debian)", "mod_wsgi.version": (5, 0)}, "mod_wsgi"),
        ({"uwsgi.version": b"2.0.28"}, "uWSGI"),
        ({"SERVER_SOFTWARE": "Werkzeug/3.1.3", "wsgi.multiprocess": True}, "Werkzeug/3.1.3"),
        ({"wsgi.multiprocess": True}, "a multi-process WSGI server"),
    ],
)
def test_server_from_environ(environ: dict[str, Any], server: str | None) -> None:
    assert server_from_environ(environ) == server


def test_server_from_modules() -> None:
    assert server_from_modules({"flask": object(), "werkzeug": object()}) is None
    assert server_from_modules({"gunicorn": object()}) == "gunicorn"
    assert server_from_modules({"uwsgi": object()}) == "uWSGI"
    assert server_from_modules({"mod_wsgi": object()}) == "mod_wsgi"


def test_dev_server_and_test_client_keep_zero_config(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="weblab_ext")
    lab = zero_config_lab()
    assert not any("WEBLAB_REDIS_URL" in r.getMessage() for r in caplog.records), (
        "init_app itself says nothing: the CLI and --help stay quiet"
    )
    client = lab.app.test_client()
    dev = {"SERVER_SOFTWARE": "Werkzeug/3.1.3"}
    session_id = lab.start_raw()
    assert client.get(f"/callback/{session_id}", environ_base=dev).status_code == 302
    assert client.get("/lab", environ_base=dev).get_data(as_text=True) == "lab"
    notes = [r for r in caplog.records if "embedded store" in r.getMessage()]
    assert len(notes) == 1, "the note is logged once per process, at the first request"
    assert notes[0].levelno == logging.WARNING
    for advice in HOW_TO_SET:
        assert advice in notes[0].getMessage()


@pytest.mark.parametrize("software", ["gunicorn/23.0.0", "waitress", "Apache/2.4 (mod_wsgi)"])
def test_other_servers_refuse_every_request(
    software: str, caplog: pytest.LogCaptureFixture
) -> None:
    lab = zero_config_lab()
    environ = {"SERVER_SOFTWARE": software}
    client = lab.app.test_client()
    reply = client.post(
        "/weblab/sessions/", json=lab.start_body(), headers=AUTH, environ_base=environ
    )
    assert reply.status_code == 500
    assert json_of(reply)["code"] == "lab-misconfigured"
    message = json_of(reply)["message"]
    assert f"runs under {software}" in message
    for advice in HOW_TO_SET:
        assert advice in message
    assert lab.state.monitoring.session_counts().total == 0, "nothing was started"
    page = client.get("/lab", environ_base=environ)
    assert page.status_code == 500 and "WEBLAB_REDIS_URL is not set" in page.get_data(True)
    health = client.get("/weblab/health", environ_base=environ)
    assert health.status_code == 200
    assert json_of(health)["success"] is False and "WEBLAB_REDIS_URL" in json_of(health)["message"]
    errors = [
        r
        for r in caplog.records
        if r.levelno == logging.ERROR and "WEBLAB_REDIS_URL is not set" in r.getMessage()
    ]
    assert len(errors) == 1, "logged once per process"


def test_an_explicit_embedded_url_or_testing_is_a_choice() -> None:
    environ = {"SERVER_SOFTWARE": "waitress"}
    for config in ({"WEBLAB_REDIS_URL": "fakeredis://default"}, {"TESTING": True}):
        lab = zero_config_lab(**config)
        session_id = lab.start_raw()
        reply = lab.app.test_client().get(f"/callback/{session_id}", environ_base=environ)
        assert reply.status_code == 302, config


def test_init_app_under_a_server_module_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gunicorn", sys.modules["json"])
    with pytest.raises(InvalidConfigError) as info:
        zero_config_lab()
    message = str(info.value)
    assert "runs under gunicorn" in message
    for advice in HOW_TO_SET:
        assert advice in message
    zero_config_lab(TESTING=True)  # tests importing gunicorn keep working
    zero_config_lab(WEBLAB_REDIS_URL="fakeredis://one-process")


# -- a real gunicorn with 2 workers ------------------------------------------------------------

GUNICORN_APP = """
from flask import Flask, url_for
from weblab_ext import WebLab, requires_active, weblab_user

app = Flask("gunicorn_lab")
app.config.update(SECRET_KEY="s", WEBLAB_USERNAME="weblabdeusto", WEBLAB_PASSWORD="rlms-s3cret",
                  WEBLAB_NO_THREAD=True)
app.config.from_prefixed_env()
weblab = WebLab(app)


@weblab.initial_url
def initial_url():
    return url_for("lab")


@app.route("/lab")
@requires_active
def lab():
    return "lab of " + weblab_user.username
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gunicorn:
    """``gunicorn -w 2`` serving ``GUNICORN_APP`` on a free 127.0.0.1 port."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        (folder / "lab_app.py").write_text(textwrap.dedent(GUNICORN_APP))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
        self.process = subprocess.Popen(
            [
                str(GUNICORN),
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--chdir",
                str(folder),
                "--graceful-timeout",
                "2",
                "lab_app:app",
            ],
            env={**environment, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/weblab/sessions/api", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("gunicorn did not answer")

    def output(self) -> str:
        if self.process.poll() is None:
            self.stop()
        assert self.process.stdout is not None
        return self.process.stdout.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Any]:
    started: list[Gunicorn] = []

    def start(**env: str) -> Gunicorn:
        server = Gunicorn(tmp_path, env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
        assert server.process.stdout is not None
        server.process.stdout.close()


pytestmark_gunicorn = pytest.mark.skipif(not GUNICORN.exists(), reason="pip install gunicorn")


@pytestmark_gunicorn
@pytest.mark.slow
def test_gunicorn_without_redis_url_fails_loudly(gunicorn: Any) -> None:
    server = gunicorn()
    try:
        server.process.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail("gunicorn kept running with the embedded store")
    output = server.output()
    assert server.process.returncode != 0
    assert "WEBLAB_REDIS_URL is not set, and this lab runs under gunicorn" in output
    assert "FLASK_WEBLAB_REDIS_URL=redis://localhost:6379/0" in output


def _student_visit(base: str, launch_url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    path = launch_url.split("/callback/", 1)[1]
    with opener.open(f"{base}/callback/{path}", timeout=10):
        pass  # follows the redirect to /lab
    try:
        with opener.open(f"{base}/lab", timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


@pytestmark_gunicorn
@pytest.mark.slow
def test_gunicorn_with_two_workers_shares_sessions_through_redis(
    gunicorn: Any, redis_server: RedisServer
) -> None:
    server = gunicorn(
        FLASK_WEBLAB_REDIS_URL=redis_server.url,
        FLASK_WEBLAB_REDIS_BASE=f"gunicorn-{os.urandom(4).hex()}",
    )
    server.wait_ready()
    launches = []
    for number in range(4):
        body = Lab.start_body(Lab.__new__(Lab), server={"request.username": f"s{number}"})
        request = urllib.request.Request(
            server.url + "/weblab/sessions/",
            data=json.dumps(body).encode(),
            headers={**AUTH, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            launches.append(json.loads(reply.read())["url"])
    visits = [_student_visit(server.url, url) for url in launches]
    assert visits == [(200, f"lab of s{n}") for n in range(4)]


# -- logging ----------------------------------------------------------------------------------


def _wait_for(path: Path, text: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text():
            return
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in the output of {process.args!r}:\n{path.read_text()}")


@pytestmark_gunicorn
@pytest.mark.slow
def test_the_labs_info_lines_show_in_the_production_set_up(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The Procfile's set-up (gunicorn without threads of its own, `flask weblab loop`) with
    the Quickstart's lab: its app.logger.info lines show in both processes' output, with no
    logging configured anywhere."""
    from tests.support.examples import EXAMPLES, RLMS_PASSWORD, SECRET_KEY, rlms_headers, start_body

    for item in ("app.py", "templates"):
        source = EXAMPLES / "quickstart" / item
        copy = shutil.copytree if source.is_dir() else shutil.copy
        copy(source, tmp_path / item)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "WEBLAB_"))}
    env.update(
        {
            "FLASK_SECRET_KEY": SECRET_KEY,
            "FLASK_WEBLAB_USERNAME": "weblabdeusto",
            "FLASK_WEBLAB_PASSWORD": RLMS_PASSWORD,
            "FLASK_WEBLAB_REDIS_URL": redis_server.url,
            "FLASK_WEBLAB_REDIS_BASE": f"logging-{os.urandom(4).hex()}",
            "FLASK_WEBLAB_CLEANER_INTERVAL": "0.2",
            "FLASK_SESSION_COOKIE_SECURE": "false",
        }
    )
    port = _free_port()
    web_log, worker_log = tmp_path / "web.log", tmp_path / "worker.log"
    web_env = {
        **env,
        "FLASK_WEBLAB_TASK_THREADS_PROCESS": "0",
        "FLASK_WEBLAB_AUTOCLEAN_THREAD": "false",
    }
    flask = Path(sys.executable).with_name("flask")
    with web_log.open("w") as web_out, worker_log.open("w") as worker_out:
        web = subprocess.Popen(
            [
                *(str(GUNICORN), "--worker-class", "gthread", "--workers", "1"),
                *("--threads", "4", "--bind", f"127.0.0.1:{port}", "app:app"),
            ],
            cwd=tmp_path,
            env=web_env,
            stdout=web_out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        worker = subprocess.Popen(
            [str(flask), "--app", "app.py", "weblab", "loop"],
            cwd=tmp_path,
            env=env,
            stdout=worker_out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        _wait_for(web_log, "Booting worker", web)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                request = urllib.request.Request(
                    url + "/weblab/sessions/",
                    data=json.dumps(start_body("")).encode(),
                    headers=rlms_headers(),
                )
                with urllib.request.urlopen(request, timeout=5) as reply:
                    started = json.load(reply)
                break
            except OSError:
                assert time.monotonic() < deadline, web_log.read_text()
                time.sleep(0.2)
        _wait_for(web_log, "INFO in app: Power on for john.smith", web)
        browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        browser.open(started["url"], timeout=5).close()
        logout = f"{url}/callback/{started['session_id']}/logout"
        browser.open(urllib.request.Request(logout, data=b""), timeout=5).close()
        # The worker runs the cleaner, hence on_dispose: its line shows there.
        _wait_for(worker_log, "INFO in app: Power off; john.smith pressed 0 times", worker)
    finally:
        for process in (web, worker):
            process.terminate()
        for process in (web, worker):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
