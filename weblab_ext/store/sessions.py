"""SessionStore: every Redis operation on lab sessions, each one round trip.

A session is one hash (see :mod:`.keys`) in one of four states::

    active ──logout──► exited ──┐
       └────────────────────────┴──begin_dispose──► disposing ──finish_dispose──► disposed

plus two sorted sets indexing the undisposed sessions by slot end and by last poll, so the
cleaner reads only what is due, whatever the number of active sessions. ``begin_dispose``
(one session) and ``claim_due`` (the cleaner's batches) both move sessions to
``disposing``; a disposal left unfinished for :data:`ABANDONED_SECONDS` becomes due again.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from . import session_scripts as scripts
from .connection import StoreClient
from .hot_path import DirectCommands
from .keys import Keys
from .pubsub import Subscription, publish, register_script
from .records import SessionRecord, StatusFields, StatusRow, status_rows_from_packed

#: Seconds an undisposed session hash outlives its slot, so a lab whose cleaner is down for a
#: while still finds (and disposes) its sessions instead of losing them silently.
ACTIVE_GRACE = 3600
#: Longest lifetime given to a session hash (ten years): Redis refuses larger expiries.
MAX_TTL = 10 * 365 * 24 * 3600
#: Seconds a ``disposing`` record may stay so before Redis drops it (a disposer that died).
DISPOSING_TTL = 3600

#: Seconds after which a disposal still ``disposing`` counts as abandoned (its disposer
#: died): the cleaner then finishes it. Shorter than :data:`DISPOSING_TTL`.
ABANDONED_SECONDS = 600

#: Seconds the actions of a session (``add_action``) are kept after their last write.
ACTIONS_TTL = 24 * 3600


@dataclasses.dataclass(frozen=True)
class Claimed:
    """A session a cleaner claimed: it alone disposes it.

    ``abandoned`` marks a disposal whose disposer died (only finish it); ``has_tasks`` tells
    whether the session ever had tasks to stop.
    """

    record: SessionRecord
    abandoned: bool
    has_tasks: bool


class SessionStore:
    """Redis operations on the sessions of one lab.

    :param client: a redis-py client with ``decode_responses=True``.
    :param keys: the key builder of the lab.
    """

    def __init__(self, client: StoreClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        script = functools.partial(register_script, client)
        self._start = script(scripts.START)
        self._touch = script(scripts.TOUCH)
        self._logout = script(scripts.LOGOUT)
        self._close = script(scripts.CLOSE)
        self._flag_once = script(scripts.FLAG_ONCE)
        self._launch = script(scripts.LAUNCH)
        self._store_data = script(scripts.STORE_DATA)
        self._status_many = script(scripts.STATUS_MANY)
        self._begin_dispose = script(scripts.BEGIN_DISPOSE)
        self._claim_due = script(scripts.CLAIM_DUE)
        self._finish_dispose = script(scripts.FINISH_DISPOSE)
        self._store_action = script(scripts.STORE_ACTION)
        # The commands of lab requests and RLMS start and status calls skip redis-py's
        # per-command machinery (see direct.py).
        self._direct = DirectCommands(client)
        # Built once: the hot path formats keys with a bound method, not a call chain.
        self._session_key = keys.session_prefix().__add__
        self._session_prefix = keys.session_prefix().encode()
        self._poll_index = keys.sessions_by_poll()

    def _index_keys(self) -> list[str]:
        return [self.keys.sessions_by_deadline(), self.keys.sessions_by_poll()]

    def close(self) -> None:
        """Close the connections this store keeps outside the client's pool."""
        self._direct.close()

    def create(self, record: SessionRecord, *, now: float) -> bool:
        """Store a new active session; ``False`` if its id is already taken."""
        # Capped: an absurd slot (1e300 s) must not make EXPIRE fail with an out-of-range error.
        ttl = max(1, int(min(record.max_date - now, MAX_TTL))) + ACTIVE_GRACE
        argv: list[Any] = [record.session_id, ttl, repr(record.max_date), repr(record.last_poll)]
        for name, value in record.to_hash().items():
            argv.extend((name, value))
        keys = [self.keys.session(record.session_id), *self._index_keys()]
        return bool(self._direct.script(self._start, keys, argv))

    def touch(
        self, session_id: str, *, now: float, poll: bool, timeout: float
    ) -> SessionRecord | None:
        """Read a session and, with ``poll``, record a poll if it is active. One round trip.

        :param timeout: the inactivity timeout (``<= 0``: none); a session silent for longer,
            or past its slot, is over and its poll is not recorded.
        """
        packed = self._direct.script(
            self._touch,
            [self._session_key(session_id), self._poll_index],
            [session_id, repr(now), 1 if poll else 0, 1, repr(timeout)],
        )
        return SessionRecord.from_packed(session_id, packed) if packed else None

    def poll(self, session_id: str, *, now: float, timeout: float) -> bool:
        """Record a poll of an active session not past its deadline (see :meth:`touch`);
        ``False`` if the session does not exist."""
        keys = [self._session_key(session_id), self._poll_index]
        return bool(
            self._direct.script(self._touch, keys, [session_id, repr(now), 1, 0, repr(timeout)])
        )

    def load(self, session_id: str) -> SessionRecord | None:
        """Read a session without side effects."""
        raw: dict[str, str] = self.client.hgetall(self.keys.session(session_id))  # type: ignore[assignment]
        if not raw:
            return None
        return SessionRecord.from_hash(session_id, raw)

    def launch(self, session_id: str, *, holder: str = "") -> str | None:
        """Who holds a session's launch URL; when nobody does yet, record ``holder``. One
        round trip, atomic: of browsers racing on one URL, one only finds it unused.

        :param holder: what names the browser following the URL (``""``: only look).
        :returns: ``None`` for an unknown session, ``""`` when the URL was unused (and is now
            held by ``holder``, if given), else the holder recorded first (``"1"`` for
            records of older versions, which did not say who).
        """
        result = self._launch(keys=[self.keys.session(session_id)], args=[holder])
        return None if result is None else str(result)

    def _set_flag(self, session_id: str, field: str) -> int:
        return int(self._flag_once(keys=[self.keys.session(session_id)], args=[field]))

    def logout(self, session_id: str) -> bool:
        """Mark an active session as exited and due for disposal."""
        keys = [self.keys.session(session_id), self.keys.sessions_by_deadline()]
        return bool(self._logout(keys=keys, args=[session_id]))

    def page_closed(self, session_id: str, *, now: float, timeout: float, grace: float) -> bool:
        """Let an active session end ``grace`` seconds from ``now`` unless it is polled
        first (see ``CLOSE``); ``False`` when it is not active. Needs ``timeout > 0``."""
        keys = [self._session_key(session_id), self._poll_index]
        return bool(self._close(keys=keys, args=[session_id, repr(now - timeout + grace)]))

    def store_data(self, session_id: str, data_json: str) -> int | None:
        """Write the user data; returns the new version, or ``None`` if the session is gone."""
        version = self._direct.script(
            self._store_data, [self._session_key(session_id)], [data_json]
        )
        return int(version) if version else None

    def status_fields(self, session_id: str) -> StatusFields:
        """Read what the status call needs of one session. One round trip."""
        state, max_date, last_poll = self._direct.command(
            "HMGET", self._session_key(session_id), "state", "max_date", "last_poll"
        )
        return StatusFields(
            str(state) if state else None,
            float(max_date) if max_date else None,
            float(last_poll) if last_poll else None,
        )

    def status_rows(self, session_ids: Sequence[str]) -> Iterator[StatusRow]:
        """Read what the status call needs of many sessions, in order. One round trip.

        One script that answers one string: parsing 1,000 three-field replies in redis-py
        costs ten times the round trip.
        """
        if not session_ids:
            return iter(())
        prefix = self._session_prefix
        # Keys as bytes: packing 10,000 of them then costs one join.
        packed = self._direct.script(
            self._status_many, [prefix + sid.encode() for sid in session_ids], []
        )
        return status_rows_from_packed(packed)

    def mark_once(self, session_id: str, flag: str) -> bool:
        """Set a one-shot flag on a session; ``True`` only for the first caller, and
        ``False`` once the session's record is gone (it is never re-created)."""
        return self._set_flag(session_id, f"flag:{flag}") == 1

    def begin_dispose(
        self, session_id: str, *, now: float, timeout: float, only_if_due: bool
    ) -> tuple[str, SessionRecord | None]:
        """Move a session to ``disposing``; the outcome ``"won"`` is given to one caller only.

        :returns: ``(outcome, record)``: outcome is ``won``, ``not-due``, ``disposing``,
            ``disposed`` or ``missing``; the record is the one read before the transition.
        """
        keys = [self.keys.session(session_id), *self._index_keys()]
        args: list[str | int] = [
            session_id,
            repr(now),
            repr(timeout),
            int(only_if_due),
            DISPOSING_TTL,
            ABANDONED_SECONDS,
        ]
        reply = self._begin_dispose(keys=keys, args=args)
        if len(reply) == 1:
            return reply[0], None
        return reply[0], SessionRecord.from_packed(session_id, reply[1])

    def claim_due(self, session_ids: Sequence[str], *, now: float, timeout: float) -> list[Claimed]:
        """Claim those of ``session_ids`` that are due, for this caller alone. One round trip.

        Claimed sessions are ``disposing`` when this returns: another cleaner skips them.
        """
        if not session_ids:
            return []
        keys = self._index_keys()
        for session_id in session_ids:
            keys += (self.keys.session(session_id), self.keys.session_tasks(session_id))
        args: list[Any] = [repr(now), repr(timeout), DISPOSING_TTL, ABANDONED_SECONDS, *session_ids]
        flat = self._claim_due(keys=keys, args=args)
        return [
            Claimed(SessionRecord.from_packed(sid, packed), kind == "abandoned", tasks == "1")
            for kind, sid, packed, tasks in zip(
                flat[0::4], flat[1::4], flat[2::4], flat[3::4], strict=True
            )
        ]

    def finish_dispose(self, session_id: str, *, expired_ttl: float, back: str | None) -> bool:
        """End a disposal and tell push layers; the record then reads as an expired user for
        ``expired_ttl`` s. ``False`` when the session was not disposing."""
        event = json.dumps({"session_id": session_id, "event": "disposed", "back": back})
        return bool(
            self._finish_dispose(
                keys=[self.keys.session(session_id), self.keys.sessions_by_deadline()],
                args=[max(1, int(expired_ttl)), session_id, self.keys.session_events(), event],
            )
        )

    def due_sessions(self, *, now: float, timeout: float, limit: int = 200) -> list[str]:
        """Ids of undisposed sessions past their slot, logged out, or silent for ``timeout``
        (and disposals in progress for longer than :data:`ABANDONED_SECONDS`).

        One round trip, O(log N + k): only the due ends of the two indexes are read.
        """
        pipe = self.client.pipeline(transaction=False)
        pipe.zrangebyscore(self.keys.sessions_by_deadline(), "-inf", now, start=0, num=limit)
        if timeout > 0:
            pipe.zrangebyscore(
                self.keys.sessions_by_poll(), "-inf", now - timeout, start=0, num=limit
            )
        due: dict[str, None] = {}
        for ids in pipe.execute():
            due.update(dict.fromkeys(ids))
        return list(due)

    def ping(self) -> bool:
        """Whether the store answers (health checks)."""
        return bool(self.client.ping())

    def store_action(self, session_id: str, action_id: str, action_json: str) -> None:
        """Write one action of a session; the actions hash lives 24 h after its last write."""
        self._store_action(
            keys=[self.keys.session_actions(session_id)], args=[action_id, action_json, ACTIONS_TTL]
        )

    def clean_actions(self, session_id: str) -> None:
        """Forget every action of a session."""
        self.client.delete(self.keys.session_actions(session_id))

    def publish_session_event(self, payload: Mapping[str, Any]) -> None:
        """Tell push layers (Socket.IO) that something happened to a session."""
        publish(self.client, self.keys.session_events(), json.dumps(payload))

    def subscribe_events(self, *, task_progress: bool = False) -> Subscription:
        """Listen to the session events :meth:`publish_session_event` sends.

        :param task_progress: also the task progress and completion events (push layers).
        """
        channels = [self.keys.session_events()]
        if task_progress:
            channels.append(self.keys.task_progress())
        return Subscription(self.client, channels)
