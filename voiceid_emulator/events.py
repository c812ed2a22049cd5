"""EventBridge events for batch jobs (voiceid-facts §2.2), delivered best effort like the real service."""

from __future__ import annotations

from emulator_core import events as core
from emulator_core.events import EventCallback

__all__ = [
    "EVENT_SOURCE",
    "FRAUDSTER_DETAIL_TYPE",
    "SPEAKER_DETAIL_TYPE",
    "STATUS_FAILED",
    "STATUS_SUBMITTED",
    "STATUS_SUCCEEDED",
    "EventCallback",
    "EventPublisher",
    "error_type_for",
]

EVENT_SOURCE = "aws.voiceid"
FRAUDSTER_DETAIL_TYPE = "VoiceId Batch Fraudster Registration Action"
SPEAKER_DETAIL_TYPE = "VoiceId Batch Speaker Enrollment Action"

# The docs only say "success or failure"; these literals are the emulator's choice (see README).
STATUS_SUBMITTED = "SUBMITTED"
STATUS_SUCCEEDED = "SUCCEEDED"
STATUS_FAILED = "FAILED"

# errorInfo.errorType for a whole-job failure, keyed by its FailureDetails.StatusCode.
ERROR_TYPES = {
    400: "ValidationException",
    402: "ServiceQuotaExceededException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    409: "ConflictException",
    429: "ThrottlingException",
}


def error_type_for(status_code: int) -> str:
    return ERROR_TYPES.get(status_code, "InternalServerException")


class EventPublisher(core.EventPublisher):
    """The Voice ID emulator's publisher (with source `aws.voiceid`): a class of its own, so that a test can
    patch Voice ID's delivery alone."""
