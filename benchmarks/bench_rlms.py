"""The RLMS client over real HTTP: 1,000 status calls to a lab in another process.

The lab (``benchmarks/rlms_server.py``) runs on 127.0.0.1 under gunicorn with one gthread
worker (4 threads, keep-alive: how the deployment guide serves a lab) and, for comparison,
under Werkzeug's threaded server (``flask run``, which closes every connection after one
reply). It counts the distinct TCP connections the calls arrive on. One
:class:`weblab_ext.rlms.RLMSClient` starts a session (WebLab-Deusto profile: ``/api``,
``/test``, start) and then asks its status 1,000 times, one call after the other. The rows
give the wall time of the 1,000 calls and the connections they used. Budget: under gunicorn
the client reuses its connection (at most 5 for the 1,000 calls).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import urllib.request

from tests.support.redis_server import end_processes
from weblab_ext.rlms import RLMSClient

from .common import INFO, PASSWORD, USERNAME, Row, redis_url, verdict
from .gunicorn_server import ROOT, serve_with_gunicorn

CALLS = 1_000
#: Connections the 1,000 calls may open: one, plus a few in case the server drops one.
CONNECTIONS_BUDGET = 5
SERVERS = {"gunicorn": "gunicorn gthread, 127.0.0.1", "werkzeug": "threaded Werkzeug, 127.0.0.1"}


def run() -> list[Row]:
    """Time and connections of 1,000 status calls, under gunicorn then Werkzeug."""
    logging.getLogger("weblab_ext").setLevel(logging.ERROR)
    rows = []
    for server in ("gunicorn", "werkzeug"):
        seconds, cpu, connections = measure(redis_url(), server)
        label = SERVERS[server]
        rows.append(
            Row(
                f"RLMS client: {CALLS:,} status calls over HTTP ({label})",
                f"{seconds:.2f} s wall ({seconds / CALLS * 1000:.2f} ms/call), "
                f"client CPU {cpu:.2f} s",
                "-",
                INFO,
            )
        )
        rows.append(
            Row(
                f"RLMS client: TCP connections for {CALLS:,} status calls ({label})",
                f"{connections:,}",
                f"<= {CONNECTIONS_BUDGET}" if server == "gunicorn" else "-",
                verdict(connections <= CONNECTIONS_BUDGET)
                if server == "gunicorn"
                else f"{INFO} (the server closes each connection)",
            )
        )
    return rows


def _connections(base: str, reset: bool = False) -> int:
    # A fresh connection of its own, not counted by the server.
    query = "?reset=1" if reset else ""
    with urllib.request.urlopen(f"{base}/bench/connections{query}", timeout=10) as reply:
        return int(json.load(reply)["connections"])


def _start(store_url: str, server: str) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), BENCH_REDIS_URL=store_url)
    if server == "werkzeug":
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.rlms_server"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("ready "):
            end_processes([process])
            raise RuntimeError(f"the lab server did not start: {line!r}")
        return process, f"http://127.0.0.1:{int(line.split()[1])}"
    options = ("--workers", "1", "--worker-class", "gthread", "--threads", "4")
    process, port = serve_with_gunicorn("benchmarks.rlms_server:create_app()", options, env)
    return process, f"http://127.0.0.1:{port}"


def measure(
    store_url: str, server: str = "gunicorn", calls: int = CALLS
) -> tuple[float, float, int]:
    """Serve the lab in a subprocess and time ``calls`` status calls through one client.

    :param store_url: the Redis the lab uses.
    :param server: ``gunicorn`` or ``werkzeug``.
    :param calls: how many status calls.
    :returns: the wall time of the calls and the CPU time of this process (the client) in
        seconds, and how many connections they came on (the one the start opened counts if
        the status calls reuse it).
    """
    process, base = _start(store_url, server)
    try:
        client = RLMSClient(
            url=base,
            username=USERNAME,
            password=PASSWORD,
            environ={},
            dotenv_path=os.devnull,
            netrc_path=os.devnull,
        )
        session_id = client.start(username="bench").session_id
        _connections(base, reset=True)  # count the status calls only
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            client.status(session_id)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        opened = _connections(base)
        close = getattr(client, "close", None)  # the urllib client had none
        if close is not None:
            close()
        return seconds, cpu, opened
    finally:
        end_processes([process])
