"""Helpers shared by the example tests and the browser tests: load an example, serve it,
start a session the way an RLMS does."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import secrets
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from tests.support.paths import EXAMPLES as EXAMPLES  # where the example labs are

#: The secrets the examples get from the environment, as in production (outside debug mode
#: they refuse to start without them); made per run, so they are published nowhere.
RLMS_USER = "weblabdeusto"
RLMS_PASSWORD = secrets.token_urlsafe(24)
SECRET_KEY = secrets.token_urlsafe(32)


def rlms_headers() -> dict[str, str]:
    token = base64.b64encode(f"{RLMS_USER}:{RLMS_PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def example_env(monkeypatch: pytest.MonkeyPatch, **config: Any) -> None:
    """Set ``FLASK_<KEY>`` variables, read by the examples' ``from_prefixed_env()``."""
    config.setdefault("WEBLAB_REDIS_URL", f"fakeredis://example-{uuid.uuid4().hex}")
    config.setdefault("WEBLAB_LOG_SESSION_LIFECYCLE", False)
    config.setdefault("SECRET_KEY", SECRET_KEY)
    config.setdefault("WEBLAB_USERNAME", RLMS_USER)
    config.setdefault("WEBLAB_PASSWORD", RLMS_PASSWORD)
    # Served over plain HTTP on 127.0.0.1 here; production serves them over HTTPS.
    config.setdefault("SESSION_COOKIE_SECURE", False)
    for key, value in config.items():
        text = value if isinstance(value, str) else json.dumps(value)
        monkeypatch.setenv(f"FLASK_{key}", text)


def load_module(path: Path) -> ModuleType:
    """Import an example file as a fresh module (its own app, hooks and hardware)."""
    name = f"example_{path.parent.name}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextmanager
def on_path(folder: Path) -> Iterator[None]:
    """Make a package example importable, then forget its modules again."""
    before = set(sys.modules)
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for name in set(sys.modules) - before:
            if not name.startswith("example_"):
                sys.modules.pop(name, None)


def csrf_token(client: Any, page: str = "/lab") -> str:
    """The CSRF token a page of an example hands its forms and scripts."""
    html = client.get(page).get_data(as_text=True)
    found = re.search(r'name="csrf[-_]token" (?:value|content)="([^"]+)"', html)
    assert found is not None, f"no CSRF token in {page}"
    return found.group(1)


def post_as_page(client: Any, path: str, page: str = "/lab", **options: Any) -> Any:
    """POST as the example's page does: with its CSRF token (a header, as its scripts send)."""
    headers = {"X-CSRFToken": csrf_token(client, page), **options.pop("headers", {})}
    return client.post(path, headers=headers, **options)


def start_body(back: str, *, slot: float = 200, client_data: Any = None) -> dict[str, Any]:
    return {
        "client_initial_data": client_data or {},
        "server_initial_data": {
            "priority.queue.slot.start.timestamp": repr(time.time()),
            "priority.queue.slot.length": str(slot),
            "request.username": "john.smith",
            "request.username.unique": "john.smith@institution",
            "request.full_name": "John Smith",
            "request.locale": "en",
            "request.experiment_id.experiment_name": "example",
            "request.experiment_id.category_name": "Examples",
        },
        "back": back,
    }


def start_with_client(app: Any, back: str = "http://rlms.example/back", **options: Any) -> str:
    """Start a session through the app's RLMS endpoint with Flask's test client."""
    reply = app.test_client().post(
        "/weblab/sessions/", json=start_body(back, **options), headers=rlms_headers()
    )
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return str(reply.json["session_id"])


Server = TypeVar("Server", bound="LiveServer")


class LiveServer:
    """An app served over real HTTP on 127.0.0.1, on a free port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            name="live-server",
            kwargs={"poll_interval": 0.1},
            daemon=True,
        )

    def __enter__(self: Server) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def start_session(self, *, slot: float = 200, back_path: str = "/demo-back") -> str:
        """Start a session over HTTP as an RLMS does; returns the launch URL."""
        body = json.dumps(start_body(self.url + back_path, slot=slot)).encode()
        request = urllib.request.Request(
            self.url + "/weblab/sessions/", data=body, headers=rlms_headers(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            reply = json.loads(response.read())
        assert "session_id" in reply, reply
        return str(reply["url"])


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, step: float = 0.05) -> Any:
    """Poll ``condition`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)
