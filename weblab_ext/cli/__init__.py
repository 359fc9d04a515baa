"""``flask weblab ...``: every command of the extension (Flask + click layer).

Commands are thin: each reads the app's state and calls one public method of it;

* :mod:`.status`: ``status`` (sessions by state, tasks, workers);
* :mod:`.check`: ``check`` (the configuration and the store);
* :mod:`.clean`: ``clean-expired-users`` (and its old name ``clean_expired_users``);
* :mod:`.devices`: the devices table of ``status`` (``WEBLAB_DEVICES``);
* :mod:`.device_commands`: ``devices [reset NAME]`` and ``maintenance on|off``;
* :mod:`.fake`: ``fake new|status|dispose`` (act as the RLMS);
* :mod:`.fake_client`: the RLMS client and options those commands share;
* :mod:`.tasks`: ``loop`` and ``run-tasks``;
* :mod:`.embedded_store`: what commands say about the embedded store;
* :mod:`.records`: ``export`` (the session records as JSON Lines, CSV or xAPI).
"""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from ..config import secrets
from ..errors import InvalidConfigError
from .check import check_command
from .clean import clean_expired_users_alias, clean_expired_users_command
from .device_commands import devices_group, maintenance_command
from .fake import fake_group
from .records import export_command
from .status import status_command
from .tasks import loop_command, run_tasks_command

weblab_cli = AppGroup(
    "weblab",
    help="WebLab-Deusto related operations: initialize new sessions for development, run "
    "tasks, etc.",
)
for _command in (
    status_command,
    check_command,
    clean_expired_users_command,
    fake_group,
    devices_group,
    maintenance_command,
    loop_command,
    run_tasks_command,
    export_command,
):
    weblab_cli.add_command(_command)


class ConfigRefusal(InvalidConfigError, click.ClickException):
    """What :func:`weblab_ext.config.require_secrets` raises: an :class:`InvalidConfigError`
    that the ``flask`` command, which imports the lab before running any command, prints
    as one line (``Error: Refusing to start ...``, exit status 1) instead of a traceback."""

    def __init__(self, message: str) -> None:
        click.ClickException.__init__(self, message)


secrets.refusal_error = ConfigRefusal


def checking_the_lab() -> bool:
    """Whether this process is ``flask ... weblab check``, which reports weak secrets itself
    (``init_app`` then does not log them too)."""
    args = sys.argv[1:]
    return any(args[i : i + 2] == ["weblab", "check"] for i in range(len(args)))


def register_cli(app: Flask) -> None:
    """Add the ``weblab`` command group to ``app.cli``."""
    if "weblab" not in app.cli.commands:
        app.cli.add_command(weblab_cli)
        app.cli.add_command(clean_expired_users_alias)
