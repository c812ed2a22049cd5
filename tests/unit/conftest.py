"""Fixtures for the Lambda logic: moto S3, KMS and DynamoDB (no network); job and `.out` builders."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from job_tracker import table_schema as schema
from job_tracker.kinds import JOB_KINDS, JobKind
from job_tracker.models import FailureDetails, JobDescription, JobRef, JobStatus, S3Location

REGION = "us-east-1"
DOMAIN_ID = "DomainAAAAAAAAAAAAAAAA"
JOB_ID = "JobBBBBBBBBBBBBBBBBBBB"
OUTPUT_BUCKET = "voiceid-output-bucket"
TABLE = "failures"


@pytest.fixture(autouse=True)
def _fresh_powertools_loggers() -> Iterator[None]:
    """A handler imported by a test configures its Powertools logger anew. Powertools configures a service's
    logger once per process (marked `init`) and binds its handler to the sys.stdout of that moment, so a
    logger first made under another test's capture would write where this test's capsys cannot read."""
    yield
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and getattr(logger, "init", False):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            for mark in ("init", "powertools_handler"):  # Powertools' marks of a configured logger
                logger.__dict__.pop(mark, None)


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def create_table(client: Any, name: str = TABLE) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": schema.PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": schema.SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": schema.PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": schema.SORT_KEY, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def dynamodb(aws: None) -> Any:
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client)
    return client


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=OUTPUT_BUCKET)
    return client


@pytest.fixture
def kms_key_id(aws: None) -> str:
    return str(boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["KeyId"])


def job(
    status: JobStatus = JobStatus.COMPLETED_WITH_ERRORS,
    *,
    output_key: str | None = f"out/{JOB_ID}/manifest.json.out",
    failure: FailureDetails | None = None,
    kind: JobKind = JOB_KINDS["FRAUDSTER_REGISTRATION"],
    input_key: str | None = None,
) -> JobDescription:
    return JobDescription(
        ref=JobRef(DOMAIN_ID, JOB_ID),
        kind=kind,
        status=status,
        percent_complete=100,
        job_name="nightly-fraudsters",
        created_at="2026-11-25T10:00:00+00:00",
        ended_at="2026-11-25T10:05:00+00:00",
        failure_details=failure,
        output=S3Location(OUTPUT_BUCKET, output_key) if output_key else None,
        input=S3Location(OUTPUT_BUCKET, input_key) if input_key else None,
    )


def output_document(
    errors: list[tuple[str, int, str]] | None = None,
    registered: int = 0,
    duplicates: int = 0,
    status_word: str = "NEW_REGISTRATION",
) -> dict[str, Any]:
    successes: list[dict[str, Any]] = [
        {"RequestId": f"ok-{n}", "GeneratedFraudsterId": f"id#{n:022d}", "RegistrationStatus": status_word}
        for n in range(registered)
    ]
    successes += [
        {
            "RequestId": f"dup-{n}",
            "GeneratedFraudsterId": f"id#{n:022d}",
            "RegistrationStatus": "DUPLICATE_SKIPPED",
            "FraudsterSimilarityScore": 97,
        }
        for n in range(duplicates)
    ]
    return {
        "Version": "1.0",
        "Errors": [{"RequestId": r, "ErrorCode": c, "ErrorMessage": m} for r, c, m in errors or []],
        "SuccessfulRegistrations": successes,
    }


def put_output(s3: Any, key: str, document: dict[str, Any] | bytes, kms_key_id: str | None = None) -> None:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    extra: dict[str, str] = {}
    if kms_key_id:
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
    s3.put_object(Bucket=OUTPUT_BUCKET, Key=key, Body=body, **extra)
