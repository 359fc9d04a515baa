"""Task declaration: the registry of a ``WebLab`` and the wrapper ``@weblab.task`` returns."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..context import SESSION_CONTEXT_HINT, current_session_id
from ..errors import NoContextError
from ..random_ids import TOKEN_LENGTH
from ..runtime.task_engine import TaskEngine
from ..runtime.task_specs import UNIQUE_VALUES, TaskSpec
from .task import WebLabTask

#: Length of task and session ids; a task name of this length could be taken for an id.
ID_LENGTH = TOKEN_LENGTH

#: Returns the task engine of the app in use (the one in context, or the last initialised).
EngineResolver = Callable[[], TaskEngine]


def validate_unique(unique: Any) -> None:
    """:raises ValueError: unless ``unique`` is ``None``, ``'global'``, ``'user'`` or
    ``'pool'``."""
    if unique not in UNIQUE_VALUES:
        raise ValueError("unique must be None, 'global', 'user' or 'pool'")


def _session_if_any() -> str | None:
    try:
        return current_session_id()
    except NoContextError:
        return None


class TaskWrapper:
    """What ``@weblab.task`` returns: call it inline, ``.delay()`` it or ``.run_sync()`` it.

    :param spec: the declared task.
    :param engine: returns the task engine of the app in use.
    """

    def __init__(self, spec: TaskSpec, engine: EngineResolver) -> None:
        self.spec = spec
        self._engine = engine
        self.func = spec.func
        self.name: str = spec.name
        self.unique = spec.unique
        self.raise_on_duplicate = spec.raise_on_duplicate
        self.record_arguments = spec.record_arguments
        functools.update_wrapper(self, spec.func)

    def __repr__(self) -> str:
        return f"<WebLab task function {self.name!r} unique={self.unique!r}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run inline in this thread; unique locks apply.

        :raises AlreadyRunningError: when the unique lock is held by another run.
        """
        if self.unique is None:
            return self.func(*args, **kwargs)
        session_id = None
        if self.unique == "user":
            session_id = current_session_id()
            if session_id is None:
                raise NoContextError(
                    f"Task {self.name} is unique per user: it needs a "
                    f"session; {SESSION_CONTEXT_HINT}"
                )
        elif self.unique == "global":
            session_id = _session_if_any()  # on a device pool, 'global' is per device
        with self._engine().direct_call_lock(self.name, session_id, self.unique):
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
        session_id = current_session_id()
        if session_id is None:
            raise NoContextError(
                f"{self.name}.delay() needs a lab session: call it in a request of a "
                f"student, in a task or in a hook; elsewhere, {SESSION_CONTEXT_HINT}"
            )
        engine = self._engine()
        return WebLabTask.from_record(engine, engine.submit(self.spec, session_id, args, kwargs))

    def run_sync(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> WebLabTask:
        """``delay()`` then ``join(timeout, error_on_timeout=False)``: run it in a worker.

        Returns the task, which may still be unfinished when ``timeout`` passed.
        """
        task = self.delay(*args, **kwargs)
        task.join(timeout=timeout, error_on_timeout=False)
        return task


class TaskRegistry:
    """The tasks one ``WebLab`` declared, shared by every app it is installed on.

    :param engine: returns the task engine of the app in use.
    """

    def __init__(self, engine: EngineResolver) -> None:
        self._engine = engine
        #: Task name → wrapper, as lab code declared them.
        self.wrappers: dict[str, TaskWrapper] = {}
        #: Task name → spec: what the task engines run.
        self.specs: dict[str, TaskSpec] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.wrappers

    def register(
        self,
        func: Callable[..., Any],
        unique: str | None,
        raise_on_duplicate: bool,
        record_arguments: bool = False,
    ) -> TaskWrapper:
        """Validate and record a task function.

        :raises ValueError: for a bad ``unique``, a duplicate name or a name as long as an id.
        """
        validate_unique(unique)
        name = func.__name__
        if len(name) == ID_LENGTH:
            raise ValueError(
                f"The task name {name!r} has the same number of characters as a task id "
                f"({ID_LENGTH}); rename the function so names and ids can be told apart"
            )
        if name in self.wrappers:
            raise ValueError(f"You can't have two tasks with the same name ({name})")
        spec = TaskSpec(name, func, unique, raise_on_duplicate, bool(record_arguments))
        wrapper = TaskWrapper(spec, self._engine)
        self.wrappers[name] = wrapper
        self.specs[name] = spec
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
