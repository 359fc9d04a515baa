"""``GET <base>/weblab/health``: the LabDiscoveryEngine health check (no credentials, bounded
time, says what failed). The checks run in rounds (``monitor(lab).run_once``); the URL reads
their stored result, and a lab's very first call waits for its first round."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest
from flask import current_app

from tests.support.lab import AUTH, Lab, json_of
from weblab_ext.runtime.health_monitor import HealthMonitor


def health(lab: Lab, path: str = "/weblab/health") -> dict[str, object]:
    reply = lab.app.test_client().get(path)  # no Authorization header, as LDE sends
    assert reply.status_code == 200, reply.get_data(as_text=True)
    assert reply.headers["Cache-Control"] == "no-store"
    return dict(json_of(reply))


def monitor(lab: Lab) -> HealthMonitor:
    assert lab.state.threads.health is not None
    return lab.state.threads.health


@pytest.mark.parametrize("path", ["/weblab/health", "/ldl/health"])
def test_healthy_lab_without_checks(lab: Lab, path: str) -> None:
    # No background thread runs (WEBLAB_NO_THREAD): the first call waits for a first round.
    report = health(lab, path)
    checked_at = report.pop("checked_at")
    assert report == {
        "found": True,
        "success": True,
        "message": "ok: store",
        "state": "idle",
        "since": None,
    }
    assert isinstance(checked_at, float) and abs(checked_at - time.time()) < 60
    assert health(lab, path)["checked_at"] == checked_at  # read back, not checked again


def test_health_respects_the_base_url(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_BASE_URL="/labs/arm")
    assert health(lab, "/labs/arm/weblab/health")["success"] is True


def test_hardware_checks_run_in_the_app_and_are_named(lab: Lab) -> None:
    seen: list[str] = []

    @lab.weblab.health_check
    def camera() -> bool:
        seen.append(current_app.name)
        return True

    @lab.weblab.health_check
    def arm() -> bool:
        return False

    @lab.weblab.health_check
    def gripper() -> bool:
        raise OSError("serial /dev/ttyUSB0 password=hunter2")

    report = health(lab)
    assert report["success"] is False
    assert report["message"] == "arm: returned false; gripper: raised OSError"
    assert seen == [lab.app.name]
    assert "hunter2" not in str(report) and "Traceback" not in str(report)
    health(lab)
    assert seen == [lab.app.name]  # the URL reads the stored result: no check ran again


def test_all_checks_true_is_success(lab: Lab) -> None:
    lab.weblab.health_check(lambda: "anything true")
    lab.weblab.callbacks.health_checks[-1] = ("camera", lab.weblab.callbacks.health_checks[-1][1])
    report = health(lab)
    assert report["success"] is True and report["message"] == "ok: store, camera"


def test_a_new_round_changes_the_answer(lab: Lab) -> None:
    fine = [True]

    @lab.weblab.health_check
    def camera() -> bool:
        return fine[0]

    assert health(lab)["success"] is True
    fine[0] = False
    assert health(lab)["success"] is True  # still the stored result
    monitor(lab).run_once(claim=False)
    assert health(lab)["message"] == "camera: returned false"


def test_duplicate_check_names_are_refused(lab: Lab) -> None:
    def camera() -> bool:
        return True

    lab.weblab.health_check(camera)
    with pytest.raises(ValueError, match="camera"):
        lab.weblab.health_check(camera)

    def store() -> bool:
        return True

    with pytest.raises(ValueError, match="store"):
        lab.weblab.health_check(store)


@pytest.mark.slow
def test_a_hanging_check_does_not_hang_the_endpoint(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(WEBLAB_HEALTH_CHECK_TIMEOUT=0.3)
    release = threading.Event()
    calls: list[int] = []

    @lab.weblab.health_check
    def motor() -> bool:
        calls.append(1)
        release.wait(20)
        return True

    started = time.monotonic()
    report = health(lab)  # the first call waits for the first round: bounded by the timeout
    assert time.monotonic() - started < 5  # 0.3 s asked, generous bound
    assert report["success"] is False
    assert report["message"] == "motor: did not answer within 0.3 s"
    # Still hung: a later round does not start it again (no pile of threads).
    monitor(lab).run_once(claim=False)
    assert health(lab)["message"] == "motor: still running since an earlier round"
    assert len(calls) == 1
    release.set()
    deadline = time.monotonic() + 10
    while True:
        monitor(lab).run_once(claim=False)
        if health(lab)["success"] is True:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)  # the released check's thread ends on its own
    assert len(calls) == 2


def test_an_unreachable_store_is_unhealthy(make_lab: Callable[..., Lab]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    lab = make_lab(WEBLAB_REDIS_URL=f"redis://:s3cret@127.0.0.1:{port}/0")
    report = health(lab)
    assert report["success"] is False
    assert report["message"] == "store: raised ConnectionError"
    assert "s3cret" not in str(report)


def test_other_methods_on_the_health_path_answer_json_405(lab: Lab) -> None:
    reply = lab.app.test_client().post("/weblab/health", headers=AUTH)
    assert reply.status_code == 405
    assert json_of(reply)["code"] == "method-not-allowed"
    assert reply.headers["Allow"] == "GET"
