"""The core driven end to end by every RLMS profile, in-process (no socket).

The RLMS client's ``sleep`` advances the lab's clock, so a status loop lives through minutes
of lab time instantly: timeouts and slot ends happen exactly as they would in production.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.lab import PASSWORD, USERNAME, Lab
from weblab_ext import weblab_user
from weblab_ext.rlms import PROFILES, FlaskTransport, RLMSClient

pytestmark = pytest.mark.parametrize("profile", sorted(PROFILES))


class LabTime:
    """A clock shared by the lab and the RLMS; sleeping advances it."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))  # whole seconds: LDL sends dates without fractions
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def rlms_for(
    lab: Lab, profile: str, clock: LabTime, sleep: Callable[[float], None] | None = None
) -> RLMSClient:
    lab.state.clock = clock
    return RLMSClient(
        url="http://localhost:5000",
        username=USERNAME,
        password=PASSWORD,
        profile=profile,
        transport=FlaskTransport(lab.app),
        sleep=sleep or clock.sleep,
        now=clock,
        environ={},
        dotenv_path="/nonexistent/.env",
        netrc_path="/nonexistent/.netrc",
    )


def follow(lab: Lab, url: str) -> Any:
    """A student's browser opening the launch URL."""
    student = lab.app.test_client()
    reply = student.get(urlsplit(url).path)
    assert reply.status_code == 302
    assert urlsplit(reply.headers["Location"]).path == "/lab"
    return student


def started(lab: Lab, rlms: RLMSClient, **start: Any) -> tuple[str, Any]:
    session = rlms.start(username="ana", full_name="Ana", username_unique="ana@uni", **start)
    assert session.url.startswith("http://localhost:5000/callback/")
    student = follow(lab, session.url)
    assert student.get("/lab").get_data(as_text=True) == "lab of ana"
    return session.session_id, student


def assert_disposed_once(lab: Lab, rlms: RLMSClient, sid: str, student: Any) -> None:
    assert lab.disposed == [sid]
    assert student.get("/lab").status_code != 200
    assert rlms.status(sid) == -1
    assert rlms.dispose_until_finished(sid).finished  # idempotent for the RLMS
    assert lab.disposed == [sid]


def test_logout(make_lab: Callable[..., Lab], profile: str) -> None:
    lab, clock = make_lab(), LabTime()
    rlms = rlms_for(lab, profile, clock)
    sid, student = started(lab, rlms, slot_length=120)
    assert rlms.status(sid) == 5
    assert student.get(f"/callback/{sid}/logout").status_code == 200
    trace = rlms.run_status_loop(sid, max_calls=10)
    assert list(trace) == [-1]
    assert trace.reason == "dispose"
    assert trace.dispose is not None and trace.dispose.finished
    assert_disposed_once(lab, rlms, sid, student)


def test_inactivity_timeout(make_lab: Callable[..., Lab], profile: str) -> None:
    lab, clock = make_lab(WEBLAB_TIMEOUT=15, WEBLAB_POLL_INTERVAL=5), LabTime()
    rlms = rlms_for(lab, profile, clock)
    sid, student = started(lab, rlms, slot_length=600)
    trace = rlms.run_status_loop(sid, max_calls=20)
    assert list(trace) == [5, 5, 5, -1]  # the student stopped polling after the launch
    assert trace.reason == "dispose" and trace.dispose is not None
    assert trace.dispose.finished
    assert_disposed_once(lab, rlms, sid, student)


def test_slot_end_reported_by_the_lab(make_lab: Callable[..., Lab], profile: str) -> None:
    lab, clock = make_lab(WEBLAB_TIMEOUT=10_000, WEBLAB_POLL_INTERVAL=5), LabTime()
    rlms = rlms_for(lab, profile, clock)
    sid, student = started(lab, rlms, slot_length=12)
    trace = rlms.run_status_loop(sid, max_calls=20)
    assert list(trace) == [5, 5, 2, -1]  # never beyond the slot, never 0 before it ends
    assert trace.reason == "dispose" and trace.dispose is not None
    assert trace.dispose.finished
    assert_disposed_once(lab, rlms, sid, student)


def test_slot_end_decided_by_the_rlms(make_lab: Callable[..., Lab], profile: str) -> None:
    lab, clock = make_lab(WEBLAB_TIMEOUT=10_000, WEBLAB_POLL_INTERVAL=5), LabTime()
    rlms = rlms_for(lab, profile, clock)
    sid, student = started(lab, rlms, slot_length=600)
    trace = rlms.run_status_loop(sid, max_calls=20, deadline=clock.now + 7)
    assert list(trace) == [5, 5]
    assert trace.reason == "deadline" and trace.dispose is not None
    assert trace.dispose.finished
    assert_disposed_once(lab, rlms, sid, student)


def test_slow_dispose_is_asked_again(make_lab: Callable[..., Lab], profile: str) -> None:
    lab, clock = make_lab(WEBLAB_DISPOSE_WAIT=0.1), LabTime()
    release, ran = threading.Event(), []
    lab.weblab.callbacks.on_dispose = None  # replace make_lab's hook with a slow one

    @lab.weblab.on_dispose
    def slow_dispose() -> None:
        ran.append(weblab_user.session_id)
        assert release.wait(5)

    def sleep(seconds: float) -> None:
        # Only called after a "not finished" answer: the hardware is released now.
        clock.sleep(seconds)
        release.set()

    rlms = rlms_for(lab, profile, clock, sleep=sleep)
    sid, student = started(lab, rlms, slot_length=120)
    student.get(f"/callback/{sid}/logout")
    trace = rlms.run_status_loop(sid, max_calls=10)
    assert trace.reason == "dispose" and trace.dispose is not None
    outcome = trace.dispose
    assert outcome.finished
    assert outcome.calls >= 2
    assert clock.sleeps[0] == 1  # WEBLAB_DISPOSE_ASK_AGAIN, read by every profile
    assert ran == [sid]
    assert rlms.dispose_until_finished(sid).calls == 1
    assert ran == [sid]
