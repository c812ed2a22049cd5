"""Time sources shared by the emulators.

The clock stamps job times and decides when a background-paced job is due for its next step. Tests can pass a
ManualClock and move it forward themselves. Each emulator has its own pacing (how long each step takes).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to; thread-safe so a background worker can read it."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += seconds
            return self._now


class ManualPacingError(ValueError):
    """Pacing cannot be changed at run time on an emulator built for manual stepping."""
