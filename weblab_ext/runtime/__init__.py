"""Runtime layer: what a lab does, with no web framework in sight.

Layering rule: nothing in this package imports Flask or Werkzeug. It uses the store
(:mod:`weblab_ext.store`), the pure protocol helpers (:mod:`weblab_ext.protocol`) and the base
modules (``errors``, ``config``, ``random_ids``). Where lab code must run inside a Flask app or
session context (``on_start``, ``on_dispose``, task bodies), the Flask layer hands in a
callable that sets that context up: the runtime only calls it.

* :mod:`.sessions` — the session service: start, touch, logout, dispose, status, clean;
  :mod:`.session_status` — its status calls.
* :mod:`.devices` — the device pool (``WEBLAB_DEVICES``): the RLMS calls of each device;
  :mod:`.device_lifecycle` — device states: the hand-over rule, resets, maintenance.
* :mod:`.users`, :mod:`.userdata` — the user objects and their ``data``.
* :mod:`.disposal` — ``on_dispose`` exactly once, with a bounded wait.
* :mod:`.lifecycle_log` — structured lifecycle log lines.
* :mod:`.loops` — the base of every background loop; :mod:`.cleaner`, :mod:`.workers` build
  on it.
* :mod:`.callbacks` — what the lab registered (``on_start``, ``on_dispose``, checks...).
* :mod:`.threads` — one app's background threads in a process: start once, stop.
* :mod:`.task_engine` — submit, claim, run, finish and reap background tasks.
* :mod:`.task_specs` — a declared task and the error of a duplicate run.
* :mod:`.unique_locks` — the lock a run of a unique task takes (per device on a pool).
* :mod:`.task_leases` — leases, fencing and reaping of running tasks.
* :mod:`.task_stops` — stopping a session's tasks when it ends (queued ones never start).
* :mod:`.task_runs` — the log lines of task runs.
* :mod:`.counters` — counting starts, disposals and task ends for the metrics.
* :mod:`.operator` — the operator service: what the admin page, metrics, health URL and
  ``flask weblab`` commands show; :mod:`.overview` — the rows it lists.
* :mod:`.health` — health checks with a bounded wait; :mod:`.health_monitor` — their rounds
  in the background (``WEBLAB_HEALTH_CHECK_INTERVAL``), stored for the health URL;
  :mod:`.shared_reads` — concurrent health calls sharing one store read.
* :mod:`.embedded_store_guard` — refusing the embedded store under a production server.
* :mod:`.events` — the lab's published events, for the Socket.IO push.
* :mod:`.store_errors` — the exceptions that mean the store did not answer.
* :mod:`.journal` — the session records (``weblab.record``, pseudonyms); :mod:`.record_hooks`
  — the ``on_record`` hooks' queue and thread; :mod:`.record_export` — exports (JSON Lines,
  CSV, xAPI) and the usage per device.
"""
