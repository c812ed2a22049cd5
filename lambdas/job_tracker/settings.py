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
from job_tracker.retry_policy import RetryPolicy, RetryPolicyError, parse_retry_policy
from job_tracker.scopes import BedrockScope, S3BatchScope, ServiceScope, TrackedJobs, VoiceIdScope


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


def _account_id(env: Mapping[str, str], name: str, service_key: str) -> str:
    """The account whose jobs a service scoped by account (Bedrock, S3 Batch Operations) follows: 12 digits."""
    account = _required(env, name)
    if not SERVICES[service_key].scope_id.fullmatch(account):
        raise ConfigurationError(f"environment variable {name} must be 12 digits, got {account!r}")
    return account


def _locations(env: Mapping[str, str], name: str) -> tuple[S3Location, ...]:
    """S3 URIs, comma-separated; at least one."""
    try:
        locations = tuple(S3Location.parse(uri) for uri in _listed(env, name))
    except InvalidJobRequest as error:
        raise ConfigurationError(f"environment variable {name}: {error}") from None
    if not locations:
        raise ConfigurationError(f"environment variable {name} is not set")
    return locations


def _bedrock_scope(env: Mapping[str, str]) -> BedrockScope | None:
    """BEDROCK_JOB_NAME_PREFIXES and BEDROCK_OUTPUT_LOCATIONS (comma-separated), BEDROCK_ACCOUNT_ID and the
    Region Lambda sets (AWS_REGION); no prefixes: the stack follows no Bedrock job."""
    prefixes = _listed(env, "BEDROCK_JOB_NAME_PREFIXES")
    if not prefixes:
        return None
    return BedrockScope(
        account_id=_account_id(env, "BEDROCK_ACCOUNT_ID", "bedrock"),
        output_prefixes=_locations(env, "BEDROCK_OUTPUT_LOCATIONS"),
        region=_required(env, "AWS_REGION"),
        job_name_prefixes=prefixes,
    )


def _s3batch_scope(env: Mapping[str, str]) -> S3BatchScope | None:
    """S3BATCH_JOB_DESCRIPTION_PREFIXES and S3BATCH_REPORT_LOCATIONS (comma-separated), S3BATCH_ACCOUNT_ID and
    the Region Lambda sets (AWS_REGION); no prefixes: the stack follows no S3 Batch Operations job."""
    # Not stripped: a description prefix may end in a space ("nightly ").
    prefixes = tuple(prefix for prefix in env.get("S3BATCH_JOB_DESCRIPTION_PREFIXES", "").split(",") if prefix)
    if not prefixes:
        return None
    return S3BatchScope(
        account_id=_account_id(env, "S3BATCH_ACCOUNT_ID", "s3"),
        report_locations=_locations(env, "S3BATCH_REPORT_LOCATIONS"),
        region=_required(env, "AWS_REGION"),
        description_prefixes=prefixes,
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
    s3batch = _s3batch_scope(env)
    if s3batch is not None:
        scopes["s3"] = s3batch
    if not scopes:
        raise ConfigurationError(
            "none of VOICE_ID_DOMAIN_IDS, BEDROCK_JOB_NAME_PREFIXES and S3BATCH_JOB_DESCRIPTION_PREFIXES is set: "
            "the stack would follow no job"
        )
    return TrackedJobs(scopes=scopes)


def _services(env: Mapping[str, str]) -> frozenset[str]:
    """TRACKED_SERVICES: the JobService keys the stack follows, comma-separated (`voiceid`, `bedrock`, `s3`); unset in
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


@dataclass(frozen=True)
class RetryDispatcherSettings:
    """The retry dispatcher's environment: the table, the policy as validated at synth (BEDROCK_RETRY_POLICY),
    where retry jobs' input goes, the tracked name prefixes its jobs keep, the models' minimum per job, and the
    source of its settled events."""

    table_name: str
    policy: RetryPolicy
    retry_input: S3Location
    job_name_prefixes: tuple[str, ...]
    min_records_per_job: int
    event_source: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RetryDispatcherSettings:
        try:
            policy = parse_retry_policy(_required(env, "BEDROCK_RETRY_POLICY"))
        except RetryPolicyError as error:
            raise ConfigurationError(f"environment variable BEDROCK_RETRY_POLICY {error}") from None
        try:
            retry_input = S3Location.parse(_required(env, "BEDROCK_RETRY_INPUT_LOCATION"))
        except InvalidJobRequest as error:
            raise ConfigurationError(f"environment variable BEDROCK_RETRY_INPUT_LOCATION: {error}") from None
        prefixes = _listed(env, "RETRY_JOB_NAME_PREFIXES")
        if not prefixes:
            raise ConfigurationError("environment variable RETRY_JOB_NAME_PREFIXES is not set")
        return cls(
            table_name=_required(env, "FAILURES_TABLE_NAME"),
            policy=policy,
            retry_input=retry_input,
            job_name_prefixes=prefixes,
            min_records_per_job=_positive_int(env, "BEDROCK_MIN_RECORDS_PER_JOB"),
            event_source=_required(env, "SETTLED_EVENT_SOURCE"),
        )
