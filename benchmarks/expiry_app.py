"""The lab that ``bench_expiry`` runs in ``flask weblab loop`` worker processes.

Configured from the environment: ``BENCH_REDIS_URL``, ``BENCH_BASE`` (the lab's key base),
``BENCH_COUNTS`` (a hash counting ``on_dispose`` calls per session id) and
``BENCH_DISPOSE_SECONDS`` (how long each ``on_dispose`` takes).
"""

from __future__ import annotations

import os
import time

import redis
from flask import Flask

from weblab_ext import WebLab, weblab_user

app = Flask("expiry_bench")
app.config.update(
    SECRET_KEY="bench",
    WEBLAB_USERNAME="u",
    WEBLAB_PASSWORD="p",
    WEBLAB_REDIS_URL=os.environ["BENCH_REDIS_URL"],
    WEBLAB_REDIS_BASE=os.environ["BENCH_BASE"],
    WEBLAB_CLEANER_INTERVAL=float(os.environ.get("BENCH_CLEANER_INTERVAL", "0.5")),
    WEBLAB_LOG_SESSION_LIFECYCLE=False,
    WEBLAB_NO_THREAD=True,
)
weblab = WebLab(app)
counts = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"], decode_responses=True)
counter_key = os.environ["BENCH_COUNTS"]
dispose_seconds = float(os.environ.get("BENCH_DISPOSE_SECONDS", "0.01"))


@weblab.on_dispose
def dispose() -> None:
    # Lab code that talks to hardware for a while, then records that it ran (once per
    # session is what the benchmark checks).
    time.sleep(dispose_seconds)
    counts.hincrby(counter_key, weblab_user.session_id, 1)
