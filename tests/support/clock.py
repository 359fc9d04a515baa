"""A clock for ``WebLab(now=...)``: tests move ``now`` instead of sleeping."""

from __future__ import annotations

import time


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now
