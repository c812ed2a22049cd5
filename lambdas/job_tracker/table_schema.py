"""Layout of the failures table: one partition per job, so one Query returns a job's whole record.

| item             | pk                      | sk                    |
|------------------|-------------------------|-----------------------|
| failed request   | JOB#<DomainId>#<JobId>  | FAILURE#<RequestId>   |
| job summary      | JOB#<DomainId>#<JobId>  | SUMMARY               |
| job lock         | JOB#<DomainId>#<JobId>  | LOCK                  |

Index `JobsByDomain` (gsi2pk = DOMAIN#<DomainId>) holds the summary items (gsi2sk = <JobCreatedAt>#<JobId>):
a domain's recorded jobs (of every kind and record state) in creation order, for listing them newest first
without a Scan; and the lock items the state machine puts (gsi2sk = <LockedAt>#<JobId>), so that jobs a
tracker took but did not record are listed too (`jobs --all`).

Index `FailuresByErrorCode` (gsi1pk = DOMAIN#<DomainId>#ERROR#<ErrorCode>#SHARD#<n>, gsi1sk =
<JobCreatedAt>#<JobId>#<RequestId>) lists one error code across a domain's jobs within a time window
(`batch-job-tracker failures-by-code`). A job's failures of one code are spread over ERROR_CODE_SHARDS
partitions by a hash of their RequestId, so that recording a large job does not write to one hot
partition; a query reads every shard and merges them.

Index `FailuresBySubject` (gsi3pk = <Attribute>#<value>, keys only) finds every failure item that names one
person, by the attribute the job kind declares (`JobKind.subject_attribute`: CustomerSpeakerId for speaker
enrollments), for `batch-job-tracker erase`. A failure item whose subject attribute could not be read (a speaker
enrollment whose input manifest the tracker may not read) is keyed SUBJECT_UNREAD#<Attribute>#SHARD#<n>
instead, n a hash of its RequestId as for the error codes: its ErrorMessage can still name the person, so
`erase` reads these items and looks for the value in them.

Failure and summary items carry `ExpiresAt` (epoch seconds) when the stack keeps items for a limited time
(`tracker:retentionDays`); the table's TTL deletes them after it.
The lock item is written by the state machine itself (see infra/constructs/state_machine.py); its
ExecutionArns lists every execution that took it.
"""

import zlib
from collections.abc import Mapping

PARTITION_KEY = "pk"
SORT_KEY = "sk"
ERROR_CODE_INDEX = "FailuresByErrorCode"
ERROR_CODE_INDEX_PARTITION_KEY = "gsi1pk"
ERROR_CODE_INDEX_SORT_KEY = "gsi1sk"
ERROR_CODE_SHARDS = 8
SUBJECT_INDEX = "FailuresBySubject"
SUBJECT_INDEX_PARTITION_KEY = "gsi3pk"
JOBS_INDEX = "JobsByDomain"
JOBS_INDEX_PARTITION_KEY = "gsi2pk"
JOBS_INDEX_SORT_KEY = "gsi2sk"

# What each index copies besides the keys: what its readers show (the CLI's `jobs` and `failures-by-code`),
# and nothing that names a person. JobsByDomain's list is fixed as first deployed, the Voice ID kinds' counts
# last: CloudFormation cannot change an index's projection in place (it would have to replace the index), so
# the counts of kinds added since (Bedrock's) are not in it, and the CLI reads them from the summary items.
JOBS_INDEX_ATTRIBUTES = (
    "RecordType", "RecordState", "RecordProblem", "DomainId", "JobId", "JobKind", "JobName", "JobStatus",
    "JobCreatedAt", "JobEndedAt", "FailedRequestCount", "LockState", "LockedAt", "ReleasedAt", "ExecutionArn",
    "DuplicateSkippedRequestCount", "NewEnrollmentCount", "OverwrittenEnrollmentCount", "RegisteredRequestCount",
)  # fmt: skip
ERROR_CODE_INDEX_ATTRIBUTES = ("DomainId", "JobId", "JobKind", "JobCreatedAt", "RequestId", "ErrorCode", "ErrorMessage")

EXPIRES_AT = "ExpiresAt"
"""The table's TTL attribute: when DynamoDB may delete the item (seconds since the epoch)."""
SECONDS_PER_DAY = 86_400

JOB_PARTITION_KEY_PREFIX = "JOB#"
JOB_PARTITION_KEY_FORMAT = JOB_PARTITION_KEY_PREFIX + "{}#{}"
"""A job's partition key, from its DomainId (a Bedrock job's: its account) and its JobId, in that order. Its `{}`
placeholders are filled alike by Python's `str.format` and by Step Functions' `States.Format`."""
FAILURE_SORT_KEY_PREFIX = "FAILURE#"
SUMMARY_SORT_KEY = "SUMMARY"
LOCK_SORT_KEY = "LOCK"

