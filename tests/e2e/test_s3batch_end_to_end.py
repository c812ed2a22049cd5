"""S3 Batch Operations jobs tracked end to end on the local cloud: the local S3 Batch Operations runs them (real S3
and Lambda tasks as the job's role, under IAM), its CloudTrail-shaped events (or the sweep) start the tracker,
which records every failed task from the completion report. Each test acts as an S3 Batch Operations user on the
shared local cloud, whose stack follows jobs described `tracked-*` (cdk.json) reporting under the local report
location (tests/e2e/conftest.py)."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_cloud.driver import S3_BATCH_OPERATIONS, AudioRequest, TrackedJob, TrackerDriver, recorded_by
from local_cloud.environment import LocalEnvironment
from local_cloud.lambda_runtime.config import LambdaFunctionConfig
from local_cloud.s3batch import INPUT_BUCKET, REPORT_BUCKET
from local_cloud.testing import wait_for_execution
from s3batch_emulator.testing import csv_manifest, put_manifest
from tests.e2e.test_bedrock_end_to_end import name as bedrock_job_name
from tests.e2e.test_bedrock_end_to_end import rows as bedrock_rows

FUNCTION = "s3batch-tracked-function"
# Answers by key: perm* PermanentFailure, always-temp* TemporaryFailure every time, anything else Succeeded.
FUNCTION_CODE = Path(__file__).resolve().parents[1] / "s3batch" / "fixtures" / "batch_function"
FORBIDDEN_BUCKET = "s3batch-e2e-forbidden"
COPY_TO = {"S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{INPUT_BUCKET}", "TargetKeyPrefix": "objects/copies/"}}
TAG = {"S3PutObjectTagging": {"TagSet": [{"Key": "tracked", "Value": "yes"}]}}

_numbers = itertools.count(1)


def description(label: str) -> str:
    return f"tracked-{label}-{next(_numbers):04d}"


@pytest.fixture(autouse=True)
def _faults_cleared(driver: TrackerDriver) -> Iterator[None]:
    yield
    emulator = driver.local.s3batch.emulator
    emulator.admin.reset_faults()
    emulator.admin.reset_pacing()
    emulator.admin.set_event_loss(0.0)


@pytest.fixture(scope="module")
def function_arn(local: LocalEnvironment) -> str:
    local.cloud.lambdas.register(
        LambdaFunctionConfig(name=FUNCTION, handler="handler.handler", code_dir=FUNCTION_CODE, timeout_seconds=30)
    )
    return f"arn:aws:lambda:{local.cloud.region}:{local.cloud.account_id}:function:{FUNCTION}"


def settle(driver: TrackerDriver, job: TrackedJob, deadline_seconds: float = 120.0) -> dict[str, Any]:
    """Wait until no tracker of the job runs and its summary is COMPLETE or FAILED; returns the summary."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        driver.wait_until_settled(job, deadline_seconds=deadline_seconds)
        summary = driver.items(job).get("SUMMARY")
        recorded = summary is not None and summary.get("RecordState") in ("COMPLETE", "FAILED")
        if recorded and all(execution["status"] != "RUNNING" for execution in driver.executions(job)):
            return dict(summary or {})
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job.job_id} not recorded: {summary}")
        time.sleep(0.25)


def failed_tasks(driver: TrackerDriver, job: TrackedJob) -> dict[tuple[str, str], tuple[str, int]]:
    """(Bucket, Key) -> (ErrorCode, HTTPStatusCode) of every failure item of the job."""
    return {
        (item["Bucket"], item["Key"]): (item["ErrorCode"], item["HTTPStatusCode"])
        for item in driver.failures(job).values()
    }


def rerecord(driver: TrackerDriver, job: TrackedJob) -> dict[str, Any]:
    """Record the job again, as an operator does ({"Rerecord": true}); the summary once it is done."""
    execution = wait_for_execution(driver.sfn, driver.start_execution(job, Rerecord=True), deadline_seconds=120)
    assert execution["status"] == "SUCCEEDED", execution
    return dict(driver.items(job)["SUMMARY"])


