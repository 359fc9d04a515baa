"""The hot path's direct commands: same answers as redis-py's path, safe across threads,
forks, lost connections, interrupted reads and a server that forgot its scripts."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.support.lab import real_redis_only
from tests.support.redis_server import RedisServer
from weblab_ext.store.connection import connect
from weblab_ext.store.hot_path import DirectCommands

ECHO = "return {KEYS[1], ARGV[1]}"


@pytest.fixture
def opened() -> Iterator[list[Any]]:
    """Clients and direct command senders to close after the test (a socket left to the
    garbage collector is a ResourceWarning, an error here)."""
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        thing.close()


@pytest.fixture
def client(store_url: str, opened: list[Any]) -> Any:
    opened.append(connected := connect(store_url))
    return connected


def _direct(client: Any, opened: list[Any]) -> DirectCommands:
    opened.append(direct := DirectCommands(client))
    return direct


def test_answers_like_the_client(client: Any, opened: list[Any]) -> None:
    direct = _direct(client, opened)
    client.hset("direct:h", mapping={"a": "1", "b": "2"})
    assert direct.command("HMGET", "direct:h", "a", "b", "missing") == ["1", "2", None]
    script = client.register_script(ECHO)
    assert direct.script(script, ["k"], ["v"]) == ["k", "v"]
    # Text (any Unicode), bytes, numbers and an empty value, as redis-py would send them.
    assert direct.script(script, [b"bytes-key"], [""]) == ["bytes-key", ""]
    assert direct.command("SET", "direct:ü", "données ✓") == "OK"
    assert client.get("direct:ü") == "données ✓"
    assert direct.command("INCRBY", "direct:n", 41) == 41
    assert direct.command("INCRBYFLOAT", "direct:n", repr(0.5)) == "41.5"


def test_keys_per_id_reach_the_script_as_given(client: Any, opened: list[Any]) -> None:
    direct = _direct(client, opened)
    script = client.register_script("return {KEYS, ARGV}")
    prefixes = [b"{p}:session:", b"{p}:100%:", b"{p}:c:"]
    ids = ["x" * 43, "short", "\u00e9\n%s\r\n", "", "y" * 43]
    keys, args = direct.script_per_id(script, prefixes, ids, ["a", 1, b"b"])
    assert keys == [prefix.decode() + sid for sid in ids for prefix in prefixes]
    assert args == ["a", "1", "b"]
    assert direct.script_per_id(script, prefixes, [], ["a"]) == [[], ["a"]]


def test_threads_never_share_a_connection(client: Any, opened: list[Any]) -> None:
    direct = _direct(client, opened)
    script = client.register_script(ECHO)
    wrong: list[Any] = []

    def work(number: int) -> None:
        for round_ in range(200):
            reply = direct.script(script, [f"key-{number}"], [str(round_)])
            if reply != [f"key-{number}", str(round_)]:
                wrong.append(reply)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert wrong == []


def test_a_server_without_the_script_loads_it(client: Any, opened: list[Any]) -> None:
    direct = _direct(client, opened)
    script = client.register_script(ECHO)
    assert direct.script(script, ["a"], ["1"]) == ["a", "1"]
    client.script_flush()
    assert direct.script(script, ["b"], ["2"]) == ["b", "2"]


def test_an_interrupted_read_never_leaves_a_stale_reply(
    client: Any, monkeypatch: pytest.MonkeyPatch, opened: list[Any]
) -> None:
    direct = _direct(client, opened)
    client.set("direct:x", "first")
    client.set("direct:y", "second")
    assert direct.command("GET", "direct:x") == "first"  # one idle connection now
    connection = direct._idle[0]
    original = type(connection).read_response
    interrupted: list[bool] = []

    def interrupt_once(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt  # the reply to GET x stays in the socket
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(connection), "read_response", interrupt_once)
    with pytest.raises(KeyboardInterrupt):
        direct.command("GET", "direct:x")
    assert direct.command("GET", "direct:y") == "second"


@real_redis_only
def test_a_restarted_server_is_reached_again(store_url: str, opened: list[Any]) -> None:
    server = RedisServer()
    server.start()
    try:
        opened.append(client := connect(server.url))
        direct = _direct(client, opened)
        assert direct.command("PING") in ("PONG", True)
        server.restart()  # the idle connection is now dead
        client.set("direct:after", "yes")
        assert direct.command("GET", "direct:after") == "yes"
        server.stop()
        with pytest.raises(redis.ConnectionError):
            direct.command("PING")
    finally:
        server.cleanup()


@real_redis_only
def test_a_timed_out_command_is_not_sent_again(store_url: str, opened: list[Any]) -> None:
    """The socket timeout of the store's URL applies to direct commands, and a command that
    timed out is not retried: the server may have run it, and a stuck server would make a
    student's request wait twice as long."""
    opened.append(client := connect(store_url.replace("/0", "/0?socket_timeout=0.2")))
    direct = _direct(client, opened)
    # Counts its runs, then keeps the server busy for 0.6 s (three socket timeouts).
    slow = client.register_script("""
redis.call('INCR', KEYS[1])
local t = redis.call('TIME')
local until_us = t[1] * 1000000 + t[2] + 600000
repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] >= until_us
return 1
""")
    client.delete("direct:runs")
    started = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        direct.script(slow, ["direct:runs"], [])
    assert time.monotonic() - started < 0.5  # one timeout, not two
    time.sleep(0.6)  # the script ends on the server
    assert client.get("direct:runs") == "1"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@real_redis_only
def test_a_forked_child_opens_its_own_connection(store_url: str, opened: list[Any]) -> None:
    opened.append(client := connect(store_url))
    direct = _direct(client, opened)
    client.set("direct:fork", "shared")
    assert direct.command("GET", "direct:fork") == "shared"
    parent_connection = direct._idle[0]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            ok = direct.command("GET", "direct:fork") == "shared"
            ok = ok and direct._idle[0] is not parent_connection
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _pid, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert direct.command("GET", "direct:fork") == "shared"  # the parent's still works
    assert direct._idle[0] is parent_connection


def test_a_pipeline_keeps_queueing(client: Any, opened: list[Any]) -> None:
    pipe = client.pipeline(transaction=False)
    direct = _direct(pipe, opened)
    direct.command("SET", "direct:queued", "1")
    assert client.get("direct:queued") is None  # not sent yet
    pipe.execute()
    assert client.get("direct:queued") == "1"
