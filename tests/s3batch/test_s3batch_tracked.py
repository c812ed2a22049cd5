"""The tracker's S3 Batch Operations domain layer (issue 25) against the local S3 Batch Operations: jobs whose
tasks really ran on S3, described and listed over the wire (REST-XML, account-id host prefix) by the tracker's
own adapter, and their completion reports recorded by its record step into DynamoDB (moto server)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from emulator_core.testing import FAKE_ACCESS_KEY, FAKE_SECRET_KEY, REGION
from job_tracker.adapters.dynamodb import DynamoDbFailureStore
from job_tracker.adapters.s3 import S3ObjectReader
from job_tracker.adapters.s3control import S3BatchJobDescriber, S3BatchJobLister
from job_tracker.kinds import JOB_KINDS
from job_tracker.models import JobRef, JobStatus, S3Location
from job_tracker.recording import record_job_outcome
from s3batch_emulator.testing import TAGGING, Env
from tests.unit.conftest import create_table

S3BATCH = JOB_KINDS["S3_BATCH_OPERATIONS"]
_deserializer = TypeDeserializer()


@pytest.fixture
def table(moto_endpoint: str) -> tuple[Any, str]:
    client = boto3.client(
        "dynamodb",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
    )
    name = f"failures-{uuid.uuid4().hex[:8]}"
    create_table(client, name)
    return client, name


def stored(table: tuple[Any, str], ref: JobRef) -> dict[str, dict[str, Any]]:
    client, name = table
    found = client.query(
        TableName=name, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": ref.partition_key}}
    )["Items"]
    return {item["sk"]["S"]: {k: _deserializer.deserialize(v) for k, v in item.items()} for item in found}


def test_a_copy_job_with_missing_keys_is_described_and_exactly_its_failed_tasks_recorded(
    env: Env, table: tuple[Any, str]
) -> None:
    present = env.put_objects(["docs/a b.txt", "docs/été.txt", "docs/c,d.txt"])
    missing = ["docs/gone 1.txt", "docs/gône+2.txt"]
    job_id = env.create(env.manifest_of([*present, *missing]), TAGGING, Description="nightly-tags")
    env.emulator.run_until_done(job_id)
    ref = JobRef(env.account_id, job_id)
    job = S3BatchJobDescriber(env.client).describe(ref, S3BATCH)
    assert (job.status, job.reported_status, job.job_name) == (
        JobStatus.COMPLETED_WITH_ERRORS,
        "Complete",
        "nightly-tags",
    )
    assert job.output == S3Location(env.output_bucket, f"reports/job-{job_id}/")
    assert job.record_counts == {"TotalNumberOfTasks": 5, "NumberOfTasksSucceeded": 3, "NumberOfTasksFailed": 2}
    result = record_job_outcome(job, S3ObjectReader(env.s3), DynamoDbFailureStore(table[0], table[1]))
    items = stored(table, ref)
    failures = [item for key, item in items.items() if key.startswith("FAILURE#")]
    assert sorted((item["Bucket"], item["Key"], item["ErrorCode"], item["HTTPStatusCode"]) for item in failures) == [
        (env.input_bucket, key, "NoSuchKey", 404) for key in sorted(missing)
    ]
    summary = items["SUMMARY"]
    assert (summary["FailedTaskCount"], summary["SucceededTaskCount"], summary["TotalTaskCount"]) == (2, 3, 5)
    assert "CountMismatches" not in summary and summary["RecordState"] == "COMPLETE"
    assert result.failed == 2
    # A second record writes the same items.
    record_job_outcome(job, S3ObjectReader(env.s3), DynamoDbFailureStore(table[0], table[1]))
    assert stored(table, ref) == items


def test_a_job_whose_manifest_changed_fails_before_any_task_and_is_recorded_with_its_reasons(
    env: Env, table: tuple[Any, str]
) -> None:
    manifest = env.manifest_of(env.put_objects(["x.txt"]))
    manifest["Location"]["ETag"] = "0" * 32
    job_id = env.create(manifest, TAGGING)
    env.emulator.run_until_done(job_id)
    ref = JobRef(env.account_id, job_id)
    job = S3BatchJobDescriber(env.client).describe(ref, S3BATCH)
    assert (job.status, job.reported_status) == (JobStatus.FAILED, "Failed")
    assert job.failure_details is not None and job.failure_details.message
    record_job_outcome(job, S3ObjectReader(env.s3), DynamoDbFailureStore(table[0], table[1]))
    summary = stored(table, ref)["SUMMARY"]
    assert summary["RecordState"] == "COMPLETE" and summary["TrackerJobStatus"] == "FAILED"
    assert summary["FailureDetails"]["Message"] == job.failure_details.message
    assert summary["NoReportReason"].startswith("no task ran before the job ended Failed")
    assert summary["FailedTaskCount"] == 0 and summary["UnnamedFailedTaskCount"] == 0


def test_the_sweep_s_lister_finds_the_account_s_jobs(env: Env) -> None:
    job_ids = {env.create(env.manifest_of(env.put_objects([f"k{n}"])), TAGGING) for n in range(3)}
    created = S3BatchJobDescriber(env.client).describe(JobRef(env.account_id, min(job_ids)), S3BATCH).created_at
    assert created is not None
    now = datetime.fromisoformat(created) + timedelta(minutes=1)
    listed = list(S3BatchJobLister(env.client, timedelta(days=1), lambda: now).list_jobs(env.account_id, S3BATCH))
    assert {job.ref.job_id for job in listed} >= job_ids
    assert all(job.kind is S3BATCH and job.ref.domain_id == env.account_id for job in listed)
