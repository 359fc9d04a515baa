"""The documentation tells the truth: every Python sample runs, the Quickstart works from an
empty folder, the generated references cover the code, and no page cites documents that
are not in the repository. (`make docs` builds the site with warnings as errors.)"""

from __future__ import annotations

import ast
import http.cookiejar
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, cast

import pytest
from flask import Flask

from tests.support.doc_blocks import Block, blocks
from tests.support.lab import json_of
from tests.support.paths import REPO
from weblab_ext.config import OPTIONS
from weblab_ext.runtime.users import CurrentUser
from weblab_ext.testing.harness import LabUnderTest

ROOT = REPO
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]

#: Names of documents that live outside the repository (the Sphinx build checks the
#: rendered pages, docstrings included, for the same names).
OUTSIDE = re.compile(r"\bSPEC\b|DESIGN\.md|RLMS_CLIENTS|STYLE\.md|\.\./shared\b")

#: The files whose code the pages show inline, so the raw Markdown reads as it renders:
#: ``True`` for a file shown whole (in a block captioned with its name), ``False`` for one
#: shown in excerpts (blocks of class ``excerpt``: runs of its whole lines). Each file is
#: tested as a file (see the tests below).
SAMPLE_FILES = {
    "quickstart.md": {
        ROOT / "examples" / "quickstart" / "app.py": True,
        ROOT / "examples" / "quickstart" / "templates" / "lab.html": True,
    },
    "testing.md": {
        DOCS / "samples" / "testing" / "conftest.py": True,
        DOCS / "samples" / "testing" / "mylab" / "__init__.py": True,
        DOCS / "samples" / "testing" / "test_mylab.py": False,
        DOCS / "samples" / "quickstart_tests" / "conftest.py": True,
        DOCS / "samples" / "quickstart_tests" / "test_lab.py": True,
    },
    "deployment.md": {ROOT / "Procfile": True, DOCS / "samples" / "logging_config.py": True},
}


def copies_a_sample(block: Block) -> bool:
    """Whether a block shows (part of) a sample file, which is tested as a file instead."""
    texts = [path.read_text(encoding="utf-8") for path in SAMPLE_FILES.get(block.page.name, {})]
    return block.options.get("class") == "excerpt" or block.code in texts


def python_samples() -> list[Block]:
    return [
        b
        for page in PAGES
        for b in blocks(page)
        if b.language == "python" and b.directive in (None, "code-block") and not copies_a_sample(b)
    ]


# -- citations --------------------------------------------------------------------------------


def documentation_files() -> Iterator[Path]:
    for path in DOCS.rglob("*"):
        parts = path.relative_to(DOCS).parts
        if parts[0] in ("_build", "_ext") or not path.is_file():
            continue
        if path.suffix in (".md", ".rst", ".py", ".txt", ".html", ".ini"):
            yield path
    yield ROOT / "README.md"
    yield ROOT / "CHANGES.rst"
    yield from (ROOT / "examples").rglob("README.md")


def test_no_page_cites_documents_outside_the_repository() -> None:
    cited = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in documentation_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert cited == []


def test_the_build_check_and_this_test_look_for_the_same_names() -> None:
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import weblab_docs
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    assert weblab_docs.OUTSIDE_CITATIONS.pattern == OUTSIDE.pattern


# -- Python samples ---------------------------------------------------------------------------


def test_every_page_with_python_has_samples_found() -> None:
    """Guards the extractor: if it stops finding blocks, the sample tests would pass empty."""
    names = {b.page.name for b in python_samples()}
    assert {
        "README.md",
        "users.md",
        "tasks.md",
        "realtime.md",
        "rlms.md",
        "deployment.md",
        "configuration.md",
        "quickstart.md",
        "testing.md",
    } <= names


class RunSample(Protocol):
    def __call__(self, block: Block, *, threads: bool = False) -> dict[str, Any]: ...


