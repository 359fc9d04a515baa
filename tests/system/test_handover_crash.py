"""Fault tests on real processes and a real Redis: the process running ``on_dispose`` is
killed with ``kill -9``; the device is not offered again until a reset ran."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.devices import start_on, status_of
from tests.support.lab import AUTH, Lab, real_redis_only
from tests.support.paths import REPO
from weblab_ext.runtime.disposal import STALE_DISPOSING_SECONDS
from weblab_ext.states import DeviceState

BOARDS = ["board-1", "board-2"]

_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from flask import Flask
    from weblab_ext import WebLab

    url, base, marker, session_id = sys.argv[1:5]
    app = Flask("crashing_lab")
    app.config.update(
        TESTING=True, SECRET_KEY="x", WEBLAB_USERNAME="u", WEBLAB_PASSWORD="p",
        WEBLAB_REDIS_URL=url, WEBLAB_REDIS_BASE=base, WEBLAB_NO_THREAD=True,
        WEBLAB_DEVICES=["board-1", "board-2"], WEBLAB_LOG_SESSION_LIFECYCLE=False,
    )
    weblab = WebLab(app)

    @weblab.on_dispose
    def dispose():
        open(marker, "w").write("in on_dispose")
        time.sleep(60)  # killed in here

    with app.app_context():
        weblab.state().devices.on("board-1").dispose(session_id, wait=60)
    """
)


@pytest.mark.slow
@real_redis_only
def test_kill_9_mid_clean_up_leaves_the_device_unoffered_until_a_reset(
    redis_server: Any, make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(WEBLAB_DEVICES=BOARDS, WEBLAB_REDIS_URL=redis_server.url)
    resets: list[str] = []
    lab.weblab.on_reset(resets.append)
    session_id = start_on(lab, "board-1").json["session_id"]
    script, marker = tmp_path / "crash.py", tmp_path / "marker"
    script.write_text(_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    base = lab.app.config["WEBLAB_REDIS_BASE"]
    process = subprocess.Popen(
        [sys.executable, str(script), redis_server.url, base, str(marker), session_id],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert process.poll() is None, process.communicate()[1].decode()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]
    # The clean-up died half-way: the device is not offered, the RLMS hears "ask again".
    assert status_of(lab, "board-1").state == DeviceState.CLEANING
    assert start_on(lab, "board-1").json["code"] == "device-busy"
    url = f"/devices/board-1/weblab/sessions/{session_id}"
    assert lab.raw_rlms.get(f"{url}/status", headers=AUTH).json["should_finish"] != -1
    devices = {
        row["name"]: row
        for row in lab.raw_rlms.get("/weblab/devices", headers=AUTH).json["devices"]
    }
    assert devices["board-1"]["cleanup_finished"] is False
    # Once the disposal is taken for abandoned, the session ends and the device is broken.
    later = time.time() + STALE_DISPOSING_SECONDS + 1
    lab.state.devices.on("board-1").dispose(session_id, wait=0, now=later)
    status = status_of(lab, "board-1")
    assert status.state == DeviceState.BROKEN and "abandoned" in status.reason
    assert start_on(lab, "board-1").json["code"] == "device-broken"
    # The cleaner's reset makes it idle again.
    lab.weblab.clean_expired_users()
    assert resets.count("board-1") == 2  # its first start, then after the crash
    assert status_of(lab, "board-1").state == DeviceState.IDLE
    assert start_on(lab, "board-1").status_code == 200


@pytest.mark.slow
@real_redis_only
def test_an_operator_need_not_wait_for_the_abandoned_disposal(
    redis_server: Any, make_lab: Callable[..., Lab]
) -> None:
    """Before the 10 minutes are over, an operator who checked the hardware resets it."""
    lab = make_lab(WEBLAB_DEVICES=BOARDS, WEBLAB_REDIS_URL=redis_server.url)
    session_id = start_on(lab, "board-1").json["session_id"]
    service = lab.state.service
    outcome, record = service.store.begin_dispose(
        session_id, now=time.time(), timeout=service.timeout, only_if_due=False
    )
    assert outcome == "won" and record is not None
    lab.state.devices.lifecycle.cleaning(record)  # what a killed disposer leaves
    result = lab.app.test_cli_runner().invoke(args=["weblab", "devices", "reset", "board-1"])
    assert result.exit_code == 0, result.output
    assert status_of(lab, "board-1").state == DeviceState.IDLE
