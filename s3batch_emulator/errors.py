"""S3 Control's errors in their wire form: the *wrapped* rest-xml document (`<ErrorResponse><Error><Code/>
<Message/></Error><RequestId/></ErrorResponse>`, s3batch-facts §1.1) with an HTTP status.

Neither botocore's model nor the Smithy model the JS SDK is built from gives these exceptions an HTTP status
(s3batch-facts §1.8; checked in node_modules/@aws-sdk/client-s3-control's schemas: only
NoSuchPublicAccessBlockConfiguration has one). The SDKs tell the error by its `<Code>`, so the statuses below
are a reading of the names [unconfirmed]: NotFoundException 404, InternalServiceException 500 (the only one the
model flags `fault: true`), every other client error 400. TooManyRequestsException is in botocore's and the JS
SDK's lists of throttling codes, so both retry it whatever its status.
"""

from __future__ import annotations

from emulator_core import model

SERVICE_NAME = "s3control"

_STATUS = {
    "NotFoundException": 404,
    "InternalServiceException": 500,
    "TooManyRequestsException": 400,
}


class S3BatchError(Exception):
    """An error the service returns: `code` (a modelled exception's name), `message`, the HTTP status."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else model.http_status_for(SERVICE_NAME, code, _STATUS)


def bad_request(message: str) -> S3BatchError:
    return S3BatchError("BadRequestException", message)


def not_found(job_id: str) -> S3BatchError:
    # The user guide's wording for an unknown or expired job (s3batch-facts §1.8).
    return S3BatchError("NotFoundException", f"The specified job does not exist: {job_id}")


def job_status_error(message: str) -> S3BatchError:
    return S3BatchError("JobStatusException", message)


def idempotency_error(message: str) -> S3BatchError:
    return S3BatchError("IdempotencyException", message)


def too_many_requests(message: str = "Please reduce your request rate.") -> S3BatchError:
    return S3BatchError("TooManyRequestsException", message)


def too_many_tags(message: str) -> S3BatchError:
    return S3BatchError("TooManyTagsException", message)


def invalid_request(message: str) -> S3BatchError:
    return S3BatchError("InvalidRequestException", message)


def invalid_next_token(message: str) -> S3BatchError:
    return S3BatchError("InvalidNextTokenException", message)


def internal_error(message: str = "We encountered an internal error. Please try again.") -> S3BatchError:
    return S3BatchError("InternalServiceException", message)


def validation_error_for(operation: str, message: str) -> S3BatchError:
    """A request the model refuses: ListJobs has no BadRequestException, its client errors are
    InvalidRequestException (s3batch-facts §1.8)."""
    return invalid_request(message) if operation == "ListJobs" else bad_request(message)
