"""The two steps the state machine asks of Lambda: describe a job, and record a finished one."""

from __future__ import annotations

import logging
import random
from typing import Any

from job_tracker.adapters.dynamodb import FailureStore
from job_tracker.adapters.s3 import ObjectReader
from job_tracker.adapters.voiceid import JobDescriber
from job_tracker.errors import InvalidJobRequest
from job_tracker.models import JobRef, job_from_payload, job_to_payload
from job_tracker.polling import PollBounds, next_wait_seconds
from job_tracker.recording import RecordResult, record_job_outcome

# A standard logger: handlers attach Powertools' JSON formatter (and the JobId correlation id) to it.
logger = logging.getLogger(__name__)


def describe_job(
    request: dict[str, Any], describer: JobDescriber, bounds: PollBounds, rng: random.Random | None = None
) -> dict[str, Any]:
    """Describe the job named by `request` ({"DomainId", "JobId", "PollCount"}) and plan the next wait.

    `PollCount` is how many describes this execution has made before; the answer carries it plus one,
    which the state machine compares with its poll cap.
    """
    ref = JobRef.parse(request)
    previous = request.get("PollCount", 0)
    if isinstance(previous, bool) or not isinstance(previous, int) or previous < 0:
        raise InvalidJobRequest(f"PollCount must be a whole number >= 0, got {previous!r}")
    job = describer.describe(ref)
    poll_count = previous + 1
    payload = job_to_payload(job)
    payload["PollCount"] = poll_count
    payload["WaitSeconds"] = 0 if job.status.is_terminal else next_wait_seconds(poll_count, bounds, rng)
    logger.info(
        "Described fraudster registration job",
        extra={
            "job_status": job.status.value,
            "percent_complete": job.percent_complete,
            "poll_count": poll_count,
            "wait_seconds": payload["WaitSeconds"],
        },
    )
    return payload


def record_job(request: dict[str, Any], reader: ObjectReader, store: FailureStore) -> RecordResult:
    """Record the finished job carried in `request["Job"]` (the describe step's answer)."""
    job_payload = request.get("Job")
    if not isinstance(job_payload, dict):
        raise InvalidJobRequest("the record step needs the describe step's answer under 'Job'")
    job = job_from_payload(job_payload)
    if JobRef.parse(request) != job.ref:
        raise InvalidJobRequest("the execution's DomainId/JobId do not match the described job")
    return record_job_outcome(job, reader, store)
