"""Store layer: every Redis key, script and transition of weblab_ext.

Layering rule: this package talks to Redis through redis-py only. It never imports Flask,
nor anything from the Flask layer (``extension``, ``views``, ``decorators``, ``cli``).

* :mod:`.keys` — every key name of a lab (one function per key family);
* :mod:`.connection` — building clients from ``WEBLAB_REDIS_URL``, the store's errors;
* :mod:`.records` — session and task records and their hash encoding;
* :mod:`.sessions`, :mod:`.session_scripts` — session transitions and their Lua scripts;
* :mod:`.tasks`, :mod:`.task_scripts` — task transitions and their Lua scripts;
* :mod:`.monitoring` — the metrics counters and the operators' reads;
* :mod:`.locks` — locks with an owner and a TTL;
* :mod:`.pubsub` — publishing and ``Subscription`` (sharded on a cluster);
* :mod:`.hot_path` — the request hot path's commands, on connections of its own;
* :mod:`.devices` — the declared devices (``WEBLAB_DEVICES``) and which session holds each;
  :mod:`.device_states` — their states, history, maintenance flags and reset locks;
* :mod:`.journal` — the session records (bounded event lists) and their index by start;
  :mod:`.record_calls` — the RLMS calls they count, in the status calls' own round trip.
"""