def test_a_copy_job_records_exactly_its_missing_keys_and_forbidden_bucket_and_again_alike(
    driver: TrackerDriver,
) -> None:
    s3 = driver.s3
    if FORBIDDEN_BUCKET not in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=FORBIDDEN_BUCKET)
    s3.put_object(Bucket=FORBIDDEN_BUCKET, Key="secret report.txt", Body=b"x")  # the job role has no grant here
    present = driver.local.s3batch.put_objects(["copy-me a.txt", "copy-me b.txt"])
    rows = [
        *((INPUT_BUCKET, key) for key in present),
        (INPUT_BUCKET, "objects/missing one.txt"),
        (INPUT_BUCKET, "objects/missing+two.txt"),
        (FORBIDDEN_BUCKET, "secret report.txt"),
    ]
    manifest = put_manifest(s3, INPUT_BUCKET, f"manifests/{uuid.uuid4().hex}.csv", csv_manifest(rows))
    job = driver.start_s3batch_job(description("copy"), [], COPY_TO, Manifest=manifest)
    summary = settle(driver, job)
    assert len(recorded_by(driver.executions(job))) == 1
    expected = {
        (INPUT_BUCKET, "objects/missing one.txt"): ("NoSuchKey", 404),
        (INPUT_BUCKET, "objects/missing+two.txt"): ("NoSuchKey", 404),
        (FORBIDDEN_BUCKET, "secret report.txt"): ("AccessDenied", 403),
    }
    assert failed_tasks(driver, job) == expected
    item = next(item for item in driver.failures(job).values() if item["Key"] == "secret report.txt")
    assert item["ReportFile"].startswith(f"s3://{REPORT_BUCKET}/reports/job-{job.job_id}/results/")
    assert item["LineNumber"] >= 1 and item["ResultMessage"]
    assert (summary["JobKind"], summary["JobStatus"], summary["TrackerJobStatus"], summary["RecordState"]) == (
        S3_BATCH_OPERATIONS,
        "Complete",
        "COMPLETED_WITH_ERRORS",
        "COMPLETE",
    )
    assert (summary["FailedTaskCount"], summary["SucceededTaskCount"], summary["TotalTaskCount"]) == (3, 2, 5)
    assert "CountMismatches" not in summary
    # The copies were made; a second record writes the same items, no more.
    assert s3.head_object(Bucket=INPUT_BUCKET, Key=f"objects/copies/{present[0]}")["ContentLength"] == 4
    again = rerecord(driver, job)
    assert failed_tasks(driver, job) == expected
    assert (again["FailedTaskCount"], again["SucceededTaskCount"]) == (3, 2)


def test_a_lambda_job_records_its_permanent_and_temporary_failures(driver: TrackerDriver, function_arn: str) -> None:
    keys = ["ok-first", "perm-refused", "always-temp-busy", "ok-second"]
    operation = {"LambdaInvoke": {"FunctionArn": function_arn, "InvocationSchemaVersion": "2.0"}}
    job = driver.start_s3batch_job(description("lambda"), keys, operation)
    summary = settle(driver, job)
    failures = {item["Key"]: item for item in driver.failures(job).values()}
    assert {key: (item["ErrorCode"], item["HTTPStatusCode"]) for key, item in failures.items()} == {
        "perm-refused": ("PermanentFailure", 200),
        "always-temp-busy": ("TemporaryFailure", 200),
    }
    assert failures["perm-refused"]["ResultMessage"] == "refused"
    assert (summary["JobStatus"], summary["FailedTaskCount"], summary["SucceededTaskCount"]) == ("Complete", 2, 2)


