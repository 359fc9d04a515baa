"""Which unique lock a run of a unique task takes (``@weblab.task(unique=...)``).

Its own module because the task engine needs it and the device pool (:mod:`.devices`) needs the
task engine: each imports this one instead of the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..store.devices import session_device

if TYPE_CHECKING:
    from ..store.tasks import TaskStore


def unique_lock_key(
    store: TaskStore, name: str, unique: str, session_id: str | None, *, pool: bool
) -> str:
    """The key of the unique lock of a run of task ``name`` for a session (if any).

    ``'user'``: one per session; ``'global'``: one per device of a pool (a lab moved onto a
    pool behaves on each device as it did alone), one in the lab without devices; ``'pool'``:
    one in the whole lab.

    :param pool: the lab declares devices: only then is the session's device read (a lab
        without devices pays no round trip for it).
    """
    keys = store.keys
    if unique == "user":
        return keys.unique_lock(name, session_id)
    if unique == "global" and session_id and pool:
        device = session_device(store.client, keys, session_id)
        if device:
            return keys.device_unique_lock(name, device)
    return keys.unique_lock(name)
