"""A Redis outage under concurrent HTTP load on a real threaded server, and Socket.IO events
during one.

Redis (with a password) is stopped and started again while client threads keep calling the
RLMS endpoints of both dialects and the student pages of a lab served by Werkzeug's threaded
server on 127.0.0.1. Every reply on an RLMS path must be JSON, no reply may be a 500 (the
store being down is a 503), and everything works again once Redis is back, without a restart.
The background loops of the lab (cleaner, task runner, heartbeat, listeners) run meanwhile and
must never log the password.
"""

from __future__ import annotations

import base64
import collections
import http.client
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from tests.support.lab import PASSWORD, USERNAME, Lab, real_redis_only
from tests.support.redis_server import RedisServer
from weblab_ext.context import session_context

pytestmark = [pytest.mark.slow, real_redis_only]

SECRET = "outage-s3cret"
AUTH = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
CLIENT_THREADS = 6


class Reply:
    def __init__(
        self, phase: str, kind: str, rlms: bool, status: int, content_type: str, body: bytes
    ) -> None:
        self.phase, self.kind, self.rlms, self.status = phase, kind, rlms, status
        self.content_type, self.body = content_type, body

    @property
    def is_json(self) -> bool:
        if not self.content_type.startswith("application/json"):
            return False
        try:
            json.loads(self.body)
        except ValueError:
            return False
        return True


