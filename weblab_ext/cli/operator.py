"""Operator commands: ``status`` and ``check`` (what an operator reads at a glance) and
``clean-expired-users``."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext

from ..context import lab_state
from ..state import LabState
from ..store.connection import ANY_STORE_ERROR, is_embedded, is_embedded_client, server_info


def refuse_embedded(state: LabState, command: str) -> None:
    """Stop a command that needs a store shared between processes when the store is embedded.

    :param command: the command as typed (``weblab loop``), for the message.
    :raises click.ClickException: on the embedded store.
    """
    # A separate process has its own embedded store: the command would find nothing.
    if is_embedded_client(state.client):
        raise click.ClickException(
            f"`flask {command}` needs a store shared between processes: set "
            "WEBLAB_REDIS_URL=redis://... (the embedded store lives inside one process)"
        )


@click.command("clean-expired-users")
def clean_expired_users_command() -> None:
    """Dispose every session that is over (one cleaner pass)."""
    state = lab_state()
    refuse_embedded(state, "weblab clean-expired-users")
    count = state.service.clean_expired()
    if count:
        click.echo(f"Disposed {count} session(s)")


@click.command("clean_expired_users")
@with_appcontext
def clean_expired_users_alias() -> None:
    """Same as ``flask weblab clean-expired-users`` (name from the original docs)."""
    state = lab_state()
    refuse_embedded(state, "clean_expired_users")
    state.service.clean_expired()


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    columns = zip(headers, *rows, strict=False)
    widths = [max(len(str(cell)) for cell in column) for column in columns]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


@click.command("status")
@click.option("--limit", default=50, show_default=True, help="Most sessions listed.")
def status_command(limit: int) -> None:
    """Active sessions with their time left, tasks and live workers."""
    state = lab_state()
    try:
        total = state.sessions.count_active()
        session_ids = state.sessions.active_session_ids(limit)
    except ANY_STORE_ERROR as exc:
        raise click.ClickException(f"Cannot reach the store: {exc}") from exc
    now = state.clock()
    rows = []
    for session_id in session_ids:
        record = state.sessions.load(session_id)
        if record is None:
            continue
        rows.append([
            session_id[:10] + "…", record.username, record.state,
            _age(record.max_date - now), _age(now - record.last_poll),
        ])
    click.echo(f"Active sessions: {total}")
    if rows:
        click.echo(_table(["session", "user", "state", "time left", "last poll"], rows))
    summary = _task_summary(state)
    if summary is not None:
        click.echo(f"\nTasks: {summary.get('queued', 0)} queued, "
                   f"{summary.get('running', 0)} running")
        workers = summary.get("workers", [])
        click.echo(f"Live workers: {len(workers)}")
        if workers:
            click.echo(_table(
                ["worker", "host", "pid", "threads", "seen"],
                [[str(w.get("id", ""))[:12], str(w.get("host", "")), str(w.get("pid", "")),
                  str(w.get("threads", "")), _age(now - float(w.get("seen", now)))]
                 for w in workers],
            ))


def _task_summary(state: LabState) -> dict[str, Any] | None:
    tasks = state.tasks
    summary = getattr(tasks, "operator_summary", None)
    return summary() if callable(summary) else None


@click.command("check")
def check_command() -> None:
    """Check the configuration and the store; exit 1 with plain-words problems."""
    state = lab_state()
    settings = state.settings
    problems: list[str] = []
    notes: list[str] = []
    if not state.app.config.get("SECRET_KEY"):
        problems.append("SECRET_KEY is not set: students' session cookies cannot be signed.")
    if not state.app.config.get("SERVER_NAME"):
        notes.append("SERVER_NAME is not set: launch URLs use the host the RLMS called.")
    if state.callbacks.initial_url is None:
        problems.append("No @weblab.initial_url: students get an error after launch.")
    if is_embedded(settings.redis_url):
        notes.append("WEBLAB_REDIS_URL is not set: the embedded store serves one process only.")
    try:
        info = server_info(state.client, state.keys.session_prefix())  # the lab's node
        notes.append(f"Store reachable (Redis {info['redis_version']}).")
        policy = info["maxmemory_policy"]
        if policy.startswith("allkeys"):
            problems.append(
                f"Redis maxmemory-policy is {policy}: it may evict live sessions; use "
                "noeviction or a volatile-* policy."
            )
    except ANY_STORE_ERROR as exc:
        problems.append(f"Cannot reach the store at {settings.redis_url}: {exc}")
    for note in notes:
        click.echo(f"ok: {note}")
    for problem in problems:
        click.echo(f"PROBLEM: {problem}")
    if problems:
        raise click.exceptions.Exit(1)
    click.echo("Everything looks fine.")
