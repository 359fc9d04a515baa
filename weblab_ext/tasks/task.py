"""``WebLabTask`` (a snapshot of one task) and the ``current_task`` proxies."""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from flask import g, has_app_context
from werkzeug.local import LocalProxy

from ..context import RequestState, lab_state, request_state, session_context
from ..errors import DeadlockError, TimeoutError
from ..runtime.task_engine import RunningTask, TaskEngine
from ..states import TaskStatus

if TYPE_CHECKING:
    from flask import Flask

    from ..runtime.sessions import SessionService
    from ..store.records import TaskRecord

logger = logging.getLogger("weblab_ext")

#: Longest single blocking wait of ``join()``: between waits it checks the record still exists
#: (the store caps it further, below the client's socket timeout).
JOIN_STEP = 5.0
#: Extra wait past a running task's lease before ``join()`` reads it again (judged lapsed then).
_LAPSE_MARGIN = 0.05


class FrozenTaskData(dict[str, Any]):
    """``data`` of a task seen from outside it: a plain (JSON-serialisable) dict that refuses
    changes, which only the task itself may make."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("A task's data can only be changed from inside the task")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse


def running_task() -> RunningTask | None:
    """The task running in this context, if any."""
    # No weblab state in this context: no task either (and no error for another app).
    here: RequestState | None = g.get("_weblab") if has_app_context() else None
    return here.task if here is not None else None


def run_task_in_app(
    app: Flask, service: SessionService, running: RunningTask, body: Callable[[], Any]
) -> Any:
    """Run a task body in ``app``, as the task's session user, with ``current_task``.

    This is what the ``run_in_app`` the task engine of every app is given calls.
    """
    session_id = running.record.session_id
    with app.app_context():
        user = service.load_user(session_id, poll=False)
        running.device = getattr(user, "device", None) or ""
        with session_context(session_id, user):
            here = request_state()
            here.task, here.task_view = running, None
            try:
                result = body()
                _warn_unstored_user_data(user, running.record.name)
                return result
            finally:
                here.task = here.task_view = None


def _warn_unstored_user_data(user: Any, name: str) -> None:
    try:
        modified = bool(getattr(user.data, "is_modified", False))
    except Exception:
        return
    if modified:
        logger.warning(
            "Task %s changed weblab_user.data without calling "
            "weblab_user.data.store(); the change is lost",
            name,
        )


class WebLabTask:
    """A snapshot of one task; it changes only on :meth:`retrieve` (or :meth:`store` inside).

    :param task_id: the task id (``WebLabTask(weblab, task_id)`` is accepted too).
    :raises ValueError: ``task id <id> not found``.

    .. code-block:: python

        task = WebLabTask(task_id)
        if task.done:
            return jsonify(result=task.result)
    """

    task_id: str
    session_id: str
    name: str
    status: str
    stopping: bool
    _engine: TaskEngine

    def __init__(self, task_id: Any, maybe_task_id: str | None = None) -> None:
        if maybe_task_id is not None:  # WebLabTask(weblab, task_id), the original signature
            task_id = maybe_task_id
        engine = lab_state().tasks
        record = engine.load(task_id)
        if record is None:
            raise ValueError(f"task id {task_id} not found")
        self._engine = engine
        self._apply(record)

    @classmethod
    def from_record(cls, engine: TaskEngine, record: TaskRecord) -> WebLabTask:
        """The task of a record already read (no round trip)."""
        task = cls.__new__(cls)
        task._engine = engine
        task._apply(record)
        return task

    def _apply(self, record: TaskRecord) -> None:
        self._record = record
        self.task_id = record.task_id
        self.session_id = record.session_id
        self.name = record.name
        self.status = record.status
        self.stopping = record.stopping

    # -- state ------------------------------------------------------------------------------

    @property
    def submitted(self) -> bool:
        return self.status == TaskStatus.SUBMITTED

    @property
    def running(self) -> bool:
        return self.status == TaskStatus.RUNNING

    @property
    def done(self) -> bool:
        return self.status == TaskStatus.DONE

    @property
    def failed(self) -> bool:
        return self.status == TaskStatus.FAILED

    @property
    def finished(self) -> bool:
        return self.status in (TaskStatus.DONE, TaskStatus.FAILED)

    @property
    def result(self) -> Any:
        """The JSON result when done, else ``None``."""
        return self._record.result if self.done else None

    @property
    def error(self) -> dict[str, Any] | None:
        """``{"code", "class"?, "message"}`` when failed, else ``None``."""
        return self._record.error if self.failed else None

    def _inside(self) -> RunningTask | None:
        running = running_task()
        return running if running is not None and running.task_id == self.task_id else None

    @property
    def data(self) -> Any:
        """Inside the task: the live dict. Elsewhere: a read-only copy."""
        running = self._inside()
        if running is not None:
            return running.data
        return FrozenTaskData(copy.deepcopy(self._record.data))

    @data.setter
    def data(self, value: Any) -> None:
        running = self._inside()
        if running is None:
            raise ValueError("The data of a task can only be changed from inside the task")
        running.data.clear()
        running.data.update(value)

    # -- actions ----------------------------------------------------------------------------

    def store(self) -> WebLabTask:
        """Persist ``data`` (only inside the task) and publish it as progress.

        :raises ValueError: outside the task.
        """
        running = self._inside()
        if running is None:
            raise ValueError("store() can only be called from inside the task")
        try:
            text = json.dumps(running.data)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"Task data must be JSON-serialisable: {exc}") from exc
        # Refused (and the task told to stop) when this worker's lease lapsed.
        self._engine.store_task_data(self.task_id, text)
        return self

    def retrieve(self) -> WebLabTask:
        """Reload from the store; returns self (unchanged if the record expired)."""
        record = self._engine.load(self.task_id)
        if record is not None:
            self._apply(record)
        return self

    def update_data(self, new_data: Any) -> WebLabTask:
        """Deprecated: ``task.data = new_data; task.store()``.

        No ``DeprecationWarning``: labs run with warnings as errors would fail their task.
        """
        self.data = new_data
        return self.store()

    def stop(self) -> WebLabTask:
        """Ask the task to stop (advisory: the task reads ``current_task_stopping``)."""
        self._engine.request_stop(self.task_id)
        self.stopping = True
        return self

    def join(self, timeout: float | None = None, error_on_timeout: bool = True) -> WebLabTask:
        """Wait until the task finishes, blocking on its completion notification.

        :param timeout: seconds; ``None`` waits as long as the task exists.
        :param error_on_timeout: raise :class:`weblab_ext.TimeoutError` when it passes.
        :raises DeadlockError: when a task joins itself (both a ``TimeoutError`` and a
            ``RuntimeError``).
        """
        if self._inside() is not None:
            raise DeadlockError("Deadlock: a task cannot join itself")
        engine = self._engine
        deadline = None if timeout is None else time.monotonic() + timeout
        record: TaskRecord | None = self._record
        while True:
            step = JOIN_STEP
            if deadline is not None:
                step = min(step, deadline - time.monotonic())
            if record is not None and record.lease_until is not None:
                # Wake when the lease would lapse: the next read then reports a dead worker.
                step = min(step, max(0.0, record.lease_until - engine.clock()) + _LAPSE_MARGIN)
            if step > 0 and engine.store.wait_done(self.task_id, step):
                break
            record = engine.load(self.task_id)
            if record is None or record.finished:
                break
            if deadline is not None and time.monotonic() >= deadline:
                self.retrieve()
                if error_on_timeout:
                    raise TimeoutError(f"{timeout} seconds passed")
                return self
        return self.retrieve()

    # -- identity ---------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WebLabTask) and other.task_id == self.task_id

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(("WebLabTask", self.task_id))

    def __lt__(self, other: object) -> bool:
        if isinstance(other, WebLabTask):
            return self.task_id < other.task_id
        return hash(self) < hash(other)

    def __repr__(self) -> str:
        return f"<WebLab Task {self.task_id}>"


def _current_task() -> WebLabTask | None:
    here: RequestState | None = g.get("_weblab") if has_app_context() else None
    if here is None or here.task is None:
        return None
    view = here.task_view
    if not isinstance(view, WebLabTask):
        view = here.task_view = WebLabTask.from_record(here.task.engine, here.task.record)
    return view


def _current_task_stopping() -> bool:
    running = running_task()
    return running is not None and running.engine.is_stopping(running.task_id)


# Typed as what they stand for, so an editor completes ``current_task.data``: at run time
# they are werkzeug ``LocalProxy`` objects, as Flask's ``request``.
#: Inside a running task, its :class:`WebLabTask`; elsewhere ``None`` (falsy).
current_task = cast(WebLabTask, LocalProxy(_current_task))
#: Inside a running task, whether it was asked to stop (no Redis round trip when this
#: process runs a stop listener); elsewhere ``False``.
current_task_stopping = cast(bool, LocalProxy(_current_task_stopping))
