"""Redis keys: one prefix per lab, a TTL on every key, no KEYS, and hot-path round trips."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from tests.support.lab import AUTH, Lab, real_redis_only
from tests.support.paths import PACKAGE
from tests.support.round_trips import RoundTrips, count_round_trips
from weblab_ext.store.keys import Keys

PACKAGE = PACKAGE


@pytest.mark.parametrize("base", ["lab", "my-lab", "a:b"])
def test_every_key_family_has_the_lab_prefix(base: str) -> None:
    keys = Keys(base)
    families = keys.all_families()
    assert len(families) >= 17
    for name, key in families.items():
        assert key.startswith("{" + base + "}:weblab:"), name
    # Families do not collide with each other.
    assert len(set(families.values())) == len(families)


def test_two_labs_share_no_key() -> None:
    one, two = Keys("one").all_families(), Keys("two").all_families()
    assert not set(one.values()) & set(two.values())


def lab_keys(lab: Lab) -> list[str]:
    pattern = "{" + lab.state.keys.base + "}:weblab:*"
    return sorted(lab.state.client.scan_iter(match=pattern))  # SCAN only in the test


def test_every_key_has_a_ttl_after_a_full_session(lab: Lab) -> None:
    @lab.app.route("/write")
    def write() -> str:
        from weblab_ext import weblab_user

        weblab_user.data["x"] = 1
        return "ok"

    kept = lab.start_raw()
    session_id = lab.start_raw()
    student = lab.browser(session_id)
    student.get("/write")
    student.get("/lab")
    student.get(f"/callback/{session_id}/poll")
    student.get(f"/callback/{session_id}/logout")
    lab.status(session_id)
    with lab.app.app_context():
        lab.weblab.clean_expired_users()
    lab.dispose(session_id)
    lab.dispose(kept)
    lab.status("unknown")
    lab.dispose("unknown")
    lab.browser(kept).get(f"/callback/{kept}/poll")
    keys = lab_keys(lab)
    assert keys, "the expired records should still be there"
    without_ttl = [key for key in keys if lab.state.client.ttl(key) < 0]
    assert without_ttl == []


def test_the_library_never_calls_keys() -> None:
    """KEYS blocks Redis for O(N): the runtime uses indexes (SCAN only in test helpers)."""
    offenders = []
    pattern = re.compile(
        r"(client|redis|pipe|pipeline|_client|conn|connection|r)\s*\.\s*keys\s*\(|"
        r"['\"]KEYS['\"]|\bscan_iter\s*\(",
        re.IGNORECASE,
    )
    for path in PACKAGE.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = pattern.search(line)
            # The testing harness may SCAN a throw-away lab's keys; the runtime never does.
            if match and not (path.parts[-2] == "testing" and "scan_iter" in match.group(0)):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []


# -- round trips on the hot path --------------------------------------------------------------


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> RoundTrips:
    """Round trips of this thread (see :mod:`.round_trips`)."""
    return count_round_trips(monkeypatch, this_thread_only=True)


def measure(counter: RoundTrips, action: Callable[[], Any]) -> int:
    action()  # warm up: the first call of a script loads it
    return counter.of(action)


@pytest.fixture
def hot_lab(make_lab: Callable[..., Lab]) -> Lab:
    lab = make_lab()

    @lab.app.route("/change")
    def change() -> str:
        from weblab_ext import requires_active, weblab_user

        @requires_active
        def inner() -> str:
            weblab_user.data["n"] = weblab_user.data.get("n", 0) + 1
            return "changed"

        return inner()

    @lab.app.route("/static-like")
    def static_like() -> str:
        return "plain"

    return lab


def test_requires_active_unchanged_data_is_one_round_trip(
    hot_lab: Lab, round_trips: RoundTrips
) -> None:
    student = hot_lab.browser(hot_lab.start_raw())
    assert measure(round_trips, lambda: student.get("/lab")) == 1, round_trips.commands


def test_requires_active_changed_data_is_two_round_trips(
    hot_lab: Lab, round_trips: RoundTrips
) -> None:
    student = hot_lab.browser(hot_lab.start_raw())
    assert measure(round_trips, lambda: student.get("/change")) == 2, round_trips.commands


def test_requests_without_session_cost_nothing(hot_lab: Lab, round_trips: RoundTrips) -> None:
    anonymous = hot_lab.app.test_client()
    assert measure(round_trips, lambda: anonymous.get("/static-like")) == 0
    assert measure(round_trips, lambda: anonymous.get("/lab")) == 0
    assert measure(round_trips, lambda: anonymous.get("/results")) == 0


def test_status_is_one_round_trip(hot_lab: Lab, round_trips: RoundTrips) -> None:
    session_id = hot_lab.start_raw()
    assert measure(round_trips, lambda: hot_lab.status(session_id)) == 1, round_trips.commands


@pytest.mark.parametrize("limit", [None, 30])
def test_multiple_status_of_1000_ids_is_one_round_trip(
    hot_lab: Lab, round_trips: RoundTrips, limit: float | None
) -> None:
    ids = [hot_lab.start_raw() for _ in range(3)] + [f"unknown-{i}" for i in range(997)]

    def call() -> None:
        reply = hot_lab.raw_rlms.post(
            "/weblab/sessions/status/multiple",
            headers=AUTH,
            json={"session_ids": ids, "timeout": limit},
        )
        assert len(reply.json["status"]) == 1000

    assert measure(round_trips, call) == 1, round_trips.commands
    names = sorted(thread.name for thread in threading.enumerate())
    assert "weblab-cleaner" not in names, names


# -- every script declares the keys it touches (Redis Cluster correctness) --------------------


class Monitor:
    """MONITOR on a raw socket: every command the server runs, scripts' commands included, with
    its exact arguments (redis-py's monitor joins them with spaces)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(b"MONITOR\r\n")
        self.buffer = b""
        assert self._line() == b"+OK"

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def read_until(self, marker: str) -> list[tuple[str, list[str]]]:
        """``(source, [command, args...])`` up to the ``ECHO marker`` command."""
        seen: list[Any] = []
        while True:
            line = self._line().decode()
            source = line.split("[", 1)[1].split("]", 1)[0].split(" ", 1)[1]
            args = _unquote_all(line.split("] ", 1)[1])
            if args[:2] == ["ECHO", marker]:
                return seen
            seen.append(("lua" if source == "lua" else "client", args))

    def close(self) -> None:
        self.sock.close()


def _unquote_all(text: str) -> list[str]:
    """The ``"arg" "arg"`` list of a MONITOR line (sdscatrepr quoting)."""
    args, index = [], 0
    escapes = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", '"': '"', "\\": "\\"}
    while index < len(text):
        assert text[index] == '"', text
        index += 1
        value = []
        while text[index] != '"':
            if text[index] == "\\":
                following = text[index + 1]
                if following == "x":
                    value.append(chr(int(text[index + 2 : index + 4], 16)))
                    index += 4
                    continue
                value.append(escapes[following])
                index += 2
                continue
            value.append(text[index])
            index += 1
        args.append("".join(value))
        index += 2  # the closing quote and the space
    return args


def _command_keys(client: redis.Redis, args: list[str]) -> list[str]:
    """The keys a command touches, as the server itself sees them (COMMAND GETKEYS)."""
    try:
        return [str(key) for key in client.execute_command("COMMAND", "GETKEYS", *args)]
    except redis.ResponseError:  # a command without keys (PUBLISH)
        return []


@real_redis_only
def test_every_script_touches_only_the_keys_it_declares(
    make_lab: Callable[..., Lab], store_url: str
) -> None:
    """On a Redis Cluster a script may only touch the keys passed in KEYS: exercise every
    script (sessions, cleaner, dispose, tasks with unique locks, heartbeat, reaper) and check
    each command run inside one against the keys that script call declared."""
    import weblab_ext
    from weblab_ext.context import session_context

    lab = make_lab(WEBLAB_TIMEOUT=30)
    engine = lab.state.tasks

    @lab.weblab.task(unique="user")
    def measure() -> str:
        engine.heartbeat_tick()  # renews the running task's lease and its unique lock
        weblab_ext.current_task.store()
        return "done"

    @lab.weblab.task(unique="global")
    def abandoned() -> None: ...

    client = redis.Redis.from_url(store_url, decode_responses=True)
    client.set_response_callback("COMMAND", lambda reply, **_options: reply)  # raw GETKEYS
    monitor = Monitor(int(store_url.rsplit(":", 1)[1].split("/")[0]))
    try:
        session_id = lab.start_raw()
        student = lab.browser(session_id)
        student.get("/lab")
        lab.raw_rlms.post(
            "/weblab/sessions/status/multiple",
            headers=AUTH,
            json={"session_ids": [session_id, "unknown"]},
        )
        with lab.app.app_context(), session_context(session_id):
            weblab_ext.weblab_user.add_action(session_id, {"a": 1})
            task = measure.delay()
            assert measure.delay().failed  # the lock is held
            lab.weblab.run_tasks()
            assert task.join(1).done, task.error
            lost = abandoned.delay()
            engine.execute(engine.store.pop_from_queue(engine.worker_id) or "")
            engine.store.stop(lost.task_id)
            engine.reap(lost.task_id, time.time() + 10**6)
        student.get(f"/callback/{session_id}/logout")
        with lab.app.app_context():
            assert lab.weblab.clean_expired_users() == 1
        other = lab.start_raw()
        lab.dispose(other)
        client.echo("end-of-scenario")
        seen = monitor.read_until("end-of-scenario")
    finally:
        monitor.close()
    declared: list[str] = []
    checked = scripts = 0
    for source, args in seen:
        if source == "client":
            if args[0].upper() in ("EVALSHA", "EVAL"):
                scripts += 1
                declared = args[3 : 3 + int(args[2])]
            continue
        for key in _command_keys(client, args):
            assert key in declared, f"{args[0]} touches undeclared {key} (declared {declared})"
            checked += 1
    assert scripts > 15 and checked > 50, (scripts, checked)


def test_session_prefix_is_what_session_keys_start_with() -> None:
    keys = Keys("lab")
    assert keys.session("abc") == keys.session_prefix() + "abc"
