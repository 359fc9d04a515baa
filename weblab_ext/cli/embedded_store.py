"""What a command says or does about the embedded store, which lives inside one process
(``WEBLAB_REDIS_URL`` unset): a separate ``flask weblab`` process cannot see the lab's."""

from __future__ import annotations

import click

from ..app_state import LabState
from ..config import redis_url_advice


def refuse_embedded(state: LabState) -> None:
    """Stop a command that needs a store shared between processes when the store is embedded.

    :raises click.ClickException: on the embedded store, naming the command as typed.
    """
    # A separate process has its own embedded store: the command would find nothing.
    if state.operator.store_is_embedded:
        command = click.get_current_context().command_path
        raise click.ClickException(
            f"`{command}` needs a store shared with the lab's web processes, but this lab "
            f"uses the embedded store, which lives inside one process: "
            f"{redis_url_advice()}"
        )


def embedded_note(state: LabState, *, err: bool = False) -> None:
    """Say that this command sees only its own embedded store (``WEBLAB_REDIS_URL`` unset).

    :param err: say it on stderr (a command whose stdout is data).
    """
    if state.embedded_by_default:
        click.echo(
            "Note: this lab uses the embedded store, which lives inside each process: "
            "this command sees its own (empty) store, not the one of `flask run`. "
            f"To share one: {redis_url_advice()}.",
            err=err,
        )
