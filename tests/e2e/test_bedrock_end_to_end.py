"""Bedrock batch inference jobs tracked end to end on the local cloud: the local Bedrock runs them, its events
(or the sweep) start the tracker, which records every failed and unprocessed record; the CLI's retry writes
their original lines. Each test acts as Bedrock's user (or an operator) on the shared local cloud, whose
stack follows Bedrock jobs named `tracked-*` (cdk.json) in the local Bedrock's locations (conftest)."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bedrock_emulator.testing import claude_input
from local_cloud.driver import BEDROCK_BATCH_INFERENCE, AudioRequest, TrackedJob, TrackerDriver, recorded_by
from local_cloud.testing import wait_for_execution
from tests.e2e.test_cli import cli

_names = itertools.count(1)


@pytest.fixture(autouse=True)
def _small_jobs(driver: TrackerDriver) -> Iterator[None]:
    """Jobs of a few records (the local Bedrock's default minimum is 100, as Bedrock's can be)."""
    admin = driver.local.bedrock.admin
    admin.set_quota(min_records_per_job=1)
    yield
    admin.reset_faults()
    admin.reset_quotas()
    admin.reset_pacing()


def name(label: str) -> str:
    return f"tracked-{label}-{next(_names):04d}"


def rows(prefix: str, count: int, bad: frozenset[int] = frozenset()) -> list[dict[str, Any]]:
    """`count` records; those in `bad` have an empty prompt, which the local Bedrock answers with a 400."""
    return [
        {"recordId": f"{prefix}{n:05d}", "modelInput": claude_input("" if n in bad else f"Summarise item {n}.")}
        for n in range(count)
    ]


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


def test_completed_with_errors_over_two_files_records_each_failed_record(driver: TrackerDriver) -> None:
    folder = driver.upload_bedrock_input(
        {"a.jsonl": rows("a", 6, frozenset({1, 4})), "b.jsonl": rows("b", 5, frozenset({2}))}, label="two-files"
    )
    job = driver.start_bedrock_job(name("two-files"), folder)
    summary = settle(driver, job)
    assert len(recorded_by(driver.executions(job))) == 1
    failures = driver.failures(job)
    assert {record_id: item["ErrorCode"] for record_id, item in failures.items()} == {
        "a00001": 400,
        "a00004": 400,
        "b00002": 400,
    }
    assert failures["b00002"]["OutputFile"].endswith(f"/{job.job_id}/b.jsonl.out")
    assert failures["b00002"]["RecordId"] == "b00002" and failures["b00002"]["LineNumber"] >= 1
    assert all("modelInput" not in item for item in failures.values())
    assert (summary["JobKind"], summary["JobStatus"], summary["RecordState"]) == (
        BEDROCK_BATCH_INFERENCE,
        "Completed",
        "COMPLETE",
    )
    counts = (summary["FailedRecordCount"], summary["SucceededRecordCount"], summary["UnprocessedRecordCount"])
    assert counts == (3, 8, 0)
    assert summary["InputTokenCount"] > 0 and "CountMismatches" not in summary


@pytest.mark.parametrize("status", ["PartiallyCompleted", "Expired"])
def test_partially_completed_and_expired_jobs_name_their_unprocessed_records(
    driver: TrackerDriver, status: str
) -> None:
    records = rows("u", 10, frozenset({0}))
    folder = driver.upload_bedrock_input({"in.jsonl": records}, label=status.lower())
    job = driver.start_bedrock_job(name(status.lower()), folder, outcome=(status, 4))
    summary = settle(driver, job)
    processed = driver.bedrock_output_ids(job)
    expected_unprocessed = {row["recordId"] for row in records} - processed
    failures = driver.failures(job)
    unprocessed = {record_id for record_id, item in failures.items() if item["ErrorCode"] == "UNPROCESSED"}
    assert summary["JobStatus"] == status
    assert unprocessed == expected_unprocessed and summary["UnprocessedRecordCount"] == len(expected_unprocessed)
    assert ("u00000" in failures) == ("u00000" in processed)


def test_a_job_stopped_mid_run_names_its_unprocessed_records(driver: TrackerDriver) -> None:
    driver.local.bedrock.admin.set_pacing(0.1, 4.0)  # slow enough to stop part-way
    records = rows("t", 30)
    job = driver.start_bedrock_job(name("stopped"), driver.upload_bedrock_input({"in.jsonl": records}, label="stop"))
    bedrock = driver.local.cloud.client("bedrock")
    deadline = time.monotonic() + 60
    while bedrock.get_model_invocation_job(jobIdentifier=job.job_id).get("processedRecordCount", 0) < 3:
        assert time.monotonic() < deadline, "the job never got going"
        time.sleep(0.1)
    bedrock.stop_model_invocation_job(jobIdentifier=job.job_id)
    summary = settle(driver, job)
    expected = {row["recordId"] for row in records} - driver.bedrock_output_ids(job)
    assert summary["JobStatus"] == "Stopped" and expected
    assert set(driver.failures(job)) == expected
    assert summary["UnprocessedRecordCount"] == len(expected)


def test_a_job_that_fails_on_unreadable_input_is_recorded_with_its_message(driver: TrackerDriver) -> None:
    empty = driver.upload_bedrock_input({"notes.txt": b"not a jsonl file"}, label="unreadable")
    job = driver.start_bedrock_job(name("failed"), empty)
    summary = settle(driver, job)
    assert summary["JobStatus"] == "Failed" and summary["RecordState"] == "COMPLETE"
    assert summary["FailureDetails"]["Message"]
    assert driver.failures(job) == {}


def test_a_job_whose_events_were_all_lost_is_recorded_by_the_sweep(driver: TrackerDriver) -> None:
    driver.local.bedrock.admin.set_event_loss(1.0)
    folder = driver.upload_bedrock_input({"in.jsonl": rows("s", 4, frozenset({3}))}, label="swept")
    job = driver.start_bedrock_job(name("swept"), folder, wait=True)
    assert driver.executions(job) == []
    report = driver.run_sweep()
    assert job.job_id in report["Started"]
    settle(driver, job)
    assert set(driver.failures(job)) == {"s00003"}


def test_bad_input_is_refused_with_a_clear_error_and_nothing_written(driver: TrackerDriver) -> None:
    malformed = driver.sfn.start_execution(
        stateMachineArn=driver.local.state_machine_arn,
        name=f"malformed-{uuid.uuid4().hex[:8]}",
        input=json.dumps({"JobKind": BEDROCK_BATCH_INFERENCE, "JobArn": "arn:aws:bedrock:::model-invocation-job/x"}),
    )["executionArn"]
    folder = driver.upload_bedrock_input({"in.jsonl": rows("o", 2)}, label="outside")
    outside = driver.start_bedrock_job("adhoc-outside", folder, wait=True)
    assert driver.executions(outside) == []  # the rule follows tracked-* only
    by_arn = driver.sfn.start_execution(
        stateMachineArn=driver.local.state_machine_arn,
        name=f"outside-{uuid.uuid4().hex[:8]}",
        input=json.dumps({"JobKind": BEDROCK_BATCH_INFERENCE, "JobArn": outside.job_arn}),
    )["executionArn"]
    for arn, problem in ((malformed, "JobArn must be a model invocation job ARN"), (by_arn, "bedrockJobNamePrefixes")):
        execution = wait_for_execution(driver.sfn, arn)
        assert execution["status"] == "FAILED" and problem in execution["cause"], execution
    assert driver.items(outside) == {}


def test_voice_id_and_bedrock_jobs_at_once_are_each_recorded_exactly(driver: TrackerDriver, domain_id: str) -> None:
    requests = [AudioRequest("vb-good", seed=990_001), AudioRequest("vb-missing", missing=True)]
    voice_job = driver.start_job(domain_id, driver.upload_manifest(requests))
    folder = driver.upload_bedrock_input({"in.jsonl": rows("m", 6, frozenset({2, 3}))}, label="mixed")
    bedrock_job = driver.start_bedrock_job(name("mixed"), folder)
    bedrock_summary = settle(driver, bedrock_job)
    voice_executions = driver.wait_until_settled(voice_job, expected_executions=2)
    assert len(recorded_by(voice_executions)) == 1
    assert set(driver.failures(voice_job)) == {"vb-missing"}
    assert set(driver.failures(bedrock_job)) == {"m00002", "m00003"}
    assert bedrock_summary["SucceededRecordCount"] == 4


def test_a_50000_record_job_is_recorded_exactly(driver: TrackerDriver) -> None:
    driver.local.bedrock.admin.set_pacing(0, 0)
    driver.local.bedrock.admin.set_quota(min_records_per_job=1, max_records_per_job=50_000)
    bad = frozenset(range(0, 50_000, 5))
    records = rows("big", 50_000, bad)
    folder = driver.upload_bedrock_input({"a.jsonl": records[:25_000], "b.jsonl": records[25_000:]}, label="big")
    job = driver.start_bedrock_job(name("big"), folder)
    summary = settle(driver, job, deadline_seconds=600)
    assert (summary["FailedRecordCount"], summary["SucceededRecordCount"]) == (10_000, 40_000)
    assert summary["OutputFileCount"] == 2 and "CountMismatches" not in summary
    failures = driver.failures(job)
    assert set(failures) == {f"big{n:05d}" for n in bad}


def test_the_retry_jsonl_holds_the_failed_and_unprocessed_records_byte_for_byte(driver: TrackerDriver) -> None:
    records = rows("r", 8, frozenset({2, 5}))
    folder = driver.upload_bedrock_input({"in.jsonl": records}, label="retry")
    job = driver.start_bedrock_job(name("retry"), folder, outcome=("PartiallyCompleted", 6))
    settle(driver, job)
    chosen = set(driver.failures(job))
    assert {"r00002", "r00005"} <= chosen
    result = cli(driver.local.outputs_path, "retry", job.job_id)
    assert result.exit_code == 0, result.output
    bucket, _, key = result.stdout.strip().removeprefix("s3://").partition("/")
    written = driver.s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
    original = [json.dumps(row).encode() for row in records if row["recordId"] in chosen]
    assert sorted(written) == sorted(original)
