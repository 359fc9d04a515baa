"""The lab's published events, for listeners above the runtime (the Socket.IO push).

Runtime layer. Session endings and task progress are published on the lab's channels (see
:mod:`weblab_ext.store.keys`); a listener subscribes here and asks which kind each message is,
without knowing the channel names or holding a store client.
"""

from __future__ import annotations

from ..store.keys import Keys
from ..store.pubsub import Subscription as Subscription
from ..store.sessions import SessionStore


class LabEvents:
    """Subscriptions to one lab's session and task events.

    :param sessions: the lab's session store (it publishes the events).
    :param keys: the lab's key and channel names.
    """

    def __init__(self, sessions: SessionStore, keys: Keys) -> None:
        self._sessions = sessions
        self._keys = keys

    def subscribe(self) -> Subscription:
        """Listen to session events (logout, disposed) and task progress and completion."""
        return self._sessions.subscribe_events(task_progress=True)

    def is_session_event(self, channel: str) -> bool:
        """Whether a message on ``channel`` is a session event (``{"event": ...}``)."""
        return channel == self._keys.session_events()

    def is_task_progress(self, channel: str) -> bool:
        """Whether a message on ``channel`` is a task's progress or completion."""
        return channel == self._keys.task_progress()
