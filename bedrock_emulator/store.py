"""In-memory state of one emulated account: model invocation jobs, their records, and the quotas they meet."""

from __future__ import annotations

import hashlib
import secrets
import string
import threading
from dataclasses import dataclass, field
from typing import Any

SUBMITTED = "Submitted"
VALIDATING = "Validating"
SCHEDULED = "Scheduled"
IN_PROGRESS = "InProgress"
COMPLETED = "Completed"
PARTIALLY_COMPLETED = "PartiallyCompleted"
FAILED = "Failed"
STOPPING = "Stopping"
STOPPED = "Stopped"
EXPIRED = "Expired"

ALL_STATUSES = (
    SUBMITTED,
    VALIDATING,
    SCHEDULED,
    IN_PROGRESS,
    COMPLETED,
    PARTIALLY_COMPLETED,
    FAILED,
    STOPPING,
    STOPPED,
    EXPIRED,
)
TERMINAL_STATUSES = frozenset({COMPLETED, PARTIALLY_COMPLETED, FAILED, STOPPED, EXPIRED})
# The statuses a job may be forced to end in through the admin API (after N records).
FORCIBLE_OUTCOMES = frozenset({FAILED, EXPIRED, PARTIALLY_COMPLETED})

_JOB_ID_ALPHABET = string.ascii_lowercase + string.digits
_RECORD_ID_ALPHABET = string.ascii_uppercase + string.digits
DEFAULT_TIMEOUT_HOURS = 168  # bedrock-facts §1.4
# Where a job's timeoutDurationInHours is counted from (bedrock-facts §3.2). From its submitTime by default: the
# queue and the run share the one timeout. From its start (an admin setting): the timeout still bounds the queue
# (Expired: "didn't begin before the set timeout duration"), and a job that starts has a whole timeout to run.
TIMEOUT_FROM_SUBMISSION = "submission"
TIMEOUT_FROM_START = "start"
TIMEOUT_COUNTS = (TIMEOUT_FROM_SUBMISSION, TIMEOUT_FROM_START)


def new_job_id() -> str:
    """12 lowercase letters or digits: the last segment of a job ARN (the model's ModelInvocationJobArn pattern)."""
    return "".join(secrets.choice(_JOB_ID_ALPHABET) for _ in range(12))


def generated_record_id(job_id: str, file_key: str, line_number: int) -> str:
    """The 11-character alphanumeric recordId Bedrock gives a record that has none (bedrock-facts §2.1);
    derived from the job, file and line so that a re-read of the same job gives the same id."""
    digest = int.from_bytes(hashlib.sha256(f"{job_id}\n{file_key}\n{line_number}".encode()).digest(), "big")
    chars = []
    for _ in range(11):
        digest, index = divmod(digest, len(_RECORD_ID_ALPHABET))
        chars.append(_RECORD_ID_ALPHABET[index])
    return "".join(chars)


