"""A recording stub lab for the RLMS client tests.

The stub answers the five RLMS endpoints and the health URL under a prefix with scripted
replies and records every request it receives. The ``make_client`` fixture over both
transports is in tests/rlms/conftest.py.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request
from werkzeug.serving import make_server

from weblab_ext.rlms import RLMSClient


@dataclass
class Reply:
    """A scripted reply: JSON ``body`` (or ``raw`` text) with a status and content type."""

    body: Any = None
    status: int = 200
    content_type: str = "application/json"
    raw: str | None = None

    def to_response(self) -> Response:
        text = self.raw if self.raw is not None else json.dumps(self.body)
        return Response(text, status=self.status, content_type=self.content_type)


@dataclass
class Call:
    """One request the stub received."""

    endpoint: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    sid: str | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.body)


DEFAULTS = {
    "api": {"api_version": "1"},
    "test": {"valid": True},
    "start": {"url": "http://lab.example/callback/sid-1", "session_id": "sid-1"},
    "status": {"should_finish": 5},
    "dispose": {"message": "Deleted"},
    "health": {"found": True, "success": True, "message": ""},
}


@dataclass
class StubLab:
    """A fake lab server: scripted replies per endpoint, every request recorded."""

    prefix: str = "/weblab"
    calls: list[Call] = field(default_factory=list)
    queues: dict[str, list[Reply]] = field(default_factory=dict)
    defaults: dict[str, Reply] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.defaults = {k: Reply(v) for k, v in DEFAULTS.items()} | self.defaults
        self.app = Flask("stub_lab")
        base = f"{self.prefix}/sessions"
        self._route(f"{base}/api", "api", ["GET"])
        self._route(f"{base}/test", "test", ["GET"])
        self._route(f"{base}/", "start", ["POST"])
        self._route(f"{base}/<sid>/status", "status", ["GET"])
        self._route(f"{base}/<sid>", "dispose", ["POST", "DELETE"])
        self._route(f"{self.prefix}/health", "health", ["GET"])

    def _route(self, rule: str, endpoint: str, methods: list[str]) -> None:
        def view(sid: str | None = None) -> Response:
            self.calls.append(
                Call(
                    endpoint,
                    request.method,
                    request.full_path.rstrip("?"),
                    dict(request.headers),
                    request.get_data(),
                    sid,
                )
            )
            queue = self.queues.get(endpoint)
            reply = queue.pop(0) if queue else self.defaults[endpoint]
            return reply.to_response()

        self.app.add_url_rule(rule, endpoint, view, methods=methods)

    def script(self, endpoint: str, *replies: Any) -> None:
        """Queue replies (dicts become 200 JSON replies); the default answers afterwards."""
        self.queues[endpoint] = [r if isinstance(r, Reply) else Reply(r) for r in replies]

    def set_default(self, endpoint: str, reply: Any) -> None:
        self.defaults[endpoint] = reply if isinstance(reply, Reply) else Reply(reply)

    def endpoints(self) -> list[str]:
        return [c.endpoint for c in self.calls]


@contextlib.contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` over real HTTP on 127.0.0.1; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # a short poll interval: shutdown() otherwise waits up to 0.5 s per test
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Sleeper:
    """An injectable ``sleep`` that records instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


ClientFactory = Callable[..., RLMSClient]
