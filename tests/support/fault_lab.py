"""The fault tests' lab on real processes: one gunicorn web process and ``flask weblab loop``
workers of :data:`FAULT_APP`, on one real Redis, with the RLMS, the operator's commands and
a student reaching them from the test over HTTP (127.0.0.1 only).

Each hook of the lab appends a line to an evidence file (``<time> <pid> <what> <device>
...``): the test reads across processes what ran, where and in which order.
"""

from __future__ import annotations

import http.cookiejar
import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from tests.support.examples import RLMS_PASSWORD, RLMS_USER, rlms_headers
from tests.support.redis_server import free_port
from tests.support.socketio_processes import Server, example_env
from tests.support.workers import Workers
from weblab_ext.rlms import RequestsTransport, RLMSClient

#: What any process of the lab may take at most: the worker stops by itself after it.
PROCESS_SECONDS = 240

FAULT_APP = """
import os, time
from flask import Flask, jsonify, url_for
from weblab_ext import WebLab, current_task_stopping, requires_active, weblab_user

app = Flask("fault_lab")
app.config.from_prefixed_env()
weblab = WebLab(app)


def note(*words):
    with open(os.environ["FAULT_EVIDENCE"], "a") as log:
        log.write(" ".join([repr(time.time()), str(os.getpid()), *words]) + "\\n")


def device():
    return getattr(weblab_user, "device", None) or "-"


@weblab.initial_url
def initial_url():
    return url_for("lab")


@weblab.on_start
def start(client_data, server_data):
    note("start", device(), weblab_user.username)


@weblab.on_dispose
def dispose():
    note("dispose", device(), weblab_user.username)


@weblab.on_reset
def reset(name):
    note("reset", name)


@weblab.task()
def drive():
    name = device()
    note("task-start", name)
    while not current_task_stopping:
        time.sleep(0.02)
    note("task-stopped", name)
    return name


@app.route("/ping")
def ping():
    return "pong"


@app.route("/lab")
@requires_active
def lab():
    return f"lab of {weblab_user.username} on {device()}"


@app.route("/drive", methods=["POST"])
@requires_active
def start_drive():
    return jsonify(task=drive.delay().task_id)
"""


class FaultLab:
    """:data:`FAULT_APP` in ``tmp_path``: its web process, workers and operator commands.

    :param devices: ``WEBLAB_DEVICES`` (empty: a lab without devices).
    :param config: settings of every process (``FLASK_<KEY>`` variables).
    :param web: more settings of the web process only.
    """

    def __init__(
        self,
        tmp_path: Path,
        redis_url: str,
        devices: list[str],
        *,
        config: dict[str, str] | None = None,
        web: dict[str, str] | None = None,
    ) -> None:
        self.tmp_path = tmp_path
        self.base = f"fault-{uuid.uuid4().hex[:10]}"
        self.evidence_file = tmp_path / "evidence.log"
        self.evidence_file.touch()
        self.workers = Workers(tmp_path, redis_url, self.base)
        (tmp_path / "worker_app.py").write_text(FAULT_APP)
        self.env = example_env(
            WEBLAB_REDIS_URL=redis_url,
            WEBLAB_REDIS_BASE=self.base,
            WEBLAB_DEVICES=json.dumps(devices),
            **(config or {}),
        )
        self.env.update(
            PYTHONPATH=self.workers.env["PYTHONPATH"],
            FAULT_EVIDENCE=str(self.evidence_file),
            WEBLAB_LOOP_MAX_SECONDS=str(PROCESS_SECONDS),
        )
        self.workers.env = self.env
        port = free_port()
        argv = [sys.executable, "-m", "gunicorn", "--chdir", str(tmp_path)]
        argv += ["--worker-class", "gthread", "--workers", "1", "--threads", "20"]
        argv += ["--graceful-timeout", "1", "--bind", f"127.0.0.1:{port}", "worker_app:app"]
        web_env = {**self.env, **{f"FLASK_{key}": value for key, value in (web or {}).items()}}
        self.server = Server(tmp_path, argv, web_env, port, probe="/ping")
        self.url = self.server.url

    def start(self) -> FaultLab:
        self.server.start()
        return self

    def stop(self) -> None:
        try:
            self.server.stop()
        finally:
            self.workers.stop_all()

    def rlms(self, device: str | None = None, profile: str = "labdiscoveryengine") -> RLMSClient:
        """The RLMS resource of ``device`` (or of the lab), over HTTP, without retries."""
        return RLMSClient(
            url=self.url + (f"/devices/{device}" if device else ""),
            username=RLMS_USER,
            password=RLMS_PASSWORD,
            profile=profile,
            timeout=10,
            transport=RequestsTransport(retries=0),
            environ={},
            dotenv_path="/nonexistent",
            netrc_path="/nonexistent",
        )

    def flask(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``flask --app worker_app <args>`` as an operator runs it: its own process."""
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "worker_app", *args],
            cwd=self.tmp_path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def get(self, path: str, *, auth: bool = False) -> tuple[int, Any]:
        """GET ``path`` of the lab (with the RLMS credentials if ``auth``): status, JSON."""
        request = urllib.request.Request(self.url + path)
        if auth:
            request.add_header("Authorization", rlms_headers()["Authorization"])
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, None

    def evidence_lines(self) -> list[list[str]]:
        """The evidence file's lines, split: ``[time, pid, what, device, ...]``."""
        return [line.split() for line in self.evidence_file.read_text().splitlines()]

    def evidence(self, *what: str, after: float = 0.0) -> list[tuple[float, int]]:
        """``(time, pid)`` of the evidence lines that begin with ``what`` (after a time)."""
        found = []
        for line in self.evidence_lines():
            if line[2 : 2 + len(what)] == list(what) and float(line[0]) > after:
                found.append((float(line[0]), int(line[1])))
        return found


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx reaches the caller as it is


class Browser:
    """A student's browser that followed the launch URL; it keeps its cookie and reports
    redirects instead of following them (the RLMS's back URL is on no server here)."""

    def __init__(self, launch_url: str) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )
        self.base = launch_url.split("/callback/", 1)[0]
        status, _ = self.open(launch_url[len(self.base) :])
        assert status == 302, f"the launch URL answered {status}"

    def open(self, path: str, method: str = "GET") -> tuple[int, str]:
        """The status and body of ``path`` (a redirect: its status and ``Location``)."""
        data = b"" if method == "POST" else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        try:
            with self.opener.open(request, timeout=10) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            if 300 <= error.code < 400:
                return error.code, error.headers.get("Location", "")
            return error.code, error.read().decode(errors="replace")
