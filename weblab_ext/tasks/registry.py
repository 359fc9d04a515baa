"""Task declaration: the wrapper ``@weblab.task`` returns, and its invocation styles."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import NoContextError

if TYPE_CHECKING:
    from ..extension import WebLab
    from .task import WebLabTask

#: Length of task and session ids; a task name of this length could be taken for an id.
ID_LENGTH = 43
UNIQUE_VALUES = (None, "global", "user")


def already_running_message(name: str) -> str:
    return (f"This task ({name}) has been sent in parallel and it is still running; it is "
            "declared unique, so wait for it to finish (or stop it) first")


def validate_unique(unique: Any) -> None:
    """:raises ValueError: unless ``unique`` is ``None``, ``'global'`` or ``'user'``."""
    if unique not in UNIQUE_VALUES:
        raise ValueError("unique must be None, 'global' or 'user'")


class TaskWrapper:
    """What ``@weblab.task`` returns: call it inline, ``.delay()`` it or ``.run_sync()`` it.

    :param weblab: the extension that owns the task.
    :param func: the task function.
    :param unique: ``None``, ``'global'`` (one at a time in the lab) or ``'user'`` (one at a
        time per session).
    :param raise_on_duplicate: ``delay()`` raises :class:`AlreadyRunningError` instead of
        returning an already-failed task when the unique lock is held.
    """

    def __init__(
        self,
        weblab: WebLab,
        func: Callable[..., Any],
        unique: str | None = None,
        raise_on_duplicate: bool = False,
    ) -> None:
        validate_unique(unique)
        self._weblab = weblab
        self.func = func
        self.name: str = func.__name__
        self.unique = unique
        self.raise_on_duplicate = raise_on_duplicate
        functools.update_wrapper(self, func)

    def __repr__(self) -> str:
        return f"<WebLab task function {self.name!r} unique={self.unique!r}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run inline in this thread; unique locks apply.

        :raises AlreadyRunningError: when the unique lock is held by another run.
        """
        if self.unique is None:
            return self.func(*args, **kwargs)
        runtime = self._weblab._state().tasks
        session_id = None
        if self.unique == "user":
            from ..context import current_session_id

            session_id = current_session_id()
            if session_id is None:
                raise NoContextError(f"Task {self.name} is unique per user: it needs a session")
        with runtime.direct_call_lock(self.name, session_id):
            return self.func(*args, **kwargs)

    def delay(self, *args: Any, **kwargs: Any) -> WebLabTask:
        """Queue the task for a worker and return it at once.

        Arguments must be JSON-serialisable (tuples become lists).

        .. code-block:: python

            task = measure.delay(10, unit="mV")
            return jsonify(task_id=task.task_id)

        :raises NoContextError: when no session is in context (outside a request or task).
        :raises TypeError: when an argument is not JSON-serialisable.
        :raises AlreadyRunningError: with ``raise_on_duplicate=True`` and the lock held.
        """
        task: WebLabTask = self._weblab._state().tasks.submit(self, args, kwargs)
        return task

    def run_sync(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> WebLabTask:
        """``delay()`` then ``join(timeout, error_on_timeout=False)``: run it in a worker.

        Returns the task, which may still be unfinished when ``timeout`` passed.
        """
        task = self.delay(*args, **kwargs)
        task.join(timeout=timeout, error_on_timeout=False)
        return task


def register(
    registry: dict[str, TaskWrapper],
    weblab: WebLab,
    func: Callable[..., Any],
    unique: str | None,
    raise_on_duplicate: bool,
) -> TaskWrapper:
    """Validate and record a task function.

    :raises ValueError: for a duplicate name or a name as long as a task id.
    """
    name = func.__name__
    if len(name) == ID_LENGTH:
        raise ValueError(
            f"The task name {name!r} has the same number of characters as a task id "
            f"({ID_LENGTH}); rename the function so names and ids can be told apart"
        )
    if name in registry:
        raise ValueError(f"You can't have two tasks with the same name ({name})")
    wrapper = TaskWrapper(weblab, func, unique, raise_on_duplicate)
    registry[name] = wrapper
    return wrapper


def task_name(identifier: Any) -> str:
    """The task name behind a wrapper, a function or a name."""
    if isinstance(identifier, TaskWrapper):
        return identifier.name
    if isinstance(identifier, str):
        return identifier
    name = getattr(identifier, "__name__", None)
    if not isinstance(name, str):
        raise TypeError(f"Not a task, task function or task name: {identifier!r}")
    return name