def test_a_job_failed_by_its_task_failure_threshold_is_recorded_from_its_report(driver: TrackerDriver) -> None:
    admin = driver.local.s3batch.emulator.admin
    # Tasks that end as the forced failures say without S3 calls: 1,200 of them, nine in ten failing, trip
    # the threshold (at least 1,000 run, more than half failed) as on AWS.
    admin.set_pacing(0.2, 0, simulate_tasks=True)
    admin.set_task_failures(
        {"fraction": 0.9, "seed": 25, "failure": {"errorCode": "NoSuchKey", "httpStatus": 404, "message": "gone"}}
    )
    keys = [f"objects/threshold/{n:05d}" for n in range(1200)]
    job = driver.start_s3batch_job(description("threshold"), keys, TAG)
    summary = settle(driver, job, deadline_seconds=240)
    progress = driver.local.s3batch.client().describe_job(AccountId=job.domain_id, JobId=job.job_id)["Job"]
    assert progress["Status"] == "Failed"
    failed = progress["ProgressSummary"]["NumberOfTasksFailed"]
    assert failed > progress["ProgressSummary"]["NumberOfTasksSucceeded"]
    assert (summary["JobStatus"], summary["TrackerJobStatus"], summary["RecordState"]) == (
        "Failed",
        "FAILED",
        "COMPLETE",
    )
    assert "TaskFailureThresholdExceeded" in summary["FailureDetails"]["Message"]
    failures = failed_tasks(driver, job)
    assert len(failures) == failed == summary["FailedTaskCount"]
    assert set(failures.values()) == {("NoSuchKey", 404)}
    assert {key for _, key in failures} <= set(keys)


def test_a_job_cancelled_while_awaiting_confirmation_is_recorded_with_no_task_run(driver: TrackerDriver) -> None:
    keys = driver.local.s3batch.put_objects(["never-tagged.txt"])
    job = driver.start_s3batch_job(description("cancelled"), keys, TAG, ConfirmationRequired=True)
    # The JobCreated event started a tracker, which waits while the job is Suspended (SUBMITTED).
    driver.wait_until_running(job)
    client = driver.local.s3batch.client()
    deadline = time.monotonic() + 30
    while client.describe_job(AccountId=job.domain_id, JobId=job.job_id)["Job"]["Status"] != "Suspended":
        assert time.monotonic() < deadline, "the job never awaited confirmation"
        time.sleep(0.1)
    assert driver.items(job).get("SUMMARY") is None
    client.update_job_status(
        AccountId=job.domain_id, JobId=job.job_id, RequestedJobStatus="Cancelled", StatusUpdateReason="not needed"
    )
    summary = settle(driver, job)
    assert (summary["JobStatus"], summary["TrackerJobStatus"], summary["RecordState"]) == (
        "Cancelled",
        "COMPLETED_WITH_ERRORS",
        "COMPLETE",
    )
    assert "StatusUpdateReason: not needed" in summary["FailureDetails"]["Message"]
    assert "no task ran" in summary["NoReportReason"]
    assert driver.failures(job) == {}
    assert len(recorded_by(driver.executions(job))) == 1


def test_a_job_whose_events_were_all_lost_is_recorded_by_the_sweep(driver: TrackerDriver) -> None:
    driver.local.s3batch.emulator.admin.set_event_loss(1.0)
    present = driver.local.s3batch.put_objects(["swept.txt"])
    job = driver.start_s3batch_job(description("swept"), [*present, "objects/swept-missing.txt"], TAG)
    assert driver.local.s3batch.emulator.wait_for_job(job.job_id, timeout=60) == "Complete"
    assert driver.executions(job) == []
    report = driver.run_sweep()
    assert job.job_id in report["Started"]
    summary = settle(driver, job)
    assert failed_tasks(driver, job) == {(INPUT_BUCKET, "objects/swept-missing.txt"): ("NoSuchKey", 404)}
    assert summary["SucceededTaskCount"] == 1
    # A second sweep finds it recorded and starts nothing for it.
    assert job.job_id not in driver.run_sweep()["Started"]


