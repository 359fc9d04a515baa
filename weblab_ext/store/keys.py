"""The one place where Redis key names are built.

Every key of a lab starts with ``{<WEBLAB_REDIS_BASE>}:weblab:``. The braces are a Redis
Cluster hash tag: all keys of one lab hash to one slot, so multi-key Lua scripts run unchanged
on a cluster, and a cluster scales by spreading many labs over its nodes.
"""

from __future__ import annotations


class Keys:
    """Key builder for one lab (one ``WEBLAB_REDIS_BASE``).

    :param base: the value of ``WEBLAB_REDIS_BASE``.
    """

    def __init__(self, base: str) -> None:
        self.base = base
        self.prefix = "{" + base + "}:weblab"

    # -- sessions ---------------------------------------------------------------------------

    def session(self, session_id: str) -> str:
        """Hash: one lab session (state, user fields, data, data version)."""
        return f"{self.prefix}:session:{session_id}"

    def session_prefix(self) -> str:
        """What :meth:`session` puts before the id (hot paths append ids to it directly)."""
        return f"{self.prefix}:session:"

    def session_actions(self, session_id: str) -> str:
        """Hash: action id → JSON action of one session (``add_action``), 24 h TTL."""
        return f"{self.prefix}:actions:{session_id}"

    def sessions_by_deadline(self) -> str:
        """Sorted set of undisposed sessions scored by ``max_date`` (0 once logged out)."""
        return f"{self.prefix}:sessions:by-deadline"

    def sessions_by_poll(self) -> str:
        """Sorted set of undisposed sessions scored by their last poll."""
        return f"{self.prefix}:sessions:by-poll"

    def session_events(self) -> str:
        """Pub/sub channel: session lifecycle events (ended, logged out) for push layers."""
        return f"{self.prefix}:events:sessions"

    # -- tasks ------------------------------------------------------------------------------

    def task(self, task_id: str) -> str:
        """Hash: one task record."""
        return f"{self.prefix}:task:{task_id}"

    def session_tasks(self, session_id: str) -> str:
        """Set: ids of the tasks of one session."""
        return f"{self.prefix}:session-tasks:{session_id}"

    def task_queue(self) -> str:
        """List: ids of submitted tasks that idle workers block on."""
        return f"{self.prefix}:tasks:queue"

    def worker_processing(self, worker_id: str) -> str:
        """List: task ids one worker process has taken from the queue but not yet claimed.

        Its threads share it; if the process dies, a live heartbeat requeues what is left.
        """
        return f"{self.prefix}:tasks:processing:{worker_id}"

    def task_leases(self) -> str:
        """Sorted set of running task ids scored by the expiry of their worker's lease."""
        return f"{self.prefix}:tasks:leases"

    def task_done(self, task_id: str) -> str:
        """List: completion notification that ``join()`` blocks on."""
        return f"{self.prefix}:task-done:{task_id}"

    def task_stops(self) -> str:
        """Pub/sub channel: ids of tasks asked to stop."""
        return f"{self.prefix}:events:task-stops"

    def task_progress(self) -> str:
        """Pub/sub channel: task progress and completion events."""
        return f"{self.prefix}:events:task-progress"

    def unique_lock(self, task_name: str, session_id: str | None = None) -> str:
        """String lock owned by a task id: ``unique='global'`` (no sid) or ``'user'``."""
        if session_id is None:
            return f"{self.prefix}:unique:global:{task_name}"
        return f"{self.prefix}:unique:user:{task_name}:{session_id}"

    def device_unique_lock(self, task_name: str, device: str) -> str:
        """String lock owned by a task id: ``unique='global'`` on one device of a pool (the
        pool-wide ``unique='pool'`` lock is :meth:`unique_lock` without a session)."""
        return f"{self.prefix}:unique:device:{device}:{task_name}"

    def workers(self) -> str:
        """Sorted set of live worker processes scored by the expiry of their heartbeat."""
        return f"{self.prefix}:workers"

    def worker_info(self, worker_id: str) -> str:
        """Hash: what one worker process is (host, pid, threads, started)."""
        return f"{self.prefix}:worker:{worker_id}"

    # -- devices (WEBLAB_DEVICES) -----------------------------------------------------------

    def device(self, name: str) -> str:
        """Hash: one declared device (``session``: the id of the session holding it)."""
        return f"{self.prefix}:device:{name}"

    # -- session records (WEBLAB_RECORD) --------------------------------------------------------

    def record_events(self, session_id: str) -> str:
        """List: the JSON events of one session's record, oldest first (TTL: the retention)."""
        return self.record_prefix() + session_id

    def record_dropped(self, session_id: str) -> str:
        """String: how many events a full session record dropped (only once one was)."""
        return self.record_dropped_prefix() + session_id

    def record_prefix(self) -> str:
        """What :meth:`record_events` puts before the id (status calls append ids to it)."""
        return f"{self.prefix}:record:"

    def record_dropped_prefix(self) -> str:
        """What :meth:`record_dropped` puts before the id."""
        return f"{self.prefix}:record-dropped:"

    def record_calls(self, session_id: str) -> str:
        """Hash: the RLMS calls one session's record counts, per call and outcome
        (``status.active`` → count), and each call's last outcome (``status`` → ``active``);
        TTL: the retention, as its events."""
        return self.record_calls_prefix() + session_id

    def record_calls_prefix(self) -> str:
        """What :meth:`record_calls` puts before the id."""
        return f"{self.prefix}:record-calls:"

    def records_by_start(self) -> str:
        """Sorted set of recorded session ids scored by their start (trimmed to the
        retention), which exports page through."""
        return f"{self.prefix}:records:by-start"

    def device_history(self, name: str) -> str:
        """List: the last state changes of one device, newest first (JSON, capped)."""
        return f"{self.prefix}:device-history:{name}"

    def device_reset(self, name: str) -> str:
        """String lock owned by the process running one device's ``on_reset``."""
        return f"{self.prefix}:device-reset:{name}"

    def health(self, device: str) -> str:
        """Hash: the last background health check of one device (``""``: a lab without
        devices): ``success``, ``message``, ``checked_at``, consecutive ``failures``. TTL: a
        day after the last check, at least ten stale ages."""
        return f"{self.prefix}:health:{device}"

    def health_round(self) -> str:
        """String lock: the process running this interval's background health checks."""
        return f"{self.prefix}:health-round"

    def health_first(self, device: str) -> str:
        """String lock: the process running the first health check of one device (``""``: a
        lab without devices) that has no stored result while a round cannot start."""
        return f"{self.prefix}:health-first:{device}"

    def maintenance(self) -> str:
        """String: the lab-wide maintenance message (set: maintenance is on)."""
        return f"{self.prefix}:maintenance"

    # -- operators ----------------------------------------------------------------------------

    def metrics_counters(self) -> str:
        """Hash: the lab's Prometheus counters and histogram buckets, shared by every process
        (see :mod:`.monitoring`); its TTL is refreshed by each write."""
        return f"{self.prefix}:metrics:counters"

    def all_families(self) -> dict[str, str]:
        """One example key of every family, for documentation and tests."""
        return {
            "session": self.session("<sid>"),
            "session_actions": self.session_actions("<sid>"),
            "sessions_by_deadline": self.sessions_by_deadline(),
            "sessions_by_poll": self.sessions_by_poll(),
            "session_events": self.session_events(),
            "task": self.task("<tid>"),
            "session_tasks": self.session_tasks("<sid>"),
            "task_queue": self.task_queue(),
            "worker_processing": self.worker_processing("<wid>"),
            "task_leases": self.task_leases(),
            "task_done": self.task_done("<tid>"),
            "task_stops": self.task_stops(),
            "task_progress": self.task_progress(),
            "unique_global": self.unique_lock("<name>"),
            "unique_user": self.unique_lock("<name>", "<sid>"),
            "unique_device": self.device_unique_lock("<name>", "<device>"),
            "workers": self.workers(),
            "worker_info": self.worker_info("<wid>"),
            "metrics_counters": self.metrics_counters(),
            "device": self.device("<device>"),
            "record_events": self.record_events("<sid>"),
            "record_dropped": self.record_dropped("<sid>"),
            "record_calls": self.record_calls("<sid>"),
            "records_by_start": self.records_by_start(),
            "device_history": self.device_history("<device>"),
            "device_reset": self.device_reset("<device>"),
            "maintenance": self.maintenance(),
            "health": self.health("<device>"),
            "health_round": self.health_round(),
            "health_first": self.health_first("<device>"),
        }
