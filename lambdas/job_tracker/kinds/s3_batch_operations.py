"""Amazon S3 Batch Operations jobs (docs/s3batch-jobs.md; the fact sheet ../shared/s3batch/FACTS.md).

A job runs one operation (copy, tagging, a Lambda function, ...) on every object its manifest lists, one task
per object. Its per-task outcomes are in the completion report, when the job asked for one and at least one task
ran: `<report prefix>/job-<JobId>/manifest.json` listing CSV files of succeeded and failed tasks;
`s3batch_report.py` reads them. DescribeJob's `ProgressSummary` counts the tasks; its `FailureReasons` say why a
job failed as a whole, and stay empty when only tasks failed.
"""

from __future__ import annotations

from job_tracker.kinds.base import JobKind
from job_tracker.kinds.services import S3_BATCH_SERVICE

S3BATCH_REPORT = "s3batch-report-csv"

# The thirteen statuses of botocore's s3control model (JobStatus) in the tracker's words (fact sheet §2).
# New, Preparing, Suspended (awaiting confirmation, up to 30 days) and Ready (queued behind other jobs) have not
# run a task yet; Active, Pausing, Paused (behind a higher-priority job), Completing, Cancelling and Failing are
# on the way to an end. Complete may hold failed tasks: the describe adapter tells them apart by
# NumberOfTasksFailed, since FailureReasons stays empty when only tasks fail. Cancelled ends with tasks never
# run, as Bedrock's Stopped: recorded like a job with errors. Failed is the job failing as a whole (its manifest,
# its task-failure threshold); its report, if any task ran, is still read (`reads_output_of_failed_jobs`).
TRACKER_STATUSES = {
    "New": "SUBMITTED",
    "Preparing": "SUBMITTED",
    "Suspended": "SUBMITTED",
    "Ready": "SUBMITTED",
    "Active": "IN_PROGRESS",
    "Pausing": "IN_PROGRESS",
    "Paused": "IN_PROGRESS",
    "Completing": "IN_PROGRESS",
    "Cancelling": "IN_PROGRESS",
    "Failing": "IN_PROGRESS",
    "Complete": "COMPLETED",
    "Cancelled": "COMPLETED_WITH_ERRORS",
    "Failed": "FAILED",
}
# ProgressSummary's counts, as DescribeJob and ListJobs give them (JobDescription.record_counts).
TOTAL_TASKS = "TotalNumberOfTasks"
SUCCEEDED_TASKS = "NumberOfTasksSucceeded"
FAILED_TASKS = "NumberOfTasksFailed"
PROGRESS_COUNTS = (TOTAL_TASKS, SUCCEEDED_TASKS, FAILED_TASKS)
# The report's scopes (JobReport.ReportScope, JobDescription.output_scope): a FailedTasksOnly report lists no
# succeeded task.
ALL_TASKS = "AllTasks"
FAILED_TASKS_ONLY = "FailedTasksOnly"
# What the EventBridge rule matches besides source and detail-type (the detail-type is CloudTrail's, shared by
# every service event of S3): the CloudTrail record's eventSource and eventName (fact sheet §6).
CLOUDTRAIL_EVENT_SOURCE = "s3.amazonaws.com"
CLOUDTRAIL_EVENT_NAMES = ("JobCreated", "JobStatusChanged")
# Objects (tasks) per job (fact sheet §7).
MAX_TASKS_PER_JOB = 20_000_000_000

S3_BATCH_OPERATIONS = JobKind(
    name="S3_BATCH_OPERATIONS",
    noun="S3 Batch Operations",
    # DescribeJob, ListJobs, CreateJob: the IAM actions s3:DescribeJob, s3:ListJobs, s3:CreateJob.
    api_noun="Job",
    start_verb="Create",
    event_detail_types=("AWS Service Event via CloudTrail",),
    max_requests_per_job=MAX_TASKS_PER_JOB,
    service=S3_BATCH_SERVICE,
    output_format=S3BATCH_REPORT,
    tracker_statuses=TRACKER_STATUSES,
    failure_noun="task",
    failed_count_attribute="FailedTaskCount",
    # The CLI shows RequestId, ErrorCode and ErrorMessage (the report's ResultMessage) for every kind; these
    # say which object, and where the task's row is.
    failure_detail_fields=("Bucket", "Key", "VersionId", "HTTPStatusCode", "ReportFile", "LineNumber"),
    # An object's key may name a person (`scans/<customer>/passport.jpg`): the FailuresBySubject index is keyed
    # on it, so that `batch-job-tracker erase --object-key` finds every failed task of that object.
    subject_attribute="Key",
    summary_count_attributes=(
        "SucceededTaskCount",
        "UnnamedFailedTaskCount",
        "UnprocessedTaskCount",
        "TotalTaskCount",
        "ReportFileCount",
    ),
    listed_count_attributes=("SucceededTaskCount", "UnnamedFailedTaskCount"),
    succeeded_count_attributes=("SucceededTaskCount",),
    reads_output_of_failed_jobs=True,
)
