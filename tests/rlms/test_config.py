"""Where the RLMS client takes its settings from, and in which order."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from weblab_ext.rlms import (
    PROFILES,
    FlaskTransport,
    RLMSClient,
    RLMSConfigError,
    RLMSSettings,
    read_dotenv,
    resolve_settings,
    rlms_context,
)
from weblab_ext.rlms.config import DEFAULT_TIMEOUT_S

ENV = {
    "WEBLAB_URL": "http://env:1",
    "WEBLAB_USERNAME": "env-user",
    "WEBLAB_PASSWORD": "env-pass",
    "WEBLAB_TIMEOUT_S": "7",
}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# comment\n"
        "export WEBLAB_URL=http://dotenv:2\n"
        'WEBLAB_USERNAME="dot-user"\n'
        "WEBLAB_PASSWORD='dot-pass'\n"
        "WEBLAB_TIMEOUT_S = 9\n"
        "garbage line\n",
        encoding="utf-8",
    )
    rc = tmp_path / "netrc"
    rc.write_text(
        "machine dotenv login rc-user password rc-pass\nmachine nohost login other password x\n",
        encoding="utf-8",
    )
    os.chmod(rc, 0o600)
    return {"dotenv": dotenv, "netrc": rc, "missing": tmp_path / "missing"}


def _resolve(
    files: dict[str, Path],
    environ: dict[str, str] | None = None,
    dotenv: bool = True,
    **kwargs: Any,
) -> RLMSSettings:
    return resolve_settings(
        environ=environ or {},
        dotenv_path=files["dotenv"] if dotenv else files["missing"],
        netrc_path=files["netrc"],
        **kwargs,
    )


def test_read_dotenv(files: dict[str, Path]) -> None:
    assert read_dotenv(files["dotenv"]) == {
        "WEBLAB_URL": "http://dotenv:2",
        "WEBLAB_USERNAME": "dot-user",
        "WEBLAB_PASSWORD": "dot-pass",
        "WEBLAB_TIMEOUT_S": "9",
    }
    assert read_dotenv(files["missing"]) == {}


def test_arguments_win_over_everything(files: dict[str, Path]) -> None:
    with rlms_context(url="http://ctx:3", username="ctx-user", password="ctx-pass", timeout=3):
        s = _resolve(
            files, ENV, url="http://arg:4", username="arg-user", password="arg-pass", timeout=1.5
        )
    assert (s.url, s.username, s.password, s.timeout) == (
        "http://arg:4",
        "arg-user",
        "arg-pass",
        1.5,
    )


def test_context_wins_over_environment(files: dict[str, Path]) -> None:
    with rlms_context(url="http://ctx:3", username="ctx-user", password="ctx-pass", timeout=3):
        s = _resolve(files, ENV)
    assert (s.url, s.username, s.password, s.timeout) == (
        "http://ctx:3",
        "ctx-user",
        "ctx-pass",
        3.0,
    )


def test_environment_wins_over_dotenv(files: dict[str, Path]) -> None:
    s = _resolve(files, ENV)
    assert (s.url, s.username, s.password, s.timeout) == (
        "http://env:1",
        "env-user",
        "env-pass",
        7.0,
    )


def test_dotenv_wins_over_netrc(files: dict[str, Path]) -> None:
    s = _resolve(files)
    assert (s.url, s.username, s.password, s.timeout) == (
        "http://dotenv:2",
        "dot-user",
        "dot-pass",
        9.0,
    )


def test_netrc_by_host_when_no_credentials(files: dict[str, Path]) -> None:
    s = _resolve(files, {"WEBLAB_URL": "http://dotenv:5/lab"}, dotenv=False)
    assert (s.username, s.password, s.timeout) == ("rc-user", "rc-pass", DEFAULT_TIMEOUT_S)
    s = _resolve(files, dotenv=False, url="http://unknown-host")
    assert (s.username, s.password) == (None, None)


def test_netrc_completes_a_password_for_the_same_login(files: dict[str, Path]) -> None:
    s = _resolve(files, dotenv=False, url="http://dotenv", username="rc-user")
    assert s.password == "rc-pass"
    s = _resolve(files, dotenv=False, url="http://dotenv", username="someone-else")
    assert (s.username, s.password) == ("someone-else", None)


def test_settings_mix_sources_field_by_field(files: dict[str, Path]) -> None:
    s = _resolve(files, {"WEBLAB_PASSWORD": "env-pass"}, url="http://arg")
    assert (s.url, s.username, s.password) == ("http://arg", "dot-user", "env-pass")


def test_empty_values_are_unset(files: dict[str, Path]) -> None:
    s = _resolve(files, {"WEBLAB_URL": ""})
    assert s.url == "http://dotenv:2"


@pytest.mark.parametrize("value", ["abc", "0", "-1"])
def test_bad_timeout_names_its_source(files: dict[str, Path], value: str) -> None:
    with pytest.raises(RLMSConfigError, match="WEBLAB_TIMEOUT_S in the environment"):
        _resolve(files, {"WEBLAB_TIMEOUT_S": value})


def test_nested_contexts_and_profile() -> None:
    with rlms_context(url="http://outer", profile="ldl") as outer:
        assert outer["url"] == "http://outer"
        with rlms_context(username="u", password="p"):
            client = RLMSClient(environ={}, dotenv_path="/none", netrc_path="/none")
        assert client.url == "http://outer"
        assert client.profile is PROFILES["ldl"]
        assert (client.username, client.password) == ("u", "p")
    client = RLMSClient(url="http://x", environ={}, dotenv_path="/none", netrc_path="/none")
    assert client.profile is PROFILES["weblabdeusto"]
    assert client.username is None


def test_context_does_not_leak_into_other_threads() -> None:
    seen: list[str | None] = []
    with rlms_context(url="http://ctx"):
        thread = threading.Thread(
            target=lambda: seen.append(
                resolve_settings(environ={}, dotenv_path="/none", netrc_path="/none").url
            )
        )
        thread.start()
        thread.join()
    assert seen == [None]


def test_client_reads_environment() -> None:
    client = RLMSClient(environ=ENV, dotenv_path="/none", netrc_path="/none")
    assert (client.url, client.username, client.password, client.timeout) == (
        "http://env:1",
        "env-user",
        "env-pass",
        7.0,
    )


def test_missing_url_is_a_config_error() -> None:
    with pytest.raises(RLMSConfigError, match="WEBLAB_URL"):
        RLMSClient(environ={}, dotenv_path="/none", netrc_path="/none")


def test_flask_transport_needs_no_url() -> None:
    from flask import Flask

    client = RLMSClient(
        transport=FlaskTransport(Flask("x")), environ={}, dotenv_path="/none", netrc_path="/none"
    )
    assert client.sessions_url("api") == "http://localhost/weblab/sessions/api"


def test_unknown_profile() -> None:
    with pytest.raises(RLMSConfigError, match="weblabdeusto-2017"):
        RLMSClient(
            url="http://x", profile="moodle", environ={}, dotenv_path="/none", netrc_path="/none"
        )


def test_default_dotenv_is_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("WEBLAB_URL=http://cwd\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert resolve_settings(environ={}, netrc_path="/none").url == "http://cwd"
