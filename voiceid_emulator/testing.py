"""Helpers for tests that drive the emulator: clients with fake credentials, manifests and audio in S3."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from voiceid_emulator.audio import make_wav
from voiceid_emulator.emulator import VoiceIdEmulator

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_voice_id import VoiceIDClient

FAKE_ACCESS_KEY = "testing"
FAKE_SECRET_KEY = "testing"  # noqa: S105 - moto and the emulator accept any credentials
FAKE_CREDENTIALS = {"aws_access_key_id": FAKE_ACCESS_KEY, "aws_secret_access_key": FAKE_SECRET_KEY}
ROLE_ARN = "arn:aws:iam::123456789012:role/VoiceIdBatchAccess"


def voice_id_client(endpoint_url: str, region: str = "us-east-1", max_attempts: int = 1) -> VoiceIDClient:
    """A boto3 Voice ID client for the emulator; `max_attempts=1` so faults are seen, not retried away."""
    client: VoiceIDClient = boto3.client(
        "voice-id",
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(retries={"mode": "standard", "total_max_attempts": max_attempts}),
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
    )
    return client


def s3_client(endpoint_url: str, region: str = "us-east-1") -> S3Client:
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}),
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
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


@dataclass
class Env:
    """One test's world: S3 buckets and a KMS key on moto, an emulator and a boto3 client for it."""

    emulator: VoiceIdEmulator
    client: VoiceIDClient
    s3: S3Client
    input_bucket: str
    output_bucket: str
    kms_key_id: str
    moto_endpoint: str

    def create_domain(self, name: str = "tracker-domain") -> str:
        response = self.client.create_domain(Name=name, ServerSideEncryptionConfiguration={"KmsKeyId": self.kms_key_id})
        return str(response["Domain"]["DomainId"])

    def put_manifest(self, manifest: dict[str, Any] | str | bytes, key: str = "manifests/batch.json") -> str:
        body = json.dumps(manifest).encode() if isinstance(manifest, dict) else manifest
        self.s3.put_object(Bucket=self.input_bucket, Key=key, Body=body)
        return f"s3://{self.input_bucket}/{key}"

    def put_audio(self, key: str, wav: bytes) -> str:
        self.s3.put_object(Bucket=self.input_bucket, Key=key, Body=wav)
        return f"s3://{self.input_bucket}/{key}"

    def job_args(self, domain_id: str, manifest_uri: str, **extra: Any) -> dict[str, Any]:
        return {
            "DomainId": domain_id,
            "DataAccessRoleArn": ROLE_ARN,
            "InputDataConfig": {"S3Uri": manifest_uri},
            "OutputDataConfig": {"S3Uri": f"s3://{self.output_bucket}/results", "KmsKeyId": self.kms_key_id},
            **extra,
        }

    def read_output(self, job_id: str, input_name: str = "batch.json", folder: str = "results") -> Any:
        obj = self.s3.get_object(Bucket=self.output_bucket, Key=f"{folder}/{job_id}/{input_name}.out")
        return json.loads(obj["Body"].read())


def make_env(moto_endpoint: str, emulator: VoiceIdEmulator) -> Env:
    s3 = s3_client(moto_endpoint)
    input_bucket, output_bucket = unique_bucket("voiceid-in"), unique_bucket("voiceid-out")
    s3.create_bucket(Bucket=input_bucket)
    s3.create_bucket(Bucket=output_bucket)
    kms = boto3.client(
        "kms",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
    )
    key_id = kms.create_key(Description="voiceid output key")["KeyMetadata"]["KeyId"]
    return Env(
        emulator=emulator,
        client=voice_id_client(emulator.endpoint_url),
        s3=s3,
        input_bucket=input_bucket,
        output_bucket=output_bucket,
        kms_key_id=key_id,
        moto_endpoint=moto_endpoint,
    )
