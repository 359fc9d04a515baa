"""Status and dispose loops: each profile's decisions, driven by a scripted stub lab."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.rlms_stub import ClientFactory, Reply, StubLab
from weblab_ext.rlms import (
    PROFILES,
    DisposeNotFinished,
    RLMSHTTPError,
    RLMSProtocolError,
)
from weblab_ext.rlms.replies import next_status_step, read_dispose, read_should_finish

WLD = PROFILES["weblabdeusto"]
LDE = PROFILES["labdiscoveryengine"]
ASYNC = {"finished": False, "ask_again": 0.2, "should_finish": 1}


# -- decisions, value by value ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "wld", "lde"),
    [
        (5.0, ("wait", 5.0), ("wait", 5.0)),
        (25.0, ("wait", 25.0), ("wait", 10.0)),
        (0.0, ("stop", 0.0), ("wait", 10.0)),
        (-1.0, ("dispose", 0.0), ("dispose", 0.0)),
    ],
)
def test_status_steps(value: float, wld: tuple[str, float], lde: tuple[str, float]) -> None:
    for profile, expected in ((WLD, wld), (LDE, lde), (PROFILES["ldl"], lde)):
        step = next_status_step(profile, value)
        assert (step.action, step.seconds) == expected


def test_should_finish_reading() -> None:
    assert read_should_finish(WLD, {"should_finish": "3"}) == 3.0
    assert read_should_finish(LDE, {}) == 0.0
    assert read_should_finish(LDE, {"should_finish": None}) == 0.0
    with pytest.raises(RLMSProtocolError, match="no should_finish"):
        read_should_finish(WLD, {})
    with pytest.raises(RLMSProtocolError, match="not a number"):
        read_should_finish(WLD, {"should_finish": "soon"})
    with pytest.raises(RLMSProtocolError):
        read_should_finish(LDE, [1])


@pytest.mark.parametrize(
    ("reply", "finished", "wait"),
    [
        ({"message": "Deleted"}, True, None),
        ({"message": "Not found"}, True, None),
        ({}, True, None),
        (ASYNC, False, 0.2),
        ({"finished": False}, False, 0.5),
        # the data bug: data overwrites finished
        ({"finished": False, "data": "x"}, True, None),
        ({"finished": True, "data": ""}, False, 0.5),
        ({"finished": True, "data": None}, True, None),
        ([1, 2], True, None),
        ("text", True, None),
    ],
)
def test_weblabdeusto_dispose_reading(reply: object, finished: bool, wait: float | None) -> None:
    outcome = read_dispose(WLD, reply)
    assert (outcome.finished, outcome.wait) == (finished, wait)


def test_data_bug_flag_off() -> None:
    fixed = dataclasses.replace(WLD, data_bug=False)
    assert read_dispose(fixed, {"finished": True, "data": ""}).finished
    assert not read_dispose(fixed, {"finished": False, "data": "x"}).finished


@pytest.mark.parametrize(
    ("reply", "finished", "wait"),
    [
        ({"message": "Deleted"}, True, None),
        ({"message": "Not found"}, True, None),
        ({"should_finish": -1}, True, None),
        ({"should_finish": 0}, False, 1.0),
        ({"should_finish": 5}, False, 5.0),
        ({"should_finish": 100}, False, 30.0),
        (ASYNC, False, 1.0),
        ({"finished": False, "data": "x"}, True, None),  # LDE reads neither finished nor data
    ],
)
def test_lde_dispose_reading(reply: object, finished: bool, wait: float | None) -> None:
    outcome = read_dispose(LDE, reply)
    assert (outcome.finished, outcome.wait) == (finished, wait)


def test_lde_dispose_reading_errors() -> None:
    with pytest.raises(RLMSProtocolError):
        read_dispose(LDE, [1])
    with pytest.raises(RLMSProtocolError):
        read_dispose(LDE, {"should_finish": "later"})


# -- status loop ----------------------------------------------------------------------------


def test_weblabdeusto_status_loop_stops_at_zero(make_client: ClientFactory) -> None:
    lab = StubLab()
    lab.script("status", {"should_finish": 5}, {"should_finish": "3"}, {"should_finish": 0})
    client = make_client(lab)
    seen: list[float] = []
    trace = client.run_status_loop("s1", on_value=seen.append)
    assert trace == [5.0, 3.0, 0.0] == seen
    assert trace.reason == "stop" and trace.dispose is None
    assert trace.sleeps == [5.0, 3.0] == client.sleep.calls  # type: ignore[attr-defined]
    assert lab.endpoints() == ["status"] * 3


def test_weblabdeusto_status_negative_runs_the_dispose_loop(make_client: ClientFactory) -> None:
    lab = StubLab()
    lab.script("status", {"should_finish": 1}, {"should_finish": -1})
    lab.script("dispose", ASYNC, {"message": "Deleted"})
    client = make_client(lab)
    trace = client.run_status_loop("s1")
    assert trace == [1.0, -1.0] and trace.reason == "dispose"
    assert trace.dispose is not None
    assert trace.dispose.finished and trace.dispose.calls == 2
    assert trace.dispose.reply == {"message": "Deleted"}
    assert client.sleep.calls == [1.0, 0.2]  # type: ignore[attr-defined]
    assert lab.endpoints() == ["status", "status", "dispose", "dispose"]
    assert lab.calls[-1].json == {"action": "delete"}


def test_weblabdeusto_status_errors_retry_every_five_seconds(make_client: ClientFactory) -> None:
    lab = StubLab()
    lab.script(
        "status",
        Reply({"x": 1}, status=500),
        Reply(raw="nope"),
        {"no": "key"},
        {"should_finish": 0},
    )
    trace = make_client(lab).run_status_loop("s1")
    assert trace == [0.0] and trace.reason == "stop"
    assert trace.sleeps == [5.0, 5.0, 5.0]
    assert [type(e) for e in trace.errors] == [RLMSHTTPError, RLMSProtocolError, RLMSProtocolError]


def test_status_loop_is_bounded(make_client: ClientFactory) -> None:
    lab = StubLab()
    trace = make_client(lab).run_status_loop("s1", max_calls=4)
    assert trace == [5.0] * 4 and trace.reason == "max_calls"
    assert trace.sleeps == [5.0] * 3


def test_status_loop_disposes_at_the_deadline(make_client: ClientFactory) -> None:
    lab = StubLab()
    clock = [1000.0]

    def advance(value: float) -> None:
        clock[0] += value

    client = make_client(lab, now=lambda: clock[0])
    trace = client.run_status_loop("s1", deadline=1012.0, on_value=advance)
    assert trace == [5.0, 5.0, 5.0] and trace.reason == "deadline"
    assert trace.dispose is not None and trace.dispose.finished
    assert lab.endpoints() == ["status"] * 3 + ["dispose"]


@pytest.mark.parametrize("profile", ["labdiscoveryengine", "ldl"])
def test_lde_status_loop(make_client: ClientFactory, profile: str) -> None:
    lab = StubLab(prefix=PROFILES[profile].prefix)
    lab.script(
        "status",
        {"should_finish": 0},
        {},
        {"should_finish": 25},
        {"should_finish": 3},
        {"should_finish": -1},
    )
    trace = make_client(lab, profile=profile).run_status_loop("s1")
    assert trace == [0.0, 0.0, 25.0, 3.0, -1.0] and trace.reason == "dispose"
    assert trace.sleeps == [10.0, 10.0, 10.0, 3.0]
    assert trace.dispose is not None and trace.dispose.finished


def test_lde_status_errors_retried_three_times(make_client: ClientFactory) -> None:
    lab = StubLab()
    # 500: a status the network transport does not retry itself, so only the loop's own
    # retries are seen (502/503/504 are retried below the loop as well)
    boom = Reply({"error": "boom"}, status=500)
    lab.script("status", boom, boom, boom, {"should_finish": -1})
    trace = make_client(lab, profile="labdiscoveryengine").run_status_loop("s1")
    assert trace == [-1.0] and trace.sleeps == [1.0, 1.0, 1.0]
    lab.script("status", boom, boom, boom, boom)
    client = make_client(lab, profile="labdiscoveryengine")
    with pytest.raises(RLMSHTTPError):
        client.run_status_loop("s1")
    assert client.sleep.calls == [1.0, 1.0, 1.0]  # type: ignore[attr-defined]


# -- dispose loop ---------------------------------------------------------------------------


def test_weblabdeusto_async_dispose(make_client: ClientFactory) -> None:
    lab = StubLab()
    lab.script("dispose", ASYNC, {"finished": False}, {"message": "Deleted"})
    client = make_client(lab)
    outcome = client.dispose_until_finished("s1")
    assert outcome.finished and outcome.calls == 3
    assert client.sleep.calls == [0.2, 0.5]  # type: ignore[attr-defined]


def test_data_key_makes_weblabdeusto_call_dispose_forever(make_client: ClientFactory) -> None:
    """Why a lab must never send ``data``: ``{"finished": true, "data": ""}`` is unfinished."""
    lab = StubLab()
    lab.set_default("dispose", {"finished": True, "data": ""})
    client = make_client(lab)
    outcome = client.dispose_until_finished("s1", max_calls=10)
    assert not outcome.finished and outcome.calls == 10
    assert client.sleep.calls == [0.5] * 9  # type: ignore[attr-defined]
    fixed = dataclasses.replace(WLD, data_bug=False)
    assert make_client(lab, profile=fixed).dispose_until_finished("s1").calls == 1


def test_weblabdeusto_dispose_failure_releases(make_client: ClientFactory) -> None:
    lab = StubLab()
    lab.script("dispose", Reply(raw="crash", status=500, content_type="text/plain"))
    outcome = make_client(lab).dispose_until_finished("s1")
    assert outcome.finished and outcome.calls == 1
    assert isinstance(outcome.error, RLMSHTTPError)


@pytest.mark.parametrize("profile", ["labdiscoveryengine", "ldl"])
def test_lde_dispose_loop(make_client: ClientFactory, profile: str) -> None:
    lab = StubLab(prefix=PROFILES[profile].prefix)
    lab.script(
        "dispose", ASYNC, {"should_finish": 0}, {"should_finish": 90}, {"message": "Deleted"}
    )
    client = make_client(lab, profile=profile)
    outcome = client.dispose_until_finished("s1")
    assert outcome.finished and outcome.calls == 4
    assert client.sleep.calls == [1.0, 1.0, 30.0]  # type: ignore[attr-defined]
    method = PROFILES[profile].dispose_method
    assert [c.method for c in lab.calls] == [method] * 4


@pytest.mark.parametrize("profile", ["labdiscoveryengine", "ldl"])
def test_lde_fails_closed_after_sixty_attempts(make_client: ClientFactory, profile: str) -> None:
    lab = StubLab(prefix=PROFILES[profile].prefix)
    lab.set_default("dispose", {"finished": False, "ask_again": 0.2, "should_finish": 0})
    client = make_client(lab, profile=profile)
    with pytest.raises(DisposeNotFinished) as info:
        client.dispose_until_finished("s1")
    assert info.value.calls == 60 and info.value.session_id == "s1"
    assert info.value.reply["should_finish"] == 0
    assert len(lab.calls) == 60
    assert client.sleep.calls == [1.0] * 59  # type: ignore[attr-defined]


def test_lde_status_loop_propagates_fail_closed(make_client: ClientFactory) -> None:
    lab = StubLab()
    lab.script("status", {"should_finish": -1})
    lab.set_default("dispose", {"should_finish": 2})
    with pytest.raises(DisposeNotFinished):
        make_client(lab, profile="labdiscoveryengine").run_status_loop("s1")
    assert len(lab.calls) == 61
