"""EventBridge events for batch inference jobs (bedrock-facts §3): `aws.bedrock` / `Batch Inference Job State
Change`, one per status change, delivered best effort through the shared publisher."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bedrock_emulator.store import Job

EVENT_SOURCE = "aws.bedrock"
DETAIL_TYPE = "Batch Inference Job State Change"


def creation_time(epoch_seconds: float) -> str:
    """AWS's sample event writes creationTime as "Aug 28, 2024, 10:47:53 PM" (not ISO 8601); UTC here."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    hour = moment.hour % 12 or 12
    return f"{moment:%b} {moment.day}, {moment.year}, {hour}:{moment:%M:%S} {'AM' if moment.hour < 12 else 'PM'}"


def detail(job: Job, account_id: str) -> dict[str, Any]:
    return {
        "version": "0.0",
        "accountId": account_id,
        "batchJobName": job.name,
        "batchJobArn": job.arn,
        "batchModelId": job.model_id,
        "status": job.status,
        "failureMessage": job.message or "",
        "creationTime": creation_time(job.submit_time),
    }
