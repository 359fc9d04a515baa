"""Session records out of the store: JSON Lines, CSV, xAPI 1.0.3, and usage per device.

Runtime layer. :func:`exported_sessions` pages through the index of records (one round trip
per page of ids, one for their events), so an export holds one page in memory whatever the
number of sessions; the writers stream each session out as it comes. Times are UTC ISO 8601
(``2026-12-07T09:30:00.000Z``); sessions are named by the hash of their id, never the id.
JSON is written in ASCII and CSV cells through :func:`~weblab_ext.protocol.printable`: what a
student typed never reaches a terminal as a control sequence.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any
from urllib.parse import quote

from ..protocol import printable
from .journal import SessionJournal
from .lifecycle_log import session_id_hash

FORMATS = ("jsonl", "csv", "xapi")
#: Namespace of the ids of exported statements: the same event always gets the same id.
_XAPI_NAMESPACE = uuid.UUID("6f1c5a43-2b8e-4f64-9a55-3f0e43f0b0a1")
_ADL = "http://adlnet.gov/expapi/verbs/"
#: Event kind → xAPI verb; kinds not listed are left out of xAPI exports.
XAPI_VERBS = {
    "start": "launched",
    "launch": "initialized",
    "task_submitted": "attempted",  # only those with the task's arguments
    "task_finished": "interacted",
    "lab": "interacted",
    "end": "terminated",
}
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")
CSV_COLUMNS = (
    "time",
    "session",
    "device",
    "user",
    "course",
    "group",
    "event",
    "details",
    "arguments",
)


def iso(epoch: float) -> str:
    """UTC ISO 8601 with milliseconds and ``Z``."""
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_duration(seconds: float) -> str:
    """An ISO 8601 duration (``PT1H2M3.5S``), to the hundredth of a second."""
    hundredths = round(max(0.0, seconds) * 100)
    hours, rest = divmod(hundredths, 360000)
    minutes, rest = divmod(rest, 6000)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    secs = f"{rest / 100:.2f}".rstrip("0").rstrip(".")
    return text + (secs + "S" if rest or not (hours or minutes) else "")


@dataclasses.dataclass(frozen=True)
class SessionExport:
    """One session's record as exported."""

    session: str  #: the hash of the session id
    events: list[dict[str, Any]]
    dropped: int
    #: The RLMS calls counted, per call and outcome (``{"status": {"active": 1440}}``).
    calls: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)

    @property
    def start(self) -> dict[str, Any]:
        first = self.events[0] if self.events else {}
        return first if first.get("e") == "start" else {}

    @property
    def end(self) -> dict[str, Any]:
        return next((e for e in reversed(self.events) if e.get("e") == "end"), {})

    def summary(self) -> dict[str, Any]:
        """The session in one JSON object: who, where, when, why it ended, and its events."""
        start, end = self.start, self.end
        return {
            "session": self.session,
            "device": start.get("device"),
            "user": start.get("user"),
            "course": start.get("course"),
            "group": start.get("group"),
            "locale": start.get("locale"),
            "experiment": start.get("experiment"),
            "start": iso(start["t"]) if start else None,
            "end": iso(end["t"]) if end else None,
            "reason": end.get("reason"),
            "used_seconds": end.get("used"),
            "dropped_events": self.dropped,
            "rlms_calls": self.calls,
            "events": [{"time": iso(e["t"]), "event": e["e"], **_details(e)} for e in self.events],
        }


#: Event fields that hold a time (epoch seconds in the store, ISO 8601 in exports).
_TIMES = ("slot_start", "slot_end")


def _details(event: dict[str, Any]) -> dict[str, Any]:
    return {
        key: iso(value) if key in _TIMES and isinstance(value, int | float) else value
        for key, value in event.items()
        if key not in ("t", "e")
    }


def count_sessions(journal: SessionJournal, since: float | None, until: float | None) -> int:
    """How many recorded sessions started in ``[since, until]``."""
    return 0 if journal.store is None else journal.store.count(since, until)


