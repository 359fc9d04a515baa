"""Tests of weblab_ext.protocol.status and weblab_ext.protocol.replies."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest

import weblab_ext.protocol
from weblab_ext.protocol import (
    API_VERSION_REPLY,
    ProtocolError,
    multiple_status_error_json,
    parse_multiple_status,
    replies,
    should_finish,
)

NOW = 1_000_000.0


def call(
    state: str | None = "active",
    *,
    left: float | None = 100.0,
    idle: float | None = 0.0,
    timeout: float = 15.0,
    poll: float = 5.0,
) -> int:
    return should_finish(
        state=state,
        max_date=None if left is None else NOW + left,
        last_poll=None if idle is None else NOW - idle,
        now=NOW,
        timeout=timeout,
        poll_interval=poll,
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"state": "disposing"}, 2),
        ({"state": "disposing", "left": -10}, 2),
        ({"state": None}, -1),
        ({"state": "disposed"}, -1),
        ({"state": "exited"}, -1),
        ({"state": "unheard-of"}, -1),
        ({"left": 0}, -1),
        ({"left": -5}, -1),
        ({"idle": 15}, -1),  # timeout reached exactly
        ({"idle": 14.9}, 5),
        ({"idle": 1000, "timeout": 0}, 5),  # timeout <= 0 disables inactivity
        ({"idle": 1000, "timeout": -1}, 5),
        ({"idle": None}, 5),
        ({}, 5),
        ({"left": 3.5}, 3),
        ({"left": 1.0}, 1),
        ({"left": 0.5}, 1),  # last second: never 0, which would mean "stop asking"
        ({"left": 0.001}, 1),
        ({"poll": 0}, 0),  # polling disabled
        ({"poll": 0, "left": 0.5}, 0),
        ({"poll": 0, "left": 0}, -1),
        ({"poll": 5.0}, 5),
        ({"poll": 7.9}, 7),
        ({"poll": 0.5}, 1),
        ({"poll": 0.5, "left": 0.2}, 1),
        ({"left": None}, 5),  # no slot limit
        ({"left": None, "poll": 0.2}, 1),
    ],
)
def test_should_finish(kwargs: dict[str, Any], expected: int) -> None:
    result = call(**kwargs)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"session_ids": ["a", "b"]}, (["a", "b"], None)),
        ({"session_ids": []}, ([], None)),
        ({"session_ids": ["a"], "timeout": 2.5}, (["a"], 2.5)),
        ({"session_ids": ["a"], "timeout": 3}, (["a"], 3.0)),
        ({"session_ids": ["a"], "timeout": "1.5"}, (["a"], 1.5)),
        ({"session_ids": ["a"], "timeout": 0}, (["a"], None)),
        ({"session_ids": ["a"], "timeout": -1}, (["a"], None)),
        ({"session_ids": ["a"], "timeout": "soon"}, (["a"], None)),
        ({"session_ids": ["a"], "timeout": True}, (["a"], None)),
        ({"session_ids": ["a"], "timeout": None}, (["a"], None)),
        ({"session_ids": ["a"], "timeout": [1]}, (["a"], None)),
        ({"session_ids": ["a"], "timeout": "inf"}, (["a"], None)),
    ],
)
def test_parse_multiple_status(body: object, expected: tuple[list[str], float | None]) -> None:
    assert parse_multiple_status(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        None,
        "x",
        [],
        {},
        {"session_ids": None},
        {"session_ids": "abc"},
        {"session_ids": ["a", 1]},
        {"ids": ["a"]},
    ],
)
def test_parse_multiple_status_missing(body: object) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_multiple_status(body)
    assert info.value.code == "missing-parameters"
    assert info.value.status == 200
    assert info.value.message == "session_ids expected in POST JSON"
    assert multiple_status_error_json() == {
        "success": False,
        "error_code": "missing-parameters",
        "error_human": "session_ids expected in POST JSON",
    }


def test_simple_replies() -> None:
    assert API_VERSION_REPLY == {"api_version": "1"}
    assert replies.test_reply(True) == {"valid": True}
    assert replies.test_reply(False, "bad") == {"valid": False, "error_messages": ["bad"]}
    assert replies.start_reply("http://lab/cb/x", "x") == {
        "url": "http://lab/cb/x",
        "session_id": "x",
    }
    assert replies.start_failed_reply() == {
        "error": True,
        "message": "Error initializing laboratory",
    }
    assert replies.start_failed_reply("boom") == {"error": True, "message": "boom"}
    assert replies.dispose_unknown_op_reply() == {"message": "Unknown op"}


def test_dispose_replies_are_finished_for_both_rlms() -> None:
    for reply in (replies.dispose_done_reply(), replies.dispose_not_found_reply()):
        # WLD reads finished (default true) and breaks on any "data" key; LDE reads
        # should_finish (< 0 = done).
        assert reply["finished"] is True
        assert reply["should_finish"] == -1
        assert "data" not in reply
    assert replies.dispose_done_reply()["message"] == "Deleted"
    assert replies.dispose_not_found_reply()["message"] == "Not found"


@pytest.mark.parametrize(("ask_again", "expected"), [(0.5, 1), (1, 1), (1.2, 2), (0, 1), (5, 5)])
def test_dispose_pending_reply(ask_again: float, expected: int) -> None:
    reply = replies.dispose_pending_reply(ask_again)
    assert reply == {
        "message": "Disposing",
        "finished": False,
        "ask_again": ask_again,
        "should_finish": expected,
    }
    assert "data" not in reply


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"action": "delete"}, "delete"),
        ({"action": "other"}, "other"),
        ({}, None),
        ({"action": 1}, None),
        (None, None),
        (["delete"], None),
        ("delete", None),
    ],
)
def test_parse_dispose_action(body: object, expected: str | None) -> None:
    assert replies.parse_dispose_action(body) == expected


def test_protocol_is_pure() -> None:
    """The protocol package imports only the standard library and weblab_ext.errors."""
    package = Path(weblab_ext.protocol.__file__).parent
    allowed = {"weblab_ext.errors", "weblab_ext.protocol"}
    for source in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                ok = top in sys.stdlib_module_names or any(
                    name == prefix or name.startswith(prefix + ".") for prefix in allowed
                )
                assert ok, f"{source.name} imports {name}"


def test_should_finish_many_answers_each_session_in_order() -> None:
    from weblab_ext.protocol import should_finish_many

    now = 1_000_000.0
    sessions = [
        ("active", now + 100, now - 1),  # ask again in the poll interval
        (None, None, None),  # unknown
        ("disposing", now + 100, now),  # ask again in 2 s
        ("active", now + 0.5, now),  # last second: still 1, never 0
        ("active", now + 100, now - 20),  # silent past the timeout
        ("exited", now + 100, now),
        ("active", now - 1, now),  # slot over
    ]
    assert should_finish_many(sessions, now=now, timeout=15, poll_interval=5) == [
        5,
        -1,
        2,
        1,
        -1,
        -1,
        -1,
    ]
    assert should_finish_many(sessions[:1], now=now, timeout=15, poll_interval=0) == [0]
    assert should_finish_many([], now=now, timeout=15, poll_interval=5) == []
