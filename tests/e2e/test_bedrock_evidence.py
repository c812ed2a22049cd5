"""Missing evidence is never a zero, on the local cloud (issue 22, points 1 and 2; docs/bedrock-jobs.md, "When
evidence is missing"). A job is held by losing its events: the local Bedrock runs it to its end, no tracker
starts, the test deletes what the tracker would read, and only then starts a tracker as an operator does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local_cloud.driver import TrackedJob, TrackerDriver, recorded_by
from local_cloud.testing import wait_for_execution
from tests.e2e.test_bedrock_end_to_end import rows, settle

MISSING_OUTPUT = "holds no .jsonl.out file"


@pytest.fixture(autouse=True)
def _small_jobs(driver: TrackerDriver) -> Iterator[None]:
    admin = driver.local.bedrock.admin
    admin.set_quota(min_records_per_job=1)
    yield
    admin.reset_faults()
    admin.reset_quotas()


def name(label: str) -> str:
    return f"tracked-evidence-{label}-{uuid.uuid4().hex[:6]}"


def held_job(
    driver: TrackerDriver, label: str, files: dict[str, Any], outcome: tuple[str, int] | None = None
) -> TrackedJob:
    """A job run to its end with every event lost, so that no tracker has read anything yet."""
    driver.local.bedrock.admin.set_event_loss(1.0)
    try:
        job = driver.start_bedrock_job(
            name(label), driver.upload_bedrock_input(files, label=label), outcome=outcome, wait=True
        )
    finally:
        driver.local.bedrock.admin.set_event_loss(0.0)
    assert driver.executions(job) == []
    return job


def s3_location(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def objects_under(driver: TrackerDriver, uri: str, suffix: str) -> list[str]:
    bucket, prefix = s3_location(uri)
    return [
        entry["Key"]
        for page in driver.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for entry in page.get("Contents", [])
        if entry["Key"].endswith(suffix)
    ]


def output_folder(driver: TrackerDriver, job: TrackedJob) -> str:
    return f"{driver.local.bedrock_output_s3_uri.rstrip('/')}/{job.job_id}/"


def input_uri(driver: TrackerDriver, job: TrackedJob) -> str:
    found = driver.bedrock.get_model_invocation_job(jobIdentifier=job.job_id)
    return str(found["inputDataConfig"]["s3InputDataConfig"]["s3Uri"])


def wait_for_summary(
    driver: TrackerDriver, job: TrackedJob, condition: Callable[[dict[str, Any]], bool], seconds: float = 90.0
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        summary = driver.items(job).get("SUMMARY") or {}
        if condition(summary):
            return summary
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job.job_id}'s summary never met the condition: {summary}")
        time.sleep(0.25)


def unprocessed(driver: TrackerDriver, job: TrackedJob) -> set[str]:
    return {record_id for record_id, item in driver.failures(job).items() if item["ErrorCode"] == "UNPROCESSED"}


def test_a_job_whose_output_was_deleted_before_the_record_is_not_recorded_until_it_is_back(
    driver: TrackerDriver,
) -> None:
    job = held_job(driver, "no-output", {"in.jsonl": rows("o", 6, frozenset({1, 4}))})
    folder = output_folder(driver, job)
    bucket, _ = s3_location(folder)
    outputs = {
        key: driver.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in objects_under(driver, folder, ".jsonl.out")
    }
    assert outputs
    for key in outputs:
        driver.s3.delete_object(Bucket=bucket, Key=key)
    first = driver.start_execution(job)
    summary = wait_for_summary(driver, job, lambda summary: MISSING_OUTPUT in summary.get("RecordProblem", ""))
    # Not recorded: the summary says why while the state machine retries, and nothing was written.
    assert summary["RecordState"] == "RECORDING" and f"{folder} {MISSING_OUTPUT}" in summary["RecordProblem"]
    assert "FailedRecordCount" not in summary and driver.failures(job) == {}
    assert driver.items(job)["LOCK"]["LockState"] == "TRACKING"
    assert driver.sfn.describe_execution(executionArn=first)["status"] == "RUNNING"
    # A tracker that stops (or fails) on it leaves the job unrecorded: the sweep starts it again.
    driver.sfn.stop_execution(executionArn=first, error="Operator", cause="stopped by the test")
    assert wait_for_execution(driver.sfn, first)["status"] == "ABORTED"
    report = driver.run_sweep()
    assert job.job_id in report["Started"], report
    # S3 lists the output late: the retried record finds it and records the job exactly.
    kms_key = driver.local.bedrock_output_kms_key_id
    for key, body in outputs.items():
        driver.s3.put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key)
    summary = settle(driver, job)
    assert summary["RecordState"] == "COMPLETE" and "RecordProblem" not in summary
    assert set(driver.failures(job)) == {"o00001", "o00004"} and summary["FailedRecordCount"] == 2
    assert len(recorded_by(driver.executions(job))) == 1


def test_an_input_folder_emptied_after_the_job_leaves_the_unprocessed_counted_from_the_total_not_zero(
    driver: TrackerDriver,
) -> None:
    job = held_job(driver, "emptied", {"in.jsonl": rows("e", 10)}, outcome=("PartiallyCompleted", 4))
    folder = input_uri(driver, job)
    bucket, _ = s3_location(folder)
    for key in objects_under(driver, folder, ".jsonl"):
        driver.s3.delete_object(Bucket=bucket, Key=key)
    driver.start_execution(job)
    summary = settle(driver, job)
    left = 10 - len(driver.bedrock_output_ids(job))
    assert summary["RecordState"] == "COMPLETE" and left > 0
    assert (summary["UnprocessedRecordCount"], summary["TotalRecordCount"]) == (left, 10)
    assert summary["UnprocessedUnnamedReason"] == (
        f"{left} record(s) have no output line and cannot be named: the input could not be read ({folder} lists "
        f"no .jsonl file); counted from manifest.json.out's totalRecordCount 10 less the {10 - left} output line(s)"
    )
    assert unprocessed(driver, job) == set()


def test_a_bare_input_prefix_beside_a_sibling_folder_names_only_its_own_records(driver: TrackerDriver) -> None:
    files = {"in/a.jsonl": rows("p", 6), "in-old/a.jsonl": rows("q", 3), "in2.jsonl": rows("s", 2)}
    folder = driver.upload_bedrock_input(files, label="bare")
    job = driver.start_bedrock_job(name("bare"), f"{folder}in", outcome=("PartiallyCompleted", 2))
    summary = settle(driver, job)
    expected = {row["recordId"] for row in files["in/a.jsonl"]} - driver.bedrock_output_ids(job)
    assert summary["JobStatus"] == "PartiallyCompleted" and expected
    assert unprocessed(driver, job) == expected  # nothing of in-old/ or in2.jsonl
    assert summary["UnprocessedRecordCount"] == len(expected) and summary["TotalRecordCount"] == 6


def test_a_re_record_after_the_input_is_gone_keeps_the_unprocessed_records_named_before(
    driver: TrackerDriver,
) -> None:
    records = rows("g", 8, frozenset({0}))
    folder = driver.upload_bedrock_input({"in.jsonl": records}, label="gone")
    job = driver.start_bedrock_job(name("gone"), folder, outcome=("PartiallyCompleted", 3))
    settle(driver, job)
    before = driver.failures(job)
    named = unprocessed(driver, job)
    assert named == {row["recordId"] for row in records} - driver.bedrock_output_ids(job)
    bucket, _ = s3_location(folder)
    for key in objects_under(driver, folder, ".jsonl"):
        driver.s3.delete_object(Bucket=bucket, Key=key)
    rerecord = driver.start_execution(job, Rerecord=True)
    assert wait_for_execution(driver.sfn, rerecord, deadline_seconds=120)["status"] == "SUCCEEDED"
    after = driver.failures(job)
    assert after.keys() == before.keys() and unprocessed(driver, job) == named
    summary = driver.items(job)["SUMMARY"]
    assert summary["RecordState"] == "COMPLETE" and summary["KeptFailureItemCount"] == len(named)
    assert summary["FailedRecordCount"] == len(before)
    assert f"{folder} lists no .jsonl file" in summary["UnprocessedUnnamedReason"]
