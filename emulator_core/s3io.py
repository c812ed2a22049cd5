"""S3 access over HTTP, the way the real services read their input and write their output (shared by the emulators)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Codes that mean the caller's data or permissions are wrong (a 4xx for the job), not a service fault.
_CLIENT_SIDE_CODES = {"NoSuchKey", "NoSuchBucket", "AccessDenied", "404", "403", "InvalidObjectState"}


class S3AccessError(Exception):
    """An S3 read, list or write failed; `status_code` is the HTTP-style code the service reports for it
    (400 for the caller's data or permissions, 500 otherwise)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        if not uri.startswith("s3://"):
            raise ValueError(f"not an S3 URI: {uri}")
        bucket, _, key = uri[len("s3://") :].partition("/")
        return cls(bucket, key)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def make_s3_client(endpoint_url: str | None, region: str) -> S3Client:
    # Explicit credentials keep botocore from probing the instance metadata service when none are configured.
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local-emulator"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local-emulator"),
        aws_session_token=os.environ.get("AWS_SESSION_TOKEN"),
        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 3}),
    )
    return client


def _describe_failure(action: str, location: S3Location, exc: Exception) -> S3AccessError:
    if isinstance(exc, ClientError):
        error: dict[str, Any] = dict(exc.response.get("Error", {}))
        code = str(error.get("Code", "Unknown"))
        # HEAD responses have no body, so botocore only knows the bare status code.
        code = {"404": "NoSuchKey", "403": "AccessDenied"}.get(code, code)
        status = 400 if code in _CLIENT_SIDE_CODES else 500
        message = error.get("Message") or {"NoSuchKey": "The specified key does not exist"}.get(code, code)
        return S3AccessError(f"Unable to {action} {location.uri}: {code} ({message})", status)
    return S3AccessError(f"Unable to {action} {location.uri}: {exc}", 500)


class S3Store:
    def __init__(self, client: S3Client) -> None:
        self.client = client

    def read(self, uri: str, max_bytes: int | None = None) -> bytes:
        location = S3Location.parse(uri)
        try:
            if max_bytes is not None:
                head = self.client.head_object(Bucket=location.bucket, Key=location.key)
                if head["ContentLength"] > max_bytes:
                    raise S3AccessError(
                        f"Object {location.uri} is {head['ContentLength']} bytes; the maximum is {max_bytes}",
                        400,
                    )
            response = self.client.get_object(Bucket=location.bucket, Key=location.key)
            return response["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise _describe_failure("read", location, exc) from exc

    def list_keys(self, bucket: str, prefix: str) -> list[tuple[str, int]]:
        """(key, size) of every object under `prefix`, in S3's (lexicographic) order."""
        found: list[tuple[str, int]] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                found.extend((item["Key"], item["Size"]) for item in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise _describe_failure("list", S3Location(bucket, prefix), exc) from exc
        return found

    def write_output(
        self, location: S3Location, body: bytes, kms_key_id: str | None, content_type: str = "application/json"
    ) -> None:
        try:
            if kms_key_id:
                self.client.put_object(
                    Bucket=location.bucket,
                    Key=location.key,
                    Body=body,
                    ContentType=content_type,
                    ServerSideEncryption="aws:kms",
                    SSEKMSKeyId=kms_key_id,
                )
            else:
                self.client.put_object(Bucket=location.bucket, Key=location.key, Body=body, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise _describe_failure("write", location, exc) from exc
