"""The RLMS client over real HTTP: 1,000 status calls to a lab in another process.

The lab (``benchmarks/rlms_server.py``) runs under Werkzeug's threaded server, as ``flask
run`` serves it, on 127.0.0.1, and counts the TCP connections it accepts. One
:class:`weblab_ext.rlms.RLMSClient` starts a session (WebLab-Deusto profile: ``/api``,
``/test``, start) and then asks its status 1,000 times, one call after the other. The rows
give the wall time of the 1,000 calls and the connections the lab accepted for them.
Budget: the client reuses its connections (at most 5 for the 1,000 calls).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.redis_server import end_processes
from weblab_ext.rlms import RLMSClient

from .common import INFO, PASSWORD, USERNAME, Row, redis_url, verdict

ROOT = Path(__file__).resolve().parent.parent
CALLS = 1_000
#: Connections the 1,000 calls may open: one, plus a few in case the server drops one.
CONNECTIONS_BUDGET = 5


def run() -> list[Row]:
    """The two rows: time and connections of 1,000 status calls."""
    logging.getLogger("weblab_ext").setLevel(logging.ERROR)
    seconds, connections = measure(redis_url())
    return [
        Row(
            f"RLMS client: {CALLS:,} status calls over HTTP (threaded Werkzeug, 127.0.0.1)",
            f"{seconds:.2f} s ({seconds / CALLS * 1000:.2f} ms/call)",
            "-",
            INFO,
        ),
        Row(
            f"RLMS client: TCP connections opened for {CALLS:,} status calls",
            f"{connections:,}",
            f"<= {CONNECTIONS_BUDGET}",
            verdict(connections <= CONNECTIONS_BUDGET),
        ),
    ]


def _connections(base: str) -> int:
    # A fresh connection of its own, counted by the server too.
    with urllib.request.urlopen(f"{base}/bench/connections", timeout=10) as reply:
        return int(json.load(reply)["connections"])


def measure(store_url: str, calls: int = CALLS) -> tuple[float, int]:
    """Serve the lab in a subprocess and time ``calls`` status calls through one client.

    :param store_url: the Redis the lab uses.
    :param calls: how many status calls.
    :returns: the wall time of the calls in seconds, and the connections they opened.
    """
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.rlms_server", store_url],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"the lab server did not start: {line!r}")
        base = f"http://127.0.0.1:{int(line.split()[1])}"
        client = RLMSClient(
            url=base,
            username=USERNAME,
            password=PASSWORD,
            environ={},
            dotenv_path=os.devnull,
            netrc_path=os.devnull,
        )
        session_id = client.start(username="bench").session_id
        before = _connections(base)
        started = time.perf_counter()
        for _ in range(calls):
            client.status(session_id)
        seconds = time.perf_counter() - started
        opened = _connections(base) - before - 1  # not the counting request itself
        close = getattr(client, "close", None)
        if close is not None:
            close()
        return seconds, opened
    finally:
        end_processes([server])
