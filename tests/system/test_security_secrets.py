"""Secrets never reach logs or output: refused RLMS calls, configuration errors, the CLI,
and the lab's own log lines about sessions."""

from __future__ import annotations

import base64
import logging
import socket
from collections.abc import Callable
from typing import Any, cast

import pytest
import redis

from tests.support.lab import USERNAME, Lab
from weblab_ext import InvalidConfigError
from weblab_ext.config import load_settings

SECRET_PASSWORD = "Zebra-Quartz-8431-password"


def raw_basic(text: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(text.encode()).decode()}


@pytest.fixture
def guarded(make_lab: Callable[..., Lab], caplog: pytest.LogCaptureFixture) -> Lab:
    caplog.set_level(logging.DEBUG)
    return make_lab(WEBLAB_PASSWORD=SECRET_PASSWORD)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (raw_basic(SECRET_PASSWORD), "no colon"),  # the password alone, no "user:"
        (raw_basic(f"{SECRET_PASSWORD}:{USERNAME}"), "swapped"),
        (raw_basic(f"{SECRET_PASSWORD}:whatever"), "wrong username"),
        (raw_basic(f"{USERNAME}:{SECRET_PASSWORD}x"), "wrong password"),
        ({}, "no credentials"),
    ],
    ids=["no-colon", "swapped", "password-as-user", "near-miss", "none"],
)
@pytest.mark.parametrize("path", ["/weblab/sessions/", "/weblab/sessions/test"])
def test_refused_rlms_calls_never_log_the_password(
    guarded: Lab,
    caplog: pytest.LogCaptureFixture,
    header: dict[str, str],
    reason: str,
    path: str,
) -> None:
    method = guarded.raw_rlms.post if path.endswith("/") else guarded.raw_rlms.get
    reply = method(path, headers=header, json=guarded.start_body())
    assert reply.status_code in (200, 401)
    assert reply.json.get("valid") is not True
    assert "Refused an RLMS call" in caplog.text
    assert reason in caplog.text  # the administrator still learns what went wrong
    assert SECRET_PASSWORD not in caplog.text
    assert SECRET_PASSWORD[:12] not in caplog.text
    assert SECRET_PASSWORD not in reply.get_data(as_text=True)


@pytest.mark.parametrize(
    ("config", "secret"),
    [
        ({"WEBLAB_PASSWORD": 123456789012345}, "123456789012345"),
        ({"WEBLAB_PASSWORD": ["hunter2-hunter2"]}, "hunter2-hunter2"),
        (
            {
                "WEBLAB_USERNAME": "u",
                "WEBLAB_PASSWORD": "p",
                "WEBLAB_REDIS_URL": "http://admin:hunter2-hunter2@redis.example:6379/0",
            },
            "hunter2-hunter2",
        ),
        (
            {
                "WEBLAB_USERNAME": "u",
                "WEBLAB_PASSWORD": "p",
                "WEBLAB_REDIS_URL": "redis//:hunter2-hunter2@redis.example",
            },
            "hunter2-hunter2",
        ),
    ],
    ids=["number-password", "list-password", "url-wrong-scheme", "url-no-scheme"],
)
def test_configuration_errors_never_echo_secrets(config: dict[str, Any], secret: str) -> None:
    config = {"WEBLAB_USERNAME": "u", **config}
    with pytest.raises(InvalidConfigError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert secret not in message
    key = "WEBLAB_REDIS_URL" if "WEBLAB_REDIS_URL" in config else "WEBLAB_PASSWORD"
    assert key in message


def test_configuration_errors_still_show_harmless_values() -> None:
    with pytest.raises(InvalidConfigError, match="'soon'"):
        load_settings({"WEBLAB_USERNAME": "u", "WEBLAB_PASSWORD": "p", "WEBLAB_TIMEOUT": "soon"})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_check_names_the_store_without_its_password(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(
        WEBLAB_REDIS_URL=f"redis://:hunter2-hunter2@127.0.0.1:{_free_port()}/0",
        WEBLAB_REDIS_BASE="masked",
    )
    with lab.app.app_context():  # `flask` pushes one; the test runner does not
        result = lab.app.test_cli_runner().invoke(args=["weblab", "check"])
    assert result.exit_code == 1
    assert "Cannot reach the store at redis://:***@127.0.0.1" in result.output
    assert "hunter2" not in result.output


def test_refused_socket_events_log_a_session_hash(
    make_lab: Callable[..., Lab], caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("flask_socketio")
    from flask_socketio import SocketIO

    from weblab_ext import socket_requires_active
    from weblab_ext.runtime.lifecycle_log import session_id_hash

    lab = make_lab()
    socketio = SocketIO(lab.app, async_mode="threading")

    @socketio.on("move")
    @socket_requires_active
    def move() -> None:  # pragma: no cover - refused
        raise AssertionError("a refused event ran")

    session_id = lab.start_raw()
    student = lab.browser(session_id)
    socket_client = socketio.test_client(lab.app, flask_test_client=student)
    student.get(f"/callback/{session_id}/logout")
    caplog.set_level(logging.DEBUG)
    socket_client.emit("move")
    assert "refused" in caplog.text
    assert session_id_hash(session_id) in caplog.text
    assert session_id not in caplog.text


# -- Redis URL passwords in every form -------------------------------------------------------

URL_SECRET = "Kq7-uRl-s3cret"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://:{URL_SECRET}@host:6379/0", "redis://:***@host:6379/0"),
        (f"redis://host:6379/0?password={URL_SECRET}", "redis://host:6379/0?password=***"),
        (
            f"rediss://host/1?socket_timeout=5&password={URL_SECRET}&db=1",
            "rediss://host/1?socket_timeout=5&password=***&db=1",
        ),
        (f"redis://host/0?PASSWORD={URL_SECRET}", "redis://host/0?PASSWORD=***"),
        (f"unix:///run/redis.sock?password={URL_SECRET}", "unix:///run/redis.sock?password=***"),
        (f"redis://:pa/ss{URL_SECRET}@host:6379/0", "redis://:***@host:6379/0"),
        (f"redis://:pa#ss{URL_SECRET}@host:6379/0", "redis://:***@host:6379/0"),
        (f"redis://:pa?ss{URL_SECRET}@host:6379/0", "redis://:***@host:6379/0"),
        (f"redis://:p@ss{URL_SECRET}@host:6379/0", "redis://:***@host:6379/0"),
        (f"redis://{URL_SECRET}@host:6379/0", "redis://***@host:6379/0"),
        (
            f"redis+cluster://:pa/ss{URL_SECRET}@h1:7000,h2:7001",
            "redis+cluster://:***@h1:7000,h2:7001",
        ),
        (f"redis+cluster://:pa#ss{URL_SECRET}@h1:7000", "redis+cluster://:***@h1:7000"),
        (
            f"rediss+cluster://u:{URL_SECRET}@h1:7000?password={URL_SECRET}",
            "rediss+cluster://u:***@h1:7000?password=***",
        ),
        (
            f"redis+sentinel://u:pa/ss{URL_SECRET}@h1:26379/lab/2",
            "redis+sentinel://u:***@h1:26379/lab/2",
        ),
        (
            f"redis+sentinel://u:pa#ss{URL_SECRET}@h1:26379/lab",
            "redis+sentinel://u:***@h1:26379/lab",
        ),
        (
            f"redis+sentinel://h1:26379/lab?password={URL_SECRET}",
            "redis+sentinel://h1:26379/lab?password=***",
        ),
    ],
)
def test_redis_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    from weblab_ext.store.connection import describe

    assert describe(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        f"redis+cluster://:pa/ss{URL_SECRET}@h1",
        f"redis+cluster://:pa#ss{URL_SECRET}@h1:7000/3",
        f"redis+cluster://:pa/ss{URL_SECRET}@h1:70a0",
        f"redis+sentinel://u:pa/ss{URL_SECRET}@h1:26379",
        f"redis+sentinel://u:pa#ss{URL_SECRET}@h1:26379",
        f"redis+sentinel://u:pa#ss{URL_SECRET}@h1:26379/lab?socket_timeout=soon",
        f"redis+sentinel://h1:26379?password={URL_SECRET}",
    ],
)
def test_cluster_and_sentinel_config_errors_never_quote_the_password(url: str) -> None:
    from weblab_ext.store.connection import connect

    with pytest.raises(InvalidConfigError) as caught:
        connect(url)
    message = str(caught.value)
    assert "WEBLAB_REDIS_URL" in message
    assert URL_SECRET not in message and "ss" + URL_SECRET[:4] not in message


