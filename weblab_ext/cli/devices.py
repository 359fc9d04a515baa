"""The devices table of ``flask weblab status`` (``WEBLAB_DEVICES``)."""

from __future__ import annotations

import click

from ..protocol import printable
from ..runtime.devices import DeviceRow
from ..runtime.overview import format_age


def devices_table(rows: list[DeviceRow]) -> str:
    """The devices as a text table: name, session, user, state, time left."""
    headers = ["device", "session", "user", "state", "time left"]
    cells = [
        [
            printable(row.name),
            row.label or "-",
            printable(row.username or "") or "-",
            row.state or "free",
            format_age(row.time_left) if row.time_left is not None else "-",
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [headers, *cells]) for i in range(len(headers))]
    lines = [headers, ["-" * width for width in widths], *cells]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def echo_devices(rows: list[DeviceRow]) -> None:
    """Print how many devices are held, then the table (nothing without devices)."""
    if not rows:
        return
    held = sum(1 for row in rows if row.session_key)
    click.echo(f"Devices: {held} in use, {len(rows) - held} free")
    click.echo(devices_table(rows))
    click.echo("")


#: ``flask weblab fake new --device NAME``: start the session on one device of the pool.
device_option = click.option(
    "--device",
    default=None,
    help="Device (of WEBLAB_DEVICES) to start the session on: its RLMS URL is used.",
)


def device_url(lab_url: str, device: str | None, declared: tuple[str, ...]) -> str:
    """The RLMS URL of ``device`` under ``lab_url`` (``lab_url`` itself for no device).

    :raises click.ClickException: for a device the lab does not declare.
    """
    if device is None:
        return lab_url
    if device not in declared:
        known = ", ".join(declared) or "none (WEBLAB_DEVICES is not set)"
        raise click.ClickException(f"No device {device!r} in this lab; its devices: {known}")
    return f"{lab_url.rstrip('/')}/devices/{device}"
