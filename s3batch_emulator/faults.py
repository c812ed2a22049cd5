"""S3 Batch Operations' faults on demand: the shared ones (`emulator_core.faults`: throttling, injected internal
errors, latency, event loss) plus forced task failures (by key, or a fraction of tasks, with an error code) and
forced outcomes for the next jobs created."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

from emulator_core import faults as core
from s3batch_emulator.store import FORCIBLE_OUTCOMES, ForcedOutcome

# AWS documents no TPS for the job APIs (s3batch-facts §7): throttling is off unless asked for, and this is the
# rate it takes when switched on without one.
DEFAULT_TPS = 5.0


@dataclass(frozen=True)
class ForcedTaskFailure:
    error_code: str
    http_status: int
    message: str


def check_outcome(status: object, after_tasks: object) -> tuple[str, int]:
    if status not in FORCIBLE_OUTCOMES:
        raise ValueError(f"the outcome must be one of {sorted(FORCIBLE_OUTCOMES)}, got {status!r}")
    if isinstance(after_tasks, bool) or not isinstance(after_tasks, int) or after_tasks < 0:
        raise ValueError(f"afterTasks must be an integer >= 0, got {after_tasks!r}")
    return str(status), after_tasks


def _failure(value: Any, where: str) -> ForcedTaskFailure:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected {{'errorCode': str, 'httpStatus': int, 'message': str}}")
    code = value.get("errorCode")
    status = value.get("httpStatus", 500)
    message = value.get("message", f"{code} (forced through the S3 Batch Operations emulator's admin API)")
    if not isinstance(code, str) or not code:
        raise ValueError(f"{where}: errorCode must be a non-empty string, got {code!r}")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"{where}: httpStatus must be an HTTP status code, got {status!r}")
    if not isinstance(message, str):
        raise ValueError(f"{where}: message must be a string, got {message!r}")
    return ForcedTaskFailure(code, status, message)


class S3BatchFaults(core.FaultController):
    def __init__(
        self, *, throttling: bool = False, tps: float = DEFAULT_TPS, random_source: random.Random | None = None
    ) -> None:
        self._task_lock = threading.Lock()
        self._key_failures: dict[str, ForcedTaskFailure] = {}
        self._fraction = 0.0
        self._fraction_failure: ForcedTaskFailure | None = None
        self._task_random = random.Random()
        self._next_outcomes: list[ForcedOutcome] = []
        super().__init__(throttling=throttling, tps=tps, random_source=random_source)

    def reset(self) -> None:
        super().reset()
        with self._task_lock:
            self._key_failures = {}
            self._fraction = 0.0
            self._fraction_failure = None
            self._next_outcomes = []

    def set_task_failures(self, body: dict[str, Any]) -> None:
        """`{"keys": {"<key>": {"errorCode": "SlowDown", "httpStatus": 503, "message": "..."}},
        "fraction": 0.25, "failure": {"errorCode": ...}, "seed": 7}`: tasks on these keys (decoded object keys,
        in any bucket), and this fraction of all others, fail with the given error instead of running. Keys are
        merged with earlier ones; ValueError (nothing changed) for a bad entry."""
        keys = {str(key): _failure(value, f"key {key!r}") for key, value in dict(body.get("keys") or {}).items()}
        fraction = core.check_fraction(body.get("fraction", 0.0))
        failure = _failure(body["failure"], "failure") if fraction > 0 else None
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        with self._task_lock:
            self._key_failures.update(keys)
            if "fraction" in body:
                self._fraction, self._fraction_failure = fraction, failure
            if seed is not None:
                self._task_random.seed(seed)

    def clear_task_failures(self) -> None:
        with self._task_lock:
            self._key_failures = {}
            self._fraction, self._fraction_failure = 0.0, None

    def task_failure(self, key: str) -> ForcedTaskFailure | None:
        with self._task_lock:
            found = self._key_failures.get(key)
            if found is not None:
                return found
            if self._fraction_failure is not None and self._task_random.random() < self._fraction:
                return self._fraction_failure
            return None

    def force_next_jobs(self, status: str, after_tasks: int, count: int = 1, message: str | None = None) -> None:
        checked = check_outcome(status, after_tasks)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be an integer >= 1, got {count!r}")
        with self._task_lock:
            self._next_outcomes.extend([ForcedOutcome(*checked, message)] * count)

    def take_next_outcome(self) -> ForcedOutcome | None:
        with self._task_lock:
            return self._next_outcomes.pop(0) if self._next_outcomes else None

    def state(self) -> dict[str, Any]:
        with self._task_lock:
            extra = {
                "taskFailures": {
                    "keys": {
                        key: {"errorCode": f.error_code, "httpStatus": f.http_status, "message": f.message}
                        for key, f in self._key_failures.items()
                    },
                    "fraction": self._fraction,
                },
                "nextJobOutcomes": [
                    {"status": outcome.status, "afterTasks": outcome.after_tasks} for outcome in self._next_outcomes
                ],
            }
        return {**super().state(), **extra}
