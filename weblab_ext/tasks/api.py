"""Task methods of the ``WebLab`` extension (being written by the task-system work)."""

from __future__ import annotations

from typing import Any


class TasksMixin:
    """Task API of :class:`weblab_ext.WebLab`."""

    def _init_task_registry(self) -> None:
        self._task_functions: dict[str, Any] = {}

    def _init_tasks(self, state: Any) -> None:
        """Attach the task runtime to one app's state."""


class WebLabTask:
    """Placeholder until the task system lands."""


current_task: Any = None
current_task_stopping: Any = False