@pytest.fixture
def run_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunSample]:
    """Run a sample as a file of its own (in an empty folder). Its labs start no background
    threads unless ``threads=True`` (stopping them costs a second each); any started are
    stopped afterwards."""
    namespaces: list[dict[str, Any]] = []

    def run(block: Block, *, threads: bool = False) -> dict[str, Any]:
        monkeypatch.chdir(tmp_path)
        namespace: dict[str, Any] = {"__name__": f"docs_sample_{block.page.stem}"}
        namespaces.append(namespace)
        exec(compile(block.code, block.name, "exec"), namespace)
        if not threads:
            for app in _weblab_apps(namespace):
                app.extensions["weblab"].stop_threads(0)  # before the first request: none start
        return namespace

    yield run
    for namespace in namespaces:
        for app in _weblab_apps(namespace):
            app.extensions["weblab"].stop_threads(5.0)


def _weblab_apps(namespace: dict[str, Any]) -> list[Flask]:
    # type(), not isinstance(): the sample's namespace holds proxies such as weblab_user,
    # which raise when asked for their class outside a request.
    return [
        value
        for value in namespace.values()
        if issubclass(type(value), Flask) and "weblab" in value.extensions
    ]


@pytest.mark.parametrize("block", python_samples(), ids=lambda b: b.name)
def test_python_sample_runs_and_serves_a_student(block: Block, run_sample: RunSample) -> None:
    """Each sample is a complete file: it runs as written (no name left to supply), and every
    lab it builds lets a student in through the launch URL."""
    # A sample whose on_dispose waits for the session's tasks needs a worker to end them.
    for app in _weblab_apps(run_sample(block, threads=".join(" in block.code)):
        if app.extensions["weblab"].callbacks.initial_url is None:
            continue  # a configuration sample: no way in
        if app.config["SESSION_COOKIE_PATH"]:
            continue  # mounted under a prefix: tested on its own below
        devices = app.extensions["weblab"].settings.devices
        student = LabUnderTest(app).student(device=devices[0] if devices else None)
        page = student.get(student.landing.location)
        assert page.status_code == 200, page.get_data(as_text=True)
        assert student.dispose().finished


def sample(page: str, containing: str) -> Block:
    found = [b for b in python_samples() if b.page.name == page and containing in b.code]
    assert len(found) == 1, f"{page}: {len(found)} samples contain {containing!r}"
    return found[0]


def test_tasks_sample_measures(run_sample: RunSample) -> None:
    namespace = run_sample(sample("tasks.md", "def measure"), threads=True)
    student = LabUnderTest(namespace["app"]).student()  # its first request starts workers
    task_id = json_of(student.post("/measure"))["task_id"]
    deadline = time.monotonic() + 30
    while (status := json_of(student.get(f"/measure/{task_id}")))["status"] != "done":
        assert status["status"] in ("submitted", "running"), status
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    assert len(status["result"]) == 100
    assert status["data"] == {"done": 100}
    assert student.get("/measure/no-such-task").status_code == 404


def test_users_sample_hooks_and_decorators(run_sample: RunSample) -> None:
    app = run_sample(sample("users.md", "def load_user"))["app"]
    assert app.test_client().get("/lab").status_code == 403  # unauthorized_handler
    student = LabUnderTest(app).student(username="john", username_unique="john.smith@institution")
    assert "(group A)" in student.get("/lab").get_data(as_text=True)
    assert student.post("/light/on").json == {"light": True}
    assert student.post("/leave").status_code == 302
    assert student.get("/results").json == {"light": True, "active": False}
    assert student.get("/lab").status_code == 302  # back to the RLMS