@dataclass(frozen=True)
class ModelQuota:
    """Per model: records per job (a job outside the range fails validation) and unfinished jobs at once (a
    Create beyond it is refused with ServiceQuotaExceededException). bedrock-facts §4."""

    min_records_per_job: int = 100
    max_records_per_job: int = 50_000
    max_unfinished_jobs: int = 10

    def __post_init__(self) -> None:
        for name in ("min_records_per_job", "max_records_per_job", "max_unfinished_jobs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.min_records_per_job > self.max_records_per_job:
            raise ValueError(
                f"min_records_per_job ({self.min_records_per_job}) is above "
                f"max_records_per_job ({self.max_records_per_job})"
            )

    def to_kwargs(self) -> dict[str, int]:
        return {
            "min_records_per_job": self.min_records_per_job,
            "max_records_per_job": self.max_records_per_job,
            "max_unfinished_jobs": self.max_unfinished_jobs,
        }

    def to_api(self) -> dict[str, int]:
        return {
            "minRecordsPerJob": self.min_records_per_job,
            "maxRecordsPerJob": self.max_records_per_job,
            "maxUnfinishedJobs": self.max_unfinished_jobs,
        }


@dataclass
class Quotas:
    """The default quota and per-model overrides; settable at run time through the admin API."""

    default: ModelQuota = field(default_factory=ModelQuota)
    per_model: dict[str, ModelQuota] = field(default_factory=dict)

    def for_model(self, model_id: str) -> ModelQuota:
        return self.per_model.get(model_id, self.default)

    def to_api(self) -> dict[str, Any]:
        return {
            "default": self.default.to_api(),
            "perModel": {model_id: quota.to_api() for model_id, quota in sorted(self.per_model.items())},
        }


@dataclass
class InputRecord:
    """One line of an input file: its recordId (given or generated) and modelInput."""

    file_index: int
    line_number: int
    record_id: str
    model_input: Any


@dataclass
class InputFile:
    key: str
    output_name: str  # the input's path under the input prefix; the output is `<output_name>.out`


@dataclass(frozen=True)
class ForcedOutcome:
    """End the job with `status` once `after_records` records are processed (at once for 0)."""

    status: str
    after_records: int
    message: str | None = None


@dataclass
class Job:
    job_id: str
    arn: str
    name: str
    model_id: str
    role_arn: str
    params: dict[str, Any]
    submit_time: float
    timeout_hours: int
    client_token: str | None = None
    status: str = SUBMITTED
    message: str | None = None
    last_modified: float = 0.0
    end_time: float | None = None
    files: list[InputFile] = field(default_factory=list)
    records: list[InputRecord] = field(default_factory=list)
    # Output lines of the processed records, by record index; filled in processing order.
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    total: int = 0
    success: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    # Pacing: the previous step's time and when the next falls due.
    paced_from: float = 0.0
    next_due: float = 0.0
    forced: ForcedOutcome | None = None
    end_event_handed_over: bool = False
    # How timeout_hours is counted (TIMEOUT_COUNTS), fixed when the job is created; when it became InProgress.
    timeout_counted_from: str = TIMEOUT_FROM_SUBMISSION
    start_time: float | None = None

    @property
    def processed(self) -> int:
        return len(self.results)

    @property
    def active(self) -> bool:
        return self.status not in TERMINAL_STATUSES

    @property
    def expiration_time(self) -> float:
        """When the job times out: `timeout_hours` after it was submitted, or, counted from its start, after it
        started (until then, after it was submitted: a job that never starts expires)."""
        if self.timeout_counted_from == TIMEOUT_FROM_START and self.start_time is not None:
            return self.start_time + self.timeout_hours * 3600
        return self.submit_time + self.timeout_hours * 3600

    def to_api(self) -> dict[str, Any]:
        """GetModelInvocationJob's response (also a ListModelInvocationJobs summary), timestamps in epoch seconds."""
        params = self.params
        out: dict[str, Any] = {
            "jobArn": self.arn,
            "jobName": self.name,
            "modelId": self.model_id,
            "roleArn": self.role_arn,
            "status": self.status,
            "submitTime": self.submit_time,
            "lastModifiedTime": self.last_modified,
            "inputDataConfig": params["inputDataConfig"],
            "outputDataConfig": params["outputDataConfig"],
            "timeoutDurationInHours": self.timeout_hours,
            "jobExpirationTime": self.expiration_time,
            "modelInvocationType": params.get("modelInvocationType", "InvokeModel"),
            "totalRecordCount": self.total,
            "processedRecordCount": self.processed,
            "successRecordCount": self.success,
            "errorRecordCount": self.errors,
        }
        if self.client_token is not None:
            out["clientRequestToken"] = self.client_token
        if "vpcConfig" in params:
            out["vpcConfig"] = params["vpcConfig"]
        if self.message is not None:
            out["message"] = self.message
        if self.end_time is not None:
            out["endTime"] = self.end_time
        return out


class AccountState:
    """Every job of the account, in submission order; one lock guards all of it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.jobs: dict[str, Job] = {}
        self.client_tokens: dict[str, tuple[str, str]] = {}  # clientRequestToken -> (request fingerprint, job id)

    def find_job(self, identifier: str) -> Job | None:
        """By id, or by ARN (the id is the ARN's last segment; the rest must match the job's own ARN)."""
        job = self.jobs.get(identifier.rsplit("/", 1)[-1])
        if job is None:
            return None
        if "/" in identifier and identifier != job.arn:
            return None
        return job

    def active_jobs(self) -> list[Job]:
        return [job for job in self.jobs.values() if job.active]
