"""Voice ID service errors and their JSON 1.0 wire form."""

from __future__ import annotations

from typing import Any

# botocore's voice-id model carries no `error.httpStatusCode` for its exceptions; these codes come from the
# Smithy model's `httpError` traits (voiceid-facts §3.4). A code in botocore's model, when present, wins (model.py).
SMITHY_HTTP_STATUS: dict[str, int] = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "ServiceQuotaExceededException": 402,
    "ThrottlingException": 429,
    "InternalServerException": 500,
}

ERROR_NAMESPACE = "com.amazonaws.voiceid"


class VoiceIdError(Exception):
    """An error the service returns to the client as a JSON 1.0 error document."""

    def __init__(self, code: str, message: str, status: int | None = None, **extra: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else SMITHY_HTTP_STATUS.get(code, 400)
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"__type": f"{ERROR_NAMESPACE}#{self.code}", "Message": self.message, **self.extra}


def validation_error(message: str) -> VoiceIdError:
    return VoiceIdError("ValidationException", message)


def not_found(resource_type: str, message: str) -> VoiceIdError:
    return VoiceIdError("ResourceNotFoundException", message, ResourceType=resource_type)


def quota_exceeded(message: str) -> VoiceIdError:
    return VoiceIdError("ServiceQuotaExceededException", message)


def conflict(message: str, conflict_type: str | None = None) -> VoiceIdError:
    if conflict_type is None:
        return VoiceIdError("ConflictException", message)
    return VoiceIdError("ConflictException", message, ConflictType=conflict_type)


def throttled(message: str = "Rate exceeded") -> VoiceIdError:
    return VoiceIdError("ThrottlingException", message)


def internal_error(message: str = "An internal error occurred. Try the request again.") -> VoiceIdError:
    return VoiceIdError("InternalServerException", message)
