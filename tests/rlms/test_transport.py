"""The network transport of the RLMS client: pooled connections, and retries only where a
call is safe to repeat (status, dispose; never a start), honouring ``Retry-After``."""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Response
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder

from tests.support.rlms_stub import Reply, Sleeper, StubLab
from weblab_ext.rlms import (
    RequestsTransport,
    RLMSClient,
    RLMSConfigError,
    RLMSConnectionError,
    RLMSHTTPError,
)

NO_CONFIG: dict[str, Any] = {
    "environ": {},
    "dotenv_path": "/nonexistent",
    "netrc_path": "/nonexistent",
    "username": "weblab",
    "password": "secret",
}


class Served:
    """A lab served over HTTP/1.1 with keep-alive on 127.0.0.1, counting the connections it
    accepts. (Werkzeug's development server closes every connection after one reply, so it
    cannot show reuse; gunicorn's gthread workers keep them open, as this server does.)"""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connections = 0


@contextlib.contextmanager
def serve_counted(lab: StubLab) -> Iterator[Served]:
    served = Served("")
    lock = threading.Lock()

    class KeepAlive(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle(self) -> None:  # once per connection, for all its requests
            with lock:
                served.connections += 1
            super().handle()

        def serve_wsgi(self) -> None:
            path, _, query = self.path.partition("?")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            environ = EnvironBuilder(
                path=path,
                query_string=query,
                method=self.command,
                headers=list(self.headers.items()),
                data=body,
            ).get_environ()
            reply = Response.from_app(lab.app, environ)
            data = reply.get_data()
            self.send_response(reply.status_code)
            for name, value in reply.headers.items():
                if name.lower() not in ("content-length", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = serve_wsgi

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    server.daemon_threads = True
    served.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def lab() -> StubLab:
    return StubLab()


@pytest.fixture
def served(lab: StubLab) -> Iterator[Served]:
    with serve_counted(lab) as served:
        yield served


def client_of(url: str, **kwargs: Any) -> RLMSClient:
    kwargs.setdefault("sleep", Sleeper())
    return RLMSClient(url=url, **{**NO_CONFIG, **kwargs})


def unavailable(retry_after: str | None = "2") -> Reply:
    reply = Reply({"error": "restarting"}, status=503)
    if retry_after is None:
        return reply
    original = reply.to_response

    def with_header() -> Response:
        response = original()
        response.headers["Retry-After"] = retry_after
        return response

    reply.to_response = with_header  # type: ignore[method-assign]
    return reply


# -- retries on 502/503/504 ---------------------------------------------------------------------


def test_status_is_retried_on_503_after_retry_after(lab: StubLab, served: Served) -> None:
    lab.script("status", unavailable("2"), {"should_finish": 7})
    with client_of(served.url) as client:
        assert client.status("abc") == 7.0
    assert lab.endpoints() == ["status", "status"]
    assert client.sleep.calls == [2.0]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("profile", "prefix"), [("weblabdeusto", "/weblab"), ("ldl", "/ldl")])
def test_dispose_is_retried_on_503(profile: str, prefix: str) -> None:
    lab = StubLab(prefix=prefix)
    lab.script("dispose", unavailable("1"), unavailable(None))
    with serve_counted(lab) as served, client_of(served.url, profile=profile) as client:
        outcome = client.dispose("s1")
    assert outcome.finished and outcome.error is None
    assert lab.endpoints() == ["dispose"] * 3
    # Retry-After first, then the backoff (0.5 s doubled: the second retry)
    assert client.sleep.calls == [1.0, 1.0]  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_errors_are_retried_with_backoff(lab: StubLab, served: Served, status: int) -> None:
    lab.script("status", Reply({}, status=status), Reply({}, status=status))
    with client_of(served.url, backoff=0.25) as client:
        assert client.status("abc") == 5.0
    assert client.sleep.calls == [0.25, 0.5]  # type: ignore[attr-defined]


def test_retries_give_up_with_the_last_reply(lab: StubLab, served: Served) -> None:
    lab.set_default("status", unavailable("1"))
    with client_of(served.url, retries=3) as client, pytest.raises(RLMSHTTPError) as info:
        client.status("abc")
    assert info.value.status == 503 and "restarting" in info.value.body
    assert lab.endpoints() == ["status"] * 4
    assert client.sleep.calls == [1.0, 1.0, 1.0]  # type: ignore[attr-defined]


def test_retry_after_is_capped(lab: StubLab, served: Served) -> None:
    lab.script("status", unavailable("86400"))
    with client_of(served.url) as client:
        assert client.status("abc") == 5.0
    assert client.sleep.calls == [30.0]  # type: ignore[attr-defined]
    transport = RequestsTransport(sleep=(waits := Sleeper()), retry_after_max=3)
    lab.script("status", unavailable("86400"))
    with transport, client_of(served.url, transport=transport) as client:
        client.status("abc")
    assert waits.calls == [3.0]


def test_a_start_is_never_repeated_after_it_reached_the_lab(lab: StubLab, served: Served) -> None:
    lab.script("start", unavailable("1"))
    client = client_of(served.url, profile="labdiscoveryengine")
    with client, pytest.raises(RLMSHTTPError) as info:
        client.start()
    assert info.value.status == 503
    assert lab.endpoints() == ["start"]
    assert client.sleep.calls == []  # type: ignore[attr-defined]


def test_other_statuses_are_not_retried(lab: StubLab, served: Served) -> None:
    lab.script("status", Reply({}, status=500), Reply({}, status=429))
    with client_of(served.url) as client:
        for expected in (500, 429):
            with pytest.raises(RLMSHTTPError) as info:
                client.status("abc")
            assert info.value.status == expected
    assert lab.endpoints() == ["status", "status"]


def test_negative_retries_are_refused() -> None:
    with pytest.raises(RLMSConfigError):
        RequestsTransport(retries=-1)


# -- connection errors -----------------------------------------------------------------------------


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connection_is_retried_even_for_a_start(closed_port: int) -> None:
    # Nothing reached the lab: repeating the start cannot start two sessions.
    client = client_of(f"http://127.0.0.1:{closed_port}", profile="ldl", backoff=0.1)
    with client, pytest.raises(RLMSConnectionError) as info:
        client.start()
    assert client.sleep.calls == [0.1, 0.2]  # type: ignore[attr-defined]
    assert "refused" in info.value.reason.lower() and not info.value.timed_out


def test_retry_log_lines_name_no_session_id(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    # (urllib3's own DEBUG lines quote every URL; from WARNING up, none does)
    client = client_of(f"http://127.0.0.1:{closed_port}")
    with caplog.at_level(logging.WARNING), client, pytest.raises(RLMSConnectionError):
        client.status("the-secret-session-id")
    assert caplog.text.count("RLMS client: GET call failed") == 2
    assert "the-secret-session-id" not in caplog.text


@contextlib.contextmanager
def dropping_server() -> Iterator[tuple[str, list[bytes]]]:
    """Accepts, reads a request, and closes the connection without answering."""
    requests_seen: list[bytes] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.05)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                requests_seen.append(conn.recv(65536))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", requests_seen
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_a_connection_lost_mid_call_is_retried_for_status_only() -> None:
    with dropping_server() as (url, seen):
        with client_of(url) as client, pytest.raises(RLMSConnectionError):
            client.status("abc")
        assert len(seen) == 3  # first attempt + 2 retries
        assert client.sleep.calls == [0.5, 1.0]  # type: ignore[attr-defined]
        seen.clear()
        client = client_of(url, profile="labdiscoveryengine")
        with client, pytest.raises(RLMSConnectionError):
            client.start()
        assert len(seen) == 1 and seen[0].startswith(b"POST /weblab/sessions/ ")
        assert client.sleep.calls == []  # type: ignore[attr-defined]


# -- pooling -----------------------------------------------------------------------------------


def test_connections_are_reused(lab: StubLab, served: Served) -> None:
    with client_of(served.url) as client:
        sid = client.start().session_id  # /api, /test, start
        for _ in range(20):
            client.status(sid)
        client.dispose(sid)
    assert len(lab.calls) == 24
    assert served.connections == 1


def test_a_503_retry_reuses_the_connection(lab: StubLab, served: Served) -> None:
    lab.script("status", unavailable("1"), unavailable("1"))
    with client_of(served.url) as client:
        client.status("abc")
    assert served.connections == 1


def test_clients_sharing_a_transport_share_its_pool(lab: StubLab, served: Served) -> None:
    with RequestsTransport() as transport:
        for profile in ("weblabdeusto-api0", "labdiscoveryengine"):
            client = client_of(served.url, profile=profile, transport=transport)
            client.status("abc")
            client.close()  # a transport passed in stays open
        client.status("abc")
    assert served.connections == 1


def test_no_cookie_is_kept_between_calls(lab: StubLab, served: Served) -> None:
    response = Response('{"should_finish": 5}', content_type="application/json")
    response.set_cookie("session", "lab-cookie")
    lab.script("status", Reply(raw='{"should_finish": 5}'))
    lab.queues["status"][0].to_response = lambda: response  # type: ignore[method-assign]
    with client_of(served.url) as client:
        client.status("abc")
        client.status("abc")
    assert "Cookie" not in lab.calls[1].headers


def test_a_lab_process_does_not_load_requests() -> None:
    code = "import sys, weblab_ext, weblab_ext.rlms; print('requests' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"


# -- TLS ---------------------------------------------------------------------------------------


def test_certificates_are_checked_against_the_system_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the standard library checks them (``SSL_CERT_FILE`` included), not against
    requests' own CA bundle, which would not know a CA the machine trusts."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    lab = StubLab()
    server = make_server("127.0.0.1", 0, lab.app, threaded=True, ssl_context=(str(cert), str(key)))
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{server.server_port}"
    try:
        client = client_of(url, profile="labdiscoveryengine")
        with client, pytest.raises(RLMSConnectionError, match="certificate"):
            client.status("abc")
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the machine now trusts it
        with client_of(url, profile="labdiscoveryengine") as client:
            assert client.status("abc") == 5.0
        with client_of(url, profile="weblabdeusto") as client:  # never checks, no warning
            monkeypatch.delenv("SSL_CERT_FILE")
            assert client.status("abc") == 5.0
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
