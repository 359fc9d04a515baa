"""``flask weblab fake``: TLS verified by default, the state file private.

It used to skip certificate checks (the WebLab-Deusto profile does) and so sent the RLMS
credentials to a self-signed server for another name; its state file was world-readable.
"""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from tests.support.cli import invoke
from tests.support.lab import Lab
from weblab_ext.cli.fake import SESSION_FILE_NAME


def self_signed(folder: Path, name: str) -> tuple[str, str]:
    """A certificate for ``name`` (not the host the test connects to), signed by itself."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return str(cert), str(key)


@pytest.fixture
def tls_lab(make_lab: Callable[..., Lab], tmp_path: Path) -> Iterator[tuple[Lab, str, list[str]]]:
    """A lab served over HTTPS with a self-signed certificate for another name."""
    lab = make_lab()
    lab.app.instance_path = str(tmp_path / "instance")
    calls: list[str] = []

    @lab.app.before_request
    def count() -> None:
        calls.append(lab.app.name)

    cert = self_signed(tmp_path, "other.example")
    server: BaseWSGIServer = make_server("127.0.0.1", 0, lab.app, threaded=True, ssl_context=cert)
    url = f"https://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield lab, url, calls
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.mark.parametrize("profile", ["weblabdeusto", "labdiscoveryengine"])
def test_fake_new_verifies_tls_by_default(
    tls_lab: tuple[Lab, str, list[str]], profile: str
) -> None:
    lab, url, calls = tls_lab
    result = invoke(lab, "new", "--url", url, "--profile", profile, "--dont-open-browser")
    assert result.exit_code != 0
    assert "certificate" in result.output.lower()
    assert "--insecure" in result.output
    assert calls == []  # not one request reached the lab: no credentials were sent
    assert lab.state.monitoring.session_counts().total == 0
    assert not (Path(lab.app.instance_path) / SESSION_FILE_NAME).exists()


def test_insecure_opts_out_for_every_command(tls_lab: tuple[Lab, str, list[str]]) -> None:
    lab, url, _ = tls_lab
    result = invoke(lab, "new", "--url", url, "--insecure", "--dont-open-browser")
    assert result.exit_code == 0, result.output
    assert lab.state.monitoring.session_counts().total == 1
    refused = invoke(lab, "status", "--url", url)
    assert "certificate" in refused.output.lower()
    assert "Should finish: 5" in invoke(lab, "status", "--url", url, "--insecure").output
    refused = invoke(lab, "dispose", "--url", url)
    assert refused.exit_code != 0 and "--insecure" in refused.output
    result = invoke(lab, "dispose", "--url", url, "--insecure")
    assert result.exit_code == 0 and "Deleted" in result.output


def test_the_state_file_is_private(served: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("webbrowser.open", lambda *args, **kwargs: True)
    path = Path(served.app.instance_path) / SESSION_FILE_NAME
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    path.chmod(0o644)  # left by an older version
    old_umask = os.umask(0o022)
    try:
        result: Any = invoke(served, "new")
    finally:
        os.umask(old_umask)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.unlink()
    assert invoke(served, "new").exit_code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
