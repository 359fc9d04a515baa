"""``flask weblab export``: the session records as JSON Lines, CSV or xAPI statements."""

from __future__ import annotations

import contextlib
import datetime
import sys
from collections.abc import Iterator
from typing import IO, Any

import click
from flask import current_app
from flask.cli import with_appcontext

from ..context import lab_state
from ..runtime.record_export import FORMATS, count_sessions, exported_sessions, writer_for
from ..runtime.store_errors import ANY_STORE_ERROR
from .embedded_store import embedded_note


def parse_moment(value: str | None, option: str) -> float | None:
    """``--since`` / ``--until``: an ISO 8601 date or date and time (UTC unless it says)."""
    if value is None:
        return None
    try:
        text = value.strip()
        # Python 3.10 reads no "Z": say it as an offset.
        text = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            "expected an ISO 8601 date or date and time, e.g. 2026-12-01 or 2026-12-01T08:00:00Z",
            param_hint=option,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def _interactive() -> bool:
    """Whether a person watches: the progress bar goes to stderr only on a terminal."""
    return sys.stderr.isatty()


def _home_page() -> str:
    server = current_app.config.get("SERVER_NAME") or "localhost"
    scheme = current_app.config.get("PREFERRED_URL_SCHEME") or "http"
    return f"{scheme}://{server}/"


@contextlib.contextmanager
def _output(path: str | None, fmt: str) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    with open(path, "w", encoding="utf-8", newline="" if fmt == "csv" else None) as out:
        yield out


@click.command("export")
@click.option("--since", default=None, help="Sessions started at or after (ISO 8601, UTC).")
@click.option("--until", default=None, help="Sessions started at or before (ISO 8601, UTC).")
@click.option("--device", default=None, help="Only the sessions of this device.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="jsonl",
    show_default=True,
    help="jsonl: one session per line; csv: one event per row; xapi: xAPI 1.0.3 statements.",
)
@click.option("--output", "-o", default=None, help="Write to this file (default: stdout).")
@click.option(
    "--home-page",
    default=None,
    help="xAPI: the homePage of the users' accounts and the base of activity ids "
    "(default: http://SERVER_NAME/).",
)
@with_appcontext
def export_command(
    since: str | None,
    until: str | None,
    device: str | None,
    fmt: str,
    output: str | None,
    home_page: str | None,
) -> None:
    """Export the session records (WEBLAB_RECORD): streamed, UTC ISO 8601 times, users
    named by their pseudonym."""
    start, end = parse_moment(since, "--since"), parse_moment(until, "--until")
    state = lab_state()
    embedded_note(state, err=True)
    journal = state.journal
    write = writer_for(fmt, home_page=home_page or _home_page())
    show_bar = output is not None and _interactive()
    try:
        sessions: Any = exported_sessions(journal, since=start, until=end, device=device)
        with _output(output, fmt) as out:
            if show_bar:
                length = count_sessions(journal, start, end)
                with click.progressbar(
                    sessions, length=length, label="Exporting", file=sys.stderr
                ) as bar:
                    written = write(bar, out)
            else:
                written = write(sessions, out)
    except ANY_STORE_ERROR as error:
        raise click.ClickException(
            f"The store at {lab_state().store_label} is unreachable ({type(error).__name__})"
        ) from None
    if output is not None:
        click.echo(f"Exported {written} sessions to {output}", err=True)
