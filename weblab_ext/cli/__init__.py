"""``flask weblab ...``: every command of the extension (Flask + click layer).

Commands are thin: each reads the app's state and calls one public method of it.

* :mod:`.operator`: ``status``, ``check``, ``clean-expired-users``;
* :mod:`.devices`: the devices table of ``status`` (``WEBLAB_DEVICES``);
* :mod:`.fake`: ``fake new|status|dispose`` (act as the RLMS);
* :mod:`.tasks`: ``loop`` and ``run-tasks``.
"""

from __future__ import annotations

from flask import Flask
from flask.cli import AppGroup

from .fake import fake_group
from .operator import (
    check_command,
    clean_expired_users_alias,
    clean_expired_users_command,
    status_command,
)
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
    loop_command,
    run_tasks_command,
):
    weblab_cli.add_command(_command)


def register_cli(app: Flask) -> None:
    """Add the ``weblab`` command group to ``app.cli``."""
    if "weblab" not in app.cli.commands:
        app.cli.add_command(weblab_cli)
        app.cli.add_command(clean_expired_users_alias)
