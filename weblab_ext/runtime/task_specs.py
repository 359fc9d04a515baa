"""A declared task (``@weblab.task``): its name, function, uniqueness and whether its
arguments are recorded, and the error a duplicate run of a unique task gets.

Runtime layer: what the task engine needs of a declaration, nothing of Flask.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

#: What ``unique=`` accepts: not unique, one run in the lab (per device on a pool), one run
#: per session, one run across the whole pool.
UNIQUE_VALUES = (None, "global", "user", "pool")


def already_running_message(name: str) -> str:
    """The message of a duplicate run of a unique task."""
    return (
        f"This task ({name}) has been sent in parallel and it is still running; it is "
        "declared unique, so wait for it to finish (or stop it) first"
    )


def duplicate_error(name: str) -> dict[str, str]:
    """The error stored on a duplicate run of a unique task (as a task's ``error``)."""
    return {
        "code": "exception",
        "class": "AlreadyRunningError",
        "message": already_running_message(name),
    }


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """A declared task: what the engine needs to queue and run it."""

    name: str
    func: Callable[..., Any]
    unique: str | None = None  #: ``None``, ``'global'``, ``'user'`` or ``'pool'``.
    raise_on_duplicate: bool = False
    #: Record the arguments in the session record's ``task_submitted`` events.
    record_arguments: bool = False
