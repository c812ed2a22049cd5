"""Bedrock's faults on demand: the shared ones (`emulator_core.faults`: throttling, injected internal errors,
latency, event loss) plus forced record errors, the runtime's per-model invocation rate, forced job outcomes for
the next jobs, and roles the caller may not pass.

A forced record error is a rule: which records it matches (by recordId, prompt text, model, or all three) and
how many times it fails them before they succeed. One rule serves both ways a record is answered, a batch job's
record (its error line in the `.jsonl.out`) and an on-demand InvokeModel or Converse call (the runtime's
error), so a test can fail a record in its batch job and let its on-demand retry succeed."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bedrock_emulator import formats
from bedrock_emulator.store import FORCIBLE_OUTCOMES, ForcedOutcome
from emulator_core import faults as core

# Bedrock documents no TPS for the batch-inference APIs (bedrock-facts §4): throttling is off unless asked for,
# and this is the rate it takes when switched on without one.
DEFAULT_TPS = 5.0
# A forced record error's message when the admin call gives none: Bedrock's own words for the common codes.
_DEFAULT_ERROR_MESSAGES = {
    400: "Malformed input request, please reformat your input and try again.",
    429: "Too many requests, please wait before trying again.",
    500: "The system encountered an unexpected error during processing. Try your request again.",
    503: "Bedrock is unable to process your request.",
}


@dataclass(frozen=True)
class RecordError:
    error_code: int
    error_message: str


@dataclass
class RecordErrorRule:
    """Fails the records it matches with `error`, `remaining` more times (None: every time). A criterion left
    None matches any record; a rule with none matches every record."""

    error: RecordError
    record_id: str | None = None
    prompt_contains: str | None = None
    model_id: str | None = None
    remaining: int | None = None
    applied: int = 0

    def matches(self, record_id: str | None, model_id: str, prompt_text: str) -> bool:
        if self.remaining == 0:
            return False
        if self.record_id is not None and self.record_id != record_id:
            return False
        if self.model_id is not None and self.model_id not in (model_id, model_id.rsplit("/", 1)[-1]):
            return False
        return self.prompt_contains is None or self.prompt_contains in prompt_text

    def to_api(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "recordId": self.record_id,
            "promptContains": self.prompt_contains,
            "modelId": self.model_id,
        }
        return {
            **{key: value for key, value in described.items() if value is not None},
            "errorCode": self.error.error_code,
            "errorMessage": self.error.error_message,
            "remaining": self.remaining,
            "applied": self.applied,
        }


def _record_error_rule(entry: object, where: str) -> RecordErrorRule:
    """A rule from its admin form `{recordId?, promptContains?, modelId?, errorCode, errorMessage?, times?}`;
    ValueError naming `where` and the bad member."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object with errorCode, got {entry!r}")
    known = {"recordId", "promptContains", "modelId", "errorCode", "errorMessage", "times"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ValueError(f"{where}: unknown members {unknown}; known: {', '.join(sorted(known))}")
    code, message, times = entry.get("errorCode"), entry.get("errorMessage", ""), entry.get("times")
    if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
        raise ValueError(f"{where}: errorCode must be an HTTP status code, got {code!r}")
    if not isinstance(message, str):
        raise ValueError(f"{where}: errorMessage must be a string, got {message!r}")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ValueError(f"{where}: times must be an integer >= 1 (or absent: every time), got {times!r}")
    criteria: dict[str, str | None] = {}
    for member in ("recordId", "promptContains", "modelId"):
        value = entry.get(member)
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"{where}: {member} must be a non-empty string, got {value!r}")
        criteria[member] = value
    message = message or _DEFAULT_ERROR_MESSAGES.get(
        code, f"Error {code} forced through the Bedrock emulator's admin API"
    )
    return RecordErrorRule(
        RecordError(code, message),
        record_id=criteria["recordId"],
        prompt_contains=criteria["promptContains"],
        model_id=criteria["modelId"],
        remaining=times,
    )