# The lock item's LockState, as the state machine writes it: TRACKING while an execution follows the job,
# RECORDED once the job is recorded, RELEASED when its tracker failed and let go (a later start takes it over).
LOCK_TRACKING = "TRACKING"
LOCK_RECORDED = "RECORDED"
LOCK_RELEASED = "RELEASED"
# The holder's "Wait for job or wake-up" stores its task token only while it still holds the lock and no wake
# request is pending (`:me` its execution, `:tracking` LOCK_TRACKING); wake-tracker's reading relies on it.
WAIT_FOR_WAKE_CONDITION = "ExecutionArn = :me AND LockState = :tracking AND attribute_not_exists(WakeRequestedBy)"

RECORD_TYPE_SUMMARY = "JOB_SUMMARY"
RECORD_TYPE_FAILED_REQUEST = "FAILED_REQUEST"

RECORD_STATE_RECORDING = "RECORDING"
RECORD_STATE_COMPLETE = "COMPLETE"
RECORD_STATE_FAILED = "FAILED"


def job_partition_key(domain_id: str, job_id: str) -> str:
    """The partition that holds a job's failures, summary and lock: `JOB#<DomainId>#<JobId>`."""
    return JOB_PARTITION_KEY_FORMAT.format(domain_id, job_id)


def job_partition_key_intrinsic(domain_id_path: str, job_id_path: str) -> str:
    """The same key as the state machine builds it: a `States.Format` over two JSONPaths of its state."""
    return f"States.Format('{JOB_PARTITION_KEY_FORMAT}', {domain_id_path}, {job_id_path})"


def job_of_partition_key(partition_key: str) -> tuple[str, str]:
    """The (DomainId, JobId) a job's partition key names (neither contains `#`)."""
    domain_id, _, job_id = partition_key.removeprefix(JOB_PARTITION_KEY_PREFIX).partition("#")
    return domain_id, job_id


def error_code_shard(request_id: str) -> int:
    """Which of ERROR_CODE_SHARDS partitions a failure goes to: a stable hash of its RequestId."""
    return zlib.crc32(request_id.encode()) % ERROR_CODE_SHARDS


def error_code_index_key(domain_id: str, error_code: int | str, shard: int) -> str:
    """One FailuresByErrorCode partition: one shard of one error code in one domain."""
    return f"DOMAIN#{domain_id}#ERROR#{error_code}#SHARD#{shard}"


def error_code_index_keys(
    domain_id: str, error_code: int | str, request_id: str, job_created_at: str | None, job_id: str
) -> dict[str, str]:
    """The FailuresByErrorCode keys of a failure item."""
    return {
        ERROR_CODE_INDEX_PARTITION_KEY: error_code_index_key(domain_id, error_code, error_code_shard(request_id)),
        ERROR_CODE_INDEX_SORT_KEY: f"{job_created_at or ''}#{job_id}#{request_id}",
    }


def subject_index_key(attribute: str, value: str) -> str:
    """The FailuresBySubject partition of the items whose `attribute` is `value`."""
    return f"{attribute}#{value}"


UNREAD_SUBJECT_PREFIX = "SUBJECT_UNREAD#"


def unread_subject_index_key(attribute: str, shard: int) -> str:
    """The FailuresBySubject partition (one of ERROR_CODE_SHARDS) of the items whose `attribute` could not be
    read. No value of an attribute begins with this (a subject key begins with the attribute's name)."""
    return f"{UNREAD_SUBJECT_PREFIX}{attribute}#SHARD#{shard}"


def subject_index_keys(attribute: str | None, item: Mapping[str, object], request_id: str = "") -> dict[str, str]:
    """The FailuresBySubject key of a failure item: from the kind's subject attribute, when the item has one;
    else, for a kind that declares one, the unread partition of the item's RequestId shard (erase reads those)."""
    if not attribute:
        return {}
    value = item.get(attribute)
    if not isinstance(value, str) or not value:
        return {SUBJECT_INDEX_PARTITION_KEY: unread_subject_index_key(attribute, error_code_shard(request_id))}
    return {SUBJECT_INDEX_PARTITION_KEY: subject_index_key(attribute, value)}


def expires_at(now_epoch_seconds: float, retention_days: int) -> int | None:
    """When an item written now may be deleted; None when items are kept forever (retention 0)."""
    if retention_days <= 0:
        return None
    return int(now_epoch_seconds) + retention_days * SECONDS_PER_DAY


def jobs_index_keys(domain_id: str, job_created_at: str | None, job_id: str) -> dict[str, str]:
    """The JobsByDomain keys of a job's summary item."""
    return {
        JOBS_INDEX_PARTITION_KEY: f"DOMAIN#{domain_id}",
        JOBS_INDEX_SORT_KEY: f"{job_created_at or ''}#{job_id}",
    }
