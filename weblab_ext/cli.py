"""``flask weblab ...`` commands (Flask layer; each command is a few lines)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from .context import lab_state

weblab_cli = AppGroup(
    "weblab",
    help="WebLab-Deusto related operations: initialize new sessions for development, run "
    "tasks, etc.",
)


@weblab_cli.command("clean-expired-users")
def clean_expired_users() -> None:
    """Dispose every session that is over (one cleaner pass)."""
    count = lab_state().clean_expired()
    if count:
        click.echo(f"Disposed {count} session(s)")


@click.command("clean_expired_users")
@with_appcontext
def clean_expired_users_alias() -> None:
    """Same as ``flask weblab clean-expired-users`` (name from the original docs)."""
    lab_state().clean_expired()


def register_cli(app: Flask) -> None:
    """Add the ``weblab`` command group to ``app.cli``."""
    if "weblab" not in app.cli.commands:
        app.cli.add_command(weblab_cli)
        app.cli.add_command(clean_expired_users_alias)
