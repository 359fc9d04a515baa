"""Task methods of the ``WebLab`` extension: declaring tasks and finding them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..context import current_session_id
from ..errors import NoContextError
from .registry import ID_LENGTH, TaskRegistry, TaskWrapper, task_name, validate_unique
from .task import WebLabTask

if TYPE_CHECKING:
    from ..runtime.task_engine import TaskEngine
    from ..store.records import TaskRecord


def _session_id_or_none() -> str | None:
    try:
        return current_session_id()
    except NoContextError:
        return None


class TasksMixin:
    """Task API of :class:`weblab_ext.WebLab`.

    The class using it provides :meth:`_task_engine`, the engine of the app in use.
    """

    _task_registry: TaskRegistry

    def _task_engine(self) -> TaskEngine:
        raise NotImplementedError

    # -- declaring --------------------------------------------------------------------------

    def task(
        self,
        func: Callable[..., Any] | str | None = None,
        *,
        unique: str | None = None,
        raise_on_duplicate: bool = False,
        record_arguments: bool = False,
    ) -> Any:
        """Declare a background task; usable as ``@weblab.task`` or ``@weblab.task(...)``.

        :param unique: ``None``; ``'global'``: one run at a time in the whole lab (with
            ``WEBLAB_DEVICES``, on each device); ``'user'``: one at a time per session;
            ``'pool'``: one in the whole lab, whatever the device. A duplicate ``delay()``
            returns a task that already failed with ``error['class'] == 'AlreadyRunningError'``.
        :param raise_on_duplicate: make a duplicate ``delay()`` raise
            :class:`~weblab_ext.AlreadyRunningError` instead.
        :param record_arguments: put the arguments of each ``delay()`` / ``run_sync()`` in
            the session record's ``task_submitted`` event (off by default: they may hold
            personal data, which pseudonyms do not cover). Arguments too large to record
            (over 2 KB as JSON) are noted as such; the task runs either way.
        :raises ValueError: for a bad ``unique``, a duplicate name or a 43-character name.

        .. code-block:: python

            @weblab.task(unique="global")
            def calibrate(steps):
                for step in range(steps):
                    if current_task_stopping:
                        break
                    current_task.data["step"] = step
                    current_task.store()
                return "calibrated"
        """
        if isinstance(func, str):  # @weblab.task('global'), the original positional form
            func, unique = None, func
        validate_unique(unique)
        registry = self._task_registry
        if func is not None:
            return registry.register(func, unique, raise_on_duplicate, record_arguments)

        def decorator(function: Callable[..., Any]) -> TaskWrapper:
            return registry.register(function, unique, raise_on_duplicate, record_arguments)

        return decorator

    # -- querying (the session in context) --------------------------------------------------

    def _session_records(self) -> list[TaskRecord]:
        session_id = current_session_id()
        if session_id is None:
            return []
        return self._task_engine().session_tasks(session_id)

    def _wrap(self, records: list[TaskRecord]) -> list[WebLabTask]:
        engine = self._task_engine()
        return [WebLabTask.from_record(engine, record) for record in records]

    @property
    def tasks(self) -> list[WebLabTask]:
        """Every stored task of the current session, oldest first."""
        return self._wrap(self._session_records())

    @property
    def running_tasks(self) -> list[WebLabTask]:
        """The unfinished (submitted or running) tasks of the current session."""
        return self._wrap([r for r in self._session_records() if not r.finished])

    def get_tasks(self, func_or_name: Any) -> list[WebLabTask]:
        """Tasks of the current session with that name (wrapper, function or name)."""
        name = task_name(func_or_name)
        return self._wrap([r for r in self._session_records() if r.name == name])

    def get_running_tasks(self, func_or_name: Any) -> list[WebLabTask]:
        """Unfinished tasks of the current session with that name."""
        name = task_name(func_or_name)
        return self._wrap([r for r in self._session_records() if r.name == name and not r.finished])

    def get_running_task(self, func_or_name: Any) -> WebLabTask | None:
        """The most recently submitted unfinished task with that name, or ``None``."""
        tasks = self.get_running_tasks(func_or_name)
        return tasks[-1] if tasks else None

    def get_task(self, identifier: Any) -> WebLabTask | None:
        """A task of the current session by id, or the latest one by name/function/wrapper.

        The id of another session's task gives ``None``.
        """
        if isinstance(identifier, str) and identifier not in self._task_registry:
            # Without a session in context no task id is "of the current session": None, as
            # weblablib answers, rather than NoContextError.
            session_id = _session_id_or_none()
            engine = self._task_engine()
            record = engine.load(identifier)
            if record is not None:
                if record.session_id != session_id:
                    return None
                return WebLabTask.from_record(engine, record)
            if len(identifier) == ID_LENGTH or session_id is None:
                return None
        tasks = self.get_tasks(identifier)
        return tasks[-1] if tasks else None

    def join_tasks(
        self, func_or_name: Any, timeout: float | None = None, stop: bool = False
    ) -> list[WebLabTask]:
        """Optionally stop, then wait for the unfinished tasks with that name (never raises
        on timeout; ``timeout`` bounds the whole wait)."""
        tasks = self.get_running_tasks(func_or_name)
        if stop:
            for task in tasks:
                task.stop()
        deadline = None if timeout is None else time.monotonic() + timeout
        for task in tasks:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            task.join(remaining, error_on_timeout=False)
        return tasks

    def run_tasks(self) -> int:
        """Run every queued task inline in this thread (one pass); returns how many ran."""
        return self._task_engine().run_tasks()
