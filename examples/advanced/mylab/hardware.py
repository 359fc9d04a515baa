"""The simulated device: a slider moved by a stepper motor, one step at a time.

A real lab would talk to a serial port or a GPIO pin here. Only one task moves the slider at
a time (``unique="global"`` on the task) and a lock protects its state from the web threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: Slider range, in millimetres.
MIN_POSITION, MAX_POSITION = 0, 100


class Slider:
    """A motorised slider: powered on for a session, moved by steps."""

    def __init__(self, step_seconds: float = 0.05) -> None:
        self.step_seconds = step_seconds
        self.powered = False
        self.position = 0
        self._lock = threading.Lock()

    def power_on(self) -> None:
        with self._lock:
            self.powered = True

    def power_off(self) -> None:
        """Park the slider and cut the power (the next student starts from 0)."""
        with self._lock:
            self.position = 0
            self.powered = False

    def move_to(
        self,
        target: int,
        on_step: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> int:
        """Move one millimetre per step; returns the final position.

        :param target: where to go (clamped to the slider's range).
        :param on_step: called with ``(position, steps_done)`` after each step.
        :param should_stop: checked before each step; ``True`` stops the move early.
        """
        target = max(MIN_POSITION, min(MAX_POSITION, int(target)))
        done = 0
        while True:
            with self._lock:
                if not self.powered:
                    raise RuntimeError("The slider is not powered")
                if self.position == target:
                    return self.position
                self.position += 1 if target > self.position else -1
                position = self.position
            done += 1
            if on_step is not None:
                on_step(position, done)
            if should_stop is not None and should_stop():
                return position
            time.sleep(self.step_seconds)


slider = Slider()
