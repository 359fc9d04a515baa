"""The device part of the admin page: each device's state and numbers, and its buttons
(reset, maintenance on and off, for one device or the whole lab).

Flask layer. The forms are checked like every form of the page (an action token from the
page and the lab's own origin): :mod:`.admin` hands its check in, so this module does not
import it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from flask import Response, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ..context import lab_state
from ..runtime.device_lifecycle import ResetRefused
from ..runtime.operator import MetricsReading
from ..runtime.overview import format_age

logger = logging.getLogger("weblab_ext")

#: What a device action says on the page it redirects to (keys of the page's ``done``).
DONE = {
    "reset": "The device was reset: it is idle.",
    "reset-failed": "The device is still broken: its on_reset raised (see the log).",
    "reset-refused": "Not reset: a student holds the device, or another process resets it.",
    "maintenance-on": "Maintenance is on: new starts are refused.",
    "maintenance-off": "Maintenance is off.",
}
#: Longest maintenance message kept (what students and the health URL are told).
MESSAGE_LENGTH = 200


@dataclasses.dataclass(frozen=True)
class DeviceNumbers:
    """One device's row of the "Device lifecycle" table."""

    name: str
    state: str
    since: str
    reason: str
    availability: str
    repairs: int
    mean_time_to_repair: str
    starts_refused: int


def device_numbers(reading: MetricsReading | None) -> tuple[list[DeviceNumbers], str]:
    """The rows of the table, and the lab-wide maintenance message (``""``: off)."""
    state = lab_state()
    lifecycle = state.devices.lifecycle
    now = state.clock()
    refused: dict[str, int] = {}
    for (device, _why), count in (reading.starts_refused if reading else {}).items():
        refused[device] = refused.get(device, 0) + count
    rows = []
    for status in lifecycle.read():
        ratio = status.availability(now)
        mttr = status.broken_seconds / status.repairs if status.repairs else None
        rows.append(
            DeviceNumbers(
                name=status.name,
                state=status.shown_state,
                since=format_age(now - status.since) if status.since else "—",
                reason=status.maintenance or status.reason,
                availability=f"{ratio:.1%}" if ratio is not None else "—",
                repairs=status.repairs,
                mean_time_to_repair=format_age(mttr) if mttr is not None else "—",
                starts_refused=refused.get(status.name, 0),
            )
        )
    return rows, lifecycle.maintenance_message()


Check = Callable[[], Response | None]
Back = Callable[[str], ResponseReturnValue]


def reset_device(forged: Check, back: Back) -> ResponseReturnValue:
    """``POST …/admin/devices/reset``: run ``on_reset`` for the device the form names."""
    refused = forged()
    if refused is not None:
        return refused
    state = lab_state()
    device = request.form.get("device", "")
    if device not in state.devices:
        return back("gone")
    logger.warning("Device %s reset from the admin page", device)
    try:
        return back("reset" if state.devices.lifecycle.reset(device) else "reset-failed")
    except ResetRefused:
        return back("reset-refused")


def set_maintenance(forged: Check, back: Back) -> ResponseReturnValue:
    """``POST …/admin/devices/maintenance``: turn maintenance on or off for the device the
    form names (none: the whole lab)."""
    refused = forged()
    if refused is not None:
        return refused
    state = lab_state()
    device = request.form.get("device", "") or None
    switch = request.form.get("switch", "")
    if (device is not None and device not in state.devices) or switch not in ("on", "off"):
        return back("gone")
    message = request.form.get("message", "")[:MESSAGE_LENGTH]
    state.devices.lifecycle.set_maintenance(device, message if switch == "on" else None)
    logger.warning(
        "Maintenance %s for %s from the admin page",
        switch,
        f"device {device}" if device else "the lab",
    )
    return back(f"maintenance-{switch}")


def back_to_page(done: str) -> ResponseReturnValue:
    """Back to the admin page, saying what happened."""
    return redirect(url_for(".admin_page", done=done), 303)