def test_realtime_sample_guards_sockets(run_sample: RunSample) -> None:
    pytest.importorskip("flask_socketio")
    namespace = run_sample(sample("realtime.md", "socketio.on"))
    app, socketio = namespace["app"], namespace["socketio"]
    assert socketio.test_client(app).is_connected() is False  # anonymous: refused
    student = LabUnderTest(app).student()
    socket = socketio.test_client(app, flask_test_client=student.client)
    assert socket.is_connected()
    state = {"user": cast(CurrentUser, student.user()).username, "light": False}
    assert socket.get_received()[0] == {"name": "state", "args": [state], "namespace": "/"}
    other_tab = socketio.test_client(app, flask_test_client=student.client)
    socket.emit("switch", {"on": True})
    assert socket.get_received()[-1]["args"] == [True]
    assert other_tab.get_received()[-1]["args"] == [True]  # every socket of the session
    assert cast(CurrentUser, student.user()).data["light"] is True
    again = socketio.test_client(app, flask_test_client=student.client)  # a reconnect
    assert again.get_received()[0]["args"] == [{**state, "light": True}]  # the full state
    for client in (socket, other_tab, again):
        client.disconnect()


def test_realtime_page_loads_a_socketio_client_the_lab_serves(run_sample: RunSample) -> None:
    """The page's ``<script src>`` for the Socket.IO client resolves in the page's own lab,
    with nothing copied or downloaded (no CDN: it works offline)."""
    pytest.importorskip("flask_socketio")
    html = next(
        b for b in blocks(DOCS / "realtime.md") if "socket.io" in b.code and "<script" in b.code
    )
    calls = re.findall(r"url_for\('([\w.]+)', filename='([^']+)'\)", html.code)
    assert [filename for _, filename in calls] == ["socket.io.min.js"], html.code
    app = run_sample(sample("realtime.md", "socketio.on"))["app"]
    with app.test_request_context():
        from flask import url_for

        url = url_for(calls[0][0], filename=calls[0][1])
    with app.test_client().get(url) as reply:
        assert reply.status_code == 200, url
        assert reply.get_data(as_text=True).startswith("/*!\n * Socket.IO v4.")


def test_two_labs_on_one_host_keep_their_own_cookies(run_sample: RunSample) -> None:
    from werkzeug.test import Client

    namespace = run_sample(sample("rlms.md", "DispatcherMiddleware"))
    browser = Client(namespace["application"])  # one browser, one cookie jar, one host
    for name in ("lab1", "lab2"):
        session = LabUnderTest(namespace[name]).start(username=f"student-of-{name}")
        launch = session.url.replace("http://localhost", f"http://localhost/{name}")
        assert browser.get(launch).status_code == 302
    for name in ("lab1", "lab2"):  # entering lab2 did not log the student out of lab1
        page = browser.get(f"/{name}/lab")
        assert page.status_code == 200
        assert page.get_data(as_text=True) == f"{name}: hello student-of-{name}"


def test_health_check_sample_answers_what_the_page_says(run_sample: RunSample) -> None:
    namespace = run_sample(sample("rlms.md", "@weblab.health_check"))
    client = namespace["app"].test_client()
    # The samples of this module share one embedded store: this lab's own round first.
    assert LabUnderTest(namespace["app"]).check_health() == 1
    reply = client.get("/weblab/health")  # no credentials
    assert reply.status_code == 200
    assert reply.json["success"] is True and reply.json["message"] == "ok: store, camera"
    namespace["camera_connected"] = False
    assert LabUnderTest(namespace["app"]).check_health() == 1  # the next round
    reply = client.get("/ldl/health")
    assert reply.status_code == 200
    assert reply.json["success"] is False and reply.json["message"] == "camera: returned false"


