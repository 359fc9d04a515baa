"""The lab user classes: who is on the other side of a request, task or hook.

``CurrentUser`` (session not disposed yet), ``ExpiredUser`` (disposed, kept for
``WEBLAB_EXPIRED_USERS_TIMEOUT``) and ``AnonymousUser`` (no session). Runtime layer: no Flask.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

from ..protocol import is_safe_back_url, session_over
from ..random_ids import create_token
from ..states import SessionState
from ..store.records import SessionRecord
from .userdata import AnonymousData, DataHolder, FrozenData


def safe_back_url(url: str) -> str:
    """``url`` when a browser may be sent there, else ``""``.

    Start requests are checked; this covers records written before that check (an older
    version, another lab on the same store).
    """
    return url if is_safe_back_url(url) else ""


class UserBackend(Protocol):
    """What a user object needs from its lab: persistence, the user loader, the timeout."""

    #: The inactivity timeout in force (``<= 0``: none), read when ``active`` is asked.
    timeout: float

    def store_user_data(self, session_id: str, data_json: str) -> bool: ...

    def load_user_data(self, session_id: str) -> dict[str, Any] | None: ...

    def load_lab_user(self, username_unique: str) -> Any: ...

    def store_session_action(self, session_id: str, action_id: str, action_json: str) -> None: ...

    def clean_session_actions(self, session_id: str) -> None: ...


class WebLabUser:
    """Base class of every lab user."""

    active: bool = False
    is_anonymous: bool = False

    def __str__(self) -> str:  # pragma: no cover - every subclass overrides it
        return self.__class__.__name__


class AnonymousUser(WebLabUser):
    """No lab session: no cookie, an unknown session id, or a record long expired.

    Attributes that only a session has read as ``None`` (``time_left`` reads 0).
    """

    active = False
    is_anonymous = True
    session_id = back = username = username_unique = full_name = None
    locale = experiment_name = category_name = experiment_id = None
    last_poll = max_date = start_date = exited = user = device = None
    time_left = 0.0

    def __init__(self) -> None:
        self.data = AnonymousData()

    def __str__(self) -> str:
        return "Anonymous user"


class _SessionUser(WebLabUser):
    """Attributes shared by current and expired users, read from the stored record."""

    is_anonymous = False

    def __init__(
        self, record: SessionRecord, backend: UserBackend, *, clock: Callable[[], float]
    ) -> None:
        self._record = record
        self._backend = backend
        self._clock = clock

    session_id = property(lambda self: self._record.session_id, doc="The lab session id.")
    back = property(
        lambda self: safe_back_url(self._record.back),
        doc="Where the student goes afterwards (an http(s) URL, or '').",
    )
    last_poll = property(lambda self: self._record.last_poll, doc="Epoch of the last poll.")
    max_date = property(lambda self: self._record.max_date, doc="Epoch of the slot end.")
    start_date = property(lambda self: self._record.start_date, doc="Epoch of the slot start.")
    username = property(lambda self: self._record.username, doc="Login in the RLMS.")
    username_unique = property(lambda self: self._record.username_unique, doc="Unique login.")
    full_name = property(lambda self: self._record.full_name, doc="Full name (may be the login).")
    locale = property(lambda self: self._record.locale, doc="Browser locale, or None.")
    experiment_name = property(lambda self: self._record.experiment_name, doc="Lab name.")
    category_name = property(lambda self: self._record.category_name, doc="Lab category.")
    experiment_id = property(lambda self: self._record.experiment_id, doc="name@category.")
    exited = property(lambda self: self._record.exited, doc="Whether the student logged out.")
    device = property(
        lambda self: self._record.device,
        doc="The device (of ``WEBLAB_DEVICES``) the session holds; '' when none is declared.",
    )

    @property
    def request_client_data(self) -> Mapping[str, Any]:
        """The RLMS's client initial data (read-only copy)."""
        return MappingProxyType(dict(self._record.request_client_data))

    @property
    def request_server_data(self) -> Mapping[str, Any]:
        """The RLMS's server initial data, unknown keys included (read-only copy)."""
        return MappingProxyType(dict(self._record.request_server_data))

    @property
    def time_without_polling(self) -> float:
        """Seconds since the last poll."""
        return self._clock() - self._record.last_poll

    @property
    def user(self) -> Any:
        """What the registered ``user_loader`` returns for ``username_unique`` (or None)."""
        return self._backend.load_lab_user(self._record.username_unique)

    def add_action(self, session_id: str, action: Mapping[str, Any]) -> str:
        """Record an action (a JSON-serialisable dict) for a session; returns its id.

        Kept 24 hours after the last write; a ``ts`` field with the time is added.
        """
        action_id = create_token()
        self.store_action(session_id, action_id, action)
        return action_id

    def store_action(self, session_id: str, action_id: str, action: Mapping[str, Any]) -> None:
        """Write (or overwrite) the action ``action_id`` of a session."""
        payload = {**action, "ts": self._clock()}
        self._backend.store_session_action(session_id, action_id, json.dumps(payload))

    def clean_actions(self, session_id: str) -> None:
        """Forget every action recorded for a session."""
        self._backend.clean_session_actions(session_id)

    @property
    def record(self) -> SessionRecord:
        """The stored record this user was built from."""
        return self._record