def test_a_bad_redis_url_setting_never_quotes_a_query_password() -> None:
    config = {"WEBLAB_USERNAME": "u", "WEBLAB_PASSWORD": "p"}
    with pytest.raises(InvalidConfigError) as caught:
        load_settings({**config, "WEBLAB_REDIS_URL": f"http://host/0?password={URL_SECRET}"})
    assert URL_SECRET not in str(caught.value)


@pytest.mark.parametrize("store_url", ["redis"], indirect=True)
def test_a_query_password_never_reaches_check_the_admin_page_or_outage_logs(
    make_lab: Callable[..., Lab], caplog: pytest.LogCaptureFixture
) -> None:
    from tests.support.admin import ADMIN, ADMIN_AUTH

    caplog.set_level(logging.DEBUG)
    url = f"redis://127.0.0.1:{_free_port()}/0?password={URL_SECRET}"
    lab = make_lab(WEBLAB_REDIS_URL=url, **ADMIN)
    with lab.app.app_context():
        result = lab.app.test_cli_runner().invoke(args=["weblab", "check"])
    assert "Cannot reach the store at redis://127.0.0.1:" in result.output
    assert "password=***" in result.output
    admin = lab.app.test_client().get("/weblab/admin/", headers=ADMIN_AUTH)
    page = admin.get_data(as_text=True)
    assert "password=***" in page
    student = lab.app.test_client().get("/callback/whatever")
    assert student.status_code == 503
    assert "is unreachable while serving" in caplog.text
    for shown in (result.output, page, caplog.text):
        assert URL_SECRET not in shown


def test_a_password_with_slash_or_hash_reaches_the_server_whole() -> None:
    """Sentinel and Cluster URLs are split where a standard parser would cut the password."""

    from weblab_ext.store.connection import _quoted, connect

    client = connect("redis+sentinel://u:pa/ss%40x#y@127.0.0.1:1/lab")
    kwargs = cast(redis.Redis, client).connection_pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"]) == ("u", "pa/ss@x#y")
    # The cluster client is given a one-node URL that redis-py parses back to the password.
    parsed = redis.connection.parse_url(f"redis://{_quoted(':pa/ss%40x#y')}@h1:7000")
    assert parsed["password"] == "pa/ss@x#y"
