"""Voice ID's faults on demand: the shared ones (`emulator_core.faults`) plus forced job failures."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from emulator_core import faults as core
from emulator_core.faults import TokenBucket, check_fraction

__all__ = ["DOCUMENTED_TPS", "FaultController", "ForcedFailure", "TokenBucket", "check_fraction"]

DOCUMENTED_TPS = 2.0  # Domain APIs and all batch APIs, per account (voiceid-facts §3.2)


@dataclass(frozen=True)
class ForcedFailure:
    status_code: int
    message: str


class FaultController(core.FaultController):
    """The shared faults, at Voice ID's documented 2 TPS by default, plus per-job forced failures."""

    def __init__(
        self,
        *,
        throttling: bool = True,
        tps: float = DOCUMENTED_TPS,
        random_source: random.Random | None = None,
    ) -> None:
        self._forced_failures: dict[str, ForcedFailure] = {}
        self._next_job_failures: list[ForcedFailure] = []
        super().__init__(throttling=throttling, tps=tps, random_source=random_source)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._forced_failures = {}
            self._next_job_failures = []

    def set_throttling(self, enabled: bool, tps: float = DOCUMENTED_TPS) -> None:
        super().set_throttling(enabled, tps)

    def force_job_failure(self, job_id: str, status_code: int = 500, message: str | None = None) -> None:
        text = message or "The job was failed on demand through the Voice ID emulator's admin API"
        with self._lock:
            self._forced_failures[job_id] = ForcedFailure(status_code, text)

    def fail_next_jobs(self, count: int, status_code: int, message: str) -> None:
        """The next `count` jobs started fail at their first step (see `take_next_job_failure`)."""
        with self._lock:
            self._next_job_failures.extend([ForcedFailure(status_code, message)] * count)

    def take_next_job_failure(self, job_id: str) -> None:
        """A job just started: force its failure if `fail_next_jobs` asked for one that is still pending."""
        with self._lock:
            if self._next_job_failures:
                self._forced_failures[job_id] = self._next_job_failures.pop(0)

    def forced_failure(self, job_id: str) -> ForcedFailure | None:
        with self._lock:
            return self._forced_failures.get(job_id)

    def state(self) -> dict[str, Any]:
        with self._lock:
            forced = {
                job_id: {"statusCode": failure.status_code, "message": failure.message}
                for job_id, failure in self._forced_failures.items()
            }
        return {**super().state(), "forcedJobFailures": forced}
