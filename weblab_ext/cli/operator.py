"""Operator commands: ``status`` and ``check`` (what an operator reads at a glance) and
``clean-expired-users``."""

from __future__ import annotations

import importlib.util

import click
from flask.cli import with_appcontext

from ..config import redis_url_advice, weak_secrets
from ..context import lab_state
from ..runtime.overview import LabOverview, format_age, lab_overview, worker_label
from ..state import LabState
from ..store.connection import ANY_STORE_ERROR, is_embedded_client, server_info
from .devices import echo_devices, printable

#: Sessions read at most to size the progress bar of ``clean-expired-users``.
_MOST_DUE_COUNTED = 100_000


def refuse_embedded(state: LabState) -> None:
    """Stop a command that needs a store shared between processes when the store is embedded.

    :raises click.ClickException: on the embedded store, naming the command as typed.
    """
    # A separate process has its own embedded store: the command would find nothing.
    if is_embedded_client(state.client):
        command = click.get_current_context().command_path
        raise click.ClickException(
            f"`{command}` needs a store shared with the lab's web processes, but this lab "
            f"uses the embedded store, which lives inside one process: "
            f"{redis_url_advice()}"
        )


def embedded_note(state: LabState) -> None:
    """Say that this command sees only its own embedded store (``WEBLAB_REDIS_URL`` unset)."""
    if state.embedded_by_default:
        click.echo(
            "Note: this lab uses the embedded store, which lives inside each process: "
            "this command sees its own (empty) store, not the one of `flask run`. "
            f"To share one: {redis_url_advice()}."
        )


def _clean_expired(state: LabState) -> int:
    refuse_embedded(state)
    service = state.service
    due = len(
        state.sessions.due_sessions(
            now=state.clock(), timeout=service.timeout, limit=_MOST_DUE_COUNTED
        )
    )
    if not due:
        click.echo("No session is over.")
        return 0
    click.echo(f"Sessions that are over: {due}")
    disposed = 0
    with click.progressbar(length=due, label="Disposing", show_pos=True) as bar:
        # One pass reads a bounded batch of due sessions: pass again until none is left.
        while (count := service.clean_expired(progress=bar.update)) > 0:
            disposed += count
    click.echo(f"Disposed {disposed} session(s).")
    return disposed


@click.command("clean-expired-users")
@with_appcontext
def clean_expired_users_command() -> None:
    """Dispose every session that is over (slot ended, logged out, or silent too long) and
    fail the tasks of dead workers."""
    state = lab_state()
    _clean_expired(state)
    state.tasks.sweep()


@click.command("clean_expired_users")
@with_appcontext
def clean_expired_users_alias() -> None:
    """Same as ``flask weblab clean-expired-users`` (name from the original docs)."""
    _clean_expired(lab_state())


def _table(headers: list[str], rows: list[list[str]]) -> str:
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
        [
            row.label,
            printable(row.username),
            row.state,
            format_age(row.time_left),
            format_age(row.since_poll),
        ]
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
        overview = lab_overview(state.service, state.tasks, state.monitoring, limit)
    except ANY_STORE_ERROR as exc:
        raise click.ClickException(
            f"Cannot reach the store at {state.store_label}: {type(exc).__name__}: {exc}"
        ) from exc
    echo_devices(state.devices.overview() if state.devices else [])  # WEBLAB_DEVICES
    _echo_sessions(overview)
    click.echo("")
    _echo_tasks(overview)


@click.command("check")
@with_appcontext
def check_command() -> None:
    """Check the configuration and the store; exit 1 with plain-words problems."""
    state = lab_state()
    problems: list[str] = []
    warnings: list[str] = []
    notes: list[str] = []
    if not state.app.config.get("SECRET_KEY"):
        problems.append("SECRET_KEY is not set: students' session cookies cannot be signed.")
    weak = weak_secrets(state.app.config)
    if state.app.debug or state.app.testing:
        notes.extend(
            f"{line} (tolerated: DEBUG or TESTING is on; never deploy so)" for line in weak
        )
    else:
        problems.extend(weak)
    if not state.app.config.get("SERVER_NAME"):
        notes.append("SERVER_NAME is not set: launch URLs use the host the RLMS called.")
    if state.callbacks.initial_url is None:
        problems.append("No @weblab.initial_url: students get an error after launch.")
    _check_operator_pages(state, notes, warnings)
    if state.embedded_by_default:
        notes.append(
            "WEBLAB_REDIS_URL is not set: the embedded store keeps sessions inside "
            "one process (fine for `flask run`; production servers such as gunicorn "
            f"refuse it). For a Redis server: {redis_url_advice()}."
        )
    try:
        info = server_info(state.client, state.keys.session_prefix())  # the lab's node
    except ANY_STORE_ERROR as exc:
        problems.append(f"Cannot reach the store at {state.store_label}: {type(exc).__name__}")
    else:
        if info["redis_version"] == "embedded":
            notes.append("Store reachable (the embedded store of this process).")
        else:
            _check_server(info, state.store_label, notes, warnings, problems)
    for note in notes:
        click.echo(f"ok: {note}")
    for warning in warnings:
        click.echo(f"WARNING: {warning}")
    for problem in problems:
        click.echo(f"PROBLEM: {problem}")
    if problems:
        raise click.exceptions.Exit(1)
    click.echo("Everything looks fine." if not warnings else "No problem, but read the warnings.")


def _check_operator_pages(state: LabState, notes: list[str], warnings: list[str]) -> None:
    if not state.settings.admin_username:
        return
    base = state.settings.base_url.rstrip("/")
    notes.append(
        f"The metrics ({base}/weblab/metrics) and the admin page "
        f"({base}/weblab/admin/) are on, behind WEBLAB_ADMIN_USERNAME's credentials."
    )
    if importlib.util.find_spec("prometheus_client") is None:
        warnings.append(
            "prometheus_client is not installed: the metrics endpoint answers 501. "
            "Install it with pip install prometheus-client (or weblab_ext's "
            "metrics extra)."
        )


def _check_server(
    info: dict[str, str], label: str, notes: list[str], warnings: list[str], problems: list[str]
) -> None:
    notes.append(f"Store reachable at {label} (Redis {info['redis_version']}).")
    policy = info["maxmemory_policy"]
    # Every key of a lab has a TTL, so volatile-* policies may evict live sessions too.
    if policy.startswith(("allkeys", "volatile")):
        problems.append(
            f"Redis maxmemory-policy is {policy}: when memory runs out it may evict live "
            "sessions and tasks; use noeviction (writes then fail loudly instead)."
        )
    if info["aof_enabled"] == "0":
        warnings.append(
            "Redis has AOF persistence off (appendonly no): if Redis crashes or is killed, "
            "every session and task acknowledged since its last snapshot is lost. Set "
            "`appendonly yes` and `appendfsync everysec` (see the operations guide)."
        )
    elif info["aof_enabled"] == "1":
        fsync = info["appendfsync"]
        if fsync == "no":
            warnings.append(
                "Redis appendfsync is no: the OS decides when the AOF reaches "
                "the disk; use everysec."
            )
        else:
            notes.append(f"Redis persists with AOF (appendfsync {fsync or 'unknown'}).")
