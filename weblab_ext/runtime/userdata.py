"""The dict-like ``weblab_user.data`` objects and their change tracking."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NoReturn


def canonical_json(value: Any) -> str:
    """JSON text of ``value`` that does not depend on key order.

    :raises TypeError: with a message naming the problem when a value is not JSON-serialisable.
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    except TypeError as exc:
        if "not supported between instances" in str(exc):  # mixed key types: order as given
            return json.dumps(value, separators=(",", ":"))
        message = f"weblab_user.data must contain JSON-serialisable values only: {exc}"
        raise TypeError(message) from exc


class DataHolder(dict[str, Any]):
    """``weblab_user.data`` of a current user: a dict that knows how to persist itself.

    Changes are written at the end of the request that made them; tasks and Socket.IO
    handlers call :meth:`store` themselves.
    """

    def __init__(
        self,
        initial: dict[str, Any],
        *,
        saver: Callable[[str], bool],
        loader: Callable[[], dict[str, Any] | None],
        baseline: str | None = None,
    ) -> None:
        super().__init__(initial)
        self._saver = saver
        self._loader = loader
        self._baseline = canonical_json(initial) if baseline is None else baseline

    @property
    def is_modified(self) -> bool:
        """Whether the data differs from what was last loaded or stored."""
        # Compared as canonical JSON, not by a "dirty" flag: lab code mutates nested values
        # (``data["runs"].append(x)``) that no __setitem__ of this dict ever sees.
        return canonical_json(dict(self)) != self._baseline

    def replaced_by(self, value: dict[str, Any]) -> DataHolder:
        """A holder of ``value`` that saves where this one does and keeps its baseline, so
        the replacement itself counts as a modification."""
        return DataHolder(value, saver=self._saver, loader=self._loader, baseline=self._baseline)

    def store(self) -> None:
        """Write the whole dict to the store now (last writer wins)."""
        text = canonical_json(dict(self))
        self._saver(text)
        self._baseline = text

    def store_if_modified(self) -> bool:
        """:meth:`store` only if the data changed; returns whether it wrote."""
        if not self.is_modified:
            return False
        self.store()
        return True

    def retrieve(self) -> None:
        """Reload the data from the store in place (no-op if the session is gone)."""
        fresh = self._loader()
        if fresh is None:
            return
        self.clear()
        self.update(fresh)
        self._baseline = canonical_json(fresh)


def _refuse(message: str, error: type[Exception]) -> Callable[..., NoReturn]:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
        raise error(message)

    return refuse


class FrozenData(dict[str, Any]):
    """``data`` of an expired user: readable, never writable."""

    _message = "The session is over: its data can be read but not changed"
    __setitem__ = __delitem__ = _refuse(_message, TypeError)
    clear = pop = popitem = setdefault = update = _refuse(_message, TypeError)


class AnonymousData(dict[str, Any]):
    """``data`` of an anonymous user: every use except ``in`` raises ``TypeError``."""

    _message = "Anonymous user contains no valid data"
    __getitem__ = __setitem__ = __delitem__ = __len__ = __iter__ = _refuse(_message, TypeError)
    keys = values = items = get = setdefault = pop = popitem = _refuse(_message, TypeError)
    copy = update = clear = _refuse(_message, TypeError)

    def __contains__(self, key: object) -> bool:
        return False

    def __bool__(self) -> bool:
        raise TypeError(self._message)
