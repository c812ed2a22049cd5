"""Amazon Bedrock batch inference jobs, "model invocation jobs" (docs/bedrock-jobs.md, docs/bedrock-facts.md).

Their per-record outcomes are in one `<input file>.jsonl.out` per input `.jsonl` file under
`<outputS3Uri>/<jobId>/`, beside a `manifest.json.out` of counts; `bedrock_output.py` reads them.
"""

from __future__ import annotations

from datetime import timedelta

from job_tracker.kinds.base import JobKind
from job_tracker.kinds.services import BEDROCK

BEDROCK_JSONL = "bedrock-jsonl"

# Bedrock's ten statuses (botocore's ModelInvocationJobStatus) in the tracker's words. Stopped, Expired and
# PartiallyCompleted end with records that were never processed: they are recorded like a job with errors
# (their unprocessed records become items), never skipped as plain failures. A Completed job with failed
# records is told apart by the describe adapter from errorRecordCount when the API reports it.
TRACKER_STATUSES = {
    "Submitted": "SUBMITTED",
    "Validating": "SUBMITTED",
    "Scheduled": "SUBMITTED",
    "InProgress": "IN_PROGRESS",
    "Stopping": "IN_PROGRESS",
    "Completed": "COMPLETED",
    "PartiallyCompleted": "COMPLETED_WITH_ERRORS",
    "Stopped": "COMPLETED_WITH_ERRORS",
    "Expired": "COMPLETED_WITH_ERRORS",
    "Failed": "FAILED",
}
# A job ends by its timeoutDurationInHours, at most 168 hours (botocore's model). Whether a job that waited in
# Submitted, Validating and Scheduled still has its whole timeout to run once it starts is not documented
# (docs/bedrock-facts.md §3.2): the timeout bounds the queue ("Expired: scheduled but didn't begin before the set
# timeout duration"), and may bound the run from its start. The longest job is followed for both, and a day more
# for the end to be reached and reported late: 15 days. The local Bedrock runs either reading.
LONGEST_TIMEOUT = timedelta(hours=168)
LONGEST_QUEUE = LONGEST_TIMEOUT
LONGEST_RUN = LONGEST_TIMEOUT
LATE_END_ALLOWANCE = timedelta(days=1)
# Statuses whose output may lack records of the input: their missing records are named UNPROCESSED.
STATUSES_WITH_UNPROCESSED_RECORDS = frozenset({"PartiallyCompleted", "Stopped", "Expired"})
# Statuses that say the job processed records (Bedrock refuses a job without any): such a job must have
# written at least one `.jsonl.out`, and none is missing evidence, never a record of nothing failed.
STATUSES_WITH_PROCESSED_RECORDS = frozenset({"Completed", "PartiallyCompleted"})

BEDROCK_BATCH_INFERENCE = JobKind(
    name="BEDROCK_BATCH_INFERENCE",
    noun="Bedrock batch inference",
    api_noun="ModelInvocationJob",
    describe_verb="Get",
    start_verb="Create",
    event_detail_types=("Batch Inference Job State Change",),
    # Bedrock's default quota of records per job (docs/bedrock-facts.md; settable per model).
    max_requests_per_job=50_000,
    service=BEDROCK,
    output_format=BEDROCK_JSONL,
    tracker_statuses=TRACKER_STATUSES,
    failure_noun="record",
    failed_count_attribute="FailedRecordCount",
    failure_id_attribute="RecordId",
    # The operator chooses recordIds, and often names a customer's call or case by it: erasable by it.
    subject_attribute="RecordId",
    failure_detail_fields=("OutputFile", "InputFile", "LineNumber"),
    summary_count_attributes=(
        "SucceededRecordCount",
        "UnprocessedRecordCount",
        "TotalRecordCount",
        "InputTokenCount",
        "OutputTokenCount",
        # Set when a re-record could not read the input: the UNPROCESSED items an earlier record wrote, kept.
        "KeptFailureItemCount",
        # How the output was read: its files, and recordIds it held more than once (bedrock-jobs.md).
        "OutputFileCount",
        "DuplicateRecordIdCount",
    ),
    listed_count_attributes=("SucceededRecordCount", "UnprocessedRecordCount"),
    succeeded_count_attributes=("SucceededRecordCount",),
    longest_job=LONGEST_QUEUE + LONGEST_RUN + LATE_END_ALLOWANCE,
)
