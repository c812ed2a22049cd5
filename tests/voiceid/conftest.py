"""Fixtures for the Voice ID emulator tests: a moto server (S3, KMS, EventBridge) and an emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from voiceid_emulator import Pacing, VoiceIdEmulator
from voiceid_emulator.testing import FAKE_CREDENTIALS, ROLE_ARN, s3_client, unique_bucket, voice_id_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_voice_id import VoiceIDClient


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


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
        response = self.client.create_domain(
            Name=name, ServerSideEncryptionConfiguration={"KmsKeyId": self.kms_key_id}
        )
        return response["Domain"]["DomainId"]

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
    kms = boto3.client("kms", endpoint_url=moto_endpoint, region_name="us-east-1", **FAKE_CREDENTIALS)
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


@pytest.fixture
def env(moto_endpoint: str) -> Iterator[Env]:
    """Manual pacing, throttling off: jobs move only when the test steps them."""
    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint, throttling=False, pacing=Pacing.manual_steps()
    ) as emulator:
        yield make_env(moto_endpoint, emulator)
