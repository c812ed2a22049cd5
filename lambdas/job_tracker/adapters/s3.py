"""S3: stream an object, such as a job's SSE-KMS encrypted `.out` (S3 decrypts it with our kms:Decrypt)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from job_tracker.adapters.transient import transient_as_retryable
from job_tracker.errors import AccessDenied, OutputFileMissing, RecordingIncomplete
from job_tracker.models import S3Location

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK_BYTES = 64 * 1024
_MISSING = {"NoSuchKey", "404", "NoSuchBucket"}
_DENIED = {
    "AccessDenied",
    "403",
    "KMS.AccessDeniedException",
    "AccessDeniedException",
    "KMS.DisabledException",
}


class ObjectReader(Protocol):
    def chunks(self, location: S3Location) -> Iterator[bytes]: ...
    def keys(self, prefix: S3Location) -> Iterator[str]:
        """The keys under `prefix` (its key a folder or a key prefix), in S3's (UTF-8 binary) order."""
        ...


class S3ObjectReader:
    def __init__(self, client: S3Client, chunk_bytes: int = CHUNK_BYTES) -> None:
        self._client = client
        self._chunk_bytes = chunk_bytes

    def chunks(self, location: S3Location) -> Iterator[bytes]:
        try:
            with transient_as_retryable("S3", "GetObject", location.uri):
                body = self._client.get_object(Bucket=location.bucket, Key=location.key)["Body"]
        except ClientError as error:
            raise _translated(error, location, "read") from error
        try:
            yield from body.iter_chunks(self._chunk_bytes)
        except BotoCoreError as error:
            raise RecordingIncomplete(f"reading {location.uri} was cut off: {error}") from error
        finally:
            body.close()

    def keys(self, prefix: S3Location) -> Iterator[str]:
        """Listing needs s3:ListBucket, granted only on the Bedrock output and input prefixes (a Bedrock job
        writes one file per input file, whose names the tracker cannot know otherwise)."""
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            with transient_as_retryable("S3", "ListObjectsV2", prefix.uri):
                for page in paginator.paginate(Bucket=prefix.bucket, Prefix=prefix.key):
                    for entry in page.get("Contents", []):
                        yield entry["Key"]
        except ClientError as error:
            raise _translated(error, prefix, "list") from error
        except BotoCoreError as error:
            raise RecordingIncomplete(f"listing {prefix.uri} was cut off: {error}") from error


def _translated(error: ClientError, location: S3Location, verb: str) -> Exception:
    code = error.response.get("Error", {}).get("Code", "")
    said = error.response.get("Error", {}).get("Message", "")
    if code in _MISSING:
        return OutputFileMissing(f"{location.uri} does not exist ({code})")
    if code in _DENIED:
        # Without s3:ListBucket, which the tracker lacks outside the Bedrock prefixes, S3 also answers 403
        # for a missing object, so both causes are named.
        # S3's own message, when it gives one, names what was refused (s3:GetObject, kms:Decrypt).
        return AccessDenied(
            f"could not {verb} {location.uri} ({code}{': ' + said if said else ''}): the object is "
            f"missing, or the tracker may not {verb} it (check the output and input locations in the "
            "configuration, the bucket policy and the KMS key policy)"
        )
    return error
