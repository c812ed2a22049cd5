"""Helpers for tests that drive the Bedrock emulator: clients with fake credentials, JSONL input in S3, output."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bedrock_emulator.emulator import BedrockEmulator
from emulator_core.testing import (
    FAKE_ACCESS_KEY,
    FAKE_SECRET_KEY,
    EmulatorEnv,
    new_buckets,
    s3_client,
    sdk_client,
    unique_bucket,
)

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

__all__ = [
    "CLAUDE_MODEL_ID",
    "FAKE_ACCESS_KEY",
    "FAKE_SECRET_KEY",
    "NOVA_MODEL_ID",
    "ROLE_ARN",
    "Env",
    "bedrock_client",
    "claude_input",
    "jsonl",
    "make_env",
    "nova_input",
    "records",
    "runtime_client",
    "s3_client",
    "unique_bucket",
]

ROLE_ARN = "arn:aws:iam::123456789012:role/BedrockBatchInference"
CLAUDE_MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA_MODEL_ID = "amazon.nova-micro-v1:0"


def bedrock_client(endpoint_url: str, region: str = "us-east-1", max_attempts: int = 1) -> BedrockClient:
    """A boto3 Bedrock client for the emulator; `max_attempts=1` so faults are seen, not retried away."""
    client: BedrockClient = sdk_client("bedrock", endpoint_url, region, max_attempts)
    return client


def runtime_client(endpoint_url: str, region: str = "us-east-1", max_attempts: int = 1) -> BedrockRuntimeClient:
    """A boto3 bedrock-runtime client (InvokeModel, Converse) for the emulator, which serves both APIs."""
    client: BedrockRuntimeClient = sdk_client("bedrock-runtime", endpoint_url, region, max_attempts)
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
class Env(EmulatorEnv):
    """One test's world: input and output buckets and a KMS key on moto, an emulator and a client for it."""

    emulator: BedrockEmulator
    client: BedrockClient

    def put_input(self, key: str, lines: list[dict[str, Any]] | bytes) -> str:
        return self.put_input_object(key, lines if isinstance(lines, bytes) else jsonl(lines))

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


def make_env(moto_endpoint: str, emulator: BedrockEmulator) -> Env:
    return Env(emulator=emulator, client=bedrock_client(emulator.endpoint_url), **new_buckets(moto_endpoint, "bedrock"))
