"""``flask weblab devices [reset NAME]`` and ``flask weblab maintenance on|off``."""

from __future__ import annotations

import time
from typing import Any

import click
from flask.cli import with_appcontext

from ..context import lab_state
from ..protocol import printable
from ..runtime.device_lifecycle import ResetRefused
from ..runtime.overview import format_age
from ..runtime.store_errors import ANY_STORE_ERROR


def reconciliation_table(rows: list[dict[str, Any]], *, now: float) -> str:
    """The rows of ``GET {base_url}/weblab/devices`` as a text table."""
    headers = ["device", "state", "since", "session", "user", "clean-up", "reason"]
    cells = []
    for row in rows:
        session = row["session"] or {}
        finished = row["cleanup_finished"]
        cells.append(
            [
                printable(row["name"]),
                row["state"],
                format_age(now - row["since"]) if row["since"] else "-",
                (session.get("id_hash") or "-")[:10],
                printable(session.get("username") or "") or "-",
                {True: "finished", False: "NOT finished", None: "-"}[finished],
                printable(row["reason"] or "") or "-",
            ]
        )
    widths = [max(len(line[i]) for line in [headers, *cells]) for i in range(len(headers))]
    lines = [headers, ["-" * width for width in widths], *cells]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _store_error(exc: Exception) -> click.ClickException:
    return click.ClickException(
        f"Cannot reach the store at {lab_state().store_label}: {type(exc).__name__}"
    )


@click.group("devices", invoke_without_command=True)
@click.pass_context
@with_appcontext
def devices_group(ctx: click.Context) -> None:
    """Every declared device: its state, since when, the session holding it and whether
    its last clean-up finished (the table of GET {base_url}/weblab/devices)."""
    if ctx.invoked_subcommand is not None:
        return
    state = lab_state()
    try:
        if state.devices:
            rows = state.devices.reconcile()
        else:  # each session not disposed yet, as GET .../weblab/devices lists them
            click.echo("This lab declares no device (WEBLAB_DEVICES is not set): its sessions.")
            rows = state.devices.session_rows(state.operator.undisposed_sessions(10_000))
    except ANY_STORE_ERROR as exc:
        raise _store_error(exc) from exc
    click.echo(reconciliation_table(rows, now=time.time()))


@devices_group.command("reset")
@click.argument("name")
@with_appcontext
def reset_command(name: str) -> None:
    """Run the lab's on_reset for device NAME; it becomes idle if on_reset returns (without
    an on_reset, your word is the reset)."""
    state = lab_state()
    if name not in state.devices:
        known = ", ".join(state.settings.devices) or "none (WEBLAB_DEVICES is not set)"
        raise click.ClickException(f"No device {printable(name)!r}; its devices: {known}")
    try:
        ok = state.devices.lifecycle.reset(name, by="operator")
    except ResetRefused as refused:
        raise click.ClickException(f"Not reset: {refused}") from refused
    except ANY_STORE_ERROR as exc:
        raise _store_error(exc) from exc
    if not ok:
        raise click.ClickException(f"Device {name} is still broken: on_reset raised (see the log)")
    click.echo(f"Device {name} was reset: it is idle.")


@click.command("maintenance")
@click.argument("switch", type=click.Choice(["on", "off"]))
@click.option("--device", default=None, help="Only this device (default: the whole lab).")
@click.option("--message", default="", help="What students and the health URL are told.")
@with_appcontext
def maintenance_command(switch: str, device: str | None, message: str) -> None:
    """Take the lab (or one device) out of service, or put it back. New starts are refused
    and the health URL says why; sessions in progress keep their slot."""
    state = lab_state()
    if device is not None and device not in state.devices:
        known = ", ".join(state.settings.devices) or "none (WEBLAB_DEVICES is not set)"
        raise click.ClickException(f"No device {printable(device)!r}; its devices: {known}")
    try:
        state.devices.lifecycle.set_maintenance(device, message if switch == "on" else None)
    except ANY_STORE_ERROR as exc:
        raise _store_error(exc) from exc
    what = f"Device {device}" if device else "The lab"
    click.echo(f"{what} is {'under maintenance' if switch == 'on' else 'back in service'}.")
