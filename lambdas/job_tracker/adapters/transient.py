"""Which AWS errors are transient, and their translation into the one error the state machine retries.

The SDK retries these itself first (the clients' retry configuration); what is left after its last attempt
is raised as TransientServiceError. The codes and statuses are those botocore's standard retry mode treats
as throttling or transient; connection failures and read timeouts are transient too. Anything else
(access, validation, a missing object) passes unchanged, for the adapter to translate or let fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, IncompleteReadError

from job_tracker.errors import TransientServiceError

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "BandwidthLimitExceeded",
        "TransactionInProgressException",
        # KMS throttling S3's decryption of an SSE-KMS object, as S3 reports it.
        "KMS.ThrottlingException",
    }
)
TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "InternalError",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "KMSInternalException",
        "KMS.KMSInternalException",
    }
)
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
# Connection failures (refused, reset, closed, connect and read timeouts) and a body cut off mid-stream.
TRANSIENT_EXCEPTIONS = (ConnectionError, HTTPClientError, IncompleteReadError)


def is_transient(error: ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code in THROTTLING_CODES or code in TRANSIENT_CODES or status in TRANSIENT_STATUSES


@contextmanager
def transient_as_retryable(service: str, operation: str, where: str) -> Iterator[None]:
    """Raise TransientServiceError, naming the call and `where` (a table, an object), for a transient failure
    the SDK's retries did not outlast; other errors pass unchanged."""
    try:
        yield
    except ClientError as error:
        if not is_transient(error):
            raise
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        raise TransientServiceError(
            f"{service} {operation} on {where} kept failing after the SDK's retries ({code}: {message}); "
            "the step is retried"
        ) from error
    except TRANSIENT_EXCEPTIONS as error:
        raise TransientServiceError(
            f"could not reach {service} for {operation} on {where} after the SDK's retries ({error}); "
            "the step is retried"
        ) from error
