"""``force_noauth`` (never send credentials) and ``fail_if_noauth`` (refuse to go on without
them): on the client, through ``rlms_context``, and as ``flask weblab fake`` options."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import invoke
from tests.support.lab import Lab
from tests.support.rlms_stub import ClientFactory, StubLab, serve
from weblab_ext.rlms import (
    RLMSClient,
    RLMSConfigError,
    RLMSCredentialsError,
    rlms_context,
)


def no_files(**kwargs: Any) -> dict[str, Any]:
    return {"environ": {}, "dotenv_path": "/nonexistent", "netrc_path": "/nonexistent", **kwargs}


@pytest.fixture
def netrc(tmp_path: Path) -> Path:
    path = tmp_path / "netrc"
    path.write_text("machine 127.0.0.1 login rc-user password rc-pass\n", encoding="utf-8")
    os.chmod(path, 0o600)
    return path


# -- force_noauth -------------------------------------------------------------------------------


def test_force_noauth_sends_no_credentials(make_client: ClientFactory) -> None:
    lab = StubLab()
    client = make_client(lab, force_noauth=True)  # username/password given by the factory
    sid = client.start().session_id
    client.status(sid)
    client.dispose(sid)
    assert len(lab.calls) == 5
    assert all("Authorization" not in call.headers for call in lab.calls)
    assert (client.username, client.password, client.force_noauth) == (None, None, True)


def test_force_noauth_ignores_every_source(netrc: Path) -> None:
    env = {"WEBLAB_USERNAME": "env-user", "WEBLAB_PASSWORD": "env-pass"}
    client = RLMSClient(url="http://127.0.0.1:1", environ=env, netrc_path=netrc, force_noauth=True)
    assert (client.username, client.password) == (None, None)
    with rlms_context(username="ctx", password="ctx-pass", force_noauth=True):
        client = RLMSClient(**no_files(url="http://127.0.0.1:1"))
    assert (client.username, client.password) == (None, None)


def test_the_argument_wins_over_the_context() -> None:
    with rlms_context(username="u", password="p", force_noauth=True):
        assert RLMSClient(**no_files(url="http://h")).force_noauth
        client = RLMSClient(**no_files(url="http://h", force_noauth=False))
        assert (client.username, client.password) == ("u", "p")
        with rlms_context(force_noauth=False):  # an inner block turns it off again
            assert RLMSClient(**no_files(url="http://h")).username == "u"


def test_requests_never_adds_netrc_credentials(
    netrc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests itself reads $NETRC / ~/.netrc when a call has no credentials: not here.
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(netrc.parent))
    (netrc.parent / ".netrc").write_text(netrc.read_text(), encoding="utf-8")
    lab = StubLab()
    with serve(lab.app) as url:
        with RLMSClient(**no_files(url=url, force_noauth=True)) as client:
            client.status("abc")
        with RLMSClient(**no_files(url=url)) as client:  # no credentials from any source
            client.status("abc")
    assert all("Authorization" not in call.headers for call in lab.calls)


# -- fail_if_noauth -----------------------------------------------------------------------------


def test_fail_if_noauth_without_credentials() -> None:
    with pytest.raises(RLMSCredentialsError, match="no source gave a username or a password"):
        RLMSClient(**no_files(url="http://h", fail_if_noauth=True))
    with pytest.raises(RLMSCredentialsError, match=r"password \(only a username \(argument\)\)"):
        RLMSClient(**no_files(url="http://h", username="someone", fail_if_noauth=True))


def test_fail_if_noauth_is_a_config_error_and_names_no_secret() -> None:
    with pytest.raises(RLMSConfigError) as info:
        RLMSClient(**no_files(url="http://h", password="top-secret", fail_if_noauth=True))
    assert isinstance(info.value, RLMSCredentialsError)
    assert "top-secret" not in str(info.value)
    assert "WEBLAB_USERNAME" in str(info.value)


def test_fail_if_noauth_with_credentials_from_any_source(netrc: Path) -> None:
    env = {"WEBLAB_USERNAME": "env-user", "WEBLAB_PASSWORD": "env-pass"}
    assert RLMSClient(**no_files(url="http://h", environ=env, fail_if_noauth=True)).username
    client = RLMSClient(url="http://127.0.0.1", environ={}, netrc_path=netrc, fail_if_noauth=True)
    assert (client.username, client.password) == ("rc-user", "rc-pass")


def test_fail_if_noauth_from_the_context() -> None:
    with rlms_context(fail_if_noauth=True):
        with pytest.raises(RLMSCredentialsError):
            RLMSClient(**no_files(url="http://h"))
        with rlms_context(username="u", password="p"):
            assert RLMSClient(**no_files(url="http://h")).fail_if_noauth


def test_both_switches_exclude_each_other() -> None:
    with pytest.raises(RLMSConfigError, match="exclude each other"):
        RLMSClient(**no_files(url="http://h", force_noauth=True, fail_if_noauth=True))
    with rlms_context(force_noauth=True), pytest.raises(RLMSConfigError):
        RLMSClient(**no_files(url="http://h", fail_if_noauth=True))


# -- flask weblab fake --------------------------------------------------------------------------


def test_fake_new_force_noauth_shows_the_labs_refusal(served: Lab) -> None:
    result = invoke(served, "new", "--force-noauth", "--dont-open-browser")
    assert result.exit_code == 1, result.output
    assert "401" in result.output
    assert served.state.monitoring.session_counts().total == 0


def test_fake_status_and_dispose_force_noauth(served: Lab) -> None:
    assert invoke(served, "new", "--dont-open-browser").exit_code == 0
    status = invoke(served, "status", "--force-noauth")
    assert status.exit_code == 1 and "401" in status.output
    dispose = invoke(served, "dispose", "--force-noauth")
    assert dispose.exit_code == 1 and "401" in dispose.output
    assert served.state.monitoring.session_counts().total == 1  # still running
    assert invoke(served, "dispose").exit_code == 0


def test_fake_fail_if_noauth(served: Lab) -> None:
    calls: list[str] = []

    def count_call() -> None:
        calls.append("call")

    served.app.before_request(count_call)
    assert invoke(served, "new", "--fail-if-noauth", "--dont-open-browser").exit_code == 0
    served.app.config["WEBLAB_PASSWORD"] = ""  # the CLI's only source of credentials
    calls.clear()
    for command in ("status", "dispose"):
        result = invoke(served, command, "--fail-if-noauth")
        assert result.exit_code == 1, result.output
        assert "WEBLAB_PASSWORD" in result.output and "nothing was sent" in result.output
    assert calls == []


def test_fake_refuses_both_switches(served: Lab) -> None:
    result = invoke(served, "new", "--force-noauth", "--fail-if-noauth")
    assert result.exit_code == 2 and "exclude each other" in result.output
