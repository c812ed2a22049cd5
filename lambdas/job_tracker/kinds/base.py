"""What varies between the tracked batch job kinds, as data: one `JobKind` per kind, in a module of its own.

Everything else (the state machine's loop, the lock, the wake-up, the sweep, recording) is shared and reads
the kind's description instead of branching on its name. A kind belongs to a `JobService` (Voice ID, Amazon
Bedrock, S3 Batch Operations): the service names the adapters that describe and list its jobs (`adapters/`,
keyed by `JobService.key`) and its job-outcome event's detail-type, and the kind names the reader of its
output files (`recording.py`, keyed by `JobKind.output_format`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

# The tracker's job statuses (models.JobStatus, which the state machine's loop reads), and those a job
# leaves no more.
TRACKER_STATUSES = ("SUBMITTED", "IN_PROGRESS", "COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED")
TRACKER_TERMINAL_STATUSES = frozenset({"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED"})

# The detail-type of the event the tracker puts on the default bus once it has recorded a job
# (docs/operations.md, "Job-outcome events"), unless the job's service names its own.
BATCH_JOB_RECORDED = "Batch Job Recorded"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class OutcomeCount:
    """One count of successful requests: which statuses it counts and where it is written."""

    statuses: frozenset[str]
    summary_attribute: str
    """The summary item's attribute, e.g. `RegisteredRequestCount`."""
    output_key: str
    """The execution output's field, e.g. `RegisteredRequests`."""


@dataclass(frozen=True)
class SuccessSchema:
    """The `.out` file's list of successful requests for this kind."""

    member: str
    """Top-level member, e.g. `SuccessfulRegistrations`."""
    status_field: str
    """The entry's status field, e.g. `RegistrationStatus`; its value picks the OutcomeCount."""
    check_entry: Callable[[Mapping[str, Any]], str | None]
    """The kind's own checks of one entry (RequestId and status are checked by the reader): the problem
    found, phrased to follow "has ...", or None."""


@dataclass(frozen=True)
class JobService:
    """The AWS service a kind's jobs run in, and how a job of it is named in the tracker.

    Every job is `JobRef(domain_id, job_id)`: the "domain" is the service's scope for job ids, a Voice ID
    domain for Voice ID and the AWS account for Amazon Bedrock (whose jobs are per account and Region).
    """

    key: str
    """The IAM service prefix, e.g. `voiceid`; also the key of the service's adapters."""
    name: str
    """For messages, e.g. `Voice ID`."""
    client_name: str
    """boto3's client name, e.g. `voice-id`."""
    event_source: str
    """The `source` of the service's EventBridge events, e.g. `aws.voiceid`."""
    scope_noun: str
    """What `DomainId` is for this service, for messages, e.g. `Voice ID domain`."""
    scope_id: re.Pattern[str]
    """The format of `DomainId`."""
    scope_id_shape: str
    """The format in words, e.g. `22 letters or digits`."""
    job_id: re.Pattern[str]
    job_id_shape: str
    throttle_metric: str
    """describe-job's metric of describes the service throttled (after the SDK's retries, before the state
    machine's): the LambdaErrors alarm subtracts it, since the state machine retries them."""
    outcome_event_detail_type: str = BATCH_JOB_RECORDED
    """The detail-type of the tracker's job-outcome event for this service's jobs (the state machine's
    "Announce job recorded" step); rules route the event on it."""


