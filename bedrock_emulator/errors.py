"""Bedrock's errors in its REST-JSON wire form: the status from botocore's model, the code in `x-amzn-ErrorType`.

Both of Bedrock's APIs the emulator serves, `bedrock` (batch inference) and `bedrock-runtime` (InvokeModel,
Converse), answer errors this way; each error's status is read from the model of the API that raised it."""

from __future__ import annotations

from typing import Any

from emulator_core import model

SERVICE_NAME = "bedrock"
RUNTIME_SERVICE_NAME = "bedrock-runtime"


class BedrockError(Exception):
    """An error the service returns: HTTP status, `x-amzn-ErrorType: <code>` and `{"message": ...}`.

    The status is the model's `error.httpStatusCode` for the code (botocore's bedrock model has one for every
    exception: Validation, Conflict and ServiceQuotaExceeded 400, AccessDenied 403, ResourceNotFound 404,
    Throttling 429, InternalServer 500) unless given."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        *,
        service: str = SERVICE_NAME,
        members: dict[str, Any] | None = None,
    ) -> None:
        """`members`: the exception's other modelled members, sent beside the message (bedrock-runtime's
        ModelErrorException carries `originalStatusCode` and `resourceName`)."""
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else model.http_status_for(service, code, {})
        self.members = dict(members or {})

    def body(self) -> dict[str, Any]:
        return {"message": self.message, **self.members}

    def headers(self) -> dict[str, str]:
        return {"x-amzn-ErrorType": self.code}


def validation_error(message: str) -> BedrockError:
    return BedrockError("ValidationException", message)


def not_found(message: str) -> BedrockError:
    return BedrockError("ResourceNotFoundException", message)


def conflict(message: str) -> BedrockError:
    return BedrockError("ConflictException", message)


def quota_exceeded(message: str) -> BedrockError:
    return BedrockError("ServiceQuotaExceededException", message)


def access_denied(message: str) -> BedrockError:
    return BedrockError("AccessDeniedException", message)


def throttled(message: str = "Too many requests, please wait before trying again.") -> BedrockError:
    return BedrockError("ThrottlingException", message)


def internal_error(message: str = "An internal server error occurred. Retry your request.") -> BedrockError:
    return BedrockError("InternalServerException", message)
