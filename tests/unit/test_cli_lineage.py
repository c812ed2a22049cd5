"""`batch-job-tracker lineage JOB [RECORD]`: where each failed record of a Bedrock job is in the automatic retries,
read from the lineage items the retry dispatcher writes (moto DynamoDB)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from batch_job_tracker_cli.erasure import _of_job
from batch_job_tracker_cli.target import Target
from job_tracker.models import S3Location
from tests.unit.test_cli_commands import create_table, invoke, put, summary

ACCOUNT = "123456789012"
JOB = "abcdef123456"
RETRY_JOB = "fedcba654321"
OUT = f"s3://out/x/{RETRY_JOB}/retry.jsonl.out"


def lineage_item(record_id: str, **attributes: Any) -> dict[str, Any]:
    return {
        "pk": f"JOB#{ACCOUNT}#{JOB}",
        "sk": f"RETRY#{record_id}",
        "RecordType": "RETRIED_RECORD",
        "DomainId": ACCOUNT,
        "JobId": JOB,
        "RecordId": record_id,
        **attributes,
    }


@pytest.fixture
def target() -> Iterator[Target]:
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        dynamodb = session.client("dynamodb")
        create_table(dynamodb)
        put(
            dynamodb,
            summary(
                ACCOUNT,
                JOB,
                "2026-12-06T09:00:00+00:00",
                kind="BEDROCK_BATCH_INFERENCE",
                RetrySucceededCount=1,
                RetryPendingCount=0,
                FinalFailedCount=1,
                RetrySettledAt="2026-12-06T09:30:00+00:00",
            ),
        )
        first = {"Attempt": 1, "RunBy": JOB, "ErrorCode": 500, "ErrorMessage": "boom", "LineNumber": 3}
        put(
            dynamodb,
            lineage_item(
                "r1",
                RetryState="SUCCEEDED",
                Attempt=2,
                RetriedBy=RETRY_JOB,
                SucceededOutputFile=OUT,
                SucceededLineNumber=7,
                Attempts=[first, {"Attempt": 2, "RunBy": RETRY_JOB, "OutputFile": OUT, "LineNumber": 7}],
            ),
        )
        put(
            dynamodb,
            lineage_item(
                "r10", RetryState="FINAL", Attempt=1, FinalReason="error 400 is final at once", Attempts=[first]
            ),
        )
        yield Target(
            description="stack Test (us-east-1)",
            outputs={
                "FailuresTableName": "failures",
                "StateMachineArn": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:tracker",
                "BedrockAccountId": ACCOUNT,
            },
            session=session,
        )


def test_lineage_lists_each_record_where_it_is_now(target: Target) -> None:
    result = invoke(target, "lineage", JOB, "--format", "json")
    assert result.exit_code == 0, result.output
    found = {item["RecordId"]: item for item in json.loads(result.stdout)}
    assert set(found) == {"r1", "r10"}
    assert (found["r1"]["RetryState"], found["r1"]["RetriedBy"], found["r1"]["SucceededLineNumber"]) == (
        "SUCCEEDED",
        RETRY_JOB,
        7,
    )
    table = invoke(target, "lineage", JOB)
    assert table.exit_code == 0, table.output
    assert f"{OUT}:7" in table.stdout.replace("\n", "") or RETRY_JOB in table.stdout
    assert "error 400 is final at once" in table.stdout


def test_one_record_shows_every_attempt_and_not_its_prefix_siblings(target: Target) -> None:
    result = invoke(target, "lineage", JOB, "r1", "--format", "json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["RecordId"] == "r1"  # not r10, whose key shares the prefix
    assert [attempt["RunBy"] for attempt in record["Attempts"]] == [JOB, RETRY_JOB]
    table = invoke(target, "lineage", JOB, "r1")
    assert table.exit_code == 0 and "Record r1 of job" in table.stdout and "boom" in table.stdout


def test_a_record_in_no_retry_is_a_one_line_error(target: Target) -> None:
    result = invoke(target, "lineage", JOB, "nope")
    assert result.exit_code != 0
    assert "record nope of job" in result.output and "Traceback" not in result.output


def test_erase_by_job_finds_an_automatic_retry_file_of_several_jobs() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bedrock-in")
        s3.put_object(
            Bucket="bedrock-in",
            Key="retries/auto/b.jsonl",
            Body=b"{}\n",
            Metadata={"tracker-source-job-id": f"{JOB},{RETRY_JOB}"},
        )
        location = S3Location("bedrock-in", "retries/auto/b.jsonl")
        assert _of_job(s3, location, JOB) and _of_job(s3, location, RETRY_JOB)
        assert not _of_job(s3, location, "otherjob0000")


def test_show_gives_the_settled_view(target: Target) -> None:
    result = invoke(target, "show", JOB)
    assert result.exit_code == 0, result.output
    for row in ("RetrySucceededCount", "RetryPendingCount", "FinalFailedCount", "2026-12-06T09:30:00+00:00"):
        assert row in result.stdout
