"""One worker for the whole pool: mass expiry, exactly-once ``on_dispose`` under racing
disposals, and a worker killed with tasks on several devices."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.lab import AUTH, Lab, real_redis_only
from tests.support.workers import HEARTBEAT, WORKER_APP, Workers
from tests.support.workers import wait_running as _wait_running
from weblab_ext import weblab_user
from weblab_ext.context import session_context
from weblab_ext.runtime.workers import HeartbeatLoop


def _start(lab: Lab, device: str, **server: Any) -> str:
    body = lab.start_body(server=server)
    reply = lab.raw_rlms.post(f"/devices/{device}/weblab/sessions/", json=body, headers=AUTH)
    assert reply.status_code == 200, reply.json
    return str(reply.json["session_id"])


def _recording_pool(make_lab: Callable[..., Lab], names: list[str], **config: Any) -> Lab:
    lab = make_lab(WEBLAB_DEVICES=names, **config)
    lab.dispose_log = []  # type: ignore[attr-defined]
    lock = threading.Lock()

    def on_dispose() -> None:
        with lock:
            lab.dispose_log.append((weblab_user.session_id, weblab_user.device))  # type: ignore[attr-defined]

    lab.weblab.callbacks.on_dispose = on_dispose
    return lab


def test_a_hundred_devices_due_at_once_are_disposed_in_one_pass(
    make_lab: Callable[..., Lab],
) -> None:
    names = [f"board-{i}" for i in range(100)]
    lab = _recording_pool(make_lab, names)
    sessions = {_start(lab, name): name for name in names}
    later = time.time() + 10_000
    started = time.monotonic()
    assert lab.state.service.clean_expired(now=later) == 100
    assert time.monotonic() - started < 5
    assert sorted(lab.dispose_log) == sorted(sessions.items())  # type: ignore[attr-defined]
    assert all(row.session_key is None for row in lab.state.devices.overview())
    assert _start(lab, "board-42")  # free again


def test_on_dispose_runs_once_per_device_under_racing_disposals(
    make_lab: Callable[..., Lab],
) -> None:
    names = ["board-1", "board-2", "board-3"]
    lab = _recording_pool(make_lab, names)
    sessions = {name: _start(lab, name) for name in names}
    later = time.time() + 10_000
    barrier = threading.Barrier(3 * len(names) + 2)

    def rlms(device: str, session_id: str, ldl: bool) -> None:
        client = lab.app.test_client()
        barrier.wait()
        if ldl:
            client.delete(f"/devices/{device}/ldl/sessions/{session_id}", headers=AUTH)
        else:
            client.post(
                f"/devices/{device}/weblab/sessions/{session_id}",
                json={"action": "delete"},
                headers=AUTH,
            )

    def cleaner() -> None:
        barrier.wait()
        lab.state.service.clean_expired(now=later)

    threads = [threading.Thread(target=cleaner) for _ in range(2)]
    for device, session_id in sessions.items():
        threads += [
            threading.Thread(target=rlms, args=(device, session_id, i == 1)) for i in (0, 1)
        ]
        # A dispose of this session through another device's URL must not count.
        other = names[(names.index(device) + 1) % len(names)]
        threads.append(threading.Thread(target=rlms, args=(other, session_id, False)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    lab.state.service.clean_expired(now=later)  # finishes any disposal still in flight
    counts: Counter[tuple[str, str]] = Counter(lab.dispose_log)  # type: ignore[attr-defined]
    assert counts == Counter({(sid, device): 1 for device, sid in sessions.items()})


DEVICE_WORKER_APP = WORKER_APP.replace(
    "WEBLAB_CLEANER_INTERVAL=60,",
    "WEBLAB_CLEANER_INTERVAL=float(os.environ['TEST_CLEANER']), "
    "WEBLAB_DEVICES=os.environ['TEST_DEVICES'],",
)


@pytest.fixture
def pool_workers(
    make_lab: Callable[..., Lab], store_url: str, tmp_path: Path
) -> Iterator[tuple[Lab, Any, Workers]]:
    names = ["board-1", "board-2", "board-3"]
    lab = make_lab(WEBLAB_DEVICES=names, WEBLAB_HEARTBEAT_INTERVAL=HEARTBEAT)

    def exclusive(seconds: float) -> None: ...

    task = lab.weblab.task(unique="global")(exclusive)
    workers = Workers(tmp_path, store_url, lab.app.config["WEBLAB_REDIS_BASE"])
    (tmp_path / "worker_app.py").write_text(DEVICE_WORKER_APP)
    workers.env.update(TEST_DEVICES=",".join(names), TEST_CLEANER="0.1")
    try:
        yield lab, task, workers
    finally:
        workers.stop_all()


@real_redis_only
def test_kill_9_of_the_worker_fails_the_tasks_of_every_device(
    pool_workers: tuple[Lab, Any, Workers],
) -> None:
    lab, exclusive, workers = pool_workers
    process = workers.start("--threads", "3")
    devices = ["board-1", "board-2", "board-3"]
    sessions = {device: _start(lab, device) for device in devices}
    tasks = {}
    with lab.app.app_context():
        for device, session_id in sessions.items():
            with session_context(session_id):
                tasks[device] = exclusive.delay(30)
        for device, session_id in sessions.items():
            _wait_running(tasks[device])
            with session_context(session_id):
                assert exclusive.delay(1).failed  # each device's lock is held
        os.kill(process.pid, signal.SIGKILL)
        stop = threading.Event()
        lab.state.tasks.shutdown_grace = 0
        heartbeat = HeartbeatLoop(lab.state.tasks, stop, 0, store_label="test").start()
        try:
            for device, session_id in sessions.items():
                task = tasks[device]
                task.join(timeout=5)
                assert task.failed and task.error["code"] == "worker-lost", device
                with session_context(session_id):
                    assert exclusive.delay(0).submitted, device  # its lock is freed
        finally:
            stop.set()
            heartbeat.join(5)


@real_redis_only
def test_one_worker_process_cleans_every_device(
    pool_workers: tuple[Lab, Any, Workers], tmp_path: Path
) -> None:
    lab, _exclusive, workers = pool_workers
    workers.start("--threads", "1")
    sessions = {
        device: _start(lab, device, **{"priority.queue.slot.length": "1"})
        for device in ("board-1", "board-2", "board-3")
    }
    deadline = time.monotonic() + 15
    while any(lab.state.service.load(s).state != "disposed" for s in sessions.values()):  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the worker did not dispose every device's session"
        time.sleep(0.05)
    for device in sessions:
        assert _start(lab, device)