class CurrentUser(_SessionUser):
    """A student whose session is not disposed yet (maybe logged out, see ``active``)."""

    def __init__(
        self, record: SessionRecord, backend: UserBackend, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(record, backend, clock=clock)
        # Built on first use: most lab requests never touch the data, and then there is
        # nothing to decode now nor to compare at the end of the request.
        self._data: DataHolder | None = None

    @property
    def active(self) -> bool:  # type: ignore[override]
        """True until the student logs out, the slot ends or the inactivity timeout passes."""
        record = self._record
        return record.state == SessionState.ACTIVE and not session_over(
            max_date=record.max_date,
            last_poll=record.last_poll,
            now=self._clock(),
            timeout=self._backend.timeout,
        )

    @property
    def time_left(self) -> float:
        """Seconds until the slot ends (0 when over)."""
        return max(0.0, self._record.max_date - self._clock())

    @property
    def data(self) -> DataHolder:
        """The session's data: a dict saved at the end of the request that changed it."""
        if self._data is None:
            record, backend = self._record, self._backend
            sid = record.session_id
            self._data = DataHolder(
                json.loads(record.data_json),
                saver=lambda text: backend.store_user_data(sid, text),
                loader=lambda: backend.load_user_data(sid),
                baseline=record.data_json,
            )
        return self._data

    @data.setter
    def data(self, value: Mapping[str, Any]) -> None:
        self._data = self.data.replaced_by(dict(value))

    def store_data_if_modified(self) -> bool:
        """Store ``data`` if it was read and changed since; returns whether it wrote."""
        return self._data is not None and self._data.store_if_modified()

    def update_data(self, new_data: Mapping[str, Any] | None = None) -> None:
        """Deprecated: assign ``data`` and call ``data.store()`` instead."""
        warnings.warn(
            "update_data() is deprecated: use weblab_user.data.store()",
            DeprecationWarning,
            stacklevel=2,
        )
        if new_data is not None:
            self.data = new_data
        self.data.store()

    def to_expired_user(self) -> ExpiredUser:
        """An :class:`ExpiredUser` view of this user, still disposing resources."""
        record = _replace_state(self._record, SessionState.DISPOSING)
        return ExpiredUser(record, self._backend, clock=self._clock)

    def __str__(self) -> str:
        return (
            f"Current user (id: {self.session_id!r}): {self.username!r} "
            f"({self.username_unique!r}), last poll: {self.time_without_polling:.2f} seconds "
            f"ago. Max date in {self._record.max_date - self._clock():.2f} seconds. "
            f"Redirecting to {self.back!r}"
        )


class ExpiredUser(_SessionUser):
    """A student whose session was disposed; readable until the record expires."""

    active = False
    time_left = 0.0

    def __init__(
        self, record: SessionRecord, backend: UserBackend, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(record, backend, clock=clock)
        self._data = FrozenData(json.loads(record.data_json))

    @property
    def disposing_resources(self) -> bool:
        """True while ``on_dispose`` and the session's task clean-up are running."""
        return self._record.state == SessionState.DISPOSING

    @property
    def data(self) -> FrozenData:
        """The session's final data (read-only)."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        raise NotImplementedError("The session is over: its data can no longer be changed")

    def update_data(self, new_data: Any = None) -> None:
        """Always refused: the session is over."""
        raise NotImplementedError("The session is over: its data can no longer be changed")

    def __str__(self) -> str:
        return (
            f"Expired user (id: {self.session_id!r}): {self.username!r} "
            f"({self.username_unique!r}). Max date in "
            f"{self._record.max_date - self._clock():.2f} seconds. Redirecting to {self.back!r}"
        )


def _replace_state(record: SessionRecord, state: str) -> SessionRecord:
    return dataclasses.replace(record, state=state)


def user_from_record(
    record: SessionRecord | None, backend: UserBackend, *, clock: Callable[[], float] = time.time
) -> WebLabUser:
    """The right user class for a stored record (or its absence)."""
    if record is None:
        return AnonymousUser()
    if record.is_current:
        return CurrentUser(record, backend, clock=clock)
    return ExpiredUser(record, backend, clock=clock)
