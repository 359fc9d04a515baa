"""``flask weblab fake new|status|dispose`` against a lab served over real HTTP."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import invoke
from tests.support.lab import AUTH, Lab
from weblab_ext.cli.fake import SESSION_FILE_NAME
from weblab_ext.rlms import PROFILES


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    urls: list[str] = []

    def open_url(url: str, *args: Any, **kwargs: Any) -> bool:
        urls.append(url)
        return True

    monkeypatch.setattr("webbrowser.open", open_url)
    return urls


def without_back(client_data: Any) -> dict[str, Any]:
    # WebLab-Deusto copies `back` into the client data it sends
    return {key: value for key, value in client_data.items() if key != "back"}


def session_path(lab: Lab) -> Path:
    return Path(lab.app.instance_path) / SESSION_FILE_NAME


def test_new_status_dispose(served: Lab, opened: list[str], tmp_path: Path) -> None:
    result = invoke(served, "new", "--dont-open-browser")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    lab_url = f"http://{served.app.config['SERVER_NAME']}"
    assert lines[0] == f"Starting a session in the lab at {lab_url} (as weblabdeusto does)..."
    assert lines[1] == ""
    assert lines[2].startswith("Congratulations! The session is started [in ")
    assert lines[2].endswith(" seconds]")
    assert "Warning" not in result.output and "Note" not in result.output  # store shared
    stored = json.loads(session_path(served).read_text())
    sid = stored["session_id"]
    assert f"Open: {stored['url']}" in lines
    assert f"Session identifier: {sid}" in lines
    assert "flask weblab fake status" in result.output
    assert "flask weblab fake dispose" in result.output
    assert stored["url"].startswith(f"http://{served.app.config['SERVER_NAME']}/callback/")
    assert opened == []
    assert not (Path.cwd() / SESSION_FILE_NAME).exists()
    client_data, server_data = served.started[0]
    assert without_back(client_data) == {}
    assert server_data["request.username"] == "john.smith"
    assert server_data["request.full_name"] == "John Smith"
    assert server_data["request.username.unique"] == "john.smith@institution"
    assert server_data["request.experiment_id.category_name"] == "Lab Experiments"
    assert float(server_data["priority.queue.slot.length"]) == 300

    result = invoke(served, "status")
    assert result.exit_code == 0, result.output
    assert "john.smith" in result.output
    assert "Should finish: 5" in result.output

    result = invoke(served, "dispose")
    assert result.exit_code == 0, result.output
    assert (
        f"Ending the session at {lab_url}: waiting for the lab's on_dispose (up to 5 s)..."
        in result.output.splitlines()
    )
    assert result.output.splitlines()[-1] == "Deleted"
    assert served.disposed == [sid]
    assert not session_path(served).exists()

    for command in ("status", "dispose"):
        result = invoke(served, command)
        assert result.exit_code == 0
        assert result.output.strip() == (
            "Session not found. Did you call 'flask weblab fake new' first?"
        )


def test_the_default_back_url_stays_in_the_lab(served: Lab) -> None:
    """No page on the Internet by default (offline it would be an error): the RLMS gives no
    back URL, so the student whose session ended sees the lab's own "session ended" page."""
    help_text = " ".join(invoke(served, "new", "--help").output.split())
    assert "[default: (none: the lab shows its own 'session ended' page)]" in help_text
    assert invoke(served, "new", "--dont-open-browser").exit_code == 0
    session_id = json.loads(session_path(served).read_text())["session_id"]
    student = served.browser(session_id)
    assert student.get(f"/callback/{session_id}/poll").json == {"success": True}
    assert invoke(served, "dispose").exit_code == 0
    page = student.get("/lab")
    assert page.status_code == 403
    assert "Your lab session has ended" in page.get_data(as_text=True)
    assert "http" not in page.headers.get("Location", "")


