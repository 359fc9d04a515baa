"""SessionStore: every Redis operation on lab sessions, each one round trip.

A session is one hash (see :mod:`.keys`) in one of four states::

    active ──logout──► exited ──┐
       └────────────────────────┴──begin_dispose──► disposing ──finish_dispose──► disposed

plus two sorted sets indexing the undisposed sessions by slot end and by last poll, so the
cleaner reads only what is due, whatever the number of active sessions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from . import session_scripts as scripts
from .keys import Keys
from .locks import Lock
from .pubsub import Subscription
from .records import SessionRecord, StatusFields, pairs_to_dict

#: Seconds an undisposed session hash outlives its slot, so a lab whose cleaner is down for a
#: while still finds (and disposes) its sessions instead of losing them silently.
ACTIVE_GRACE = 3600
#: Longest lifetime given to a session hash (ten years): Redis refuses larger expiries.
MAX_TTL = 10 * 365 * 24 * 3600
#: Seconds a ``disposing`` record may stay so before Redis drops it (a disposer that died).
DISPOSING_TTL = 3600

#: Seconds the actions of a session (``add_action``) are kept after their last write.
ACTIONS_TTL = 24 * 3600

class SessionStore:
    """Redis operations on the sessions of one lab.

    :param client: a redis-py client with ``decode_responses=True``.
    :param keys: the key builder of the lab.
    """

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._start = client.register_script(scripts.START)
        self._touch = client.register_script(scripts.TOUCH)
        self._logout = client.register_script(scripts.LOGOUT)
        self._launch = client.register_script(scripts.LAUNCH)
        self._store_data = client.register_script(scripts.STORE_DATA)
        self._begin_dispose = client.register_script(scripts.BEGIN_DISPOSE)
        self._finish_dispose = client.register_script(scripts.FINISH_DISPOSE)
        self.cleaner_lock = Lock(client, keys.cleaner_lock())

    def _index_keys(self) -> list[str]:
        return [self.keys.sessions_by_deadline(), self.keys.sessions_by_poll()]

    def create(self, record: SessionRecord, *, now: float) -> bool:
        """Store a new active session; ``False`` if its id is already taken."""
        # Capped: an absurd slot (1e300 s) must not make EXPIRE fail with an out-of-range error.
        ttl = max(1, int(min(record.max_date - now, MAX_TTL))) + ACTIVE_GRACE
        argv: list[Any] = [record.session_id, ttl, repr(record.max_date), repr(record.last_poll)]
        for name, value in record.to_hash().items():
            argv.extend((name, value))
        keys = [self.keys.session(record.session_id), *self._index_keys()]
        return bool(self._start(keys=keys, args=argv))

    def touch(self, session_id: str, *, now: float, poll: bool, timeout: float
              ) -> SessionRecord | None:
        """Read a session and, with ``poll``, record a poll if it is active. One round trip.

        :param timeout: the inactivity timeout (``<= 0``: none); a session silent for longer,
            or past its slot, is over and its poll is not recorded.
        """
        keys = [self.keys.session(session_id), self.keys.sessions_by_poll()]
        flat = self._touch(keys=keys, args=[session_id, repr(now), int(poll), 1, repr(timeout)])
        if not flat:
            return None
        return SessionRecord.from_hash(session_id, pairs_to_dict(flat))

    def poll(self, session_id: str, *, now: float, timeout: float) -> bool:
        """Record a poll of an active session not past its deadline (see :meth:`touch`);
        ``False`` if the session does not exist."""
        keys = [self.keys.session(session_id), self.keys.sessions_by_poll()]
        return bool(self._touch(keys=keys, args=[session_id, repr(now), 1, 0, repr(timeout)]))

    def load(self, session_id: str) -> SessionRecord | None:
        """Read a session without side effects."""
        raw: dict[str, str] = self.client.hgetall(self.keys.session(session_id))  # type: ignore[assignment]
        if not raw:
            return None
        return SessionRecord.from_hash(session_id, raw)

    def launch(self, session_id: str, *, mark_used: bool) -> bool | None:
        """Whether a session exists and its launch URL was unused (then, with ``mark_used``,
        it is marked used). One round trip, atomic: one caller only gets ``True``.

        :returns: ``None`` for an unknown session, ``True`` for the first use (always, without
            ``mark_used``), ``False`` when the launch URL was used before.
        """
        result = int(self._launch(keys=[self.keys.session(session_id)], args=[int(mark_used)]))
        return None if result < 0 else bool(result)

    def logout(self, session_id: str) -> bool:
        """Mark an active session as exited and due for disposal."""
        keys = [self.keys.session(session_id), self.keys.sessions_by_deadline()]
        return bool(self._logout(keys=keys, args=[session_id]))

    def store_data(self, session_id: str, data_json: str) -> int | None:
        """Write the user data; returns the new version, or ``None`` if the session is gone."""
        version = self._store_data(keys=[self.keys.session(session_id)], args=[data_json])
        return int(version) if version else None

    def status_fields(self, session_ids: Iterable[str]) -> list[StatusFields]:
        """Read what the status call needs for many sessions in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for session_id in session_ids:
            pipe.hmget(self.keys.session(session_id), "state", "max_date", "last_poll")
        result = []
        for state, max_date, last_poll in pipe.execute():
            result.append(
                StatusFields(
                    state=state,
                    max_date=float(max_date) if max_date is not None else None,
                    last_poll=float(last_poll) if last_poll is not None else None,
                )
            )
        return result

    def mark_once(self, session_id: str, flag: str) -> bool:
        """Set a one-shot flag on a session; ``True`` only for the first caller."""
        return bool(self.client.hsetnx(self.keys.session(session_id), f"flag:{flag}", "1"))

    def begin_dispose(
        self, session_id: str, *, now: float, timeout: float, only_if_due: bool
    ) -> tuple[str, SessionRecord | None]:
        """Move a session to ``disposing``; the outcome ``"won"`` is given to one caller only.

        :returns: ``(outcome, record)``: outcome is ``won``, ``not-due``, ``disposing``,
            ``disposed`` or ``missing``; the record is the one read before the transition.
        """
        keys = [self.keys.session(session_id), *self._index_keys()]
        args: list[str | int] = [
            session_id, repr(now), repr(timeout), int(only_if_due), DISPOSING_TTL
        ]
        flat = self._begin_dispose(keys=keys, args=args)
        outcome = flat[0]
        if len(flat) == 1:
            return outcome, None
        return outcome, SessionRecord.from_hash(session_id, pairs_to_dict(flat[1:]))

    def finish_dispose(self, session_id: str, *, expired_ttl: float) -> bool:
        """End a disposal; the record then reads as an expired user for ``expired_ttl`` s."""
        keys = [self.keys.session(session_id)]
        return bool(self._finish_dispose(keys=keys, args=[max(1, int(expired_ttl))]))

    def due_sessions(self, *, now: float, timeout: float, limit: int = 200) -> list[str]:
        """Ids of undisposed sessions past their slot, logged out, or silent for ``timeout``.

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

    def count_active(self) -> int:
        """Number of undisposed sessions."""
        return int(self.client.zcard(self.keys.sessions_by_deadline()))

    def active_session_ids(self, limit: int = 1000) -> list[str]:
        """Undisposed session ids, soonest slot end first (for operators' status views)."""
        ids: list[str] = self.client.zrange(  # type: ignore[assignment]
            self.keys.sessions_by_deadline(), 0, limit - 1
        )
        return list(ids)

    def store_action(self, session_id: str, action_id: str, action_json: str) -> None:
        """Write one action of a session; the actions hash lives 24 h after its last write."""
        key = self.keys.session_actions(session_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, action_id, action_json)
        pipe.expire(key, ACTIONS_TTL)
        pipe.execute()

    def clean_actions(self, session_id: str) -> None:
        """Forget every action of a session."""
        self.client.delete(self.keys.session_actions(session_id))

    def publish_session_event(self, payload: Mapping[str, Any]) -> None:
        """Tell push layers (Socket.IO) that something happened to a session."""
        self.client.publish(self.keys.session_events(), json.dumps(payload))

    def subscribe_events(self, *, task_progress: bool = False) -> Subscription:
        """Listen to the session events :meth:`publish_session_event` sends.

        :param task_progress: also the task progress and completion events (push layers).
        """
        channels = [self.keys.session_events()]
        if task_progress:
            channels.append(self.keys.task_progress())
        return Subscription(self.client, channels)
