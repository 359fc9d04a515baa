"""The hot path's direct commands: same answers as redis-py's path, safe across threads,
forks, lost connections, interrupted reads and a server that forgot its scripts."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from weblab_ext.store.connection import connect
from weblab_ext.store.direct import DirectCommands

from .redis_server import RedisServer

ECHO = "return {KEYS[1], ARGV[1]}"


@pytest.fixture
def client(store_url: str) -> Iterator[Any]:
    yield connect(store_url)


def test_answers_like_the_client(client: Any) -> None:
    direct = DirectCommands(client)
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


def test_threads_never_share_a_connection(client: Any) -> None:
    direct = DirectCommands(client)
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


def test_a_server_without_the_script_loads_it(client: Any) -> None:
    direct = DirectCommands(client)
    script = client.register_script(ECHO)
    assert direct.script(script, ["a"], ["1"]) == ["a", "1"]
    client.script_flush()
    assert direct.script(script, ["b"], ["2"]) == ["b", "2"]


def test_an_interrupted_read_never_leaves_a_stale_reply(client: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    direct = DirectCommands(client)
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


def test_a_restarted_server_is_reached_again(store_url: str) -> None:
    if not store_url.startswith("redis://"):
        pytest.skip("restarts a real server")
    server = RedisServer()
    server.start()
    try:
        client = connect(server.url)
        direct = DirectCommands(client)
        assert direct.command("PING") in ("PONG", True)
        server.restart()  # the idle connection is now dead
        client.set("direct:after", "yes")
        assert direct.command("GET", "direct:after") == "yes"
        server.stop()
        with pytest.raises(redis.ConnectionError):
            direct.command("PING")
    finally:
        server.cleanup()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_its_own_connection(store_url: str) -> None:
    if not store_url.startswith("redis://"):
        pytest.skip("a child process needs a real server")
    client = connect(store_url)
    direct = DirectCommands(client)
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


def test_a_pipeline_keeps_queueing(client: Any) -> None:
    pipe = client.pipeline(transaction=False)
    direct = DirectCommands(pipe)
    direct.command("SET", "direct:queued", "1")
    assert client.get("direct:queued") is None  # not sent yet
    pipe.execute()
    assert client.get("direct:queued") == "1"
