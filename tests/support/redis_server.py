"""Start a throw-away Redis server on 127.0.0.1 for the test session."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import redis


def end_processes(processes: Iterable[subprocess.Popen[Any]], grace: float = 15.0) -> None:
    """SIGTERM each child still running, wait up to ``grace`` s, then SIGKILL; close pipes."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: No persistence at all: what most tests want (fast, nothing left on disk).
NO_PERSISTENCE = ("--save", "", "--appendonly", "no")
#: What the operations guide recommends: AOF, written every second.
AOF = ("--save", "", "--appendonly", "yes", "--appendfsync", "everysec")
#: Redis's default persistence: RDB snapshots only (the oldest after an hour, one change).
SNAPSHOT_ONLY = ("--save", "3600 1", "--appendonly", "no")


class RedisServer:
    """A redis-server child process with its own port and directory.

    :param persistence: the persistence arguments (see :data:`AOF`).
    :param password: make clients authenticate (``requirepass``).
    """

    def __init__(
        self, persistence: tuple[str, ...] = NO_PERSISTENCE, password: str | None = None
    ) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed: run `apt-get install -y redis-server` "
                "(.ci/run does it for CI)"
            )
        self.binary = binary
        self.persistence = persistence
        self.password = password
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="weblab-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        auth = ("--requirepass", self.password) if self.password else ()
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                *self.persistence,
                *auth,
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def kill(self) -> None:
        """``kill -9`` the server (a crash: nothing is flushed or saved on the way out)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def restart(self) -> None:
        """Stop and start again on the same port and directory (without persistence, the
        data is lost)."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