def test_proxyfix_sample_returns_the_public_launch_url(run_sample: RunSample) -> None:
    app = run_sample(sample("deployment.md", "ProxyFix"))["app"]
    lab = LabUnderTest(app)
    body = {
        "client_initial_data": {},
        "back": "https://rlms.example.org/back",
        "server_initial_data": {
            "priority.queue.slot.start.timestamp": str(time.time()),
            "priority.queue.slot.length": "60",
            "request.username": "ana",
            "request.experiment_id.experiment_name": "mylab",
        },
    }
    reply = app.test_client().post(
        "/weblab/sessions/",
        json=body,
        auth=("weblabdeusto", "change-me-too"),
        headers={
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "example.org",
            "X-Forwarded-Prefix": "/lab1",
            "X-Forwarded-For": "192.0.2.1",
        },
    )
    assert reply.status_code == 200
    session_id = reply.json["session_id"]
    assert reply.json["url"] == f"https://example.org/lab1/callback/{session_id}"
    assert cast(CurrentUser, lab.user(session_id)).username == "ana"


# -- the testing guide's project --------------------------------------------------------------


def test_testing_guide_project_passes(tmp_path: Path) -> None:
    project = tmp_path / "testing"
    shutil.copytree(
        DOCS / "samples" / "testing", project, ignore=shutil.ignore_patterns("__pycache__")
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"],
        cwd=project,
        text=True,
        capture_output=True,
        timeout=120,
        env=_clean_env(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^12 passed", result.stdout, re.M), result.stdout


def test_quickstart_lab_passes_the_testing_guide_tests(tmp_path: Path) -> None:
    """A lab written as the Quickstart shows (module-level app, secrets required outside
    debug mode, CSRF-protected forms) is tested exactly as the testing guide says: its
    app.py and templates, the guide's conftest.py and test file, and `pytest`."""
    example = ROOT / "examples" / "quickstart"
    shutil.copy(example / "app.py", tmp_path / "app.py")
    shutil.copytree(example / "templates", tmp_path / "templates")
    for sample in (DOCS / "samples" / "quickstart_tests").glob("*.py"):
        shutil.copy(sample, tmp_path / sample.name)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        text=True,
        capture_output=True,
        timeout=120,
        env=_clean_env(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^4 passed", result.stdout, re.M), result.stdout
    assert "Warning" not in result.stdout + result.stderr


def test_testing_guide_script_warns_about_nothing(tmp_path: Path) -> None:
    """The guide's script without pytest runs clean: its example secrets and embedded store
    are those of a test (``TESTING``), which production warnings leave alone."""
    script = tmp_path / "script.py"
    script.write_text(sample("testing.md", "for name in PROFILES").code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        text=True,
        capture_output=True,
        timeout=60,
        env=_clean_env(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.count("started, polled and disposed") == 5


def test_the_logging_sample_decides_and_weblab_ext_leaves_it_alone(tmp_path: Path) -> None:
    """docs/deployment.md's logging configuration, imported before the lab: the lab's INFO
    lines and weblab_ext's come out in its format; weblab_ext set no level of its own."""
    shutil.copy(DOCS / "samples" / "logging_config.py", tmp_path)
    lab = """
import logging
import logging_config
from flask import Flask
from weblab_ext import WebLab

app = Flask("mylab")
app.config.update(TESTING=True, SECRET_KEY="k", WEBLAB_USERNAME="u", WEBLAB_PASSWORD="p")
WebLab(app)
assert app.logger.level == logging.NOTSET
app.logger.info("Power on")
logging.getLogger("weblab_ext").info("from weblab_ext")
"""
    result = subprocess.run(
        [sys.executable, "-c", lab],
        cwd=tmp_path,
        text=True,
        capture_output=True,
        timeout=60,
        env=_clean_env(),
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^\S+ \S+ INFO mylab: Power on$", result.stderr, re.M), result.stderr
    assert re.search(r"INFO weblab_ext: from weblab_ext$", result.stderr, re.M), result.stderr


# -- generated references ---------------------------------------------------------------------


def test_every_option_has_a_type_and_a_meaning_in_full_sentences() -> None:
    for option in OPTIONS:
        assert option.type_name, option.key
        words = option.doc.split()
        assert len(words) >= 6, f"{option.key}: {option.doc!r} is too short to explain it"
        assert option.doc[0].isupper() or option.doc[0] == "`", option.key
        assert option.doc.rstrip().endswith("."), f"{option.key}: end the sentence"


def test_configuration_reference_is_generated_from_the_options() -> None:
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import weblab_docs
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    lines = weblab_docs.options_table()
    entries = [line.split()[1] for line in lines if line.startswith("```{confval}")]
    assert entries == [option.key for option in OPTIONS]
    summary = [line.split("`")[1] for line in lines if line.startswith("| {confval}")]
    assert summary == [option.key for option in OPTIONS]
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert "```{weblab-options}" in page
    listed_by_hand = set(re.findall(r"^\| `(WEBLAB_\w+)`", page, re.M))
    assert listed_by_hand <= {
        "WEBLAB_URL",
        "WEBLAB_USERNAME",
        "WEBLAB_PASSWORD",
        "WEBLAB_TIMEOUT_S",
    }  # the RLMS client's variables only


# -- the Quickstart, end to end ---------------------------------------------------------------


def quickstart_steps() -> list[dict[str, str]]:
    """The files of the reader's folder each time the Quickstart gives a new ``app.py``."""
    files: dict[str, str] = {}
    steps = []
    for block in blocks(DOCS / "quickstart.md"):
        name = block.options.get("caption")
        if name is None:
            continue
        files[name] = block.code
        if name == "app.py":
            steps.append(dict(files))
    return steps


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "WEBLAB_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _flask(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "flask"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "flask", *args]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the caller sees the 3xx as an HTTPError


class Browser:
    """A cookie-keeping HTTP client, like a student's browser. It follows redirects only
    within the lab (the back URL of a session is on the Internet: never called)."""

    def __init__(self, lab_url: str) -> None:
        self.lab_url = lab_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def open(self, url: str, data: bytes | None = None) -> tuple[str, str]:
        """Request ``url``, following the lab's own redirects; return (final URL, body)."""
        for _ in range(5):
            try:
                with self.opener.open(urllib.request.Request(url, data=data), timeout=10) as reply:
                    return reply.geturl(), reply.read().decode()
            except urllib.error.HTTPError as error:
                location = error.headers.get("Location", "")
                if error.code not in (301, 302, 303, 307, 308):
                    raise
                url, data = urllib.parse.urljoin(url, location), None
                if not url.startswith(self.lab_url):
                    return url, ""  # leaves the lab: report where, do not go
        raise AssertionError("too many redirects")


@pytest.mark.slow
@pytest.mark.parametrize("step", [0, 1], ids=["smallest-lab", "whole-lab"])
def test_quickstart_runs_from_an_empty_folder(step: int, tmp_path: Path) -> None:
    """Write the files the Quickstart gives, `flask run`, `flask weblab fake new`, follow
    the launch URL: the lab page greets the student; status and dispose work."""
    steps = quickstart_steps()
    assert len(steps) == 2, "the Quickstart gives app.py twice: the smallest and the whole lab"
    for name, text in steps[step].items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    port, env = _free_port(), _clean_env()
    env["FLASK_DEBUG"] = "1"  # step 1: `export FLASK_DEBUG=1` in every terminal
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "flask-run.log"
    with log.open("w") as output:
        # No reloader: it would run the lab in a child process this test could not stop.
        server = subprocess.Popen(
            _flask("run", "--port", str(port), "--no-reload"),
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, server, log)

        def cli(*args: str) -> str:
            done = subprocess.run(
                _flask("weblab", "fake", *args),
                cwd=tmp_path,
                env=env,
                text=True,
                capture_output=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout

        out = cli("new", "--dont-open-browser", "--url", url)
        assert "Congratulations! The session is started" in out
        launch = re.search(r"^Open: (\S+)$", out, re.M)
        assert launch is not None, out
        browser = Browser(url)
        landed, page = browser.open(launch[1])
        assert landed == f"{url}/lab"
        assert "Hello John Smith" in page
        if step == 1:
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert token is not None, page
            _, page = browser.open(f"{url}/press", data=f"csrf_token={token[1]}".encode())
            assert 'id="presses">1<' in page
            assert "weblab_poll.js" in page
        assert re.search(r"^Should finish: [1-9]", cli("status"), re.M)
        assert "Deleted" in cli("dispose")
        with pytest.raises(urllib.error.HTTPError) as over:  # the session is over, and the
            browser.open(f"{url}/lab")  # fake RLMS gave no back URL: the lab says so itself
        assert over.value.code == 403
        assert "Your lab session has ended" in over.value.read().decode()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def _wait_for_port(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"flask run exited: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("flask run did not listen within 30 s")


def test_quickstart_final_listing_is_the_tested_example() -> None:
    final = quickstart_steps()[-1]
    example = ROOT / "examples" / "quickstart"
    assert final["app.py"] == (example / "app.py").read_text(encoding="utf-8")
    assert final["templates/lab.html"] == (example / "templates" / "lab.html").read_text(
        encoding="utf-8"
    )


def test_pages_include_no_files() -> None:
    """The README says the Markdown pages read as they are: no code hides behind an include
    directive (the pages copy their samples; the test below keeps the copies exact)."""
    included = [
        b.name
        for page in PAGES
        for b in blocks(page)
        if b.directive in ("literalinclude", "include")
    ]
    assert included == []


@pytest.mark.parametrize("page", sorted(SAMPLE_FILES))
def test_pages_show_their_sample_files_as_they_are(page: str) -> None:
    lines_of = {path: path.read_text(encoding="utf-8").splitlines() for path in SAMPLE_FILES[page]}
    shown = set()
    for block in blocks(DOCS / page):
        if block.options.get("class") == "excerpt":
            run = block.code.splitlines()
            assert run, block.name
            assert any(
                lines[i : i + len(run)] == run
                for lines in lines_of.values()
                for i in range(len(lines))
            ), f"{block.name}: not a run of lines of any sample file of {page}"
        else:
            shown |= {path for path in lines_of if path.read_text(encoding="utf-8") == block.code}
    whole = {path for path, is_whole in SAMPLE_FILES[page].items() if is_whole}
    assert shown == whole, f"{page}: sample files not shown whole: {whole - shown}"
    excerpted = {path for path, is_whole in SAMPLE_FILES[page].items() if not is_whole}
    for path in excerpted:
        assert any(
            b.options.get("class") == "excerpt" and b.code in path.read_text(encoding="utf-8")
            for b in blocks(DOCS / page)
        ), f"{page} shows nothing of {path.name}"


def test_every_code_block_names_its_language() -> None:
    """Pages stay valid MyST and get highlighted: a fence without a language is neither."""
    unnamed = [
        b.name for page in PAGES for b in blocks(page) if b.directive is None and not b.language
    ]
    assert unnamed == []


def docstring_samples() -> list[tuple[str, str]]:
    """The ``.. code-block:: python`` samples of the package's docstrings (the API pages)."""
    found = []
    for path in sorted((ROOT / "weblab_ext").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if line.strip() != ".. code-block:: python":
                continue
            indent = len(line) - len(line.lstrip())
            body = []
            for following in lines[number + 2 :]:
                if following.strip() and len(following) - len(following.lstrip()) <= indent:
                    break
                body.append(following)
            found.append(
                (
                    f"{path.relative_to(ROOT)}:{number + 1}",
                    textwrap.dedent("\n".join(body)).replace('"""', ""),
                )
            )
    return found


@pytest.mark.parametrize("where, code", docstring_samples(), ids=lambda v: str(v)[:60])
def test_docstring_samples_are_valid_python(where: str, code: str) -> None:
    """API docstrings show fragments (they assume an ``app``, a ``weblab``...): they are not
    run, but each must at least be Python a reader can paste."""
    ast.parse(code, filename=where)
