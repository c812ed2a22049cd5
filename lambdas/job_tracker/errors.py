"""Errors the state machine tells apart.

Step Functions matches a Lambda failure by the exception's class name (`errorType`), so each class name
here is part of the state machine's contract: Retry and Catch blocks in `infra/` name them.
"""


class TrackerError(Exception):
    """Base class; never raised itself."""


class InvalidJobRequest(TrackerError):
    """The execution input or the job's own data is not a valid reference to a job the tracker follows."""


class JobNotFound(TrackerError):
    """The job's service has no such job of the kind in the domain or account (ResourceNotFoundException, or
    the service's own word for it)."""


class AccessDenied(TrackerError):
    """The tracker's role may not read the job or its output, or write its record (IAM, KMS key policy or
    bucket policy)."""


class ServiceThrottled(TrackerError):
    """A followed service kept throttling after the SDK's own retries; the state machine retries with backoff.
    Never raised itself: each service's own class names it (`service_key`, a `JobService.key`)."""

    service_key = ""


class VoiceIdThrottled(ServiceThrottled):
    """Voice ID kept throttling after the SDK's own retries; the state machine retries with backoff."""

    service_key = "voiceid"


class VoiceIdUnavailable(TrackerError):
    """Voice ID answered with an internal error after the SDK's own retries; retried by the state machine."""


class UnexpectedJobStatus(TrackerError):
    """The job's service reported a status the tracker does not know; the job cannot be followed safely."""


class OutputFileMissing(TrackerError):
    """The job ended but its `.out` object is not where the documented key rule puts it."""


class OutputFileInvalid(TrackerError):
    """The `.out` object is not valid JSON or does not follow the documented output schema."""


class RecordingIncomplete(TrackerError):
    """The record could not be finished this time (DynamoDB left items unprocessed after every retry,
    reading the output was cut off, or the step stopped before its Lambda timeout); a re-run is safe,
    skips the failure items already written, and finishes it."""


class TransientServiceError(TrackerError):
    """DynamoDB, S3, KMS (through S3) or Step Functions kept failing transiently after the SDK's own retries:
    throttling, a 5xx, SlowDown, RequestTimeout, a dropped connection or a read timeout. Nothing was lost and
    every write is idempotent, so the state machine retries the step with backoff, over a budget that outlasts
    10 minutes of such faults."""


class SweepIncomplete(TrackerError):
    """The sweep could not list some domains' jobs (after retries); it reconciled all the others."""


class ConfigurationError(TrackerError):
    """The function's environment is missing or has an invalid setting (raised at cold start)."""


class BedrockThrottled(ServiceThrottled):
    """Amazon Bedrock kept throttling after the SDK's own retries; the state machine retries with backoff."""

    service_key = "bedrock"


class BedrockUnavailable(TrackerError):
    """Amazon Bedrock answered with an internal error, or could not be reached, after the SDK's own retries."""


class S3BatchThrottled(ServiceThrottled):
    """S3 Batch Operations (S3 Control's job APIs) kept throttling after the SDK's own retries; the state machine
    retries with backoff."""

    service_key = "s3"


class S3BatchUnavailable(TrackerError):
    """S3 Batch Operations answered with an internal error, or could not be reached, after the SDK's own
    retries."""
