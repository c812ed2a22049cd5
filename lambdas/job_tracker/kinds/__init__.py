"""Voice ID's batch job kinds. To add one: a module here with its `JobKind`, and one line in `JOB_KINDS`."""

from __future__ import annotations

from job_tracker.errors import InvalidJobRequest
from job_tracker.kinds.base import JobKind, OutcomeCount, SuccessSchema
from job_tracker.kinds.fraudster_registration import FRAUDSTER_REGISTRATION
from job_tracker.kinds.speaker_enrollment import SPEAKER_ENROLLMENT

JOB_KINDS: dict[str, JobKind] = {kind.name: kind for kind in (FRAUDSTER_REGISTRATION, SPEAKER_ENROLLMENT)}
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


__all__ = ["DEFAULT_JOB_KIND", "JOB_KINDS", "JobKind", "OutcomeCount", "SuccessSchema", "job_kind"]
