"""Throw-away Redis Cluster and Sentinel deployments on 127.0.0.1 for the test session.

Real ``redis-server`` processes on free ports, each in its own directory, stopped by PID:
a 3-master cluster with one replica each (so a killed master fails over), and a master with
one replica watched by one Sentinel.
"""

from __future__ import annotations

import functools
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from tests.support.redis_server import end_processes, free_port


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_cluster_port() -> int:
    """A free port whose cluster-bus port (the port + 10,000) is free too."""
    for _ in range(200):
        port = random.randint(20_000, 45_000)
        if _bindable(port) and _bindable(port + 10_000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


class _Startable(Protocol):
    def start(self) -> None: ...

    def cleanup(self) -> None: ...


Deployment = TypeVar("Deployment", bound=_Startable)

#: Milliseconds without an answer after which a cluster node (or Sentinel's master) counts
#: as down. Short, so failover tests stay short; not so short that a loaded CI machine makes
#: healthy nodes look dead.
NODE_TIMEOUT_MS = 2500


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"{name} is not installed: run `apt-get install -y redis-server` "
            "(.ci/run does it for CI)"
        )
    return found


@contextmanager
def running(deployment: Deployment) -> Iterator[Deployment]:
    """Start a deployment for the block and remove it (processes and files) afterwards."""
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.cleanup()


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until it is true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


class _Processes:
    """redis-server children of one deployment, by port."""

    def __init__(self, prefix: str) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix=prefix))
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.arguments: dict[int, list[str]] = {}

    def spawn(self, port: int, *arguments: str) -> None:
        """Start (or restart) the server of ``port`` with the arguments it had."""
        args = list(arguments) or self.arguments[port]
        self.arguments[port] = args
        workdir = self.directory / str(port)
        workdir.mkdir(exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [_binary("redis-server"), *args],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self, port: int) -> None:
        """SIGKILL one server (a crash: no shutdown, no goodbye to its peers)."""
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def cleanup(self) -> None:
        end_processes(self.processes.values(), grace=10)
        shutil.rmtree(self.directory, ignore_errors=True)


class RedisClusterNodes:
    """Three masters and three replicas forming one Redis Cluster."""

    def __init__(self, masters: int = 3) -> None:
        self.masters = masters
        self.ports = [free_cluster_port() for _ in range(2 * masters)]
        self.nodes = _Processes("weblab-cluster-")

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL naming one node: the client discovers the rest."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def _node_arguments(self, port: int) -> list[str]:
        return [
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            str(NODE_TIMEOUT_MS),
            "--cluster-replica-validity-factor",
            "0",
            "--save",
            "",
            "--appendonly",
            "no",
            "--repl-diskless-sync-delay",
            "0",
        ]

    def start(self) -> None:
        for port in self.ports:
            self.nodes.spawn(port, *self._node_arguments(port))
        for port in self.ports:
            wait_until(functools.partial(self._ping, port), 10, f"node {port}")
        subprocess.run(
            [
                _binary("redis-cli"),
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        self.wait_healthy()

    def _ping(self, port: int) -> bool:
        return bool(self.client(port).ping())

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=port,
            decode_responses=True,
            socket_timeout=2,
            socket_connect_timeout=2,
        )

    def wait_healthy(self, timeout: float = 30) -> None:
        """Wait until every live node says the cluster is ``ok`` with all slots served."""

        def healthy() -> bool:
            for port in self.live_ports():
                info = self.client(port).cluster("info")
                if (
                    info.get("cluster_state") != "ok"
                    or int(info.get("cluster_slots_ok", 0)) != 16384
                ):
                    return False
            return True

        wait_until(healthy, timeout, "the cluster to be healthy")

    def live_ports(self) -> list[int]:
        return [port for port, process in self.nodes.processes.items() if process.poll() is None]

    def master_port_of(self, key: str) -> int:
        """Port of the master that serves ``key``'s slot now."""
        slot = key_slot(key.encode())
        for port in self.live_ports():
            for start, end, master, *_replicas in self.client(port).execute_command(
                "CLUSTER", "SLOTS"
            ):
                if int(start) <= slot <= int(end):
                    return int(master[1])
        raise LookupError(slot)

    def master_ports(self) -> list[int]:
        for port in self.live_ports():
            return sorted(
                {
                    int(master[1])
                    for _s, _e, master, *_r in self.client(port).execute_command("CLUSTER", "SLOTS")
                }
            )
        return []

    def cluster_client(self) -> RedisCluster:
        return RedisCluster(host="127.0.0.1", port=self.live_ports()[0], decode_responses=True)

    def kill(self, port: int) -> None:
        self.nodes.kill(port)

    def restart(self, port: int) -> None:
        """Start a killed node again: it rejoins (as a replica of whoever took its slots)."""
        self.nodes.spawn(port)
        wait_until(lambda: self.client(port).ping(), 10, f"node {port} back")

    def cleanup(self) -> None:
        self.nodes.cleanup()


class RedisSentinelSet:
    """A master, one replica and one Sentinel watching them (quorum 1: tests only)."""

    service = "weblab-test"

    def __init__(self) -> None:
        self.master_port, self.replica_port, self.sentinel_port = (free_port() for _ in "abc")
        self.nodes = _Processes("weblab-sentinel-")

    def url(self, db: int = 0) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{self.service}/{db}"

    def start(self) -> None:
        common = [
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--repl-diskless-sync-delay",
            "0",
        ]
        self.nodes.spawn(self.master_port, "--port", str(self.master_port), *common)
        self.nodes.spawn(
            self.replica_port,
            "--port",
            str(self.replica_port),
            *common,
            "--replicaof",
            "127.0.0.1",
            str(self.master_port),
        )
        config = self.nodes.directory / "sentinel.conf"
        config.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\n"
            f"sentinel monitor {self.service} 127.0.0.1 {self.master_port} 1\n"
            f"sentinel down-after-milliseconds {self.service} {NODE_TIMEOUT_MS}\n"
            f"sentinel failover-timeout {self.service} 10000\n"
            f"sentinel known-replica {self.service} 127.0.0.1 {self.replica_port}\n"
        )
        self.nodes.spawn(self.sentinel_port, str(config), "--sentinel")
        wait_until(self._replica_synced, 20, "the replica to sync")
        wait_until(lambda: self.current_master() == self.master_port, 20, "Sentinel to see it")
        # Sentinel learns of replicas from the master's INFO every 10 s (known-replica above
        # saves that wait): until it has, it would have nobody to promote.
        wait_until(self._sentinel_knows_replica, 30, "Sentinel to see the replica")

    def _replica_synced(self) -> bool:
        info = redis.Redis(port=self.replica_port, decode_responses=True).info("replication")
        return bool(info.get("master_link_status") == "up")

    def _sentinel_knows_replica(self) -> bool:
        sentinel = redis.Redis(port=self.sentinel_port, decode_responses=True, socket_timeout=2)
        replicas = sentinel.execute_command("SENTINEL", "REPLICAS", self.service)
        for replica in replicas:
            fields = (
                replica
                if isinstance(replica, dict)
                else dict(zip(replica[0::2], replica[1::2], strict=True))
            )
            if fields.get("port") == str(self.replica_port) and fields.get("flags") == "slave":
                return True
        return False

    def current_master(self) -> int | None:
        sentinel = redis.Redis(port=self.sentinel_port, decode_responses=True, socket_timeout=2)
        address = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
        return int(address[1]) if address else None

    def kill(self, port: int) -> None:
        self.nodes.kill(port)

    def cleanup(self) -> None:
        self.nodes.cleanup()
