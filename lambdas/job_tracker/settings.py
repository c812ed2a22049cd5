"""Each function's environment, read and validated once at cold start.

A missing or malformed variable raises ConfigurationError naming it, so a bad deployment fails on its
first invocation with a message an operator can act on, not deep inside a job.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from job_tracker.errors import ConfigurationError, InvalidJobRequest
from job_tracker.ids import require_resource_id as _require_id
from job_tracker.polling import PollBounds


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def _whole_number(env: Mapping[str, str], name: str, low: int) -> int:
    raw = _required(env, name)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name} must be a whole number, got {raw!r}") from None
    if value < low:
        raise ConfigurationError(f"environment variable {name} must be at least {low}, got {value}")
    return value


def _positive_int(env: Mapping[str, str], name: str) -> int:
    return _whole_number(env, name, 1)


def _domain_ids(env: Mapping[str, str]) -> tuple[str, ...]:
    """VOICE_ID_DOMAIN_IDS: the configured domains, comma-separated."""
    domains = tuple(domain for domain in _required(env, "VOICE_ID_DOMAIN_IDS").split(",") if domain)
    try:
        for domain in domains:
            _require_id("VOICE_ID_DOMAIN_IDS", domain)
    except InvalidJobRequest as error:
        raise ConfigurationError(f"environment variable {error}") from None
    return domains


@dataclass(frozen=True)
class DescribeJobSettings:
    poll_bounds: PollBounds

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DescribeJobSettings:
        return cls(
            poll_bounds=PollBounds(
                min_seconds=_positive_int(env, "MIN_POLL_SECONDS"),
                max_seconds=_positive_int(env, "MAX_POLL_SECONDS"),
            )
        )


@dataclass(frozen=True)
class RecordFailuresSettings:
    table_name: str
    retention_days: int
    """RETENTION_DAYS: how long failure and summary items are kept (their ExpiresAt); 0 keeps them."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RecordFailuresSettings:
        return cls(
            table_name=_required(env, "FAILURES_TABLE_NAME"), retention_days=_whole_number(env, "RETENTION_DAYS", 0)
        )


@dataclass(frozen=True)
class WakeTrackerSettings:
    table_name: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WakeTrackerSettings:
        return cls(table_name=_required(env, "FAILURES_TABLE_NAME"))


@dataclass(frozen=True)
class SweepSettings:
    domain_ids: tuple[str, ...]
    lookback_days: int
    table_name: str
    state_machine_arn: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SweepSettings:
        return cls(
            domain_ids=_domain_ids(env),
            lookback_days=_positive_int(env, "SWEEP_LOOKBACK_DAYS"),
            table_name=_required(env, "FAILURES_TABLE_NAME"),
            state_machine_arn=_required(env, "STATE_MACHINE_ARN"),
        )


@dataclass(frozen=True)
class ValidateInputSettings:
    domain_ids: frozenset[str]

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ValidateInputSettings:
        return cls(domain_ids=frozenset(_domain_ids(env)))
