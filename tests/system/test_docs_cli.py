"""docs/cli.md shows real output: every ``$ flask ... weblab ...`` of its console blocks is run
here, in the situation the text describes, and its output compared with the block's.

Values that differ from run to run (ids, hashes, durations, ages, addresses, host names,
process ids, timestamps) are normalised on both sides; words, lines and numbers that mean
something (counts, messages) must match. When they differ, the failure prints the real
output, ready to paste into the page.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.support.lab import Lab
from tests.support.paths import DOCS
from weblab_ext import session_context

DOC = DOCS / "cli.md"
DOC_HOST, DOC_PID = "lab-pc", "4242"


# -- reading the page -------------------------------------------------------------------------


def console_blocks(text: str) -> list[list[tuple[list[str], list[str]]]]:
    """Each console block: its ``weblab`` commands (args after ``weblab``) and their output."""
    blocks = []
    for indent, body in re.findall(r"^( *)```console\n(.*?)^ *```", text, flags=re.S | re.M):
        commands: list[tuple[list[str], list[str]]] = []
        for line in (row[len(indent) :] for row in body.splitlines()):
            if line.startswith("$ "):
                words = line[2:].split("#", 1)[0].split()
                if "weblab" in words:
                    commands.append((words[words.index("weblab") :], []))
                elif "clean_expired_users" in words:
                    commands.append((["clean_expired_users"], []))
                continue
            if commands and line != "^C":
                commands[-1][1].append(line)
        blocks.append(commands)
    return blocks


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_RULES = [
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"), "TIME"),
    (re.compile(r"https?://[^\s/'\"]+"), "http://HOST"),
    (re.compile(r"[A-Za-z0-9_-]{43}"), "ID"),
    (re.compile(r"\[[A-Za-z0-9_-]{8}\]"), "[TASK]"),
    (re.compile(r"\b[0-9a-f]{10}\b"), "HASH"),
    (re.compile(r"^[A-Za-z0-9_-]{8}(?= +HOSTNAME )"), "WORKER"),
    (re.compile(r"\b\d+\.\d+\b"), "N.N"),
    (re.compile(r"\b\d+(\.\d)?[smh]\b"), "AGE"),
    (re.compile(r"(AGE +)[A-Za-z0-9_-]{8}$"), r"\1WORKER"),  # a task's worker
    (re.compile(r"-{3,}"), "---"),
    (re.compile(r"#{3,}"), "###"),
    (re.compile(r" +"), " "),
]


def normalise(lines: list[str], *, host: str = DOC_HOST, pid: str = DOC_PID) -> list[str]:
    result = []
    for raw in lines:
        line = _ANSI.sub("", raw).split("\r")[-1].rstrip()  # a progress bar's last state
        line = re.sub(rf"\b{re.escape(host)}\b", "HOSTNAME", line)
        line = re.sub(rf"\b{re.escape(pid)}\b", "PID", line)
        for pattern, replacement in _RULES:
            line = pattern.sub(replacement, line)
        result.append(line)
    while result and result[-1] == "":
        result.pop()
    return result


# -- the situations the page describes --------------------------------------------------------


class Situation:
    """A lab served over HTTP on 127.0.0.1 (it stands for ``flask --app mylab run``), and the
    app the CLI loads: the same lab, or, on the embedded store, a copy with a store of its
    own (the CLI is another process)."""

    def __init__(self, lab: Lab, tmp_path: Path, cli_lab: Lab | None = None) -> None:
        self.lab = lab
        self.cli_lab = cli_lab or lab
        self.tasks = declare_tasks(lab)
        if cli_lab is not None:
            declare_tasks(cli_lab)
        self.server = make_server("127.0.0.1", 0, lab.app, threaded=True)
        for app in {lab.app, self.cli_lab.app}:
            app.instance_path = str(tmp_path / f"instance-{id(lab)}")
            app.config["SERVER_NAME"] = f"127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(5)
        self.server.server_close()

    def run(self, args: list[str]) -> str:
        # `loop` as in a shell where the app set up no logging (pytest's handlers aside).
        root = logging.getLogger()
        saved = root.handlers[:]
        if "loop" in args:
            root.handlers.clear()
        try:
            result = self.cli_lab.app.test_cli_runner().invoke(args=args, prog_name="flask")
        finally:
            root.handlers[:] = saved
        return str(result.output)


def declare_tasks(lab: Lab) -> dict[str, Any]:
    @lab.weblab.task
    def measure() -> float:
        return 1.5

    @lab.weblab.task
    def calibrate() -> float:
        return 1 / 0

    return {"measure": measure, "calibrate": calibrate}


def _fake(situation: Situation) -> None:
    pass


def _fake_fails(situation: Situation) -> None:
    situation.lab.weblab.callbacks.on_start = None

    @situation.lab.weblab.on_start
    def start(client_data: Any, server_data: Any) -> None:
        raise RuntimeError("the camera does not answer")


def _status(situation: Situation) -> None:
    lab = situation.lab
    first = lab.start_raw()
    lab.start_raw(server={"request.username": "ana.garcia"})
    gone = lab.start_raw(server={"request.username": "li.wei"})
    lab.browser(gone).get(f"/callback/{gone}/logout")  # waits for the cleaner: exited
    with lab.app.app_context(), session_context(first):
        running = situation.tasks["measure"].delay()
        situation.tasks["calibrate"].delay()
    engine = lab.state.tasks
    engine.heartbeat_tick(threads=5)
    engine.store.pop_from_queue(engine.worker_id)
    engine.store.claim(
        running.task_id, engine.worker_id, now=engine.clock(), lease=60, ttl=600, duplicate_error={}
    )


def _tasks(situation: Situation) -> None:
    with situation.lab.app.app_context(), session_context(situation.lab.start_raw()):
        situation.tasks["measure"].delay()
        situation.tasks["calibrate"].delay()


def _loop(situation: Situation) -> None:
    with situation.lab.app.app_context(), session_context(situation.lab.start_raw()):
        situation.tasks["measure"].delay()


def _expired(situation: Situation) -> None:
    for _ in range(3):
        situation.lab.start_raw()
    situation.lab.state.clock = lambda: 4_000_000_000.0


#: One entry per console block of docs/cli.md, in order: (store, setup).
SITUATIONS: list[tuple[str, Callable[[Situation], None]]] = [
    ("redis", _fake),  # the fake RLMS with a shared store
    ("embedded", _fake),  # fake new on the embedded store
    ("redis", _fake_fails),  # on_start raises (a debug/testing lab)
    ("redis", _status),
    ("embedded", _fake),  # check on the embedded store
    ("redis", _expired),  # clean-expired-users
    ("redis", _tasks),  # run-tasks
    ("redis", _loop),
    ("embedded", _fake),  # the refusal
]


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Output as in a terminal: progress bars drawn, the worker's log lines shown."""
    monkeypatch.setattr("click._termui_impl.isatty", lambda stream: True)
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: True)
    package, server = logging.getLogger("weblab_ext"), logging.getLogger("werkzeug")
    handlers, level, server_level = list(package.handlers), package.level, server.level
    server.setLevel(logging.WARNING)  # the served lab's request lines belong to `flask run`
    yield
    package.handlers[:] = handlers
    package.setLevel(level)
    server.setLevel(server_level)


