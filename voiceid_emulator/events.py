"""EventBridge events for batch jobs (voiceid-facts §2.2), delivered best effort like the real service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator_core import events as core
from emulator_core.events import EventCallback

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_events import EventBridgeClient

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
    """The shared publisher with Voice ID's source, `aws.voiceid`."""

    def __init__(
        self,
        region: str,
        account_id: str,
        *,
        callback: EventCallback | None = None,
        endpoint_url: str | None = None,
        event_bus: str = "default",
        events_client: EventBridgeClient | None = None,
        drop_event: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(
            EVENT_SOURCE,
            region,
            account_id,
            callback=callback,
            endpoint_url=endpoint_url,
            event_bus=event_bus,
            events_client=events_client,
            drop_event=drop_event,
        )
