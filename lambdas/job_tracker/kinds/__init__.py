"""The tracked batch job kinds. To add one: a module here with its `JobKind`, and one line in `JOB_KINDS`."""

from __future__ import annotations

from collections.abc import Collection

from job_tracker.errors import InvalidJobRequest
from job_tracker.kinds.base import JobKind, JobService, OutcomeCount, SuccessSchema
from job_tracker.kinds.bedrock_batch_inference import BEDROCK_BATCH_INFERENCE
from job_tracker.kinds.fraudster_registration import FRAUDSTER_REGISTRATION
from job_tracker.kinds.s3_batch_operations import S3_BATCH_OPERATIONS
from job_tracker.kinds.services import BEDROCK, S3_BATCH_SERVICE, VOICE_ID
from job_tracker.kinds.speaker_enrollment import SPEAKER_ENROLLMENT

JOB_KINDS: dict[str, JobKind] = {
    kind.name: kind
    for kind in (FRAUDSTER_REGISTRATION, SPEAKER_ENROLLMENT, BEDROCK_BATCH_INFERENCE, S3_BATCH_OPERATIONS)
}
SERVICES: dict[str, JobService] = {service.key: service for service in (VOICE_ID, BEDROCK, S3_BATCH_SERVICE)}
# Execution input without JobKind is a fraudster registration job, so existing runbooks keep working.
DEFAULT_JOB_KIND = FRAUDSTER_REGISTRATION


def job_kind(value: object) -> JobKind:
    """The kind named `value` (None means the default), or InvalidJobRequest listing the known kinds."""
    if value is None:
        return DEFAULT_JOB_KIND
    kind = JOB_KINDS.get(value) if isinstance(value, str) else None
    if kind is None:
        raise InvalidJobRequest(
            f"JobKind must be one of {', '.join(JOB_KINDS)} (or left out for {DEFAULT_JOB_KIND.name}), got {value!r}"
        )
    return kind


def kinds_of(service_keys: Collection[str]) -> tuple[JobKind, ...]:
    """The kinds of the services named (a stack follows the services it is configured for)."""
    return tuple(kind for kind in JOB_KINDS.values() if kind.service.key in service_keys)


__all__ = [
    "DEFAULT_JOB_KIND",
    "JOB_KINDS",
    "SERVICES",
    "JobKind",
    "JobService",
    "OutcomeCount",
    "SuccessSchema",
    "job_kind",
    "kinds_of",
]