def exported_sessions(
    journal: SessionJournal,
    *,
    since: float | None = None,
    until: float | None = None,
    device: str | None = None,
    page: int = 500,
) -> Iterator[SessionExport]:
    """The recorded sessions started in ``[since, until]`` (on ``device``), oldest first;
    expired records are skipped. Memory holds one page."""
    store = journal.store
    if store is None:
        return
    for rows in store.sessions(since, until, page=page):
        ids = [session_id for session_id, _ in rows]
        for session_id, (raw, dropped, calls) in zip(ids, store.records_many(ids), strict=True):
            if not raw:
                continue
            events = [json.loads(e) for e in raw]
            export = SessionExport(session_id_hash(session_id), events, dropped, calls)
            if device is not None and export.start.get("device") != device:
                continue
            yield export


def latest_sessions(journal: SessionJournal, count: int, since: float) -> list[SessionExport]:
    """The ``count`` most recently started sessions since ``since``, newest first; two round
    trips whatever the number of sessions."""
    store = journal.store
    if store is None:
        return []
    ids = [session_id for session_id, _ in store.latest(count, since)]
    return [
        SessionExport(session_id_hash(sid), [json.loads(e) for e in raw], dropped, calls)
        for sid, (raw, dropped, calls) in zip(ids, store.records_many(ids), strict=True)
        if raw
    ]


def find_session(journal: SessionJournal, key: str) -> SessionExport | None:
    """The record of the session whose id hashes to ``key``: pages of ids are hashed, only
    the match's events are read."""
    store = journal.store
    if store is None:
        return None
    for rows in store.sessions(None, None, page=1000):
        for session_id, _ in rows:
            if session_id_hash(session_id) == key:
                [(raw, dropped, calls)] = store.records_many([session_id])
                events = [json.loads(e) for e in raw]
                return SessionExport(key, events, dropped, calls) if raw else None
    return None


