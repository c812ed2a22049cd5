"""The CLI on S3 Batch Operations jobs in the whole local cloud: a copy job with missing keys (NoSuchKey) and a
bucket its role may not read (AccessDenied), followed by the stack through its CloudTrail events; `failures`
lists exactly the report's failed tasks, `retry` writes a manifest of exactly them that the local S3 Batch
Operations reads back as those objects, and, once the missing objects exist, `retry --start` creates a job
that the stack tracks in turn and `watch` follows by its id alone to its record."""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.parse
import uuid
from typing import Any

import pytest

from local_cloud.driver import TrackedJob, TrackerDriver
from local_cloud.environment import LocalEnvironment
from local_cloud.s3batch import INPUT_BUCKET, MANIFEST_PREFIX
from s3batch_emulator.manifest import parse_csv_rows
from s3batch_emulator.testing import csv_manifest, put_manifest
from tests.e2e.test_cli import cli

FORBIDDEN_BUCKET = "s3batch-cli-forbidden"
# The stack follows jobs whose description starts with cdk.json's tracker:s3BatchJobDescriptionPrefixes.
DESCRIPTION = "tracked-cli-copy"
COPY = {"S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{INPUT_BUCKET}", "TargetKeyPrefix": "objects/copied/"}}


def wait_for_record(driver: TrackerDriver, job: TrackedJob, deadline_seconds: float = 90.0) -> dict[str, Any]:
    """The job's summary once the stack has recorded it and no tracker of it runs any more."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        summary = driver.items(job).get("SUMMARY") or {}
        if summary.get("RecordState") == "COMPLETE":
            driver.wait_until_settled(job, deadline_seconds=max(1.0, deadline - time.monotonic()))
            return summary
        time.sleep(0.5)
    raise TimeoutError(f"job {job.job_id} was not recorded within {deadline_seconds:.0f} s: {driver.items(job)}")


def report_failures(local: LocalEnvironment, job_id: str) -> set[tuple[str, str, str]]:
    """(bucket, decoded key, error code) of every failed row of the job's completion report."""
    report = local.s3batch.report(job_id)
    assert report is not None
    failed: set[tuple[str, str, str]] = set()
    for body in report.files.values():
        for row in csv.reader(io.StringIO(body.decode())):
            if len(row) > 5 and row[3] == "failed":
                failed.add((row[0], urllib.parse.unquote_plus(row[1]), row[5]))
    return failed


@pytest.fixture(scope="module")
def copy_job(local: LocalEnvironment) -> TrackedJob:
    """A copy job of 6 objects: 2 copied, 2 missing (one key with a space, a plus and an accent), 2 in a
    bucket the job's role may not read; recorded by the stack."""
    s3 = local.cloud.client("s3")
    run = uuid.uuid4().hex[:8]
    present = local.s3batch.put_objects([f"cli-{run}/ok-1.txt", f"cli-{run}/ok 2+x.txt"])
    missing = [f"objects/cli-{run}/missing-1.txt", f"objects/cli-{run}/café menu+1.txt"]
    s3.create_bucket(Bucket=FORBIDDEN_BUCKET)
    forbidden = [f"cli-{run}/secret-{n}.txt" for n in range(2)]
    for key in forbidden:
        s3.put_object(Bucket=FORBIDDEN_BUCKET, Key=key, Body=b"not yours")
    rows = [*((INPUT_BUCKET, key) for key in [*present, *missing]), *((FORBIDDEN_BUCKET, key) for key in forbidden)]
    manifest = put_manifest(s3, INPUT_BUCKET, f"{MANIFEST_PREFIX}cli-{run}.csv", csv_manifest(rows))
    driver = TrackerDriver(local)
    job = driver.start_s3batch_job(f"{DESCRIPTION} {run}", [], COPY, Manifest=manifest)
    summary = wait_for_record(driver, job)
    assert (summary["FailedTaskCount"], summary["SucceededTaskCount"]) == (4, 2), summary
    return job