def test_new_opens_the_browser_and_passes_options(served: Lab, opened: list[str]) -> None:
    result = invoke(
        served,
        "new",
        "--name",
        "Ana",
        "--username",
        "ana",
        "--username-unique",
        "ana@uni",
        "--assigned-time",
        "60",
        "--back",
        "http://back/",
        "--locale",
        "es",
        "--experiment-name",
        "robot",
        "--category-name",
        "Robots",
        "--client-initial-data",
        '{"level": 2}',
    )
    assert result.exit_code == 0, result.output
    assert opened == [json.loads(session_path(served).read_text())["url"]]
    client_data, server_data = served.started[0]
    assert without_back(client_data) == {"level": 2}
    assert server_data["request.username"] == "ana"
    assert server_data["request.full_name"] == "Ana"
    assert server_data["request.locale"] == "es"
    assert server_data["request.experiment_id.experiment_name"] == "robot"
    assert float(server_data["priority.queue.slot.length"]) == 60


def test_assigned_time_must_be_an_integer(served: Lab) -> None:
    result = invoke(served, "new", "--dont-open-browser", "--assigned-time", "1.5")
    assert result.exit_code == 2
    assert served.started == []


def test_bad_client_initial_data_is_reported_and_replaced(served: Lab, tmp_path: Path) -> None:
    result = invoke(served, "new", "--dont-open-browser", "--client-initial-data", "{nope")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Error reading {nope: ")
    assert without_back(served.started[-1][0]) == {}

    good = tmp_path / "data.json"
    good.write_text('{"from": "file"}')
    result = invoke(served, "new", "--dont-open-browser", "--client-initial-data-file", str(good))
    assert result.exit_code == 0, result.output
    assert without_back(served.started[-1][0]) == {"from": "file"}

    missing = tmp_path / "missing.json"
    result = invoke(
        served, "new", "--dont-open-browser", "--client-initial-data-file", str(missing)
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Error reading {missing}: ")
    assert without_back(served.started[-1][0]) == {}


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile(served: Lab, profile: str) -> None:
    result = invoke(served, "new", "--dont-open-browser", "--profile", profile)
    assert result.exit_code == 0, result.output
    stored = json.loads(session_path(served).read_text())
    assert stored["profile"] == profile
    record = served.record(stored["session_id"])
    assert (record.username, record.full_name) == ("john.smith", "John Smith")
    result = invoke(served, "status")
    assert "Should finish: 5" in result.output, result.output
    result = invoke(served, "dispose")
    assert result.exit_code == 0, result.output
    assert len(served.disposed) == 1
    assert not session_path(served).exists()


def test_error_reply(served: Lab) -> None:
    served.weblab.callbacks.on_start = None  # replace make_lab's hook

    @served.weblab.on_start
    def failing(client_data: Any, server_data: Any) -> None:
        raise RuntimeError("no hardware")

    result = invoke(served, "new", "--dont-open-browser")
    assert result.exit_code == 1
    assert "Error processing request: Error initializing laboratory" in result.output
    # A testing (or debug) lab tells its developer what on_start raised.
    assert "  on_start raised RuntimeError: no hardware" in result.output.splitlines()
    assert not session_path(served).exists()


def test_on_start_text_never_reaches_a_real_rlms(served: Lab) -> None:
    served.app.config["TESTING"] = False  # a lab in production: neither testing nor debug
    served.weblab.callbacks.on_start = None

    @served.weblab.on_start
    def failing(client_data: Any, server_data: Any) -> None:
        raise RuntimeError("password=hunter2 at /opt/lab/driver.py")

    reply = served.raw_rlms.post("/weblab/sessions/", json=served.start_body(), headers=AUTH)
    assert reply.status_code == 500
    assert reply.json == {
        "error": True,
        "message": "Error initializing laboratory",
        "code": "on-start-failed",
    }
    result = invoke(served, "new", "--dont-open-browser")
    assert result.exit_code == 1
    assert "hunter2" not in result.output
    assert "on_start raised an exception: the lab's log shows it" in result.output
    assert "flask run --debug" in result.output


def test_new_warns_when_the_session_is_not_in_this_apps_store(
    served: Lab, make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    # Another lab (another store) answers on the address this app's CLI calls.
    other = make_lab(SERVER_NAME=served.app.config["SERVER_NAME"])
    other.app.instance_path = str(tmp_path / "other")
    result = invoke(other, "new", "--dont-open-browser")
    assert result.exit_code == 0, result.output
    assert "Congratulations" in result.output
    warning = result.output.split("Warning: ", 1)[1]
    assert "the session is not in this app's store" in warning
    assert f"the server at http://{served.app.config['SERVER_NAME']} is another lab" in warning
    assert len(served.started) == 1 and other.started == []


def test_new_on_the_embedded_store_says_the_cli_cannot_see_it(
    served: Lab, make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    embedded = make_lab(SERVER_NAME=served.app.config["SERVER_NAME"], WEBLAB_REDIS_URL=None)
    embedded.app.instance_path = str(tmp_path / "embedded")
    result = invoke(embedded, "new", "--dont-open-browser")
    assert result.exit_code == 0, result.output
    note = result.output.split("Note: ", 1)[1]
    assert "this command has its own embedded store" in note
    assert 'app.config["WEBLAB_REDIS_URL"] = "redis://localhost:6379/0"' in note
    assert "FLASK_WEBLAB_REDIS_URL=redis://localhost:6379/0" in note


def test_wrong_credentials(served: Lab) -> None:
    served.app.config["WEBLAB_PASSWORD"] = "wrong"
    result = invoke(served, "new", "--dont-open-browser")
    assert result.exit_code == 1
    assert "Error processing request: " in result.output
    assert "401" in result.output


def test_unreachable_lab(make_lab: Callable[..., Lab], tmp_path: Path) -> None:
    lab = make_lab(SERVER_NAME=f"127.0.0.1:{_free_port()}")
    lab.app.instance_path = str(tmp_path)
    result = invoke(lab, "new", "--dont-open-browser")
    assert result.exit_code == 1
    assert "The lab is not reachable at http://127.0.0.1:" in result.output
    assert "flask run" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_status_and_dispose_when_the_lab_stopped(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(SERVER_NAME=f"127.0.0.1:{_free_port()}")
    lab.app.instance_path = str(tmp_path)
    sid = lab.start_raw()
    session_path(lab).write_text(json.dumps({"session_id": sid}))
    result = invoke(lab, "status")
    assert result.exit_code == 0, result.output
    assert "john.smith" in result.output
    assert "Should finish: 5 (computed locally" in result.output

    result = invoke(lab, "dispose")
    assert result.exit_code == 1
    assert "The lab is not reachable" in result.output
    assert session_path(lab).exists()  # kept, so that dispose can be retried


def test_default_url_without_server_name(
    make_lab: Callable[..., Lab], monkeypatch: pytest.MonkeyPatch
) -> None:
    from weblab_ext.cli.fake import default_lab_url

    lab = make_lab(SERVER_NAME=None, WEBLAB_BASE_URL="/lab")
    monkeypatch.delenv("SERVER_NAME", raising=False)
    with lab.app.app_context():
        assert default_lab_url() == "http://localhost:5000/lab"
    monkeypatch.setenv("SERVER_NAME", "example.org:8080")
    with lab.app.app_context():
        assert default_lab_url() == "http://example.org:8080/lab"


def test_health_reads_the_health_url_as_labdiscoveryengine_does(served: Lab) -> None:
    result = invoke(served, "health")
    assert result.exit_code == 0, result.output
    assert f"http://{served.app.config['SERVER_NAME']}/weblab/health: success true" in (
        result.output
    )
    served.state.devices.lifecycle.set_maintenance(None, "Back at 14:00 \x1b[31m")
    result = invoke(served, "health")
    assert result.exit_code == 1
    assert "success false (marked broken: no student is sent there)" in result.output
    assert "message: Back at 14:00" in result.output and "\x1b" not in result.output
    assert "state: maintenance" in result.output
    assert invoke(served, "health", "--device", "board-9").exit_code != 0  # no such device
