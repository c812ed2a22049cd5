"""Test helpers both emulators' tests share: SDK clients with fake credentials, a moto server, one test's
buckets and KMS key on it, and running a JavaScript SDK script against an emulator.

`voiceid_emulator.testing` and `bedrock_emulator.testing` add their own clients, inputs and `Env`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

FAKE_ACCESS_KEY = "testing"
FAKE_SECRET_KEY = "testing"  # noqa: S105 - moto and the emulators accept any credentials
FAKE_CREDENTIALS = {"aws_access_key_id": FAKE_ACCESS_KEY, "aws_secret_access_key": FAKE_SECRET_KEY}
REGION = "us-east-1"
REPO = Path(__file__).resolve().parents[1]


def sdk_client(service: str, endpoint_url: str, region: str = REGION, max_attempts: int = 1) -> Any:
    """A boto3 client for an emulator; `max_attempts=1` so faults are seen, not retried away."""
    make_client: Any = boto3.client
    return make_client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(retries={"mode": "standard", "total_max_attempts": max_attempts}),
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
    )


def s3_client(endpoint_url: str, region: str = REGION) -> S3Client:
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}),
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
    )
    return client


def unique_bucket(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free port of 127.0.0.1 (S3, KMS, EventBridge, SQS...); its endpoint URL."""
    from moto.server import ThreadedMotoServer  # a test dependency, not the emulators'

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass
class EmulatorEnv:
    """One test's S3 world on moto: an input bucket, an output bucket and a KMS key of its own. Each emulator's
    `Env` adds the emulator and a client for it."""

    s3: S3Client
    input_bucket: str
    output_bucket: str
    kms_key_id: str

    def put_input_object(self, key: str, body: bytes) -> str:
        """Put `body` at `key` of the input bucket; its S3 URI."""
        self.s3.put_object(Bucket=self.input_bucket, Key=key, Body=body)
        return f"s3://{self.input_bucket}/{key}"


def new_buckets(moto_endpoint: str, prefix: str) -> dict[str, Any]:
    """`EmulatorEnv`'s fields, freshly made: `<prefix>-in-…` and `<prefix>-out-…` buckets and a KMS key."""
    s3 = s3_client(moto_endpoint)
    input_bucket, output_bucket = unique_bucket(f"{prefix}-in"), unique_bucket(f"{prefix}-out")
    s3.create_bucket(Bucket=input_bucket)
    s3.create_bucket(Bucket=output_bucket)
    kms = boto3.client(
        "kms",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
    )
    key_id = kms.create_key(Description=f"{prefix} output key")["KeyMetadata"]["KeyId"]
    return {"s3": s3, "input_bucket": input_bucket, "output_bucket": output_bucket, "kms_key_id": key_id}


def run_js_client(script: Path, sdk_package: str, env: dict[str, str]) -> Any:
    """Run a Node script that drives an emulator through the AWS SDK for JavaScript v3 (`sdk_package`, e.g.
    `@aws-sdk/client-bedrock`) with `env` added to this process's environment; the JSON it printed."""
    # `make test` installs both; a silent skip would hide that the second client never ran.
    assert shutil.which("node"), "node is not on PATH (make test puts the venv's Node first)"
    assert (REPO / "node_modules" / sdk_package).is_dir(), (
        f"node_modules/{sdk_package} is missing: run `npm ci` (make install)"
    )
    result = subprocess.run(
        ["node", str(script)],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
