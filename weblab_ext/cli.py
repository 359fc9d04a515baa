"""``flask weblab ...`` commands (Flask layer; each command is a few lines)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from .cli_fake import fake_group
from .cli_operator import check_command, status_command
from .context import lab_state
from .store.connection import is_embedded

weblab_cli = AppGroup(
    "weblab",
    help="WebLab-Deusto related operations: initialize new sessions for development, run "
    "tasks, etc.",
)


@weblab_cli.command("clean-expired-users")
def clean_expired_users() -> None:
    """Dispose every session that is over (one cleaner pass)."""
    _refuse_embedded_store("clean-expired-users")
    count = lab_state().clean_expired()
    if count:
        click.echo(f"Disposed {count} session(s)")


@click.command("clean_expired_users")
@with_appcontext
def clean_expired_users_alias() -> None:
    """Same as ``flask weblab clean-expired-users`` (name from the original docs)."""
    _refuse_embedded_store("clean_expired_users")
    lab_state().clean_expired()


def _refuse_embedded_store(command: str) -> None:
    # A separate process has its own embedded store: the command would find no session.
    if is_embedded(lab_state().settings.redis_url):
        raise click.ClickException(
            f"`flask {command}` needs a store shared between processes: set "
            "WEBLAB_REDIS_URL=redis://... (the embedded store lives inside one process)"
        )


weblab_cli.add_command(status_command)
weblab_cli.add_command(check_command)
weblab_cli.add_command(fake_group)


from .tasks.cli import add_task_commands  # noqa: E402 (needs weblab_cli defined above)

add_task_commands(weblab_cli)


def register_cli(app: Flask) -> None:
    """Add the ``weblab`` command group to ``app.cli``."""
    if "weblab" not in app.cli.commands:
        app.cli.add_command(weblab_cli)
        app.cli.add_command(clean_expired_users_alias)