def real_output(
    make_lab: Callable[..., Lab], redis_server: Any, tmp_path: Path
) -> list[list[tuple[list[str], str]]]:
    outputs: list[list[tuple[list[str], str]]] = []
    for store, setup in SITUATIONS:
        if store == "redis":
            situation = Situation(make_lab(WEBLAB_REDIS_URL=redis_server.url), tmp_path)
        else:  # make_lab gives each lab its own key prefix: an empty store for the CLI
            situation = Situation(
                make_lab(WEBLAB_REDIS_URL=None), tmp_path, cli_lab=make_lab(WEBLAB_REDIS_URL=None)
            )
        try:
            setup(situation)
            commands = console_blocks(DOC.read_text())[len(outputs)]
            # `loop` runs until Ctrl+C: here, for one second.
            outputs.append(
                [
                    (args, situation.run(args + (["--max-seconds", "1"] if "loop" in args else [])))
                    for args, _ in commands
                ]
            )
        finally:
            situation.close()
    return outputs


@pytest.mark.parametrize("store_url", ["redis"], indirect=True)
def test_cli_md_shows_real_output(
    make_lab: Callable[..., Lab], redis_server: Any, tmp_path: Path, terminal: None
) -> None:
    blocks = console_blocks(DOC.read_text())
    assert len(blocks) == len(SITUATIONS), (
        "a console block was added or removed: update SITUATIONS in this test"
    )
    outputs = real_output(make_lab, redis_server, tmp_path)
    for block, ran in zip(blocks, outputs, strict=True):
        for (args, documented), (_, output) in zip(block, ran, strict=True):
            # split("\n"): splitlines() would also cut at the progress bar's "\r".
            actual = normalise(output.split("\n"), host=socket.gethostname(), pid=str(os.getpid()))
            assert normalise(documented) == actual, (
                f"docs/cli.md, `flask {' '.join(args)}`: the page shows\n"
                + "\n".join(documented)
                + "\n\nbut the command prints\n"
                + output
            )
