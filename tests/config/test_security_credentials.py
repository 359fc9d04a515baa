"""Production never runs on published or weak credentials.

The Procfile served the Socket.IO example with its hard-coded RLMS password and SECRET_KEY:
with only the Redis URL set, anyone could start a session, drive the hardware and forge
session cookies, and ``flask weblab check`` said all was fine.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import uuid
from typing import Any

import pytest
from flask import Flask

from tests.support.paths import REPO
from tests.support.redis_server import RedisServer
from weblab_ext import InvalidConfigError, WebLab
from weblab_ext.config import PUBLISHED_SECRETS, require_secrets, weak_secrets

ROOT = REPO
STRONG_PASSWORD = "f" + uuid.uuid4().hex  # made per run: published nowhere
STRONG_KEY = uuid.uuid4().hex + uuid.uuid4().hex


def make_app(redis_url: str, **config: Any) -> Flask:
    app = Flask(f"creds_{uuid.uuid4().hex[:8]}")
    app.config.update(
        SECRET_KEY=STRONG_KEY,
        WEBLAB_USERNAME="rlms",
        WEBLAB_PASSWORD=STRONG_PASSWORD,
        WEBLAB_REDIS_URL=redis_url,
        WEBLAB_REDIS_BASE=f"creds-{uuid.uuid4().hex}",
        WEBLAB_NO_THREAD=True,
        SERVER_NAME="lab.example",
    )
    app.config.update(config)
    weblab = WebLab(app)
    weblab.initial_url(lambda: "/")
    return app


WEAK = [
    ({"WEBLAB_PASSWORD": "short-pw"}, "WEBLAB_PASSWORD", "shorter than 12"),
    ({"WEBLAB_PASSWORD": " " * 14}, "WEBLAB_PASSWORD", "blank"),
    ({"WEBLAB_PASSWORD": "dev-only-rlms-password"}, "WEBLAB_PASSWORD", "published"),
    ({"SECRET_KEY": "fifteen-bytes!!"}, "SECRET_KEY", "shorter than 16 bytes"),
    ({"SECRET_KEY": b"0123456789abcde"}, "SECRET_KEY", "shorter than 16 bytes"),
    ({"SECRET_KEY": "change-me-in-production"}, "SECRET_KEY", "published"),
]


@pytest.mark.parametrize(("config", "key", "why"), WEAK)
def test_init_app_warns_naming_the_key_never_the_value(
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
    config: dict[str, Any],
    key: str,
    why: str,
) -> None:
    caplog.set_level(logging.WARNING, logger="weblab_ext")
    make_app(redis_server.url, **config)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(key in line and why in line for line in warnings), warnings
    value = config[key]
    text = value.decode() if isinstance(value, bytes) else value
    if text.strip():
        assert text not in caplog.text


@pytest.mark.parametrize("mode", [{"DEBUG": True}, {"TESTING": True}])
@pytest.mark.parametrize(("config", "key", "why"), WEAK)
def test_debug_and_testing_tolerate_weak_values(
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
    config: dict[str, Any],
    key: str,
    why: str,
    mode: dict[str, bool],
) -> None:
    caplog.set_level(logging.WARNING, logger="weblab_ext")
    make_app(redis_server.url, **config, **mode)
    assert key not in caplog.text


def test_strong_values_raise_no_warning(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="weblab_ext")
    make_app(redis_server.url)
    assert "WEBLAB_PASSWORD" not in caplog.text and "SECRET_KEY" not in caplog.text


def check(app: Flask) -> Any:
    with app.app_context():  # `flask` pushes one; the test runner does not
        return app.test_cli_runner().invoke(args=["weblab", "check"])


@pytest.mark.parametrize(("config", "key", "why"), WEAK)
def test_check_fails_on_weak_values(
    redis_server: RedisServer, config: dict[str, Any], key: str, why: str
) -> None:
    result = check(make_app(redis_server.url, **config))
    assert result.exit_code == 1
    assert re.search(f"PROBLEM: {key} .*{why}", result.output), result.output


def test_check_passes_on_strong_values_and_notes_debug(redis_server: RedisServer) -> None:
    result = check(make_app(redis_server.url))
    assert result.exit_code == 0, result.output
    assert "PROBLEM" not in result.output  # (the test Redis has AOF off: only a warning)
    result = check(make_app(redis_server.url, DEBUG=True, WEBLAB_PASSWORD="x"))
    assert result.exit_code == 0, result.output
    assert "WEBLAB_PASSWORD" in result.output and "debug" in result.output.lower()


DEVELOPMENT = {"SECRET_KEY": "dev-key", "WEBLAB_USERNAME": "dev", "WEBLAB_PASSWORD": "dev-pw"}


def test_require_secrets_refuses_outside_debug_naming_what_is_missing() -> None:
    config = {"WEBLAB_USERNAME": "rlms", "SECRET_KEY": ""}
    with pytest.raises(InvalidConfigError) as caught:
        require_secrets(config, DEVELOPMENT, debug=False)
    message = str(caught.value)
    assert "FLASK_SECRET_KEY" in message and "FLASK_WEBLAB_PASSWORD" in message
    assert "FLASK_WEBLAB_USERNAME" not in message and "--debug" in message
    assert config == {"WEBLAB_USERNAME": "rlms", "SECRET_KEY": ""}  # nothing filled in


def test_require_secrets_fills_only_the_missing_ones_in_debug_mode() -> None:
    config: dict[str, Any] = {"WEBLAB_USERNAME": "rlms"}
    require_secrets(config, DEVELOPMENT, debug=True)
    assert config == {
        "WEBLAB_USERNAME": "rlms",
        "SECRET_KEY": "dev-key",
        "WEBLAB_PASSWORD": "dev-pw",
    }
    complete = {"SECRET_KEY": "k", "WEBLAB_USERNAME": "u", "WEBLAB_PASSWORD": "p"}
    require_secrets(complete, DEVELOPMENT, debug=False)  # all there: nothing to say
    assert complete["SECRET_KEY"] == "k"


# -- the shipped examples and the Procfile ---------------------------------------------------

EXAMPLE_APPS = [
    "examples/simple/app.py",
    "examples/quickstart/app.py",
    "examples/advanced/wsgi.py",
    "examples/socketio/app.py",
]


def shipped_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh shell: none of the settings the examples read."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("FLASK_", "WEBLAB_"))
    }
    env.update(extra)
    return env


def flask_cli(app_path: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", app_path, *args],
        cwd=ROOT,
        env=shipped_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("app_path", EXAMPLE_APPS)
def test_check_on_each_shipped_example_fails_clearly(app_path: str) -> None:
    result = flask_cli(app_path, "weblab", "check")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for variable in ("FLASK_SECRET_KEY", "FLASK_WEBLAB_USERNAME", "FLASK_WEBLAB_PASSWORD"):
        assert variable in output, output
    assert "--debug" in output


@pytest.mark.slow
def test_check_without_secrets_says_so_in_one_line() -> None:
    result = flask_cli("examples/quickstart/app.py", "weblab", "check")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines() == [
        "Error: Refusing to start without FLASK_SECRET_KEY, FLASK_WEBLAB_USERNAME, "
        "FLASK_WEBLAB_PASSWORD in the environment; run with --debug to use development "
        "values instead"
    ]


PRODUCTION_SECRETS = {
    "FLASK_SECRET_KEY": STRONG_KEY,
    "FLASK_WEBLAB_USERNAME": "rlms",
    "FLASK_WEBLAB_PASSWORD": STRONG_PASSWORD,
}


@pytest.mark.slow
def test_check_fails_on_the_embedded_store_that_gunicorn_refuses() -> None:
    """Production secrets and no WEBLAB_REDIS_URL: a production server refuses to serve the
    lab, so the check fails too, saying why and what to set."""
    result = flask_cli("examples/quickstart/app.py", "weblab", "check", **PRODUCTION_SECRETS)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Everything looks fine" not in result.stdout
    assert re.search(r"^PROBLEM: WEBLAB_REDIS_URL is not set", result.stdout, re.M)
    assert "FLASK_WEBLAB_REDIS_URL=redis://" in result.stdout
    debug = flask_cli("examples/quickstart/app.py", "--debug", "weblab", "check")
    assert re.search(r"^ok: WEBLAB_REDIS_URL is not set", debug.stdout, re.M), debug.stdout


@pytest.mark.slow
def test_check_names_a_published_password_once(redis_server: RedisServer) -> None:
    result = flask_cli(
        "examples/quickstart/app.py",
        "weblab",
        "check",
        **{**PRODUCTION_SECRETS, "FLASK_WEBLAB_PASSWORD": "change-me-too"},
        FLASK_WEBLAB_REDIS_URL=redis_server.url,
    )
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert output.count("WEBLAB_PASSWORD is a value published") == 1, output
    assert "PROBLEM: WEBLAB_PASSWORD is a value published" in result.stdout


@pytest.mark.slow
def test_the_procfile_web_app_refuses_to_start_without_secrets() -> None:
    procfile = (ROOT / "Procfile").read_text()
    web = next(line for line in procfile.splitlines() if line.startswith("web:"))
    folder = re.search(r"--chdir (\S+)", web)
    module = re.search(r"(\w+):app\b", web)
    assert folder and module
    code = f"import {module.group(1)}"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT / folder.group(1),
        env=shipped_env(FLASK_WEBLAB_REDIS_URL="redis://127.0.0.1:1/0"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "FLASK_SECRET_KEY" in result.stderr and "FLASK_WEBLAB_PASSWORD" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("app_path", EXAMPLE_APPS)
def test_each_example_starts_in_debug_mode_with_no_setup(app_path: str) -> None:
    result = flask_cli(app_path, "--debug", "routes")
    assert result.returncode == 0, result.stderr
    assert "weblab_callback_url" in result.stdout


# -- the list of published values does not drift ----------------------------------------------

#: Where a credential value is written down in this repository.
_CREDENTIAL_PATTERNS = [
    re.compile(r"""(?:PASSWORD|SECRET_KEY|password|secret)["']?\s*[:=]\s*b?["']([^"'\n]+)["']"""),
    re.compile(r"FLASK_(?:WEBLAB_PASSWORD|SECRET_KEY)=([^\s'\"]+)"),
    re.compile(r"-u\s+[\w.@-]+:([^\s'\"]+)"),
    re.compile(r"://[\w.-]*:([^@\s/'\"]+)@"),  # the password of a URL
]
_SCANNED = ("examples", "docs", "tests", "benchmarks", "weblab_ext", "README.md", "Procfile")


