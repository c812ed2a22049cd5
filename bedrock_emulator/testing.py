"""Helpers for tests that drive the Bedrock emulator: clients with fake credentials, JSONL input in S3, output."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from bedrock_emulator.emulator import BedrockEmulator

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_s3 import S3Client

FAKE_ACCESS_KEY = "testing"
FAKE_SECRET_KEY = "testing"  # noqa: S105 - moto and the emulator accept any credentials
ROLE_ARN = "arn:aws:iam::123456789012:role/BedrockBatchInference"
CLAUDE_MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA_MODEL_ID = "amazon.nova-micro-v1:0"


def bedrock_client(endpoint_url: str, region: str = "us-east-1", max_attempts: int = 1) -> BedrockClient:
    """A boto3 Bedrock client for the emulator; `max_attempts=1` so faults are seen, not retried away."""
    client: BedrockClient = boto3.client(
        "bedrock",
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


def claude_input(prompt: str, max_tokens: int = 64, **extra: Any) -> dict[str, Any]:
    return {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
        **extra,
    }


def nova_input(prompt: str, max_new_tokens: int = 64, **extra: Any) -> dict[str, Any]:
    return {
        "schemaVersion": "messages-v1",
        "messages": [{"role": "user", "content": [{"text": prompt}]}],
        "inferenceConfig": {"max_new_tokens": max_new_tokens},
        **extra,
    }


def records(count: int, make: Any = claude_input, prefix: str = "rec") -> list[dict[str, Any]]:
    """`count` valid records with ids `<prefix>00000`..., each with its own prompt."""
    return [
        {"recordId": f"{prefix}{index:05d}", "modelInput": make(f"Summarise item {index}.")} for index in range(count)
    ]


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


@dataclass
class Env:
    """One test's world: input and output buckets and a KMS key on moto, an emulator and a client for it."""

    emulator: BedrockEmulator
    client: BedrockClient
    s3: S3Client
    input_bucket: str
    output_bucket: str
    kms_key_id: str

    def put_input(self, key: str, lines: list[dict[str, Any]] | bytes) -> str:
        body = lines if isinstance(lines, bytes) else jsonl(lines)
        self.s3.put_object(Bucket=self.input_bucket, Key=key, Body=body)
        return f"s3://{self.input_bucket}/{key}"

    def job_args(
        self, input_uri: str, *, name: str | None = None, model_id: str = CLAUDE_MODEL_ID, **extra: Any
    ) -> dict[str, Any]:
        return {
            "jobName": name or f"job-{uuid.uuid4().hex[:12]}",
            "roleArn": ROLE_ARN,
            "modelId": model_id,
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": input_uri}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{self.output_bucket}/results/"}},
            **extra,
        }

    def create(self, input_uri: str, **extra: Any) -> str:
        return self.client.create_model_invocation_job(**self.job_args(input_uri, **extra))["jobArn"]

    def output_keys(self, job_arn: str) -> list[str]:
        prefix = f"results/{job_arn.rsplit('/', 1)[-1]}/"
        listed = self.s3.list_objects_v2(Bucket=self.output_bucket, Prefix=prefix).get("Contents", [])
        return sorted(item["Key"][len(prefix) :] for item in listed)

    def read_output(self, job_arn: str, name: str) -> list[dict[str, Any]]:
        key = f"results/{job_arn.rsplit('/', 1)[-1]}/{name}"
        body = self.s3.get_object(Bucket=self.output_bucket, Key=key)["Body"].read().decode()
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def head_output(self, job_arn: str, name: str) -> dict[str, Any]:
        key = f"results/{job_arn.rsplit('/', 1)[-1]}/{name}"
        head: dict[str, Any] = dict(self.s3.head_object(Bucket=self.output_bucket, Key=key))
        return head


def unique_bucket(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def make_env(moto_endpoint: str, emulator: BedrockEmulator) -> Env:
    s3 = s3_client(moto_endpoint)
    input_bucket, output_bucket = unique_bucket("bedrock-in"), unique_bucket("bedrock-out")
    s3.create_bucket(Bucket=input_bucket)
    s3.create_bucket(Bucket=output_bucket)
    kms = boto3.client(
        "kms",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
    )
    key_id = kms.create_key(Description="bedrock output key")["KeyMetadata"]["KeyId"]
    return Env(
        emulator=emulator,
        client=bedrock_client(emulator.endpoint_url),
        s3=s3,
        input_bucket=input_bucket,
        output_bucket=output_bucket,
        kms_key_id=key_id,
    )
