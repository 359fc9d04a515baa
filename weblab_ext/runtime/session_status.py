"""The RLMS's status calls of the session service: one session, or many at once. Each
call is counted in the session's record in the round trip that reads the session (see
:mod:`weblab_ext.store.record_calls`).

A mixin of :class:`~weblab_ext.runtime.sessions.SessionService`, kept apart because the status
calls only read (the hot RLMS path) while the rest of the service changes sessions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from ..protocol import should_finish, should_finish_many
from ..states import SessionState
from ..store.records import StatusFields, StatusRow
from ..store.sessions import SessionStore
from .journal import SessionJournal
from .lifecycle_log import SOURCE_STATUS, LifecycleLog

#: How many ids of a status/multiple call are read per round trip when a time limit is set.
MULTIPLE_STATUS_CHUNK = 1000


class SessionStatus:
    """``should_finish`` of one session or many, as the RLMS asks it."""

    store: SessionStore
    lifecycle: LifecycleLog
    journal: SessionJournal
    clock: Callable[[], float]
    timeout: float
    poll_interval: float

    def _now(self, now: float | None) -> float:
        return self.clock() if now is None else now

    def should_finish(self, fields: StatusFields, now: float) -> int:
        """The ``should_finish`` value of a session's status fields."""
        return should_finish(
            state=fields.state,
            max_date=fields.max_date,
            last_poll=fields.last_poll,
            now=now,
            timeout=self.timeout,
            poll_interval=self.poll_interval,
        )

    def status(self, session_id: str, *, now: float | None = None) -> int:
        """The RLMS status of one session; logs its expiry once when it is over."""
        now = self._now(now)
        return self.status_of(session_id, self.status_fields(session_id, now=now), now=now)

    def status_fields(
        self,
        session_id: str,
        *,
        now: float,
        device: str = "",
        plain: Callable[[str], StatusFields] | None = None,
    ) -> StatusFields:
        """Read a session's status fields for an RLMS status call, which the session's
        record counts (when records are on) in the same round trip.

        :param device: the device asking (``""``: the lab's own status call).
        :param plain: reads the fields when records are off (default: the session store's).
        """
        if self.journal.enabled:
            return self.journal.status(session_id, now=now, timeout=self.timeout, device=device)
        return (plain or self.store.status_fields)(session_id)

    def status_of(self, session_id: str, fields: StatusFields, *, now: float | None = None) -> int:
        """The RLMS status of a session whose status ``fields`` were read (see :meth:`status`)."""
        now = self._now(now)
        value = self.should_finish(fields, now)
        if (
            value < 0
            and fields.state in (SessionState.ACTIVE, SessionState.EXITED)
            and self.lifecycle.enabled
        ):
            self._log_expiry_once(session_id, now)
        return value

    def _log_expiry_once(self, session_id: str, now: float) -> None:
        if not self.store.mark_once(session_id, "expiry-logged"):
            return
        record = self.store.load(session_id)
        if record is not None:
            self.lifecycle.session_event(
                "expiry_detected", record, source=SOURCE_STATUS, now=now, timeout=self.timeout
            )

    def status_many(
        self,
        session_ids: Sequence[str],
        *,
        time_limit: float | None = None,
        rows: Callable[[Sequence[str]], Iterable[StatusRow]] | None = None,
        device: str = "",
    ) -> dict[str, int]:
        """The RLMS status of many sessions, one round trip per chunk of ids; each session's
        record counts the call (when records are on) in the same round trip.

        :param time_limit: seconds after which the ids not read yet are left out.
        :param rows: reads the status rows of a chunk when records are off (default: the
            session store's; a device's reads other devices' sessions as unknown).
        :param device: the device asking (``""``: the lab's own status call).
        """
        plain = rows or self.store.status_rows
        journal, timeout = self.journal, self.timeout

        def read(chunk: Sequence[str], now: float) -> Iterable[StatusRow]:
            if journal.enabled:
                return journal.status_rows(chunk, now=now, timeout=timeout, device=device)
            return plain(chunk)

        started = time.monotonic()
        result: dict[str, int] = {}
        # Without a time limit all ids go in one round trip; with one, in chunks between checks.
        step = MULTIPLE_STATUS_CHUNK if time_limit else max(1, len(session_ids))
        for first in range(0, len(session_ids), step):
            chunk = session_ids[first : first + step]
            now = self.clock()
            values = should_finish_many(
                read(chunk, now),
                now=now,
                timeout=self.timeout,
                poll_interval=self.poll_interval,
            )
            result.update(zip(chunk, values, strict=True))
            if time_limit and time.monotonic() - started > time_limit:
                break
        return result
