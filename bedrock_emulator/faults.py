"""Bedrock's faults on demand: the shared ones (`emulator_core.faults`: throttling, injected internal errors,
latency, event loss) plus forced record errors, forced job outcomes for the next jobs, and roles the caller may
not pass."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from bedrock_emulator.store import FORCIBLE_OUTCOMES, ForcedOutcome
from emulator_core import faults as core

# Bedrock documents no TPS for the batch-inference APIs (bedrock-facts §4): throttling is off unless asked for,
# and this is the rate it takes when switched on without one.
DEFAULT_TPS = 5.0


@dataclass(frozen=True)
class RecordError:
    error_code: int
    error_message: str


def check_outcome(status: object, after_records: object) -> tuple[str, int]:
    """(status, after_records) when they name a forcible outcome and a record count >= 0; ValueError otherwise."""
    if status not in FORCIBLE_OUTCOMES:
        raise ValueError(f"the outcome must be one of {sorted(FORCIBLE_OUTCOMES)}, got {status!r}")
    if isinstance(after_records, bool) or not isinstance(after_records, int) or after_records < 0:
        raise ValueError(f"afterRecords must be an integer >= 0, got {after_records!r}")
    return str(status), after_records


class BedrockFaults(core.FaultController):
    def __init__(
        self, *, throttling: bool = False, tps: float = DEFAULT_TPS, random_source: random.Random | None = None
    ) -> None:
        self._record_errors: dict[str, RecordError] = {}
        self._next_outcomes: list[ForcedOutcome] = []
        self._denied_roles: set[str] = set()
        self._denied_operations: set[str] = set()
        super().__init__(throttling=throttling, tps=tps, random_source=random_source)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._record_errors = {}
            self._next_outcomes = []
            self._denied_roles = set()
            self._denied_operations = set()

    def set_record_errors(self, errors: dict[str, Any]) -> None:
        """Force these records' errors, by recordId, in every job that processes them from now on:
        `{"<recordId>": {"errorCode": 429, "errorMessage": "..."}}`. Merged with earlier ones; ValueError (and
        nothing changed) for an entry that is not an object with an integer errorCode and a string message."""
        parsed: dict[str, RecordError] = {}
        for record_id, error in errors.items():
            if not isinstance(error, dict):
                raise ValueError(f"record {record_id!r}: expected {{'errorCode': int, 'errorMessage': str}}")
            code, message = error.get("errorCode"), error.get("errorMessage", "")
            if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
                raise ValueError(f"record {record_id!r}: errorCode must be an HTTP status code, got {code!r}")
            if not isinstance(message, str):
                raise ValueError(f"record {record_id!r}: errorMessage must be a string, got {message!r}")
            parsed[record_id] = RecordError(code, message)
        with self._lock:
            self._record_errors.update(parsed)

    def clear_record_errors(self) -> None:
        with self._lock:
            self._record_errors = {}

    def record_error(self, record_id: str) -> RecordError | None:
        with self._lock:
            return self._record_errors.get(record_id)

    def force_next_jobs(self, status: str, after_records: int, count: int = 1, message: str | None = None) -> None:
        """The next `count` jobs created end with `status` once `after_records` records are processed."""
        checked = check_outcome(status, after_records)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be an integer >= 1, got {count!r}")
        with self._lock:
            self._next_outcomes.extend([ForcedOutcome(*checked, message)] * count)

    def take_next_outcome(self) -> ForcedOutcome | None:
        with self._lock:
            return self._next_outcomes.pop(0) if self._next_outcomes else None

    def deny_roles(self, role_arns: list[str]) -> None:
        """CreateModelInvocationJob with one of these roles is refused with AccessDeniedException, as when the
        caller may not iam:PassRole it."""
        if not isinstance(role_arns, list) or not all(isinstance(arn, str) for arn in role_arns):
            raise ValueError(f"roleArns must be a list of role ARNs, got {role_arns!r}")
        with self._lock:
            self._denied_roles = set(role_arns)

    def role_denied(self, role_arn: str) -> bool:
        with self._lock:
            return role_arn in self._denied_roles

    def deny_operations(self, operations: list[str], known: tuple[str, ...]) -> None:
        """Calls of these operations are refused with AccessDeniedException, as when the caller's policies do
        not allow `bedrock:<Operation>` (the local cloud's gateway enforces real policies; this is for the
        emulator alone)."""
        if not isinstance(operations, list) or any(operation not in known for operation in operations):
            raise ValueError(f"operations must be a list of {list(known)}, got {operations!r}")
        with self._lock:
            self._denied_operations = set(operations)

    def operation_denied(self, operation: str) -> bool:
        with self._lock:
            return operation in self._denied_operations

    def state(self) -> dict[str, Any]:
        with self._lock:
            extra = {
                "recordErrors": {
                    record_id: {"errorCode": error.error_code, "errorMessage": error.error_message}
                    for record_id, error in self._record_errors.items()
                },
                "nextJobOutcomes": [
                    {"status": outcome.status, "afterRecords": outcome.after_records} for outcome in self._next_outcomes
                ],
                "deniedRoles": sorted(self._denied_roles),
                "deniedOperations": sorted(self._denied_operations),
            }
        return {**super().state(), **extra}
