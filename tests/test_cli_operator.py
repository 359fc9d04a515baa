"""``flask weblab check``: what it says about the store, and what it never prints."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .conftest import Lab
from .redis_server import NO_PERSISTENCE, RedisServer, free_port


def check(lab: Lab) -> Any:
    with lab.app.app_context():  # what `flask` does for every command
        return lab.app.test_cli_runner().invoke(args=["weblab", "check"])


def test_check_on_the_embedded_store(make_lab: Callable[..., Lab], store_url: str) -> None:
    if store_url.startswith("redis://"):
        pytest.skip("about the embedded store")
    result = check(make_lab(WEBLAB_REDIS_URL=None))
    assert result.exit_code == 0, result.output
    assert "PROBLEM" not in result.output
    assert "WEBLAB_REDIS_URL is not set" in result.output


def test_check_never_prints_the_store_password(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_REDIS_URL=f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0")
    result = check(lab)
    assert result.exit_code == 1
    assert "PROBLEM: Cannot reach the store at redis://:***@127.0.0.1:" in result.output
    assert "s3cret-pass" not in result.output


@pytest.fixture
def no_config_server() -> Iterator[RedisServer]:
    """A Redis that refuses CONFIG, as managed services do; INFO still answers."""
    server = RedisServer((*NO_PERSISTENCE, "--rename-command", "CONFIG", ""))
    server.start()
    yield server
    server.cleanup()


def test_check_warns_about_aof_on_a_server_refusing_config(
    make_lab: Callable[..., Lab], no_config_server: RedisServer,
) -> None:
    result = check(make_lab(WEBLAB_REDIS_URL=no_config_server.url))
    assert result.exit_code == 0, result.output
    assert "ok: Store reachable (Redis " in result.output
    assert "WARNING: Redis has AOF persistence off (appendonly no)" in result.output
