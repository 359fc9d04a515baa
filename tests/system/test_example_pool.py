"""examples/pool: three boards, two students on two boards at once, each seeing their own."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.support.examples import (
    EXAMPLES,
    example_env,
    load_module,
    post_as_page,
    rlms_headers,
    start_body,
    wait_until,
)

BACK = "http://rlms.example/back"


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    example_env(monkeypatch, WEBLAB_CLEANER_INTERVAL=0.1)
    module = load_module(EXAMPLES / "pool" / "app.py")
    state = module.weblab.state()
    # As in production, the background threads reset each board the store does not know
    # before the RLMS sends a student (a start meanwhile is refused as busy: the RLMS retries).
    state.ensure_threads()
    wait_until(lambda: all(s.state == "idle" for s in state.devices.lifecycle.read()))
    yield module
    module.weblab.stop_threads()


def _start(app: Any, device: str) -> Any:
    return app.test_client().post(
        f"/devices/{device}/weblab/sessions/", json=start_body(BACK), headers=rlms_headers()
    )


def _student(app: Any, device: str) -> tuple[str, Any]:
    reply = _start(app, device)
    assert reply.status_code == 200, reply.get_data(as_text=True)
    session_id = str(reply.json["session_id"])
    client = app.test_client()
    assert client.get(f"/callback/{session_id}").status_code == 302
    return session_id, client


def test_two_students_on_two_boards_see_their_own_board(pool: ModuleType) -> None:
    app = pool.app
    _, ann = _student(app, "board-1")
    bob_sid, bob = _student(app, "board-2")
    assert 'id="board">board-1<' in ann.get("/lab").get_data(as_text=True)
    assert 'id="board">board-2<' in bob.get("/lab").get_data(as_text=True)
    post_as_page(ann, "/toggle/2")
    assert ann.get("/board").json == {
        "board": "board-1",
        "leds": [False, False, True, False],
        "presses": 1,
    }
    assert bob.get("/board").json["leds"] == [False] * 4
    assert pool.boards["board-1"].powered and pool.boards["board-2"].powered
    assert not pool.boards["board-3"].powered
    # board-2 is held: the next student is refused there until bob's session is disposed.
    busy = _start(app, "board-2")
    assert busy.status_code == 409 and busy.json["code"] == "device-busy"
    assert post_as_page(bob, "/leave").location == BACK
    wait_until(lambda: not pool.boards["board-2"].powered, timeout=5)
    wait_until(lambda: _start(app, "board-2").status_code == 200, timeout=5)
    assert bob_sid


def test_self_test_runs_once_per_board(pool: ModuleType) -> None:
    app = pool.app
    _, ann = _student(app, "board-1")
    _, bob = _student(app, "board-3")
    first = post_as_page(ann, "/self-test").json
    assert post_as_page(bob, "/self-test").json["status"] != "failed"  # its own board
    assert first["status"] in ("submitted", "running", "done")


def test_each_board_has_its_own_health(pool: ModuleType) -> None:
    client = pool.app.test_client()
    pool.boards["board-3"].connected = False
    pool.weblab.state().threads.health.run_once(claim=False)  # the next background round
    assert client.get("/devices/board-1/weblab/health").json["success"] is True
    board_3 = client.get("/devices/board-3/weblab/health").json
    assert board_3["success"] is False and "board_ok (board-3)" in board_3["message"]
    assert client.get("/weblab/health").status_code == 404  # several devices: name one


def test_the_readme_gives_both_rlms_settings_for_three_boards() -> None:
    readme = (EXAMPLES / "pool" / "README.md").read_text()
    assert "weblab fake new --device" in readme
    for board in ("board-1", "board-2", "board-3"):
        assert f"url: https://lab.example.org/devices/{board}\n" in readme
        assert f"http_experiment_url: https://lab.example.org/devices/{board}\n" in readme
        assert f"https://lab.example.org/devices/{board}/weblab/health" in readme


def test_every_board_is_reset_before_its_first_student_and_on_request(
    pool: ModuleType,
) -> None:
    assert all(board.resets == 1 for board in pool.boards.values())  # once, before any start
    app = pool.app
    _student(app, "board-3")
    assert pool.boards["board-3"].powered and pool.boards["board-3"].resets == 1
    other = pool.boards["board-2"]
    other.powered = True  # left on by hand
    result = app.test_cli_runner().invoke(args=["weblab", "devices", "reset", "board-2"])
    assert result.exit_code == 0, result.output
    assert other.resets == 2 and not other.powered