@dataclass(frozen=True)
class JobKind:
    name: str
    """As it appears in execution input (`JobKind`) and on items, e.g. `FRAUDSTER_REGISTRATION`."""
    noun: str
    """For messages, e.g. `fraudster registration`."""
    api_noun: str
    """The service's API noun, e.g. `FraudsterRegistrationJob`: <describe_verb><noun>, List<noun>s,
    <start_verb><noun>."""
    event_detail_types: tuple[str, ...]
    """EventBridge detail-types the service sends for this kind's jobs (every spelling the docs use)."""
    max_requests_per_job: int
    """The service's per-job quota (docs/voiceid-facts.md §3.1, docs/bedrock-jobs.md)."""
    service: JobService
    output_format: str
    """Which reader records the job's output (`recording.py`), e.g. `voiceid-out` or `bedrock-jsonl`."""
    manifest_member: str = ""
    """The input manifest's list of requests, e.g. `FraudsterRegistrationRequests` (Voice ID's `.out` format)."""
    successes: SuccessSchema | None = None
    """The `.out` file's list of successes (Voice ID's `.out` format)."""
    counts: tuple[OutcomeCount, ...] = ()
    start_config_member: str = ""
    """The Start*Job request's kind-specific configuration, e.g. `RegistrationConfig` (a retry copies it)."""
    failure_fields_from_manifest: Mapping[str, str] = field(default_factory=dict)
    """What failure items carry besides RequestId, ErrorCode and ErrorMessage: item attribute -> the input
    manifest request's field it is copied from (the `.out` Errors entries carry nothing else)."""
    subject_attribute: str | None = None
    """The failure items' attribute that names a person (a customer), if any, e.g. `CustomerSpeakerId`: the
    FailuresBySubject index is keyed on it, so that `batch-job-tracker erase` finds every item naming them."""
    describe_verb: str = "Describe"
    start_verb: str = "Start"
    tracker_statuses: Mapping[str, str] = field(default_factory=dict)
    """The service's job statuses -> the tracker's JobStatus values (what the state machine's loop reads);
    empty when the service already uses the tracker's words (Voice ID)."""
    failure_noun: str = "request"
    """What one entry of the job is called (`request`, `record`), for messages."""
    failed_count_attribute: str = "FailedRequestCount"
    """The summary item's count of failure items, in the service's own word (requests, records)."""
    summary_count_attributes: tuple[str, ...] = ()
    """The summary's counts the output format adds besides `counts` (Bedrock: succeeded, unprocessed, tokens)."""
    listed_count_attributes: tuple[str, ...] = ()
    """Of `summary_count_attributes`, those the CLI's `jobs` lists beside the failed count (the outcome, not
    the totals): `show` prints them all."""
    succeeded_count_attributes: tuple[str, ...] = ()
    """The summary's counts of entries the job carried out (registered, enrolled, succeeded), which the CLI's
    `jobs` adds up as Succeeded; the kind's other outcome counts (skipped, unprocessed) are listed apart."""
    failure_detail_fields: tuple[str, ...] = ()
    """Failure items' attributes from the output format itself (Bedrock: where the record's line is), shown by
    the CLI and read by its retry."""
    failure_id_attribute: str = "RequestId"
    """The failure item's attribute naming the failed entry in the service's own word. Every failure item
    also carries `RequestId`, the id the CLI and the error-code index read for every kind."""
    longest_job: timedelta | None = None
    """The longest a job of this kind can take from its submission to its end, when the service bounds it;
    None when it documents no bound. The sweep looks back at least this far (sweep.lookback_for), so a job is
    still listed when it ends."""
    reads_output_of_failed_jobs: bool = False
    """Whether the record step reads the output of a job the tracker calls FAILED. Voice ID and Bedrock promise
    none for a failed job (its FailureDetails are the record); S3 Batch Operations writes a report for a job that
    failed once a task had run (its task-failure threshold), holding every task that did, and its reader says
    itself when there is none."""

    @property
    def describe_api(self) -> str:
        return f"{self.describe_verb}{self.api_noun}"

    @property
    def list_api(self) -> str:
        return f"List{self.api_noun}s"

    @property
    def start_api(self) -> str:
        return f"{self.start_verb}{self.api_noun}"

    @property
    def describe_method(self) -> str:
        """The boto3 client method for the describe API."""
        return _snake(self.describe_api)

    @property
    def list_method(self) -> str:
        return _snake(self.list_api)

    @property
    def start_method(self) -> str:
        return _snake(self.start_api)

    @property
    def describe_action(self) -> str:
        """The IAM action the tracker's loop needs on a configured domain: describe a job."""
        return f"{self.service.key}:{self.describe_api}"

    @property
    def list_action(self) -> str:
        """The IAM action the sweep needs on a configured domain: list jobs."""
        return f"{self.service.key}:{self.list_api}"

    def tracker_status(self, service_status: str) -> str | None:
        """The tracker's JobStatus value for the service's status, or None for a status the kind does not know."""
        if not self.tracker_statuses:
            return service_status
        return self.tracker_statuses.get(service_status)

    @property
    def service_statuses(self) -> tuple[str, ...]:
        """The service's own job statuses, as its API and the summary's JobStatus say them."""
        return tuple(self.tracker_statuses) or TRACKER_STATUSES

    @property
    def terminal_statuses(self) -> frozenset[str]:
        """The service's statuses of a job that has ended."""
        return frozenset(
            status for status in self.service_statuses if self.tracker_status(status) in TRACKER_TERMINAL_STATUSES
        )

    def count_for(self, status: object) -> OutcomeCount | None:
        return next((count for count in self.counts if status in count.statuses), None)
