"""The lab's registered callbacks, in one typed object.

``WebLab`` fills it through its decorators (``@weblab.on_start``...), before or after
``init_app``; the per-app state and the session service read it at call time, so a callback
registered late is still seen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

#: ``on_start(client_data, server_data)``: may return a dict that becomes the user's data.
OnStart = Callable[[Any, Any], Any]
#: ``on_dispose()``: runs once per session, as that session's user.
OnDispose = Callable[[], Any]
#: ``initial_url()``: where a student lands after the launch URL.
InitialUrl = Callable[[], str]
#: ``user_loader(username_unique)``: what ``weblab_user.user`` returns.
UserLoader = Callable[[str], Any]
#: ``unauthorized()``: the view anonymous students get instead of the default page.
Unauthorized = Callable[[], Any]
#: ``on_reset(device)``: brings a declared device to its safe state with no session.
OnReset = Callable[[str], Any]
#: ``check()`` or ``check(device)``: a hardware check of ``GET /weblab/health``; true when
#: the part is fine.
HealthCheck = Callable[..., Any]


@dataclasses.dataclass
class LabCallbacks:
    """What a lab registered. ``None`` means "not registered"."""

    on_start: OnStart | None = None
    on_dispose: OnDispose | None = None
    initial_url: InitialUrl | None = None
    user_loader: UserLoader | None = None
    unauthorized: Unauthorized | None = None
    on_reset: OnReset | None = None
    #: ``on_record(session, event)`` hooks, in registration order.
    record_hooks: list[Callable[[str, dict[str, Any]], Any]] = dataclasses.field(
        default_factory=list
    )
    #: ``(name, check)`` pairs, in registration order.
    health_checks: list[tuple[str, HealthCheck]] = dataclasses.field(default_factory=list)
    #: Names of the checks the background checks run on a device in use too.
    busy_checks: set[str] = dataclasses.field(default_factory=set)

    def add_health_check(self, name: str, check: HealthCheck, *, while_busy: bool = False) -> None:
        """Add a health check (``while_busy``: the background checks run it on a device in
        use too).

        :raises ValueError: when a check of that name exists (reports name checks by it).
        """
        if name == "store" or any(known == name for known, _ in self.health_checks):
            raise ValueError(f"A health check named {name!r} has already been registered")
        self.health_checks.append((name, check))
        if while_busy:
            self.busy_checks.add(name)

    def register(self, name: str, func: Any, *, message: str) -> None:
        """Set a callback once.

        :param name: the field (``on_start``...).
        :param message: the ``ValueError`` message when it is already set.
        :raises ValueError: when the callback was registered before.
        """
        if getattr(self, name) is not None:
            raise ValueError(message)
        setattr(self, name, func)
