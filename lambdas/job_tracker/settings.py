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
from job_tracker.kinds import SERVICES
from job_tracker.models import S3Location
from job_tracker.polling import PollBounds
from job_tracker.scopes import BedrockScope, ServiceScope, TrackedJobs, VoiceIdScope


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


def _listed(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(value for value in env.get(name, "").strip().split(",") if value)


def _domain_ids(env: Mapping[str, str]) -> tuple[str, ...]:
    """VOICE_ID_DOMAIN_IDS: the configured domains, comma-separated (empty: the stack follows no Voice ID job)."""
    domains = _listed(env, "VOICE_ID_DOMAIN_IDS")
    try:
        for domain in domains:
            _require_id("VOICE_ID_DOMAIN_IDS", domain)
    except InvalidJobRequest as error:
        raise ConfigurationError(f"environment variable {error}") from None
    return domains


def _bedrock_scope(env: Mapping[str, str]) -> BedrockScope | None:
    """BEDROCK_JOB_NAME_PREFIXES and BEDROCK_OUTPUT_LOCATIONS (comma-separated), BEDROCK_ACCOUNT_ID and the
    Region Lambda sets (AWS_REGION); no prefixes: the stack follows no Bedrock job."""
    prefixes = _listed(env, "BEDROCK_JOB_NAME_PREFIXES")
    if not prefixes:
        return None
    account = _required(env, "BEDROCK_ACCOUNT_ID")
    if not SERVICES["bedrock"].scope_id.fullmatch(account):
        raise ConfigurationError(f"environment variable BEDROCK_ACCOUNT_ID must be 12 digits, got {account!r}")
    try:
        outputs = tuple(S3Location.parse(uri) for uri in _listed(env, "BEDROCK_OUTPUT_LOCATIONS"))
    except InvalidJobRequest as error:
        raise ConfigurationError(f"environment variable BEDROCK_OUTPUT_LOCATIONS: {error}") from None
    if not outputs:
        raise ConfigurationError("environment variable BEDROCK_OUTPUT_LOCATIONS is not set")
    return BedrockScope(
        account_id=account,
        region=_required(env, "AWS_REGION"),
        job_name_prefixes=prefixes,
        output_prefixes=outputs,
    )


def tracked_jobs(env: Mapping[str, str] = os.environ) -> TrackedJobs:
    """The services and jobs the stack follows; ConfigurationError when it follows none."""
    scopes: dict[str, ServiceScope] = {}
    domains = _domain_ids(env)
    if domains:
        scopes["voiceid"] = VoiceIdScope(domain_ids=domains)
    bedrock = _bedrock_scope(env)
    if bedrock is not None:
        scopes["bedrock"] = bedrock
    if not scopes:
        raise ConfigurationError(
            "neither VOICE_ID_DOMAIN_IDS nor BEDROCK_JOB_NAME_PREFIXES is set: the stack would follow no job"
        )
    return TrackedJobs(scopes=scopes)


def _services(env: Mapping[str, str]) -> frozenset[str]:
    """TRACKED_SERVICES: the JobService keys the stack follows, comma-separated (`voiceid`, `bedrock`); unset in
    functions deployed before Bedrock, which follow Voice ID."""
    services = frozenset(_listed(env, "TRACKED_SERVICES") or ("voiceid",))
    unknown = services - set(SERVICES)
    if not services or unknown:
        raise ConfigurationError(
            f"environment variable TRACKED_SERVICES must list some of {', '.join(SERVICES)}, "
            f"got {env.get('TRACKED_SERVICES', '')!r}"
        )
    return services


@dataclass(frozen=True)
class DescribeJobSettings:
    poll_bounds: PollBounds
    services: frozenset[str] = frozenset({"voiceid"})

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DescribeJobSettings:
        return cls(
            services=_services(env),
            poll_bounds=PollBounds(
                min_seconds=_positive_int(env, "MIN_POLL_SECONDS"),
                max_seconds=_positive_int(env, "MAX_POLL_SECONDS"),
            ),
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
    tracked: TrackedJobs
    lookback_days: int
    table_name: str
    state_machine_arn: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SweepSettings:
        return cls(
            tracked=tracked_jobs(env),
            lookback_days=_positive_int(env, "SWEEP_LOOKBACK_DAYS"),
            table_name=_required(env, "FAILURES_TABLE_NAME"),
            state_machine_arn=_required(env, "STATE_MACHINE_ARN"),
        )


@dataclass(frozen=True)
class ValidateInputSettings:
    tracked: TrackedJobs

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ValidateInputSettings:
        return cls(tracked=tracked_jobs(env))