class Load:
    """Client threads calling the lab over HTTP until stopped; every reply is kept."""

    def __init__(self, port: int, lab: Lab) -> None:
        self.port = port
        self.lab = lab
        self.phase = "before"
        self.replies: list[Reply] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.cookies: list[str] = []
        self.session_ids: list[str] = []

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        rlms: bool = True,
        headers: dict[str, str] | None = None,
        kind: str = "",
    ) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = {"Authorization": AUTH} if rlms else {}
        sent.update(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            reply = Reply(
                self.phase,
                kind or path,
                rlms,
                response.status,
                response.getheader("Content-Type", ""),
                response.read(),
            )
        finally:
            connection.close()
        with self._lock:
            self.replies.append(reply)
        return reply

    def start_session(self, dialect: str = "weblab") -> str | None:
        body = self.lab.start_body() if dialect == "weblab" else _ldl_body()
        reply = self.call("POST", f"/{dialect}/sessions/", body=body, kind=f"{dialect} start")
        if reply.status != 200:
            return None
        return str(json.loads(reply.body)["session_id"])

    def launch(self, session_id: str) -> str | None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", f"/callback/{session_id}")
            response = connection.getresponse()
            response.read()
            cookie = response.getheader("Set-Cookie")
        finally:
            connection.close()
        return cookie.split(";", 1)[0] if cookie else None

    def one_round(self, number: int) -> None:
        sid = self.session_ids[number % len(self.session_ids)]
        cookie = self.cookies[number % len(self.cookies)]
        self.call("GET", f"/weblab/sessions/{sid}/status", kind="weblab status")
        self.call("GET", f"/ldl/sessions/{sid}/status", kind="ldl status")
        self.call(
            "POST",
            "/weblab/sessions/status/multiple",
            body={"session_ids": self.session_ids[:20]},
            kind="status/multiple",
        )
        self.call("GET", "/weblab/sessions/test", kind="test")
        self.call("GET", "/weblab/sessions/api", kind="api")
        for dialect in ("weblab", "ldl"):
            new = self.start_session(dialect)
            if new is not None and dialect == "weblab":
                self.call(
                    "POST",
                    f"/weblab/sessions/{new}",
                    body={"action": "delete"},
                    kind="weblab dispose",
                )
            elif new is not None:
                self.call("DELETE", f"/ldl/sessions/{new}", kind="ldl dispose")
        self.call(
            "POST",
            f"/weblab/sessions/{uuid.uuid4().hex}",
            body={"action": "delete"},
            kind="weblab dispose unknown",
        )
        self.call("GET", "/weblab/no/such/path", kind="unknown path")
        student = {"Cookie": cookie}
        self.call("GET", "/lab", rlms=False, headers=student, kind="student page")
        self.call(
            "GET",
            "/lab",
            rlms=False,
            kind="student json",
            headers={**student, "Accept": "application/json"},
        )
        self.call("GET", f"/callback/{sid}/poll", rlms=False, headers=student, kind="student poll")

    def run(self, worker: int) -> None:
        number = worker
        while not self.stop.is_set():
            self.one_round(number)
            number += CLIENT_THREADS


def _ldl_body() -> dict[str, Any]:
    import datetime

    return {
        "request": {"backUrl": "http://lde.example/back"},
        "laboratory": {"name": "robot"},
        "user": {"username": "ana"},
        "schedule": {
            "start": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "length": 300,
        },
    }


@pytest.fixture
def protected_redis() -> Iterator[RedisServer]:
    server = RedisServer(password=SECRET)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def served_lab(
    make_lab: Callable[..., Lab], protected_redis: RedisServer
) -> Iterator[tuple[Lab, BaseWSGIServer]]:
    lab = make_lab(
        TESTING=False,
        WEBLAB_REDIS_URL=protected_redis.url,
        WEBLAB_REDIS_BASE=f"o-{uuid.uuid4().hex[:8]}",
        WEBLAB_NO_THREAD=False,
        WEBLAB_AUTOCLEAN_THREAD=True,
        WEBLAB_CLEANER_INTERVAL=0.2,
        WEBLAB_TASK_THREADS_PROCESS=1,
        WEBLAB_HEARTBEAT_INTERVAL=0.2,
    )
    lab.state.tasks.queue_block = 0.2
    lab.state.tasks.shutdown_grace = 0.2
    server: BaseWSGIServer = make_server("127.0.0.1", 0, lab.app, threaded=True)
    lab.app.config["SERVER_NAME"] = f"127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield lab, server
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
        with lab.app.app_context():
            lab.weblab.stop_threads(2)


def _seed(load: Load, count: int = 6) -> None:
    """Students who entered the lab (the client threads use them)."""
    session_ids, cookies = [], []
    for _ in range(count):
        session_id = load.start_session()
        assert session_id is not None
        cookie = load.launch(session_id)
        assert cookie is not None
        session_ids.append(session_id)
        cookies.append(cookie)
    load.session_ids, load.cookies = session_ids, cookies


def test_redis_outage_under_concurrent_load(
    served_lab: tuple[Lab, BaseWSGIServer],
    protected_redis: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="weblab_ext")
    lab, server = served_lab

    @lab.weblab.task
    def double(x: int) -> int:
        return 2 * x

    load = Load(server.server_port, lab)
    _seed(load)
    threads = [
        threading.Thread(target=load.run, args=(n,), daemon=True) for n in range(CLIENT_THREADS)
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        load.phase = "outage"
        protected_redis.stop()
        time.sleep(2.5)
        load.phase = "recovering"
        protected_redis.start()  # empty again: it had no persistence
        time.sleep(1.0)
        load.phase = "after"
        _seed(load)  # new students, as the RLMS would send
        time.sleep(1.5)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(30)
    replies = load.replies
    by_phase = collections.Counter(reply.phase for reply in replies)
    rlms = [reply for reply in replies if reply.rlms]
    non_json = [reply for reply in rlms if not reply.is_json]
    server_errors = [reply for reply in replies if reply.status >= 500]
    unexpected_5xx = [reply for reply in server_errors if reply.status != 503]
    html = [
        reply
        for reply in replies
        if reply.content_type.startswith("text/html") and reply.status >= 500
    ]
    print(
        f"\n[fault] Redis outage under load: {len(replies)} replies {dict(by_phase)}; "
        f"503 during the outage: {sum(r.status == 503 for r in replies if r.phase == 'outage')}"
        f"; non-JSON on RLMS paths: {len(non_json)}; 5xx other than 503: "
        f"{len(unexpected_5xx)}; HTML 5xx: {len(html)}"
    )
    assert by_phase["outage"] > 50 and by_phase["after"] > 50
    assert non_json == [], [(r.kind, r.status, r.body[:80]) for r in non_json[:5]]
    assert unexpected_5xx == [], [(r.kind, r.status, r.body[:80]) for r in unexpected_5xx[:5]]
    assert html == []
    outage = [reply for reply in replies if reply.phase == "outage"]
    assert any(reply.status == 503 for reply in outage)
    for reply in outage:
        if reply.status == 503 and reply.rlms:
            assert json.loads(reply.body)["code"] == "store-unavailable"
    page = [r for r in outage if r.kind == "student page" and r.status == 503]
    assert page and all(r.content_type.startswith("text/plain") for r in page)
    # Everything works again without a restart.
    after = [reply for reply in replies if reply.phase == "after"]
    assert after and all(reply.status < 500 for reply in after), collections.Counter(
        (r.kind, r.status) for r in after if r.status >= 500
    )
    assert any(r.kind == "student page" and r.status == 200 for r in after)
    with lab.app.app_context(), session_context(load.session_ids[0]):
        assert double.run_sync(21, timeout=10).result == 42  # the task threads recovered
    alive = {thread.name for thread in threading.enumerate()}
    assert {"weblab-cleaner", "weblab-task-heartbeat", "weblab-task-runner-1"} <= alive
    logged = caplog.text
    assert "cannot reach the store at redis://:***@127.0.0.1:" in logged
    assert SECRET not in logged


flask_socketio = pytest.importorskip("flask_socketio")


def test_socketio_guarded_events_during_an_outage(
    make_lab: Callable[..., Lab],
    protected_redis: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from weblab_ext import socket_requires_active, weblab_user
    from weblab_ext.socketio import STORE_UNAVAILABLE, init_socketio

    lab = make_lab(WEBLAB_REDIS_URL=protected_redis.url)
    socketio = flask_socketio.SocketIO(lab.app, async_mode="threading")
    push = init_socketio(socketio, lab.weblab, poll_timeout=0.1)  # default connect handler
    ran: list[Any] = []

    @socketio.on("switch")
    @socket_requires_active
    def switch(payload: Any) -> None:
        weblab_user.data["light"] = payload
        ran.append(payload)

    session_id = lab.start_raw()
    client = socketio.test_client(lab.app, flask_test_client=lab.browser(session_id))
    browser = lab.browser(session_id)  # a second tab, connecting during the outage
    client.emit("switch", 1)
    assert ran == [1]
    client.get_received()
    protected_redis.stop()
    try:
        client.emit("switch", 2)  # nothing escapes to the server; the handler does not run
        assert ran == [1] and client.is_connected()
        assert [item["name"] for item in client.get_received()] == [STORE_UNAVAILABLE]
        late = socketio.test_client(lab.app, flask_test_client=browser)
        assert not late.is_connected()  # refused cleanly: the browser connects again later
    finally:
        protected_redis.start()
    session_id = lab.start_raw()  # Redis came back empty
    client = socketio.test_client(lab.app, flask_test_client=lab.browser(session_id))
    assert client.is_connected()
    client.emit("switch", 3)
    assert ran == [1, 3]
    push.stop()
    assert SECRET not in caplog.text
