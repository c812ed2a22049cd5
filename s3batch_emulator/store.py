"""In-memory state of one emulated account: S3 Batch Operations jobs, their tasks and the quotas they meet."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

# JobStatus, exactly the model's enum (s3batch-facts §2).
NEW = "New"
PREPARING = "Preparing"
SUSPENDED = "Suspended"
READY = "Ready"
ACTIVE = "Active"
PAUSING = "Pausing"
PAUSED = "Paused"
COMPLETING = "Completing"
COMPLETE = "Complete"
FAILING = "Failing"
FAILED = "Failed"
CANCELLING = "Cancelling"
CANCELLED = "Cancelled"

ALL_STATUSES = (
    NEW,
    PREPARING,
    SUSPENDED,
    READY,
    ACTIVE,
    PAUSING,
    PAUSED,
    COMPLETING,
    COMPLETE,
    FAILING,
    FAILED,
    CANCELLING,
    CANCELLED,
)
TERMINAL_STATUSES = frozenset({COMPLETE, FAILED, CANCELLED})
# The statuses a job may be forced to end in through the admin API.
FORCIBLE_OUTCOMES = frozenset({COMPLETE, FAILED, CANCELLED})

# Terminal jobs are deleted 90 days after they end: DescribeJob says NotFound, ListJobs omits them (§2, §7).
RETENTION_SECONDS = 90 * 24 * 3600

# The only operations whose tasks the emulator runs (the model has eleven; the others are refused at create).
SUPPORTED_OPERATIONS = ("LambdaInvoke", "S3PutObjectCopy", "S3PutObjectTagging", "S3DeleteObjectTagging")


def new_job_id() -> str:
    """A UUIDv4, as observed job ids are (s3batch-facts §1.9)."""
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Task:
    """One manifest row: the bucket, the key as the manifest wrote it (URL-encoded) and decoded, a version."""

    bucket: str
    raw_key: str
    key: str
    version_id: str | None


@dataclass(frozen=True, slots=True)
class TaskResult:
    """How a task ended, as its completion-report row says it."""

    task: Task
    succeeded: bool
    http_status: int
    error_code: str
    message: str


@dataclass(frozen=True)
class ForcedOutcome:
    status: str
    after_tasks: int
    message: str | None = None


@dataclass(frozen=True)
class Quotas:
    """Limits the emulator applies (s3batch-facts §7). `max_active_jobs`: jobs Active at once, beyond which a
    higher-priority job pauses a lower one (AWS documents no number: unlimited unless set). `max_tasks_per_job`:
    a bigger manifest fails the job (AWS: 20 billion). `max_tags_per_job`: 50. `report_rows_per_file`: rows per
    completion-report CSV before a new file starts [unconfirmed split size]. `lambda_attempts`: how many times a
    task answered TemporaryFailure is invoked before it is reported failed [unconfirmed: AWS says only that it is
    redriven]. `suspended_days_before_failure`: a job left Suspended longer fails (AWS: 30)."""

    max_active_jobs: int = 0
    max_tasks_per_job: int = 20_000_000_000
    max_tags_per_job: int = 50
    report_rows_per_file: int = 1_000_000
    lambda_attempts: int = 3
    suspended_days_before_failure: int = 30

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        for name in ("report_rows_per_file", "lambda_attempts", "max_tags_per_job"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")

    def to_api(self) -> dict[str, int]:
        return {
            "maxActiveJobs": self.max_active_jobs,
            "maxTasksPerJob": self.max_tasks_per_job,
            "maxTagsPerJob": self.max_tags_per_job,
            "reportRowsPerFile": self.report_rows_per_file,
            "lambdaAttempts": self.lambda_attempts,
            "suspendedDaysBeforeFailure": self.suspended_days_before_failure,
        }


QUOTA_FIELDS = {
    "maxActiveJobs": "max_active_jobs",
    "maxTasksPerJob": "max_tasks_per_job",
    "maxTagsPerJob": "max_tags_per_job",
    "reportRowsPerFile": "report_rows_per_file",
    "lambdaAttempts": "lambda_attempts",
    "suspendedDaysBeforeFailure": "suspended_days_before_failure",
}


@dataclass
class Job:
    job_id: str
    arn: str
    params: dict[str, Any]
    role_arn: str
    priority: int
    creation_time: float
    confirmation_required: bool
    client_token: str
    fingerprint: str
    tags: list[dict[str, str]]
    status: str = NEW
    status_update_reason: str | None = None
    failure_reasons: list[dict[str, str]] = field(default_factory=list)
    termination_date: float | None = None
    suspended_date: float | None = None
    suspended_cause: str | None = None
    tasks: list[Task] = field(default_factory=list)
    total: int = 0
    next_task: int = 0
    """Index of the next manifest row to run."""
    retry_queue: list[tuple[Task, int, str]] = field(default_factory=list)
    """Tasks a Lambda answered TemporaryFailure: (task, attempts so far, last result string)."""
    succeeded: int = 0
    failed: int = 0
    results: list[TaskResult] = field(default_factory=list)
    active_seconds: float = 0.0
    active_since: float | None = None
    report_written: bool = False
    forced: ForcedOutcome | None = None
    cancel_requested: bool = False
    next_due: float = 0.0
    paced_from: float = 0.0
    end_event_handed_over: bool = False

    @property
    def active(self) -> bool:
        return self.status not in TERMINAL_STATUSES

    @property
    def operation_name(self) -> str:
        return str(next(name for name, value in self.params["Operation"].items() if value is not None))

    @property
    def tasks_run(self) -> int:
        return self.succeeded + self.failed

    def elapsed_active(self, now: float) -> int:
        running = now - self.active_since if self.active_since is not None else 0.0
        return int(self.active_seconds + running)

    def progress(self, now: float) -> dict[str, Any]:
        return {
            "TotalNumberOfTasks": self.total,
            "NumberOfTasksSucceeded": self.succeeded,
            "NumberOfTasksFailed": self.failed,
            "Timers": {"ElapsedTimeInActiveSeconds": self.elapsed_active(now)},
        }

    def describe(self, now: float) -> dict[str, Any]:
        """The JobDescriptor DescribeJob answers."""
        params = self.params
        found: dict[str, Any] = {
            "JobId": self.job_id,
            "ConfirmationRequired": self.confirmation_required,
            "Description": params.get("Description"),
            "JobArn": self.arn,
            "Status": self.status,
            "Manifest": params.get("Manifest"),
            "Operation": params["Operation"],
            "Priority": self.priority,
            "ProgressSummary": self.progress(now),
            "StatusUpdateReason": self.status_update_reason,
            "FailureReasons": list(self.failure_reasons),
            "Report": params["Report"],
            "CreationTime": self.creation_time,
            "TerminationDate": self.termination_date,
            "RoleArn": self.role_arn,
            "SuspendedDate": self.suspended_date,
            "SuspendedCause": self.suspended_cause,
            "ManifestGenerator": params.get("ManifestGenerator"),
        }
        return {key: value for key, value in found.items() if value is not None}

    def list_entry(self, now: float) -> dict[str, Any]:
        """The JobListDescriptor ListJobs answers."""
        found: dict[str, Any] = {
            "JobId": self.job_id,
            "Description": self.params.get("Description"),
            "Operation": self.operation_name,
            "Priority": self.priority,
            "Status": self.status,
            "CreationTime": self.creation_time,
            "TerminationDate": self.termination_date,
            "ProgressSummary": self.progress(now),
        }
        return {key: value for key, value in found.items() if value is not None}


class AccountState:
    """Every job of one account, guarded by one re-entrant lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.jobs: dict[str, Job] = {}
        self.client_tokens: dict[str, str] = {}

    def find_job(self, identifier: str) -> Job | None:
        job = self.jobs.get(identifier)
        if job is None and identifier.startswith("arn:"):
            job = self.jobs.get(identifier.rsplit("/", 1)[-1])
        return job

    def active_jobs(self) -> list[Job]:
        return [job for job in self.jobs.values() if job.active]
