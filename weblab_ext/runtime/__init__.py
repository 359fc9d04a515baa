"""Runtime layer: what a lab does, with no web framework in sight.

Layering rule: nothing in this package imports Flask or Werkzeug. It uses the store
(:mod:`weblab_ext.store`), the pure protocol helpers (:mod:`weblab_ext.protocol`) and the base
modules (``errors``, ``config``, ``tokens``). Where lab code must run inside a Flask app or
session context (``on_start``, ``on_dispose``, task bodies), the Flask layer hands in a
callable that sets that context up: the runtime only calls it.

* :mod:`.sessions` — the session service: start, touch, logout, dispose, status, clean.
* :mod:`.devices` — the device pool (``WEBLAB_DEVICES``): the RLMS calls of each device.
* :mod:`.users`, :mod:`.userdata` — the user objects and their ``data``.
* :mod:`.disposal` — ``on_dispose`` exactly once, with a bounded wait.
* :mod:`.lifecycle_log` — structured lifecycle log lines.
* :mod:`.loops` — the base of every background loop; :mod:`.cleaner`, :mod:`.workers` build
  on it.
* :mod:`.task_engine` — submit, claim, run, finish and reap background tasks.
* :mod:`.counters` — counting starts, disposals and task ends for the metrics.
* :mod:`.overview` — what an operator sees: ``flask weblab status`` and the admin page.
"""
