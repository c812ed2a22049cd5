"""The CloudTrail-delivered job events on EventBridge (s3batch-facts §6): S3 sends no native job event; CloudTrail
records `JobCreated` when a job is made and `JobStatusChanged` on each status change, and EventBridge delivers
them as `AWS Service Event via CloudTrail` from `aws.s3`, best effort (EventBridge's delivery class for them is
[unconfirmed]; treat them as hints and confirm with DescribeJob)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from s3batch_emulator.store import Job

EVENT_SOURCE = "aws.s3"
DETAIL_TYPE = "AWS Service Event via CloudTrail"
JOB_CREATED = "JobCreated"
JOB_STATUS_CHANGED = "JobStatusChanged"


def detail(job: Job, event_name: str, region: str, account_id: str, now: float) -> dict[str, Any]:
    """The CloudTrail record: `serviceEventDetails` holds the job, its status, and for a failed job its
    failure codes and reasons (as strings: their element type is [unconfirmed])."""
    return {
        "eventVersion": "1.05",
        "userIdentity": {"accountId": account_id, "invokedBy": "s3.amazonaws.com"},
        "eventTime": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "s3.amazonaws.com",
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": "s3.amazonaws.com",
        "userAgent": "s3.amazonaws.com",
        "requestParameters": None,
        "responseElements": None,
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsServiceEvent",
        "recipientAccountId": account_id,
        "serviceEventDetails": {
            "jobId": job.job_id,
            "jobArn": job.arn,
            "status": job.status,
            "jobEventId": uuid.uuid4().hex,
            "failureCodes": [reason["FailureCode"] for reason in job.failure_reasons],
            "statusChangeReason": [reason["FailureReason"] for reason in job.failure_reasons],
        },
    }
