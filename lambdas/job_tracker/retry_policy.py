"""The automatic retry policy of Bedrock records (`tracker:bedrockRetryPolicy`, docs/configuration.md).

One parser for both sides: the synth (infra/config.py) validates the context value with it, and the retry
dispatcher reads the same JSON back from its environment (BEDROCK_RETRY_POLICY), so what was validated at
synth is exactly what runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

UNPROCESSED = "UNPROCESSED"
# A 400 (ValidationException) says the record itself is wrong: running it again gives the same answer.
ALWAYS_FINAL_CODES = frozenset({400})
# Bedrock allows about 10 unfinished batch jobs per model (docs/bedrock-facts.md); more is refused.
MAX_JOBS_IN_FLIGHT_PER_MODEL = 10
MAX_ATTEMPTS = 10
MAX_POOL_WAIT_SECONDS = 7 * 86_400
MAX_RECORDS_PER_DAY = 10_000_000
MAX_ON_DEMAND_PER_SECOND = 100

FIELDS = {
    "retryCodes": "the error codes to retry: HTTP statuses (429, 500, 503...) and UNPROCESSED; 400 is always final",
    "maxAttempts": f"attempts per record, the first run included (2 to {MAX_ATTEMPTS})",
    "poolWaitSeconds": f"how long records may wait in a pool for a batch job (1 to {MAX_POOL_WAIT_SECONDS})",
    "maxJobsInFlightPerModel": f"retry jobs unfinished at once per model (1 to {MAX_JOBS_IN_FLIGHT_PER_MODEL})",
    "maxRecordsPerDay": f"records retried per UTC day, batch and on demand (1 to {MAX_RECORDS_PER_DAY})",
    "onDemandPerSecond": f"optional: on-demand invocations per second (1 to {MAX_ON_DEMAND_PER_SECOND}, default 5)",
}
DEFAULT_ON_DEMAND_PER_SECOND = 5


class RetryPolicyError(ValueError):
    """The policy is malformed; the message names the field and what it must be."""


@dataclass(frozen=True)
class RetryPolicy:
    retry_codes: frozenset[int | str]
    max_attempts: int
    pool_wait_seconds: int
    max_jobs_in_flight_per_model: int
    max_records_per_day: int
    on_demand_per_second: int = DEFAULT_ON_DEMAND_PER_SECOND

    def is_retryable(self, error_code: object) -> bool:
        """Whether a record that failed with `error_code` (a failure item's ErrorCode: a number, UNPROCESSED, or
        a number as text) is run again; a 400 never is."""
        code = _code(error_code)
        return code is not None and code not in ALWAYS_FINAL_CODES and code in self.retry_codes

    def to_json(self) -> str:
        """The policy as the context gives it, for the dispatcher's environment (parse_retry_policy reads it)."""
        return json.dumps(
            {
                "retryCodes": sorted(self.retry_codes, key=str),
                "maxAttempts": self.max_attempts,
                "poolWaitSeconds": self.pool_wait_seconds,
                "maxJobsInFlightPerModel": self.max_jobs_in_flight_per_model,
                "maxRecordsPerDay": self.max_records_per_day,
                "onDemandPerSecond": self.on_demand_per_second,
            },
            separators=(",", ":"),
        )


def _code(value: object) -> int | str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, str) and value:
        return value
    return None


def _whole(document: Mapping[str, Any], name: str, low: int, high: int, default: int | None = None) -> int:
    value = document.get(name, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RetryPolicyError(f"{name} must be a whole number from {low} to {high} ({FIELDS[name]}), got {value!r}")
    return value


def parse_retry_policy(value: object) -> RetryPolicy:
    """The policy from its JSON object (or its text): RetryPolicyError naming what is wrong."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise RetryPolicyError(f"is not a JSON object: {error}") from None
    if not isinstance(value, Mapping):
        raise RetryPolicyError(f"must be an object with {', '.join(FIELDS)}, got {type(value).__name__}")
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise RetryPolicyError(f"has unknown field(s) {', '.join(unknown)}; the fields are {', '.join(FIELDS)}")
    raw_codes = value.get("retryCodes")
    if not isinstance(raw_codes, list) or not raw_codes:
        raise RetryPolicyError(f"retryCodes must be a non-empty list ({FIELDS['retryCodes']})")
    codes: set[int | str] = set()
    for raw in raw_codes:
        code = _code(raw)
        if code in ALWAYS_FINAL_CODES:
            raise RetryPolicyError("retryCodes lists 400, which is always final: the record itself is invalid")
        if not (code == UNPROCESSED or (isinstance(code, int) and 400 <= code <= 599)):
            raise RetryPolicyError(f"retryCodes: {raw!r} is neither an HTTP error status (401-599) nor {UNPROCESSED}")
        codes.add(code)
    return RetryPolicy(
        retry_codes=frozenset(codes),
        max_attempts=_whole(value, "maxAttempts", 2, MAX_ATTEMPTS),
        pool_wait_seconds=_whole(value, "poolWaitSeconds", 1, MAX_POOL_WAIT_SECONDS),
        max_jobs_in_flight_per_model=_whole(value, "maxJobsInFlightPerModel", 1, MAX_JOBS_IN_FLIGHT_PER_MODEL),
        max_records_per_day=_whole(value, "maxRecordsPerDay", 1, MAX_RECORDS_PER_DAY),
        on_demand_per_second=_whole(
            value, "onDemandPerSecond", 1, MAX_ON_DEMAND_PER_SECOND, default=DEFAULT_ON_DEMAND_PER_SECOND
        ),
    )
