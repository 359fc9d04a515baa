"""Every reply under the RLMS prefixes is JSON: a bounded, seeded fuzz run over methods,
paths, both dialects (``/weblab/...`` and ``/ldl/...``), in process.

An RLMS parses every reply as JSON; an HTML 404 or 405 page (Werkzeug's routing errors for a
method no rule knows, an id holding ``/``) breaks it with a decode error instead of a clear
message. The operator's own pages under the prefix (the admin page, the metrics) are not RLMS
replies and are left out.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.admin import ADMIN, ADMIN_AUTH
from tests.support.lab import AUTH, Lab

pytestmark = pytest.mark.parametrize("store_url", ["embedded"], indirect=True)

SEED = 22
RANDOM_PATHS = 120
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "FOO"]
PREFIXES = ["/weblab", "/ldl"]
IDS = ["abc", "a%2Fb", "a/b", "..", "%2E%2E", "%00", "%ff", "%C3%A9", "a%20b", "x" * 300, "%0d%0a"]
FIXED = [
    "",
    "/",
    "//",
    "/sessions",
    "/sessions/",
    "//sessions/",
    "/sessions//",
    "/sessions/api",
    "/sessions/api/",
    "/sessions/test",
    "/sessions/test/",
    "/sessions/status/multiple",
    "/sessions/status/multiple/",
    "/sessions/status",
    "/sessions//status",
    "/health",
    "/health/",
    "/status",
    *(f"/sessions/{sid}" for sid in IDS),
    *(f"/sessions/{sid}/" for sid in IDS),
    *(f"/sessions/{sid}/status" for sid in IDS),
    *(f"/sessions/{sid}/status/" for sid in IDS),
    *(f"/sessions/{sid}/status/x" for sid in IDS),
    "/sessions/abc?x=/api",
    "/sessions/api?x=%00",
]
SEGMENTS = ["sessions", "status", "multiple", "api", "test", "health", "abc", "", "..", "%2F"]
BODIES: list[dict[str, Any]] = [
    {},
    {"data": b"not json", "content_type": "application/json"},
    {"json": {"action": "delete"}},
    {"json": {"session_ids": ["abc"]}},
    {"data": b"\xff\xfe{", "content_type": "application/x-www-form-urlencoded"},
    {"data": b"a=1&b=2", "content_type": "multipart/form-data"},  # no boundary
]
#: What a browser or a proxy may add: replies stay JSON whatever the client prefers.
HEADERS: list[dict[str, str]] = [{}, {"Accept": "text/html"}, {"Content-Encoding": "gzip"}]


def random_paths(rng: random.Random) -> Iterator[str]:
    for _ in range(RANDOM_PATHS):
        parts = [rng.choice(SEGMENTS) for _ in range(rng.randint(1, 5))]
        yield "/" + "/".join(parts)


def operator_page(path: str) -> bool:
    """The admin page and the metrics: the operator's pages, not RLMS replies."""
    return path.lstrip("/").startswith(("admin", "metrics"))


def non_json_replies(lab: Lab) -> tuple[int, list[str]]:
    """Send every request of the run; returns how many were sent and the non-JSON ones."""
    rng = random.Random(SEED)
    paths = FIXED + list(random_paths(rng))
    sent, bad = 0, []
    for prefix in PREFIXES:
        for path in paths:
            if operator_page(path):
                continue
            for method in METHODS:
                for auth in (AUTH, {}):
                    body, extra = rng.choice(BODIES), rng.choice(HEADERS)
                    headers = {**auth, **extra}
                    reply = lab.raw_rlms.open(prefix + path, method=method, headers=headers, **body)
                    sent += 1
                    if not is_json(reply, method):
                        bad.append(f"{method} {prefix}{path} -> {reply.status_code}")
    return sent, bad


def is_json(reply: Any, method: str) -> bool:
    if reply.mimetype != "application/json":
        return False
    if method == "HEAD":
        return True  # no body by definition
    try:
        json.loads(reply.get_data())
    except ValueError:
        return False
    return True


def test_every_reply_under_the_rlms_prefixes_is_json(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)  # thousands of refused-credentials warnings otherwise
    lab.start_raw()  # one real session among the unknown ids
    sent, bad = non_json_replies(lab)
    assert sent > 4000
    assert bad == [], f"{len(bad)} non-JSON replies of {sent}, e.g. {bad[:12]}"


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("TRACE", "/sessions/abc/status", 405),
        ("POST", "/sessions/abc/status", 405),
        ("PUT", "/sessions/abc", 405),
        ("FOO", "/sessions/", 405),
        ("GET", "/sessions/a%2Fb/status", 404),
        ("POST", "/sessions/a%2Fb", 404),
    ],
)
def test_wrong_methods_and_slashed_ids_answer_json(
    lab: Lab, prefix: str, method: str, path: str, status: int
) -> None:
    reply = lab.raw_rlms.open(prefix + path, method=method, headers=AUTH)
    assert reply.status_code == status
    assert reply.mimetype == "application/json"
    assert reply.json["error"] is True


def test_routing_errors_still_need_credentials(lab: Lab) -> None:
    reply = lab.raw_rlms.open("/weblab/sessions/abc/status", method="TRACE")
    assert reply.status_code == 401
    assert reply.json["code"] == "unauthorized"


@pytest.mark.parametrize("admin_on", [False, True], ids=["admin-off", "admin-on"])
def test_routing_errors_on_the_operator_pages_answer_json(
    make_lab: Callable[..., Lab], admin_on: bool
) -> None:
    lab = make_lab(**(ADMIN if admin_on else {}))
    for path in ("/weblab/admin/", "/weblab/metrics", "/weblab/admin/sessions/end"):
        reply = lab.raw_rlms.open(path, method="TRACE", headers=ADMIN_AUTH)
        assert reply.mimetype == "application/json"
        # Off, they are unknown paths like any other; on, a method they do not take.
        assert reply.status_code == (405 if admin_on else 404)
