"""Everything a deployer chooses, read from CDK context (`cdk.json`, or `-c key=value` on the command line).

Each key is documented in docs/configuration.md. Values given with `-c` arrive as strings,
so lists are accepted as JSON and numbers as digits.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

from aws_cdk.aws_logs import RetentionDays

from infra.lambda_contract import S3_URI, VOICE_ID_RESOURCE_ID
from job_tracker.retry_policy import RetryPolicy, RetryPolicyError, parse_retry_policy

CONTEXT_PREFIX = "tracker:"
STACK_NAME = "VoiceIdJobTracker"

# One poll writes 15 history events: the wait-for-wake-up task (entered, scheduled, started, submitted,
# succeeded or timed out, exited), the describe task (entered, scheduled, started, succeeded, exited) and
# two Choice states (entered, exited each); every retry of the describe task adds 3 more, and a wait that
# falls back to a plain Wait state (the token could not be stored) 2 more. Budgeting one retry and one
# fallback per poll, and headroom for the states around the loop, keeps an execution that reaches the cap
# below Standard's hard limit of 25,000 events.
EVENTS_PER_POLL = 15
EVENTS_PER_RETRY = 3
EVENTS_PER_WAIT_FALLBACK = 2
EVENTS_PER_POLL_WORST_CASE = EVENTS_PER_POLL + EVENTS_PER_RETRY + EVENTS_PER_WAIT_FALLBACK
HISTORY_EVENT_LIMIT = 25_000
HISTORY_HEADROOM_EVENTS = 1_000
MAX_POLL_CAP = (HISTORY_EVENT_LIMIT - HISTORY_HEADROOM_EVENTS) // EVENTS_PER_POLL_WORST_CASE

# The reconciliation sweep: every 15 minutes by default (a job whose events were all lost is recorded at
# most that long after it ends), looking back a week. A day between sweeps at most; a longer lookback
# than 90 days only lists more jobs that were recorded long ago.
# How long the record keeps a job's failure and summary items (their ExpiresAt, for the table's TTL): 90
# days by default, as long as Step Functions keeps the executions that wrote them and the Lambdas' logs
# are kept by default, long enough to retry a job's failures and answer for it, and no longer, since
# failure items name customers (docs/data-governance.md). 0 keeps items until erased.
DEFAULT_RETENTION_DAYS = 90
MAX_RETENTION_DAYS = 3653

DEFAULT_SWEEP_MINUTES = 15
MAX_SWEEP_MINUTES = 1440
DEFAULT_SWEEP_LOOKBACK_DAYS = 7
MAX_SWEEP_LOOKBACK_DAYS = 90
# Bedrock's per-model minimum of records per job: commonly 1,000, 100 for some models (docs/bedrock-jobs.md).
DEFAULT_BEDROCK_MIN_RECORDS = 100
# botocore's bedrock model: ModelInvocationJobName. A prefix is its start, so any length from 1 to 63.
_BEDROCK_JOB_NAME_PREFIX = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9+\-.]{0,62}")

# botocore's s3control model: a job's Description is 1-256 characters; a prefix is its start.
MAX_S3BATCH_DESCRIPTION_PREFIX = 256

_KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[a-zA-Z0-9-]+")
_SNS_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]+")
# CloudWatch Logs accepts only these retention periods.
_LOG_RETENTION = {
    1: RetentionDays.ONE_DAY, 3: RetentionDays.THREE_DAYS, 5: RetentionDays.FIVE_DAYS, 7: RetentionDays.ONE_WEEK,
    14: RetentionDays.TWO_WEEKS, 30: RetentionDays.ONE_MONTH, 60: RetentionDays.TWO_MONTHS,
    90: RetentionDays.THREE_MONTHS, 120: RetentionDays.FOUR_MONTHS, 150: RetentionDays.FIVE_MONTHS,
    180: RetentionDays.SIX_MONTHS, 365: RetentionDays.ONE_YEAR, 400: RetentionDays.THIRTEEN_MONTHS,
    545: RetentionDays.EIGHTEEN_MONTHS, 731: RetentionDays.TWO_YEARS, 1096: RetentionDays.THREE_YEARS,
    1827: RetentionDays.FIVE_YEARS, 2192: RetentionDays.SIX_YEARS, 2557: RetentionDays.SEVEN_YEARS,
    2922: RetentionDays.EIGHT_YEARS, 3288: RetentionDays.NINE_YEARS, 3653: RetentionDays.TEN_YEARS,
}  # fmt: skip


class ConfigError(ValueError):
    """A context value is missing or invalid; the message names the key and what it must be."""


class ContextSource(Protocol):
    def try_get_context(self, key: str) -> Any: ...


@dataclass(frozen=True)
class OutputLocation:
    """An S3 bucket and key prefix where Voice ID writes job output that the tracker may read."""

    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        """`s3://<bucket>/<prefix>`, as the context names it (the prefix ends in `/` unless it is empty)."""
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class BedrockConfig:
    """Which Amazon Bedrock batch inference jobs the stack follows, and where it may read their files."""

    job_name_prefixes: tuple[str, ...]
    """A job is followed when its name starts with one of these (the rule, the sweep and the input check)."""
    output_locations: tuple[OutputLocation, ...]
    """Where the followed jobs write their output; a job whose outputS3Uri lies elsewhere is not followed."""
    output_kms_key_arns: tuple[str, ...] = ()
    input_locations: tuple[OutputLocation, ...] = ()
    """Where the followed jobs read their input: read to name unprocessed records (and by the CLI's retry)."""
    input_kms_key_arns: tuple[str, ...] = ()
    retry_input_location: OutputLocation | None = None
    """Where the CLI's `retry` writes the JSONL of records to run again (the operator's credentials)."""
    min_records_per_job: int = DEFAULT_BEDROCK_MIN_RECORDS
    """The models' minimum records per job: a retry below it is refused rather than started to fail."""
    retry_policy: RetryPolicy | None = None
    """Automatic retries of failed and unprocessed records (`tracker:bedrockRetryPolicy`); None: off."""


@dataclass(frozen=True)
class S3BatchConfig:
    """Which Amazon S3 Batch Operations jobs the stack follows, and where it may read their reports."""

    description_prefixes: tuple[str, ...]
    """A job is followed when its Description starts with one of these (validate-input and the sweep; the
    CloudTrail events carry no description, so the rule matches every job of the account)."""
    report_locations: tuple[OutputLocation, ...]
    """Where the followed jobs write their completion reports (JobReport Bucket and Prefix); a job whose report
    lies elsewhere is not followed. Reports are always SSE-S3 (docs/s3batch-facts.md §4): no KMS key to grant."""


@dataclass(frozen=True)
class TrackerConfig:
    voice_id_domain_ids: tuple[str, ...]
    output_locations: tuple[OutputLocation, ...]
    output_kms_key_arns: tuple[str, ...]
    poll_min_seconds: int
    poll_max_seconds: int
    poll_cap: int
    log_retention_days: int
    alarm_topic_arn: str | None
    sweep_minutes: int
    sweep_lookback_days: int
    input_locations: tuple[OutputLocation, ...] = ()
    """Where job manifests are: the record step reads a speaker enrollment's manifest for its failures'
    CustomerSpeakerId (optional; without it those items lack the field)."""
    input_kms_key_arns: tuple[str, ...] = ()
    retention_days: int = DEFAULT_RETENTION_DAYS
    """Days a failure or summary item is kept after it is written; 0 keeps it until erased."""
    table_kms_key_arn: str | None = None
    """A customer managed key for the failures table; None: DynamoDB's AWS managed key."""
    bedrock: BedrockConfig | None = None
    """None: the stack follows no Bedrock job."""
    s3batch: S3BatchConfig | None = None
    """None: the stack follows no S3 Batch Operations job."""

    @property
    def tracked_services(self) -> tuple[str, ...]:
        """The JobService keys the stack follows (any of Voice ID, Bedrock and S3 Batch Operations)."""
        return (
            *(("voiceid",) if self.voice_id_domain_ids else ()),
            *(("bedrock",) if self.bedrock else ()),
            *(("s3",) if self.s3batch else ()),
        )

    @property
    def log_retention(self) -> RetentionDays:
        return _LOG_RETENTION[self.log_retention_days]

    @property
    def execution_timeout_seconds(self) -> int:
        """Long enough for `poll_cap` polls at the longest interval, plus an hour for retries and recording."""
        return self.poll_cap * self.poll_max_seconds + 3600


def _raw(source: ContextSource, name: str) -> Any:
    value = source.try_get_context(CONTEXT_PREFIX + name)
    if value is None:
        raise ConfigError(f"context key {CONTEXT_PREFIX}{name} is not set (see docs/configuration.md)")
    return value


def _parsed_list(value: object, name: str) -> object:
    """A context value as given: from cdk.json a list, from `-c key='[...]'` (or `-c key=one`) a string."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        return []
    try:
        return json.loads(value) if value.strip().startswith("[") else [value]
    except json.JSONDecodeError as error:
        raise ConfigError(f"context key {CONTEXT_PREFIX}{name} is not a JSON list: {error}") from error


def _list(source: ContextSource, name: str) -> list[str]:
    value = _parsed_list(_raw(source, name), name)
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"context key {CONTEXT_PREFIX}{name} must be a non-empty list of strings")
    return value


def _optional_list(source: ContextSource, name: str) -> list[str]:
    """Like _list, but unset, empty, `[]` or `-c key='[]'` is no entries."""
    value = _parsed_list(source.try_get_context(CONTEXT_PREFIX + name), name)
    if value is None or value == []:
        return []
    return _list(source, name)


def _int(source: ContextSource, name: str, low: int, high: int, default: int | None = None) -> int:
    value = source.try_get_context(CONTEXT_PREFIX + name) if default is not None else _raw(source, name)
    if value is None:
        value = default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"context key {CONTEXT_PREFIX}{name} must be a whole number from {low} to {high}")
    return value


def _matching(values: list[str], pattern: re.Pattern[str], name: str, what: str) -> tuple[str, ...]:
    for value in values:
        if not pattern.fullmatch(value):
            raise ConfigError(f"context key {CONTEXT_PREFIX}{name}: {value!r} is not {what}")
    return tuple(values)


def _output_location(uri: str, key: str = "outputLocations") -> OutputLocation:
    match = S3_URI.fullmatch(uri)
    if not match:
        raise ConfigError(f"context key {CONTEXT_PREFIX}{key}: {uri!r} is not an s3://bucket/prefix URI")
    prefix = (match["key"] or "").strip("/")
    return OutputLocation(bucket=match["bucket"], prefix=f"{prefix}/" if prefix else "")


def _bedrock(source: ContextSource) -> BedrockConfig | None:
    prefixes = _optional_list(source, "bedrockJobNamePrefixes")
    if not prefixes:
        return None
    retry = source.try_get_context(CONTEXT_PREFIX + "bedrockRetryInputLocation") or None
    return BedrockConfig(
        job_name_prefixes=_matching(
            prefixes, _BEDROCK_JOB_NAME_PREFIX, "bedrockJobNamePrefixes", "the start of a Bedrock job name"
        ),
        output_locations=tuple(
            _output_location(uri, "bedrockOutputLocations") for uri in _list(source, "bedrockOutputLocations")
        ),
        output_kms_key_arns=_matching(
            _optional_list(source, "bedrockOutputKmsKeyArns"), _KMS_KEY_ARN, "bedrockOutputKmsKeyArns", "a KMS key ARN"
        ),
        input_locations=tuple(
            _output_location(uri, "bedrockInputLocations") for uri in _optional_list(source, "bedrockInputLocations")
        ),
        input_kms_key_arns=_matching(
            _optional_list(source, "bedrockInputKmsKeyArns"), _KMS_KEY_ARN, "bedrockInputKmsKeyArns", "a KMS key ARN"
        ),
        retry_input_location=_output_location(str(retry), "bedrockRetryInputLocation") if retry else None,
        min_records_per_job=_int(source, "bedrockMinRecordsPerJob", 1, 50_000, default=DEFAULT_BEDROCK_MIN_RECORDS),
        retry_policy=_retry_policy(source, retry),
    )


def _s3batch(source: ContextSource) -> S3BatchConfig | None:
    """`tracker:s3BatchJobDescriptionPrefixes` turns S3 Batch Operations on; `tracker:s3BatchReportLocations` is
    then required."""
    name = "s3BatchJobDescriptionPrefixes"
    prefixes = _optional_list(source, name)
    if not prefixes:
        return None
    for prefix in prefixes:
        if not 0 < len(prefix) <= MAX_S3BATCH_DESCRIPTION_PREFIX or not prefix.strip():
            raise ConfigError(
                f"context key {CONTEXT_PREFIX}{name}: {prefix!r} is not the start of a job description (1 to "
                f"{MAX_S3BATCH_DESCRIPTION_PREFIX} characters, not only spaces)"
            )
        if "," in prefix:
            # The functions read the prefixes from one comma-separated environment variable.
            raise ConfigError(f"context key {CONTEXT_PREFIX}{name}: {prefix!r} contains a comma")
    return S3BatchConfig(
        description_prefixes=tuple(prefixes),
        report_locations=tuple(
            _output_location(uri, "s3BatchReportLocations") for uri in _list(source, "s3BatchReportLocations")
        ),
    )


def _retry_policy(source: ContextSource, retry_input_location: object) -> RetryPolicy | None:
    """`tracker:bedrockRetryPolicy`: off unless set; it needs the retry input location (where the retry jobs'
    JSONL files are written)."""
    name = "bedrockRetryPolicy"
    value = source.try_get_context(CONTEXT_PREFIX + name)
    if value is None or value in ("", {}):
        return None
    try:
        policy = parse_retry_policy(value)
    except RetryPolicyError as error:
        raise ConfigError(f"context key {CONTEXT_PREFIX}{name} {error}") from None
    if not retry_input_location:
        raise ConfigError(
            f"context key {CONTEXT_PREFIX}{name} is set but {CONTEXT_PREFIX}bedrockRetryInputLocation is not: the "
            "retry jobs' input files are written there"
        )
    return policy


def load_config(source: ContextSource) -> TrackerConfig:
    poll_min = _int(source, "pollMinSeconds", 1, 3600)
    poll_max = _int(source, "pollMaxSeconds", poll_min, 3600)
    retention = _int(source, "logRetentionDays", 1, 3653)
    if retention not in _LOG_RETENTION:
        raise ConfigError(
            f"context key {CONTEXT_PREFIX}logRetentionDays must be one of CloudWatch's values: {sorted(_LOG_RETENTION)}"
        )
    table_key = source.try_get_context(CONTEXT_PREFIX + "tableKmsKeyArn") or None
    if table_key is not None and not _KMS_KEY_ARN.fullmatch(str(table_key)):
        raise ConfigError(f"context key {CONTEXT_PREFIX}tableKmsKeyArn: {table_key!r} is not a KMS key ARN")
    topic = source.try_get_context(CONTEXT_PREFIX + "alarmTopicArn") or None
    if topic is not None and not _SNS_TOPIC_ARN.fullmatch(str(topic)):
        raise ConfigError(f"context key {CONTEXT_PREFIX}alarmTopicArn: {topic!r} is not an SNS topic ARN")
    bedrock = _bedrock(source)
    s3batch = _s3batch(source)
    domains = _optional_list(source, "voiceIdDomainIds")
    if not domains and bedrock is None and s3batch is None:
        raise ConfigError(
            f"context keys {CONTEXT_PREFIX}voiceIdDomainIds, {CONTEXT_PREFIX}bedrockJobNamePrefixes and "
            f"{CONTEXT_PREFIX}s3BatchJobDescriptionPrefixes are all empty: configure Voice ID domains, Bedrock "
            "job-name prefixes, S3 Batch Operations description prefixes, or any of them (see docs/configuration.md)"
        )
    # Voice ID's output locations and keys are required only when the stack follows Voice ID jobs.
    voice_id_list = _list if domains else _optional_list
    return TrackerConfig(
        voice_id_domain_ids=_matching(domains, VOICE_ID_RESOURCE_ID, "voiceIdDomainIds", "a Voice ID domain id"),
        output_locations=tuple(_output_location(uri) for uri in voice_id_list(source, "outputLocations")),
        output_kms_key_arns=_matching(
            voice_id_list(source, "outputKmsKeyArns"), _KMS_KEY_ARN, "outputKmsKeyArns", "a KMS key ARN"
        ),
        bedrock=bedrock,
        s3batch=s3batch,
        poll_min_seconds=poll_min,
        poll_max_seconds=poll_max,
        poll_cap=_int(source, "pollCap", 1, MAX_POLL_CAP),
        log_retention_days=retention,
        alarm_topic_arn=str(topic) if topic else None,
        sweep_minutes=_int(source, "sweepMinutes", 1, MAX_SWEEP_MINUTES, default=DEFAULT_SWEEP_MINUTES),
        sweep_lookback_days=_int(
            source, "sweepLookbackDays", 1, MAX_SWEEP_LOOKBACK_DAYS, default=DEFAULT_SWEEP_LOOKBACK_DAYS
        ),
        input_locations=tuple(
            _output_location(uri, "inputLocations") for uri in _optional_list(source, "inputLocations")
        ),
        input_kms_key_arns=_matching(
            _optional_list(source, "inputKmsKeyArns"), _KMS_KEY_ARN, "inputKmsKeyArns", "a KMS key ARN"
        ),
        retention_days=_int(source, "retentionDays", 0, MAX_RETENTION_DAYS, default=DEFAULT_RETENTION_DAYS),
        table_kms_key_arn=str(table_key) if table_key else None,
    )
