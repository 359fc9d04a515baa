"""The task API lab code touches (Flask layer): ``@weblab.task``, ``WebLabTask``,
``current_task`` and ``current_task_stopping``.

The engine that queues, claims, runs and reaps tasks lives in
:mod:`weblab_ext.runtime.task_engine`; this package adapts it to Flask (the app context, the
session in context, ``current_task``).

* :mod:`.registry` — ``@weblab.task`` and the task functions it returns (``delay``, ``run_sync``);
* :mod:`.api` — the task lookups of ``weblab`` (``get_task``, ``running_tasks``...);
* :mod:`.task` — ``WebLabTask`` and the ``current_task`` proxies.
"""

from __future__ import annotations

from .task import WebLabTask as WebLabTask
from .task import current_task as current_task
from .task import current_task_stopping as current_task_stopping

__all__ = ["WebLabTask", "current_task", "current_task_stopping"]
