"""What the admin page shows of the session records: usage charts and a session's timeline.

Flask layer, used by :mod:`.admin` (which owns the routes, the credentials and the page's
headers). The charts are inline SVG computed here, drawn with presentation attributes and
classes of the admin stylesheet: no script and no inline style, so the page's strict
Content-Security-Policy holds. Sessions are named by the hash of their id, as in exports.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Response
from flask.typing import ResponseReturnValue

from ..context import lab_state
from ..runtime.record_export import (
    SessionExport,
    find_session,
    iso,
    latest_sessions,
    usage_by_device,
)
from ..runtime.store_errors import ANY_STORE_ERROR
from .errors import json_error

if TYPE_CHECKING:
    from ..app_state import LabState

_KEY = re.compile(r"[0-9a-f]{16}")
#: Chart geometry (SVG user units).
WIDTH, HEIGHT, TOP, BOTTOM = 420, 150, 18, 22
#: Most recent sessions the records page lists.
RECENT = 50


@dataclasses.dataclass(frozen=True)
class Bar:
    """One bar of a chart: where it is drawn and what it says."""

    x: float
    y: float
    width: float
    height: float
    value: str
    label: str
    title: str


@dataclasses.dataclass(frozen=True)
class Chart:
    """A bar chart of one quantity per day."""

    title: str
    bars: list[Bar]
    width: int = WIDTH
    height: int = HEIGHT
    baseline: float = HEIGHT - BOTTOM


def bar_chart(title: str, unit: str, days: list[tuple[str, float]]) -> Chart:
    """Bars for ``(day, value)`` pairs, scaled to the largest value."""
    top = max((value for _, value in days), default=0) or 1
    slot = WIDTH / max(1, len(days))
    room = HEIGHT - TOP - BOTTOM
    bars = []
    for index, (day, value) in enumerate(days):
        height = room * value / top
        shown = f"{value:g}"
        bars.append(
            Bar(
                x=round(index * slot + slot * 0.15, 1),
                y=round(HEIGHT - BOTTOM - height, 1),
                width=round(slot * 0.7, 1),
                height=round(height, 1),
                value=shown,
                label=day[5:],  # MM-DD
                title=f"{day}: {shown} {unit}",
            )
        )
    return Chart(title, bars)


def usage_charts(state: LabState, now: float) -> list[dict[str, Any]]:
    """Per device: its name, sessions per day and minutes used per day, last 7 days."""
    usage = usage_by_device(state.journal, now=now, days=7)
    return [
        {
            "device": device or "(no device)",
            "sessions": bar_chart("Sessions per day", "sessions", [(day, n) for day, n, _ in days]),
            "minutes": bar_chart(
                "Minutes used per day", "minutes", [(day, m) for day, _, m in days]
            ),
            "days": days,
        }
        for device, days in usage.items()
    ]


def _row(export: SessionExport) -> dict[str, Any]:
    start, end = export.start, export.end
    return {
        "key": export.session,
        "started": iso(start["t"])[:16].replace("T", " ") if start else "",
        "device": start.get("device") or "",
        "user": start.get("user") or "",
        "course": start.get("course") or "",
        "reason": end.get("reason") or "",
        "minutes": round(float(end.get("used") or 0) / 60, 1) if end else "",
        "events": len(export.events),
    }


def recent_sessions(state: LabState, now: float) -> list[dict[str, Any]]:
    """The most recent recorded sessions of the last 7 days, newest first."""
    return [_row(export) for export in latest_sessions(state.journal, RECENT, now - 7 * 86400)]


def find_timeline(state: LabState, key: str) -> dict[str, Any] | None:
    """The timeline of the session whose hash is ``key`` (``None``: no such record)."""
    export = find_session(state.journal, key) if _KEY.fullmatch(key) else None
    if export is None:
        return None
    events = [
        {
            "time": iso(event["t"]),
            "event": event["e"],
            "details": ", ".join(
                f"{name}={value}" for name, value in _flat(event) if value is not None
            ),
        }
        for event in export.events
    ]
    calls = [
        (call, ", ".join(f"{outcome} {count}" for outcome, count in outcomes.items()))
        for call, outcomes in export.calls.items()
    ]
    return {"session": _row(export), "events": events, "dropped": export.dropped, "calls": calls}


def _flat(event: dict[str, Any]) -> list[tuple[str, Any]]:
    pairs = []
    for name, value in event.items():
        if name in ("t", "e"):
            continue
        if name in ("slot_start", "slot_end") and isinstance(value, int | float):
            value = iso(value)
        pairs.append((name, value))
    return pairs


def records_page(render: Callable[..., Response]) -> ResponseReturnValue:
    """Usage per device over the last 7 days, and the recent sessions (session records).

    :param render: renders a template as a page of the admin blueprint (see :mod:`.admin`).
    """
    state = lab_state()
    charts: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    problem = ""
    try:
        charts, sessions = usage_charts(state, state.clock()), recent_sessions(state, state.clock())
    except ANY_STORE_ERROR as error:
        problem = f"The store at {state.store_label} does not answer ({type(error).__name__})."
    return render(
        "weblab_ext_records.html",
        enabled=state.journal.enabled,
        charts=charts,
        sessions=sessions,
        problem=problem,
    )


def session_timeline(render: Callable[..., Response], key: str) -> ResponseReturnValue:
    """One session's record, found by the hash of its id."""
    found = find_timeline(lab_state(), key)
    if found is None:
        return json_error(404, "not-found", "No session record with this key")
    return render("weblab_ext_timeline.html", **found)
