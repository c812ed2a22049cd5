"""Helpers for tests that drive the emulator: clients with fake credentials, manifests and audio in S3."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from voiceid_emulator.audio import make_wav

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_voice_id import VoiceIDClient

FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
ROLE_ARN = "arn:aws:iam::123456789012:role/VoiceIdBatchAccess"


def voice_id_client(endpoint_url: str, region: str = "us-east-1", max_attempts: int = 1) -> VoiceIDClient:
    """A boto3 Voice ID client for the emulator; `max_attempts=1` so faults are seen, not retried away."""
    client: VoiceIDClient = boto3.client(
        "voice-id",
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(retries={"mode": "standard", "max_attempts": max_attempts}),
        **FAKE_CREDENTIALS,
    )
    return client


def s3_client(endpoint_url: str, region: str = "us-east-1") -> S3Client:
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}),
        **FAKE_CREDENTIALS,
    )
    return client


def unique_bucket(prefix: str = "voiceid") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def put_audio(s3: S3Client, bucket: str, key: str, wav: bytes | None = None, **wav_args: Any) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=wav if wav is not None else make_wav(**wav_args))
    return f"s3://{bucket}/{key}"


def fraudster_manifest(requests: list[tuple[str, list[str]]], version: str = "1.0") -> dict[str, Any]:
    """`requests` is [(RequestId, [audio S3 URIs])]; every audio uses channel 0."""
    return {
        "Version": version,
        "FraudsterRegistrationRequests": [
            {"RequestId": rid, "AudioSpecifications": [{"S3Uri": uri, "ChannelId": 0} for uri in uris]}
            for rid, uris in requests
        ],
    }


def speaker_manifest(requests: list[tuple[str, str, list[str]]], version: str = "1.0") -> dict[str, Any]:
    """`requests` is [(RequestId, CustomerSpeakerId, [audio S3 URIs])]; every audio uses channel 0."""
    return {
        "Version": version,
        "SpeakerEnrollmentRequests": [
            {
                "RequestId": rid,
                "SpeakerId": speaker,
                "AudioSpecifications": [{"S3Uri": uri, "ChannelId": 0} for uri in uris],
            }
            for rid, speaker, uris in requests
        ],
    }


def put_manifest(s3: S3Client, bucket: str, key: str, manifest: dict[str, Any] | str | bytes) -> str:
    if isinstance(manifest, dict):
        body: bytes = json.dumps(manifest).encode()
    elif isinstance(manifest, str):
        body = manifest.encode()
    else:
        body = manifest
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"
