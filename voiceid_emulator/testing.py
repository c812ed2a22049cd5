"""Helpers for tests that drive the emulator: clients with fake credentials, manifests and audio in S3."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulator_core.testing import (
    FAKE_ACCESS_KEY,
    FAKE_CREDENTIALS,
    FAKE_SECRET_KEY,
    EmulatorEnv,
    new_buckets,
    s3_client,
    sdk_client,
    unique_bucket,
)
from voiceid_emulator.audio import make_wav
from voiceid_emulator.emulator import VoiceIdEmulator

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_voice_id import VoiceIDClient

__all__ = [
    "FAKE_ACCESS_KEY",
    "FAKE_CREDENTIALS",
    "FAKE_SECRET_KEY",
    "ROLE_ARN",
    "Env",
    "fraudster_manifest",
    "make_env",
    "put_audio",
    "put_manifest",
    "s3_client",
    "speaker_manifest",
    "unique_bucket",
    "voice_id_client",
]

ROLE_ARN = "arn:aws:iam::123456789012:role/VoiceIdBatchAccess"


def voice_id_client(endpoint_url: str, region: str = "us-east-1", max_attempts: int = 1) -> VoiceIDClient:
    """A boto3 Voice ID client for the emulator; `max_attempts=1` so faults are seen, not retried away."""
    client: VoiceIDClient = sdk_client("voice-id", endpoint_url, region, max_attempts)
    return client


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


def _manifest_body(manifest: dict[str, Any] | str | bytes) -> bytes:
    if isinstance(manifest, dict):
        return json.dumps(manifest).encode()
    return manifest.encode() if isinstance(manifest, str) else manifest


def put_manifest(s3: S3Client, bucket: str, key: str, manifest: dict[str, Any] | str | bytes) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=_manifest_body(manifest))
    return f"s3://{bucket}/{key}"


@dataclass
class Env(EmulatorEnv):
    """One test's world: S3 buckets and a KMS key on moto, an emulator and a boto3 client for it."""

    emulator: VoiceIdEmulator
    client: VoiceIDClient
    moto_endpoint: str

    def create_domain(self, name: str = "tracker-domain") -> str:
        response = self.client.create_domain(Name=name, ServerSideEncryptionConfiguration={"KmsKeyId": self.kms_key_id})
        return str(response["Domain"]["DomainId"])

    def put_manifest(self, manifest: dict[str, Any] | str | bytes, key: str = "manifests/batch.json") -> str:
        return self.put_input_object(key, _manifest_body(manifest))

    def put_audio(self, key: str, wav: bytes) -> str:
        return self.put_input_object(key, wav)

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
    return Env(
        emulator=emulator,
        client=voice_id_client(emulator.endpoint_url),
        moto_endpoint=moto_endpoint,
        **new_buckets(moto_endpoint, "voiceid"),
    )
