"""Faults on demand shared by the emulators: API throttling, injected internal errors, latency and event loss.

Each emulator adds its own job faults on top (`voiceid_emulator.faults`, `bedrock_emulator.faults`).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any


class TokenBucket:
    """Classic token bucket on a monotonic clock; the burst equals one second of traffic."""

    def __init__(self, rate: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._monotonic = monotonic
        self._tokens = self.capacity
        self._updated = monotonic()
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


def check_fraction(value: object, name: str = "fraction") -> float:
    """`value` as a float in [0, 1]; ValueError (naming `name`) for anything else, bools and NaN included."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number from 0 to 1, got {value!r}")
    if not 0.0 <= value <= 1.0:  # also false for NaN
        raise ValueError(f"{name} must be from 0 to 1, got {value!r}")
    return float(value)


class FaultController:
    """Thread-safe fault settings shared by the HTTP layer, the admin endpoint and the job runner.

    `reset()` restores the start-up settings; a subclass that adds settings extends `reset()` and `state()`.
    """

    def __init__(
        self,
        *,
        throttling: bool,
        tps: float,
        random_source: random.Random | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._default_throttling = throttling
        self._default_tps = tps
        self._monotonic: Callable[[], float] = time.monotonic
        # Decides which events the event-loss fault drops; inject a seeded Random (or reseed it through
        # set_event_loss(seed=...)) for a deterministic subset.
        self._random = random_source if random_source is not None else random.Random()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.throttling_enabled = self._default_throttling
            self.tps = self._default_tps
            self._bucket = TokenBucket(self.tps, self._monotonic)
            self.latency_seconds = 0.0
            self._internal_errors_left = 0
            self._internal_error_operations: frozenset[str] | None = None
            self.throttled_requests = 0
            self.event_loss_fraction = 0.0

    def set_throttling(self, enabled: bool, tps: float) -> None:
        if isinstance(tps, bool) or not isinstance(tps, int | float) or not tps > 0 or tps == float("inf"):
            raise ValueError("tps must be positive")
        with self._lock:
            self.throttling_enabled = enabled
            self.tps = tps
            self._bucket = TokenBucket(tps, self._monotonic)

    def should_throttle(self) -> bool:
        with self._lock:
            if not self.throttling_enabled:
                return False
            bucket = self._bucket
        throttled = not bucket.try_acquire()
        if throttled:
            with self._lock:
                self.throttled_requests += 1
        return throttled

    def inject_internal_errors(self, count: int, operations: list[str] | None = None) -> None:
        if count < 0:
            raise ValueError("count must be >= 0")
        with self._lock:
            self._internal_errors_left = count
            self._internal_error_operations = frozenset(operations) if operations else None

    def take_internal_error(self, operation: str) -> bool:
        with self._lock:
            if self._internal_errors_left <= 0:
                return False
            if self._internal_error_operations is not None and operation not in self._internal_error_operations:
                return False
            self._internal_errors_left -= 1
            return True

    def set_latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        with self._lock:
            self.latency_seconds = seconds

    def set_event_loss(self, fraction: float, seed: int | None = None) -> None:
        """Drop this fraction of the events published from now on (0 = deliver all, 1 = drop all).

        `seed` reseeds the random source first, so the same seed and fraction drop the same events of the
        same sequence of publishes."""
        checked = check_fraction(fraction)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        with self._lock:
            if seed is not None:
                self._random.seed(seed)
            self.event_loss_fraction = checked

    def should_drop_event(self) -> bool:
        """Whether the event being published now is lost. Draws from the random source only when the
        fraction is strictly between 0 and 1, so 0 and 1 leave a seeded sequence untouched."""
        with self._lock:
            fraction = self.event_loss_fraction
            if fraction <= 0.0:
                return False
            if fraction >= 1.0:
                return True
            return self._random.random() < fraction

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "throttling": {
                    "enabled": self.throttling_enabled,
                    "tps": self.tps,
                    "throttledRequests": self.throttled_requests,
                },
                "latencySeconds": self.latency_seconds,
                "internalErrors": {
                    "remaining": self._internal_errors_left,
                    "operations": sorted(self._internal_error_operations)
                    if self._internal_error_operations is not None
                    else None,
                },
                "eventLossFraction": self.event_loss_fraction,
            }
