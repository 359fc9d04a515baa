"""Serving a benchmark lab under gunicorn on 127.0.0.1, in a process of its own."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.redis_server import end_processes, free_port

#: The repository root: the benchmark labs are imported from it.
ROOT = Path(__file__).resolve().parent.parent


def serve_with_gunicorn(
    app: str, options: Sequence[str], env: dict[str, str]
) -> tuple[subprocess.Popen[str], int]:
    """Serve ``app`` (``module:factory()``) with gunicorn ``options`` on a free port; return
    the process and the port once it accepts connections (30 s at most)."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            *options,
            *("--bind", f"127.0.0.1:{port}", app),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.1)
    end_processes([process])
    raise RuntimeError("gunicorn did not start")
