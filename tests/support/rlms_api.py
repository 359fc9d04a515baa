"""Helpers for tests of the RLMS endpoints: a LabDiscoveryEngine start body, and the check
that a refused request stored nothing."""

from __future__ import annotations

import datetime
from typing import Any

from tests.support.lab import Lab


def ldl_body(**schedule: Any) -> dict[str, Any]:
    return {
        "request": {
            "locale": "es",
            "user": {"color": "blue"},
            "server": {"group": "g1"},
            "backUrl": "http://lde.example/back",
        },
        "laboratory": {"name": "robot", "category": "Robots"},
        "user": {"username": "ana", "unique": "ana@lde", "fullName": "Ana Perez"},
        "schedule": {
            "start": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "length": 300,
            **schedule,
        },
    }


def session_keys(lab: Lab) -> list[str]:
    """Every session hash of this lab (SCAN is fine in a test; the library never scans)."""
    pattern = lab.state.keys.session("*")
    return list(lab.state.client.scan_iter(match=pattern))


def assert_nothing_stored(lab: Lab) -> None:
    assert lab.state.monitoring.session_counts().total == 0
    assert session_keys(lab) == []
    assert lab.started == []
