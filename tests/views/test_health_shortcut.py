"""The health URL answered ahead of Flask's request cycle (``views.health_shortcut``): the same
reply as the view, and every call it cannot answer from the stored result left to Flask."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.test import Client

from tests.support.lab import AUTH, Lab, json_of
from weblab_ext.views.health_shortcut import HealthShortcut, health_paths


def shortcut(lab: Lab) -> HealthShortcut:
    wsgi = lab.app.wsgi_app
    assert isinstance(wsgi, HealthShortcut)
    return wsgi


def flask_reply(lab: Lab, path: str) -> Any:
    """The same call answered by Flask's request cycle (the view)."""
    return Client(shortcut(lab).inner).get(path)


@pytest.mark.parametrize("path", ["/labs/arm/weblab/health", "/labs/arm/ldl/health"])
def test_a_probe_gets_the_view_s_reply_without_the_app_s_hooks(
    make_lab: Callable[..., Lab], path: str
) -> None:
    lab = make_lab(WEBLAB_BASE_URL="/labs/arm")
    hooks: list[str] = []

    @lab.app.before_request
    def count() -> None:
        hooks.append("before")

    client = lab.app.test_client()
    first = client.get(path)  # no stored result: Flask's view waits for the first round
    assert hooks == ["before"]
    fast = client.get(path)
    assert hooks == ["before"]  # answered ahead of Flask
    slow = flask_reply(lab, path)
    assert fast.status_code == slow.status_code == first.status_code == 200
    assert fast.get_data() == slow.get_data() == first.get_data()
    # Flask adds ``Vary: Cookie`` (the request read the session); a no-store reply has no use
    # for it.
    assert sorted(fast.headers.items()) == sorted(
        (name, value) for name, value in slow.headers.items() if name != "Vary"
    )
    assert fast.headers["Cache-Control"] == "no-store"
    assert fast.headers["powered-by"] == "weblab_ext"
    assert json_of(fast)["success"] is True


def test_what_it_cannot_answer_goes_on_to_flask(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_DEVICES=["board-1", "board-2"])
    client = lab.app.test_client()
    assert client.get("/devices/board-1/weblab/health").status_code == 200
    # Another method, a body over the limit, an unknown device, the un-prefixed path of a
    # lab with several devices: the view's JSON answers, as before.
    assert json_of(client.post("/devices/board-1/weblab/health", headers=AUTH))["code"] == (
        "method-not-allowed"
    )
    big = client.get("/devices/board-1/ldl/health", data=b"x" * (65 * 1024))
    assert big.status_code == 413 and json_of(big)["code"] == "body-too-large"
    assert client.get("/devices/board-9/weblab/health").status_code == 404
    assert client.get("/weblab/health").status_code == 404
    assert client.get("/devices/board-1/weblab/sessions/api").status_code == 200


def test_the_paths_it_answers() -> None:
    assert health_paths("", ()) == {"/weblab/health": None, "/ldl/health": None}
    one = health_paths("/lab/", ("arm",))
    assert one["/lab/weblab/health"] == one["/lab/devices/arm/ldl/health"] == "arm"
    several = health_paths("", ("a", "b"))
    assert "/weblab/health" not in several and several["/devices/b/weblab/health"] == "b"
