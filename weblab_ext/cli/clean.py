"""``flask weblab clean-expired-users``: dispose every session that is over, now."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..app_state import LabState
from ..context import lab_state
from .embedded_store import refuse_embedded

#: Sessions read at most to size the progress bar of ``clean-expired-users``.
_MOST_DUE_COUNTED = 100_000


def _clean_expired(state: LabState) -> int:
    refuse_embedded(state)
    operator = state.operator
    due = operator.due_count(_MOST_DUE_COUNTED)
    if not due:
        click.echo("No session is over.")
        return 0
    click.echo(f"Sessions that are over: {due}")
    disposed = 0
    with click.progressbar(length=due, label="Disposing", show_pos=True) as bar:
        # One pass reads a bounded batch of due sessions: pass again until none is left.
        while (count := operator.clean_expired(progress=bar.update)) > 0:
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
    state.operator.sweep_tasks()


@click.command("clean_expired_users")
@with_appcontext
def clean_expired_users_alias() -> None:
    """Same as ``flask weblab clean-expired-users`` (name from the original docs)."""
    _clean_expired(lab_state())