def test_failures_and_the_retry_manifest_are_exactly_the_report_s_failed_tasks(
    local: LocalEnvironment, copy_job: TrackedJob
) -> None:
    failed = report_failures(local, copy_job.job_id)
    assert {code for _, _, code in failed} == {"NoSuchKey", "AccessDenied"} and len(failed) == 4
    listed = cli(local.outputs_path, "failures", copy_job.job_id, "--format", "json")
    assert listed.exit_code == 0, listed.stderr
    assert {(f["Bucket"], f["Key"], f["ErrorCode"]) for f in json.loads(listed.stdout)} == failed
    table = cli(local.outputs_path, "failures", copy_job.job_id)
    assert "ReportFile:Line" in table.stdout and "AccessDenied" in table.stdout

    written = cli(local.outputs_path, "retry", copy_job.job_id)
    assert written.exit_code == 0, written.stderr
    uri = written.stdout.strip()
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body = local.cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    # Read as the local S3 Batch Operations reads a manifest: exactly the failed tasks' objects.
    tasks = parse_csv_rows(body.decode(), ("Bucket", "Key"), uri, 100)
    assert sorted((task.bucket, task.key) for task in tasks) == sorted((b, k) for b, k, _ in failed)
    assert cli(local.outputs_path, "retry", copy_job.job_id).stdout == written.stdout


def test_a_retry_started_after_the_fix_is_tracked_in_turn_and_watched_by_its_id(
    local: LocalEnvironment, copy_job: TrackedJob
) -> None:
    missing = sorted(key for bucket, key, code in report_failures(local, copy_job.job_id) if code == "NoSuchKey")
    local.s3batch.put_objects(missing)  # the operator restores the missing objects, then retries them
    started = [cli(local.outputs_path, "retry", copy_job.job_id, "--code", "NoSuchKey", "--start") for _ in range(2)]
    assert all(result.exit_code == 0 for result in started), [result.stderr for result in started]
    assert started[0].stdout == started[1].stdout  # one job, however often the retry runs
    manifest_uri, new_job_id = started[0].stdout.split()
    described = local.s3batch.client().describe_job(AccountId=copy_job.domain_id, JobId=new_job_id)["Job"]
    assert described["Description"].startswith(f"{DESCRIPTION} ") and "retry-" in described["Description"]
    assert described["Operation"] == COPY and described["Priority"] == 10
    assert described["Manifest"]["Location"]["ObjectArn"] == "arn:aws:s3:::" + manifest_uri.removeprefix("s3://")

    watched = cli(local.outputs_path, "watch", new_job_id, "--interval", "1", "--timeout", "120")
    assert watched.exit_code == 0, watched.stderr
    assert watched.stdout.startswith(f"Job {new_job_id} recorded: Complete, 0 failed task(s)")
    retried = TrackedJob(domain_id=copy_job.domain_id, job_id=new_job_id, kind=copy_job.kind)
    summary = wait_for_record(TrackerDriver(local), retried)
    assert (summary["JobStatus"], summary["FailedTaskCount"], summary["SucceededTaskCount"]) == ("Complete", 0, 2)


def test_erase_by_object_key_deletes_its_task_and_the_retry_manifests_listing_it(
    local: LocalEnvironment, copy_job: TrackedJob
) -> None:
    (bucket, key, _) = next(task for task in report_failures(local, copy_job.job_id) if task[2] == "AccessDenied")
    every = cli(local.outputs_path, "retry", copy_job.job_id)  # a manifest of every failed task, this key among them
    others = cli(local.outputs_path, "retry", copy_job.job_id, "--code", "NoSuchKey")
    assert every.exit_code == 0 and others.exit_code == 0, every.stderr + others.stderr
    erased = cli(local.outputs_path, "erase", "--object-key", key, "--format", "json")
    assert erased.exit_code == 0, erased.stderr
    report = json.loads(erased.stdout)
    assert [item["JobId"] for item in report["Deleted"]] == [copy_job.job_id]
    assert report["RetryFilesDeleted"] == [every.stdout.strip()]
    left = json.loads(cli(local.outputs_path, "failures", copy_job.job_id, "--format", "json").stdout)
    assert key not in {failure["Key"] for failure in left} and len(left) == 3
    s3 = local.cloud.client("s3")
    in_bucket, _, manifest_key = others.stdout.strip().removeprefix("s3://").partition("/")
    assert s3.head_object(Bucket=in_bucket, Key=manifest_key)["ContentLength"] > 0  # not listing the key: kept
    assert bucket == FORBIDDEN_BUCKET
