"""RLMS calls on one device of a pool, and its stored state (the hand-over tests)."""

from __future__ import annotations

from typing import Any

from tests.support.lab import AUTH, Lab


def _url(device: str) -> str:
    return f"/devices/{device}/weblab/sessions/"


def start_on(lab: Lab, device: str) -> Any:
    return lab.raw_rlms.post(_url(device), json=lab.start_body(), headers=AUTH)


def dispose_on(lab: Lab, device: str, session_id: str) -> dict[str, Any]:
    reply = lab.raw_rlms.post(
        f"{_url(device)}{session_id}", json={"action": "delete"}, headers=AUTH
    )
    return dict(reply.json)


def states(lab: Lab) -> dict[str, str]:
    return {s.name: s.shown_state for s in lab.state.devices.lifecycle.read()}


def status_of(lab: Lab, device: str) -> Any:
    [status] = lab.state.devices.lifecycle.read([device])
    return status