def published_credentials() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name in _SCANNED:
        root = ROOT / name
        files = (
            [root]
            if root.is_file()
            else [
                path
                for path in root.rglob("*")
                if path.suffix in (".py", ".md", ".html", ".js", "")
                and path.is_file()
                and "__pycache__" not in path.parts
                and path.name != "socket.io.min.js"
            ]
        )
        for path in files:
            text = path.read_text(encoding="utf-8", errors="replace")
            for pattern in _CREDENTIAL_PATTERNS:
                for value in pattern.findall(text):
                    if not re.fullmatch(r"[A-Z_]+|.*[{$<].*", value):  # names, templates
                        found.setdefault(value, set()).add(str(path.relative_to(ROOT)))
    return found


def test_the_scan_finds_what_it_should() -> None:
    found = published_credentials()
    assert "dev-only-rlms-password" in found  # the examples' development value
    assert "rlms-s3cret" in found  # tests/support/lab.py
    assert "hunter2-hunter2" in found  # a Redis URL password in a test


def test_every_credential_written_in_the_repository_is_refused() -> None:
    """Each value is either in PUBLISHED_SECRETS or too short for both a password and a key."""
    slipped = {
        value: sorted(where)
        for value, where in published_credentials().items()
        if len(value) >= 12 and value not in PUBLISHED_SECRETS
    }
    assert slipped == {}, "add these to weblab_ext.config.PUBLISHED_SECRETS"
    for value in published_credentials():
        for key in ("WEBLAB_PASSWORD", "SECRET_KEY"):
            assert any(problem.startswith(key) for problem in weak_secrets({key: value})), value
