"""Layout of the failures table: one partition per job, so one Query returns a job's whole record.

| item             | pk                      | sk                    |
|------------------|-------------------------|-----------------------|
| failed request   | JOB#<DomainId>#<JobId>  | FAILURE#<RequestId>   |
| job summary      | JOB#<DomainId>#<JobId>  | SUMMARY               |
| job lock         | JOB#<DomainId>#<JobId>  | LOCK                  |

Index `JobsByDomain` (gsi2pk = DOMAIN#<DomainId>, gsi2sk = <JobCreatedAt>#<JobId>) holds only the summary
items: a domain's recorded jobs (of every kind and record state) in creation order, for listing them
newest first without a Scan.

Index `FailuresByErrorCode` (gsi1pk = DOMAIN#<DomainId>#KIND#<JobKind>#ERROR#<ErrorCode>, gsi1sk =
<JobCreatedAt>#<JobId>#<RequestId>) lists one error code across a domain's jobs of one kind, oldest first.
The lock item is written by the state machine itself (see infra/constructs/state_machine.py).
"""

PARTITION_KEY = "pk"
SORT_KEY = "sk"
ERROR_CODE_INDEX = "FailuresByErrorCode"
ERROR_CODE_INDEX_PARTITION_KEY = "gsi1pk"
ERROR_CODE_INDEX_SORT_KEY = "gsi1sk"
JOBS_INDEX = "JobsByDomain"
JOBS_INDEX_PARTITION_KEY = "gsi2pk"
JOBS_INDEX_SORT_KEY = "gsi2sk"

FAILURE_SORT_KEY_PREFIX = "FAILURE#"
SUMMARY_SORT_KEY = "SUMMARY"
LOCK_SORT_KEY = "LOCK"

RECORD_TYPE_SUMMARY = "JOB_SUMMARY"
RECORD_TYPE_FAILED_REQUEST = "FAILED_REQUEST"

RECORD_STATE_RECORDING = "RECORDING"
RECORD_STATE_COMPLETE = "COMPLETE"
RECORD_STATE_FAILED = "FAILED"


def error_code_index_key(domain_id: str, job_kind: str, error_code: int) -> str:
    """The FailuresByErrorCode partition: one error code of one job kind in one domain."""
    return f"DOMAIN#{domain_id}#KIND#{job_kind}#ERROR#{error_code}"


def jobs_index_keys(domain_id: str, job_created_at: str | None, job_id: str) -> dict[str, str]:
    """The JobsByDomain keys of a job's summary item."""
    return {
        JOBS_INDEX_PARTITION_KEY: f"DOMAIN#{domain_id}",
        JOBS_INDEX_SORT_KEY: f"{job_created_at or ''}#{job_id}",
    }
