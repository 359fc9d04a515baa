"""What a student controls never reaches a terminal, a log line or the admin page as control
characters: a user name with ``ESC ] 52`` must not write the operator's clipboard when they run
``flask weblab status``, nor a ``CR`` forge a row of its table or a line of the log.

The start request still accepts such names (as the original library does); every output point
escapes them with :func:`weblab_ext.protocol.printable`.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.admin import ADMIN, ADMIN_AUTH
from tests.support.cli import invoke
from tests.support.lab import Lab
from weblab_ext.protocol import printable

#: OSC 52 (write the clipboard), a retitle, CSI in its C1 form, a bare CR, a bidi override.
HOSTILE = "eve\x1b]52;c;cm0gLXJmIH4=\x07\x1b]0;pwned\x07\x9b2J\rroot\u202e\n"


def raw_controls(text: str) -> set[str]:
    """Control and format characters in ``text`` other than the newlines between lines."""
    return {
        char
        for char in text
        if char != "\n" and unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")
    }


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("john.smith", "john.smith"),
        ("José Ñúñez 李", "José Ñúñez 李"),
        ("a b", "a b"),
        ("\x1b]52;c;AA==\x07", "\\x1b]52;c;AA==\\x07"),
        (
            "a\rb\nc\td\x7f",
            "a\\rb\\nc\\td\\x7f".replace("\\r", "\\x0d")
            .replace("\\n", "\\x0a")
            .replace("\\t", "\\x09"),
        ),
        ("\x9b2J", "\\x9b2J"),
        ("x\u202ey\u2028z\u200d", "x\\u202ey\\u2028z\\u200d"),
        ("\ud800", "\\ud800"),
        (42, "42"),
    ],
)
def test_printable_escapes_only_what_is_not_text(raw: object, shown: str) -> None:
    assert printable(raw) == shown
    assert not raw_controls(printable(raw))


def hostile_lab(make_lab: Callable[..., Lab], **config: Any) -> tuple[Lab, str]:
    lab = make_lab(**config)
    session_id = lab.start_raw(
        server={"request.username": HOSTILE, "request.full_name": HOSTILE},
        back="http://rlms.example/back",
    )
    return lab, session_id


def test_the_start_request_still_accepts_such_names(make_lab: Callable[..., Lab]) -> None:
    lab, session_id = hostile_lab(make_lab)
    assert lab.record(session_id).username == HOSTILE


@pytest.mark.parametrize("store_url", ["redis"], indirect=True)
def test_status_prints_user_names_escaped(make_lab: Callable[..., Lab]) -> None:
    lab, _ = hostile_lab(make_lab)
    with lab.app.app_context():
        result = lab.app.test_cli_runner().invoke(args=["weblab", "status"])
    assert result.exit_code == 0, result.output
    assert "eve\\x1b]52;c;" in result.output
    assert raw_controls(result.output) == set()
    # The counts, the table's header, rule and one row, "", the tasks, the workers.
    assert len(result.output.splitlines()) == 7


def test_the_admin_page_shows_user_names_escaped(make_lab: Callable[..., Lab]) -> None:
    lab, _ = hostile_lab(make_lab, **ADMIN)
    page = lab.app.test_client().get("/weblab/admin/", headers=ADMIN_AUTH).get_data(as_text=True)
    assert "eve\\x1b]52;c;" in page
    assert raw_controls(page) == set()


def test_paths_in_log_lines_are_escaped(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    path = "/weblab/sessions/%1b%5d52%3bc%3bAA%3d%3d%07/status"
    lab.raw_rlms.open(path, method="TRACE")  # no credentials: the refusal names the path
    lab.raw_rlms.get("/weblab/admin/%1b%5d0%3bx%07%0d")  # the admin pages are off: a 404 only
    assert "Refused an RLMS call" in caplog.text
    assert "\\x1b]52;c;AA==\\x07" in caplog.text
    assert raw_controls(caplog.text) == set()


@pytest.mark.parametrize("store_url", ["redis"], indirect=True)
def test_task_errors_are_escaped_in_run_tasks_and_the_log(
    make_lab: Callable[..., Lab], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    lab, session_id = hostile_lab(make_lab)

    @lab.weblab.task()
    def echo_name() -> None:
        from weblab_ext import weblab_user

        raise ValueError(f"no such user: {weblab_user.username}")

    from weblab_ext import session_context

    with lab.app.app_context(), session_context(session_id):
        echo_name.delay()
    with lab.app.app_context():
        result = lab.app.test_cli_runner().invoke(args=["weblab", "run-tasks"])
    assert "echo_name" in result.output and "failed" in result.output
    assert raw_controls(result.output) == set()
    # The traceback of the lab's exception is logged: its text escaped, its lines kept.
    assert "ValueError: no such user: eve\\x1b]52" in caplog.text
    assert raw_controls(caplog.text) == set()


def test_fake_prints_what_the_lab_answered_escaped(
    served: Lab,
) -> None:
    """The on_start text a debug lab sends back may hold what the RLMS (or a student) sent."""
    served.weblab.callbacks.on_start = None  # replace make_lab's hook

    @served.weblab.on_start
    def failing(client_data: Any, server_data: Any) -> None:
        raise RuntimeError(HOSTILE)

    result = invoke(served, "new", "--dont-open-browser")
    assert result.exit_code == 1
    assert "on_start raised RuntimeError: eve\\x1b]52" in result.output
    assert raw_controls(result.output) == set()
