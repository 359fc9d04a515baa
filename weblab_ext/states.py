"""The states of a session and the statuses of a task (a base module).

``str`` enums, as RQ's ``JobStatus``: each member *is* the string stored in Redis, so records
read back as plain strings compare equal to the members, and the Lua scripts keep their
literal strings.
"""

from __future__ import annotations

import enum


class _StoredName(str, enum.Enum):
    # A member behaves as its string everywhere: printed, formatted, hashed (a set of plain
    # strings finds a member and the other way round).
    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        return str.__format__(self, format_spec)

    def __hash__(self) -> int:
        return str.__hash__(self)


class SessionState(_StoredName):
    """Where a session is in its life: ``active`` → ``exited`` (logged out) → ``disposing``
    (``on_dispose`` running) → ``disposed``."""

    ACTIVE = "active"
    EXITED = "exited"
    DISPOSING = "disposing"
    DISPOSED = "disposed"


class TaskStatus(_StoredName):
    """Where a task is in its life: ``submitted`` → ``running`` → ``done`` or ``failed``."""

    SUBMITTED = "submitted"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class DeviceState(_StoredName):
    """Where a declared device is (``WEBLAB_DEVICES``): ``idle`` → ``starting`` (a start was
    accepted) → ``in-use`` (``on_start`` returned) → ``cleaning`` (disposing) → ``idle`` once
    the clean-up finished; ``broken`` (with a reason) until a reset returns. ``maintenance``
    is an operator's flag over any of them."""

    IDLE = "idle"
    STARTING = "starting"
    IN_USE = "in-use"
    CLEANING = "cleaning"
    BROKEN = "broken"
    MAINTENANCE = "maintenance"
