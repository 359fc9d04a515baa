"""``flask weblab status``: sessions by state, unfinished tasks and live workers, as tables."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..context import lab_state
from ..protocol import printable
from ..runtime.overview import LabOverview, format_age, worker_label
from ..runtime.store_errors import ANY_STORE_ERROR
from .devices import echo_devices
from .embedded_store import embedded_note


def _table(headers: list[str], rows: list[list[str]]) -> str:
    rows = [[printable(cell) for cell in row] for row in rows]  # user names are the students'
    columns = zip(headers, *rows, strict=False)
    widths = [max(len(str(cell)) for cell in column) for column in columns]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines)


def _echo_sessions(overview: LabOverview) -> None:
    rows = [
        [row.label, row.username, row.state, format_age(row.time_left), format_age(row.since_poll)]
        for row in overview.sessions
    ]
    counts = overview.session_counts
    shown = f" (the first {len(rows)} listed)" if overview.sessions_total > len(rows) else ""
    click.echo(
        f"Sessions: {counts.active} active, {counts.exited} exited, "
        f"{counts.disposing} disposing{shown}"
    )
    if rows:
        click.echo(_table(["session", "user", "state", "time left", "last poll"], rows))


def _echo_tasks(overview: LabOverview) -> None:
    tasks = overview.tasks
    lapsed = f" ({tasks.lapsed} more whose worker stopped beating)" if tasks.lapsed else ""
    click.echo(f"Tasks: {tasks.queued} queued, {tasks.running} running{lapsed}")
    if overview.task_rows:
        click.echo(
            _table(
                ["task", "name", "state", "age", "worker"],
                [
                    [
                        row.label,
                        row.name,
                        row.status + (" (stopping)" if row.stopping else ""),
                        format_age(row.age),
                        row.worker,
                    ]
                    for row in overview.task_rows
                ],
            )
        )
    click.echo(f"Live workers: {tasks.live_workers}")
    if tasks.workers:
        click.echo(
            _table(
                ["worker", "host", "pid", "threads", "last beat"],
                [
                    [
                        worker_label(w.worker_id),
                        w.host,
                        "" if w.pid is None else str(w.pid),
                        "" if w.threads is None else str(w.threads),
                        ""
                        if w.last_beat is None
                        else format_age(overview.tasks_now - w.last_beat) + " ago",
                    ]
                    for w in tasks.workers
                ],
            )
        )


@click.command("status")
@click.option(
    "--limit", default=50, show_default=True, help="Most sessions, tasks and workers listed."
)
@with_appcontext
def status_command(limit: int) -> None:
    """Sessions not disposed yet (active, exited, disposing) with their time left,
    unfinished tasks and live workers."""
    state = lab_state()
    embedded_note(state)
    try:
        overview = state.operator.overview(limit)
    except ANY_STORE_ERROR as exc:
        raise click.ClickException(
            f"Cannot reach the store at {state.store_label}: {type(exc).__name__}: {exc}"
        ) from exc
    echo_devices(state.devices.overview() if state.devices else [])  # WEBLAB_DEVICES
    _echo_sessions(overview)
    click.echo("")
    _echo_tasks(overview)
