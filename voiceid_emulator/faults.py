"""Faults on demand: throttling, injected internal errors, latency and forced job failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DOCUMENTED_TPS = 2.0  # Domain APIs and all batch APIs, per account (voiceid-facts §3.2)


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


@dataclass(frozen=True)
class ForcedFailure:
    status_code: int
    message: str


class FaultController:
    """Thread-safe fault settings shared by the HTTP layer, the admin endpoint and the job runner."""

    def __init__(self, *, throttling: bool = True, tps: float = DOCUMENTED_TPS) -> None:
        self._lock = threading.Lock()
        self._default_throttling = throttling
        self._default_tps = tps
        self._monotonic: Callable[[], float] = time.monotonic
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.throttling_enabled = self._default_throttling
            self.tps = self._default_tps
            self._bucket = TokenBucket(self.tps, self._monotonic)
            self.latency_seconds = 0.0
            self._internal_errors_left = 0
            self._internal_error_operations: frozenset[str] | None = None
            self._forced_failures: dict[str, ForcedFailure] = {}
            self.throttled_requests = 0

    def set_throttling(self, enabled: bool, tps: float = DOCUMENTED_TPS) -> None:
        if tps <= 0:
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

    def force_job_failure(self, job_id: str, status_code: int = 500, message: str | None = None) -> None:
        text = message or "The job was failed on demand through the Voice ID emulator's admin API"
        with self._lock:
            self._forced_failures[job_id] = ForcedFailure(status_code, text)

    def forced_failure(self, job_id: str) -> ForcedFailure | None:
        with self._lock:
            return self._forced_failures.get(job_id)

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
                "forcedJobFailures": {
                    job_id: {"statusCode": f.status_code, "message": f.message}
                    for job_id, f in self._forced_failures.items()
                },
            }