def write_jsonl(sessions: Iterable[SessionExport], out: IO[str]) -> int:
    """One JSON object per line and session (see :meth:`SessionExport.summary`)."""
    count = 0
    for export in sessions:
        out.write(json.dumps(export.summary(), sort_keys=True) + "\n")
        count += 1
    return count


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    # What the lab recorded may come from a student: no control character reaches a
    # terminal or breaks a row, and a spreadsheet runs no cell as a formula.
    text = printable(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def write_csv(sessions: Iterable[SessionExport], out: IO[str]) -> int:
    """One row per event, with the session's device, user, course and group on each, and a
    last ``rlms_calls`` row per session with the RLMS calls counted (when there were any)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for export in sessions:
        start = export.start
        who = [export.session, start.get("device"), start.get("user")]
        who += [start.get("course"), start.get("group")]
        for event in export.events:
            details = _details(event)
            arguments = details.pop("arguments", None)
            row = [iso(event["t"]), *who, event["e"], details, arguments]
            writer.writerow([_cell(value) for value in row])
        if export.calls and export.events:
            row = [iso(export.events[-1]["t"]), *who, "rlms_calls", export.calls, None]
            writer.writerow([_cell(value) for value in row])
        count += 1
    return count


def _activity(home: str, kind: str, name: str) -> dict[str, Any]:
    return {
        "objectType": "Activity",
        "id": f"{home}xapi/{kind}/{quote(name, safe='')}",
        "definition": {
            "name": {"en-US": name},
            "type": "http://adlnet.gov/expapi/activities/simulation",
        },
    }


def xapi_statements(export: SessionExport, *, home_page: str) -> Iterator[dict[str, Any]]:
    """The xAPI 1.0.3 statements of one session: the user as an account of ``home_page``,
    the device (or the lab) as the object, the lab as its parent, the session as the
    registration."""
    home = home_page if home_page.endswith("/") else home_page + "/"
    start = export.start
    lab = _activity(home, "lab", str(start.get("experiment") or "lab"))
    target = _activity(home, "device", start["device"]) if start.get("device") else lab
    actor = {
        "objectType": "Agent",
        "account": {"homePage": home_page, "name": str(start.get("user") or "anonymous")},
    }
    context: dict[str, Any] = {
        "registration": str(uuid.uuid5(_XAPI_NAMESPACE, export.session)),
        "platform": "weblab_ext",
        "extensions": {
            f"{home}xapi/extensions/{name}": value
            for name, value in (
                ("session", export.session),
                ("course", start.get("course")),
                ("group", start.get("group")),
            )
            if value is not None
        },
    }
    if target is not lab:
        context["contextActivities"] = {"parent": [lab]}
    language = str(start.get("locale") or "").replace("_", "-")
    if _LANGUAGE.fullmatch(language):
        context["language"] = language
    for index, event in enumerate(export.events):
        verb = XAPI_VERBS.get(event["e"])
        if verb is None or (event["e"] == "launch" and event.get("outcome") != "enter"):
            continue
        if event["e"] == "task_submitted" and "arguments" not in event:
            continue
        statement: dict[str, Any] = {
            "id": str(uuid.uuid5(_XAPI_NAMESPACE, f"{export.session}/{index}")),
            "version": "1.0.3",
            "timestamp": iso(event["t"]),
            "actor": actor,
            "verb": {"id": _ADL + verb, "display": {"en-US": verb}},
            "object": target,
            "context": context,
        }
        result = _result(home, event, export.calls)
        if result:
            statement["result"] = result
        yield statement


def _result(home: str, event: dict[str, Any], calls: dict[str, Any]) -> dict[str, Any]:
    kind = event["e"]
    extension = f"{home}xapi/extensions/"
    if kind == "end":
        extensions: dict[str, Any] = {extension + "reason": event.get("reason")}
        if calls:
            extensions[extension + "rlms-calls"] = calls
        return {"duration": iso_duration(float(event.get("used") or 0)), "extensions": extensions}
    if kind == "task_submitted":
        return {
            "extensions": {
                extension + "task": event.get("task"),
                extension + "arguments": event["arguments"],
            }
        }
    if kind == "task_finished":
        result: dict[str, Any] = {"success": event.get("status") == "done"}
        if "duration" in event:
            result["duration"] = iso_duration(float(event["duration"]))
        result["extensions"] = {f"{home}xapi/extensions/task": event.get("task")}
        return result
    if kind == "lab":
        return {
            "extensions": {
                f"{home}xapi/extensions/event": event.get("name"),
                f"{home}xapi/extensions/fields": event.get("fields", {}),
            }
        }
    return {}


def write_xapi(sessions: Iterable[SessionExport], out: IO[str], *, home_page: str) -> int:
    """A JSON array of statements, ready to POST to a learning record store."""
    out.write("[")
    first = True
    count = 0
    for export in sessions:
        for statement in xapi_statements(export, home_page=home_page):
            out.write(("\n" if first else ",\n") + json.dumps(statement))
            first = False
        count += 1
    out.write("\n]\n")
    return count


def writer_for(fmt: str, *, home_page: str) -> Callable[[Iterable[SessionExport], IO[str]], int]:
    """The writer of a format (one of :data:`FORMATS`)."""
    if fmt == "jsonl":
        return write_jsonl
    if fmt == "csv":
        return write_csv
    return lambda sessions, out: write_xapi(sessions, out, home_page=home_page)


def usage_by_device(
    journal: SessionJournal, *, now: float, days: int = 7
) -> dict[str, list[tuple[str, int, float]]]:
    """Per device (``""``: the lab without devices), per UTC day of the last ``days``:
    ``(day, sessions started, minutes used)``. Reads the first and last event of each
    session of the period, a page at a time."""
    store = journal.store
    today = datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc).date()
    labels = [
        (today - datetime.timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)
    ]
    first_day = datetime.datetime.combine(
        today - datetime.timedelta(days=days - 1), datetime.time(), tzinfo=datetime.timezone.utc
    ).timestamp()
    usage: dict[str, dict[str, list[float]]] = {}
    if store is None:
        return {}
    for rows in store.sessions(first_day, now):
        ids = [session_id for session_id, _ in rows]
        for (first, last), (_, started) in zip(store.first_and_last_many(ids), rows, strict=True):
            if first is None:
                continue
            start = json.loads(first)
            end = json.loads(last) if last else {}
            day = (
                datetime.datetime.fromtimestamp(started, tz=datetime.timezone.utc)
                .date()
                .isoformat()
            )
            device = str(start.get("device") or "")
            cells = usage.setdefault(device, {label: [0, 0.0] for label in labels})
            if day in cells:
                cells[day][0] += 1
                cells[day][1] += float(end.get("used") or 0) / 60 if end.get("e") == "end" else 0
    return {
        device: [(label, int(cells[label][0]), round(cells[label][1], 1)) for label in labels]
        for device, cells in sorted(usage.items())
    }
