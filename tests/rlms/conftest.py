"""The RLMS client tests' fixture: a client factory over both transports."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.rlms_stub import ClientFactory, Sleeper, StubLab, serve
from weblab_ext.rlms import FlaskTransport, RLMSClient


@pytest.fixture(params=["flask", "http"])
def make_client(request: pytest.FixtureRequest) -> Iterator[ClientFactory]:
    """A factory ``make_client(lab, profile=..., **kwargs)`` over both transports."""
    with contextlib.ExitStack() as stack:

        def factory(lab: StubLab, **kwargs: Any) -> RLMSClient:
            kwargs.setdefault("username", "weblab")
            kwargs.setdefault("password", "secret")
            kwargs.setdefault("sleep", Sleeper())
            kwargs.setdefault("environ", {})
            kwargs.setdefault("netrc_path", "/nonexistent/netrc")
            kwargs.setdefault("dotenv_path", "/nonexistent/.env")
            if request.param == "flask":
                return RLMSClient(
                    url="http://localhost", transport=FlaskTransport(lab.app), **kwargs
                )
            url = stack.enter_context(serve(lab.app))
            return RLMSClient(url=url, **kwargs)

        yield factory