def test_a_job_outside_the_configuration_is_refused_with_nothing_written(driver: TrackerDriver) -> None:
    keys = driver.local.s3batch.put_objects(["not-ours.txt"])
    other_description = driver.start_s3batch_job(f"adhoc-{uuid.uuid4().hex[:6]}", keys, TAG)
    report_elsewhere = driver.start_s3batch_job(
        description("elsewhere"),
        keys,
        TAG,
        Report={
            "Bucket": f"arn:aws:s3:::{REPORT_BUCKET}",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "Prefix": "elsewhere",
            "ReportScope": "AllTasks",
        },
    )
    for job in (other_description, report_elsewhere):
        assert driver.local.s3batch.emulator.wait_for_job(job.job_id, timeout=60) == "Complete"
    # The events carry no description, so each started an execution. Another description's job is not the
    # stack's: its executions end as "Job not followed", succeeded, saying why (no failure to alarm on).
    not_followed = driver.wait_until_settled(other_description)
    assert not_followed and {execution["status"] for execution in not_followed} == {"SUCCEEDED"}
    for execution in not_followed:
        assert "s3BatchJobDescriptionPrefixes" in execution["output"]
        assert "Job not followed" in list(driver.state_names(execution["executionArn"]))
    # A followed description whose report the stack may not read is a configuration to fix: refused, failed.
    refused = driver.wait_until_settled(report_elsewhere)
    assert refused and {execution["status"] for execution in refused} == {"FAILED"}
    for execution in refused:
        failed = wait_for_execution(driver.sfn, execution["executionArn"])
        assert failed["error"] == "InvalidJobRequest" and "s3BatchReportLocations" in failed["cause"], failed
    # Started by an operator, the other description's job is refused with the reason.
    by_operator = wait_for_execution(driver.sfn, driver.start_execution(other_description))
    assert by_operator["status"] == "FAILED" and "s3BatchJobDescriptionPrefixes" in by_operator["cause"]
    assert driver.items(other_description) == {} and driver.items(report_elsewhere) == {}
    # The sweep leaves the one it does not follow by description alone.
    assert other_description.job_id not in driver.run_sweep()["Started"]


def test_all_three_services_at_once_are_each_recorded_exactly(driver: TrackerDriver, domain_id: str) -> None:
    requests = [AudioRequest("three-good", seed=990_101), AudioRequest("three-missing", missing=True)]
    voice_job = driver.start_job(domain_id, driver.upload_manifest(requests))
    driver.local.bedrock.admin.set_quota(min_records_per_job=1)
    try:
        folder = driver.upload_bedrock_input({"in.jsonl": bedrock_rows("t", 5, frozenset({1}))}, label="three")
        bedrock_job = driver.start_bedrock_job(bedrock_job_name("three"), folder)
        present = driver.local.s3batch.put_objects(["three-present.txt"])
        s3batch_job = driver.start_s3batch_job(description("three"), [*present, "objects/three-missing.txt"], TAG)
        s3batch_summary = settle(driver, s3batch_job)
        bedrock_summary = settle(driver, bedrock_job)
    finally:
        driver.local.bedrock.admin.reset_quotas()
    voice_executions = driver.wait_until_settled(voice_job, expected_executions=2)
    assert len(recorded_by(voice_executions)) == 1
    assert set(driver.failures(voice_job)) == {"three-missing"}
    assert set(driver.failures(bedrock_job)) == {"t00001"} and bedrock_summary["SucceededRecordCount"] == 4
    assert failed_tasks(driver, s3batch_job) == {(INPUT_BUCKET, "objects/three-missing.txt"): ("NoSuchKey", 404)}
    assert (s3batch_summary["JobKind"], s3batch_summary["SucceededTaskCount"]) == (S3_BATCH_OPERATIONS, 1)
    for job in (bedrock_job, s3batch_job):
        assert len(recorded_by(driver.executions(job))) == 1