class InvocationRate:
    """The runtime's on-demand quota: InvokeModel and Converse requests per second, per model (AWS's on-demand
    quotas are per model), as a token bucket for each model."""

    def __init__(self, requests_per_second: float, monotonic: Callable[[], float]) -> None:
        self.requests_per_second = requests_per_second
        self._monotonic = monotonic
        self._buckets: dict[str, core.TokenBucket] = {}

    def admit(self, model_id: str) -> bool:
        bucket = self._buckets.get(model_id)
        if bucket is None:
            bucket = self._buckets[model_id] = core.TokenBucket(self.requests_per_second, self._monotonic)
        return bucket.try_acquire()


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
        self._record_error_rules: list[RecordErrorRule] = []
        self._invocation_rates: dict[str | None, InvocationRate] = {}
        self.throttled_invocations = 0
        self._next_outcomes: list[ForcedOutcome] = []
        self._denied_roles: set[str] = set()
        self._denied_operations: set[str] = set()
        # On-demand calls that reached the model (past the invocation rate), by the recordId their request
        # metadata names: how a test or benchmark sees that no record was run twice.
        self._record_invocations: dict[str, int] = {}
        super().__init__(throttling=throttling, tps=tps, random_source=random_source)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._record_error_rules = []
            self._invocation_rates = {}
            self.throttled_invocations = 0
            self._next_outcomes = []
            self._denied_roles = set()
            self._denied_operations = set()
            self._record_invocations = {}

    def count_record_invocation(self, record_id: str | None) -> None:
        """One on-demand call of `record_id` reached the model (None: the request named no record)."""
        if record_id is None:
            return
        with self._lock:
            self._record_invocations[record_id] = self._record_invocations.get(record_id, 0) + 1

    def set_record_errors(self, errors: dict[str, Any]) -> None:
        """Force these records' errors, by recordId: `{"<recordId>": {"errorCode": 429, "errorMessage": "...",
        "times": 1}}` (without `times`: every time). A recordId's entry replaces the rule that named only that
        recordId before; ValueError (and nothing changed) for a bad entry."""
        if not isinstance(errors, dict):
            raise ValueError(f'expected {{"<recordId>": {{"errorCode": 429, ...}}}}, got {errors!r}')
        parsed = []
        for record_id, error in errors.items():
            if not isinstance(error, dict) or not isinstance(record_id, str) or not record_id:
                raise ValueError(f"record {record_id!r}: expected {{'errorCode': int, 'errorMessage': str}}")
            parsed.append(_record_error_rule({**error, "recordId": record_id}, f"record {record_id!r}"))
        named = {rule.record_id for rule in parsed}
        with self._lock:
            self._record_error_rules = [
                rule
                for rule in self._record_error_rules
                if not (rule.record_id in named and rule.prompt_contains is None and rule.model_id is None)
            ] + parsed

    def add_record_error_rules(self, rules: list[Any]) -> None:
        """Add rules, each `{recordId?, promptContains?, modelId?, errorCode, errorMessage?, times?}`: the records
        that match every criterion given fail with errorCode, `times` times (absent: every time). The rules
        added first are tried first. ValueError (and nothing added) for a bad rule."""
        if not isinstance(rules, list) or not rules:
            raise ValueError(f"rules must be a non-empty list of rule objects, got {rules!r}")
        parsed = [_record_error_rule(rule, f"rule {index}") for index, rule in enumerate(rules)]
        with self._lock:
            self._record_error_rules.extend(parsed)

    def clear_record_errors(self) -> None:
        with self._lock:
            self._record_error_rules = []

    def take_record_error(self, record_id: str | None, model_id: str, model_input: Any) -> RecordError | None:
        """The forced error of a record being answered now (by a batch job, or on demand, where `record_id` is
        what the caller's request metadata names, if anything), counting it against its rule; None: answer it."""
        with self._lock:
            if not self._record_error_rules:
                return None  # the common case, once per record of every job: no prompt text to build
            prompt_text = formats.prompt_text(model_input)
            for rule in self._record_error_rules:
                if rule.matches(record_id, model_id, prompt_text):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    rule.applied += 1
                    return rule.error
        return None

    def set_invocation_rate(self, requests_per_second: float | None, model_id: str | None = None) -> None:
        """Throttle InvokeModel and Converse to this many requests per second for each model (model_id None: the
        rate of every model without its own), the excess refused with ThrottlingException; None removes it."""
        if requests_per_second is not None and (
            isinstance(requests_per_second, bool)
            or not isinstance(requests_per_second, int | float)
            or not math.isfinite(requests_per_second)
            or requests_per_second <= 0
        ):
            raise ValueError(f"requestsPerSecond must be a positive number (or null: off), got {requests_per_second!r}")
        if model_id is not None and (not isinstance(model_id, str) or not model_id):
            raise ValueError(f"modelId must be a non-empty string, got {model_id!r}")
        with self._lock:
            if requests_per_second is None:
                self._invocation_rates.pop(model_id, None)
            else:
                self._invocation_rates[model_id] = InvocationRate(float(requests_per_second), self._monotonic)

    def invocation_throttled(self, model_id: str) -> bool:
        """Whether an InvokeModel or Converse call of `model_id` now exceeds its rate (and is refused)."""
        with self._lock:
            rate = self._invocation_rates.get(model_id) or self._invocation_rates.get(None)
            if rate is None or rate.admit(model_id):
                return False
            self.throttled_invocations += 1
            return True

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
                "recordErrors": [rule.to_api() for rule in self._record_error_rules],
                "invocationThrottling": {
                    "rates": [
                        {**({"modelId": model_id} if model_id else {}), "requestsPerSecond": rate.requests_per_second}
                        for model_id, rate in self._invocation_rates.items()
                    ],
                    "throttledRequests": self.throttled_invocations,
                },
                "nextJobOutcomes": [
                    {"status": outcome.status, "afterRecords": outcome.after_records} for outcome in self._next_outcomes
                ],
                "deniedRoles": sorted(self._denied_roles),
                "deniedOperations": sorted(self._denied_operations),
                "recordInvocations": dict(self._record_invocations),
            }
        return {**super().state(), **extra}
