"""Transient faults never stop a tracker: the targets of docs/faults.md, on the local cloud.

Faults come from the gateway's fault rules (/_local/faults), in each service's own wire format, and hit only
calls made by the stack's roles (`role: "*"`): the Lambdas and the state machine, not Voice ID's own reads
and writes of S3 nor this test's clients. Each test holds its fault for the time the target names, checks
the job was not recorded meanwhile (the fault did bite), and then waits for the record with a deadline
counted from the moment the fault cleared.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local_cloud.driver import SPEAKER_ENROLLMENT, AudioRequest, TrackedJob, TrackerDriver, recorded_by
from local_cloud.faults import ANY_ROLE, FaultsAdmin
from tests.e2e.test_tracker_end_to_end import long_job, mixed

STACK_ROLES = ANY_ROLE
BIG_JOB_REQUESTS = 10_000
RECORDED_WITHIN_SECONDS_OF_THE_FAULT_CLEARING = 90


@pytest.fixture
def faults(driver: TrackerDriver) -> Iterator[FaultsAdmin]:
    admin = driver.local.cloud.faults_admin
    admin.clear()
    try:
        yield admin
    finally:
        admin.clear()


@pytest.fixture
def fast_voice_id(driver: TrackerDriver) -> Iterator[TrackerDriver]:
    admin = driver.local.voice_id.admin
    admin.set_pacing(submitted_seconds=0.0, seconds_per_request=0.0)
    try:
        yield driver
    finally:
        admin.reset_pacing()


def ten_thousand_failures(driver: TrackerDriver, domain_id: str) -> TrackedJob:
    """A speaker enrollment whose 10,000 requests all name audio that was never uploaded."""
    requests = [
        AudioRequest(f"gone-{n:05d}", speaker_id=f"gone-{n:05d}", audio_key=f"faults/absent-{n}.wav")
        for n in range(BIG_JOB_REQUESTS)
    ]
    manifest = driver.upload_manifest(requests, kind=SPEAKER_ENROLLMENT)
    return driver.start_job(domain_id, manifest, kind=SPEAKER_ENROLLMENT)


def hold_until_cleared(driver: TrackerDriver, faults: FaultsAdmin, rule_id: str, job: TrackedJob) -> None:
    """Wait out the rule's seconds, checking that the job is never recorded while it is in force."""
    while (rule := faults.rule(rule_id))["remainingSeconds"] > 0:
        assert driver.items(job).get("SUMMARY", {}).get("RecordState") != "COMPLETE", "recorded during the fault"
        time.sleep(min(1.0, rule["remainingSeconds"]))
    assert faults.rule(rule_id)["injected"] > 0, "the fault never hit a call"


def at_record_time(driver: TrackerDriver, faults: FaultsAdmin, job: TrackedJob, seconds: float, **rule: Any) -> None:
    """Put `rule` in force from before the job ends until `seconds` after it ended (Voice ID takes a while
    over 10,000 requests), checking that the job is not recorded meanwhile; then lift it."""
    rule_id = faults.add(**rule)
    assert driver.local.voice_id.wait_for_job(job.job_id, timeout=300) == "COMPLETED_WITH_ERRORS"
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert driver.items(job).get("SUMMARY", {}).get("RecordState") != "COMPLETE", "recorded during the fault"
        time.sleep(1.0)
    injected = faults.rule(rule_id)["injected"]
    faults.remove(rule_id)
    assert injected > 0, "the fault never hit a call"


def history_text(driver: TrackerDriver, execution: dict[str, Any]) -> str:
    pages = driver.sfn.get_paginator("get_execution_history").paginate(executionArn=execution["executionArn"])
    return json.dumps([event for page in pages for event in page["events"]], default=str)


def assert_recorded_exactly(driver: TrackerDriver, job: TrackedJob, executions: list[dict[str, Any]]) -> dict[str, Any]:
    outcomes = [
        (e["status"], e.get("error"), e.get("cause"), list(driver.state_names(e["executionArn"]))[-3:])
        for e in executions
    ]
    assert len(recorded_by(executions)) == 1, outcomes
    (recorder,) = recorded_by(executions)
    assert all(e["status"] == "SUCCEEDED" for e in executions), outcomes
    summary = driver.items(job)["SUMMARY"]
    assert summary["RecordState"] == "COMPLETE"
    return recorder


def test_batch_writes_throttled_for_a_minute_while_ten_thousand_failures_record(
    fast_voice_id: TrackerDriver, faults: FaultsAdmin, domain_id: str
) -> None:
    driver = fast_voice_id
    job = ten_thousand_failures(driver, domain_id)
    at_record_time(
        driver,
        faults,
        job,
        60,
        service="dynamodb",
        operation="BatchWriteItem",
        error="ProvisionedThroughputExceededException",
        status=400,
        fraction=1.0,
        role=STACK_ROLES,
    )
    executions = driver.wait_until_settled(
        job, expected_executions=2, deadline_seconds=RECORDED_WITHIN_SECONDS_OF_THE_FAULT_CLEARING
    )
    recorder = assert_recorded_exactly(driver, job, executions)
    assert driver.items(job)["SUMMARY"]["FailedRequestCount"] == BIG_JOB_REQUESTS
    assert len(driver.failures(job)) == BIG_JOB_REQUESTS
    # The record step failed on the throttling (after the SDK's own retries), and the state machine retried it.
    assert "TransientServiceError" in history_text(driver, recorder)
    assert "ProvisionedThroughputExceededException" in history_text(driver, recorder)


def test_s3_slowdown_for_a_minute_at_record_time(
    fast_voice_id: TrackerDriver, faults: FaultsAdmin, domain_id: str
) -> None:
    driver = fast_voice_id
    job = ten_thousand_failures(driver, domain_id)
    at_record_time(
        driver, faults, job, 60, service="s3", operation="GetObject", error="SlowDown", status=503, role=STACK_ROLES
    )
    executions = driver.wait_until_settled(
        job, expected_executions=2, deadline_seconds=RECORDED_WITHIN_SECONDS_OF_THE_FAULT_CLEARING
    )
    recorder = assert_recorded_exactly(driver, job, executions)
    assert len(driver.failures(job)) == BIG_JOB_REQUESTS
    assert "SlowDown" in history_text(driver, recorder)


def test_thirty_percent_of_every_services_calls_failing_for_a_whole_job(
    driver: TrackerDriver, faults: FaultsAdmin, domain_id: str
) -> None:
    services = ["dynamodb", "s3", "kms", "states", "lambda", "events", "voiceid"]
    rules = {service: faults.add(service=service, status=500, fraction=0.3, role=STACK_ROLES) for service in services}
    job = driver.start_job(domain_id, driver.upload_manifest(mixed()))
    executions = driver.wait_until_settled(job, expected_executions=2, deadline_seconds=300)
    injected = {service: faults.rule(rule)["injected"] for service, rule in rules.items()}
    faults.clear()
    assert sum(injected.values()) > 0, injected
    assert_recorded_exactly(driver, job, executions)
    assert sorted(driver.failures(job)) == ["missing-4", "short-3"]
    summary = driver.items(job)["SUMMARY"]
    assert (summary["FailedRequestCount"], summary["RegisteredRequestCount"]) == (2, 2)


def test_describe_failing_for_two_minutes_is_recorded_after(
    driver: TrackerDriver, faults: FaultsAdmin, domain_id: str
) -> None:
    rule = faults.add(
        service="voiceid",
        operation="DescribeFraudsterRegistrationJob",
        status=500,
        seconds=120,
        role=STACK_ROLES,
    )
    job = driver.start_job(domain_id, driver.upload_manifest(mixed()))
    hold_until_cleared(driver, faults, rule, job)
    executions = driver.wait_until_settled(
        job, expected_executions=2, deadline_seconds=RECORDED_WITHIN_SECONDS_OF_THE_FAULT_CLEARING
    )
    recorder = assert_recorded_exactly(driver, job, executions)
    assert "VoiceIdUnavailable" in history_text(driver, recorder)
    assert sorted(driver.failures(job)) == ["missing-4", "short-3"]


def test_a_lock_released_between_the_failed_put_and_the_read_is_taken_over(
    driver: TrackerDriver, faults: FaultsAdmin, domain_id: str
) -> None:
    state_machine_role = driver.sfn.describe_state_machine(stateMachineArn=driver.local.state_machine_arn)["roleArn"]
    job = driver.start_job(domain_id, driver.upload_manifest(long_job()))
    holder = driver.wait_until_running(job)
    deadline = time.monotonic() + 30
    while "WakeToken" not in driver.items(job).get("LOCK", {}):
        assert time.monotonic() < deadline, "the tracker never parked on a wake-up token"
        time.sleep(0.1)
    # Hold the next "Read job lock" (the state machine's only GetItem) until the test lets it go.
    held = faults.add(service="dynamodb", operation="GetItem", latencySeconds=120, role=state_machine_role)
    late = driver.start_execution(job)
    while faults.rule(held)["injected"] == 0:
        time.sleep(0.1)
    # In the gap: the holder stops, and its lock is released as its "Release job lock" step does.
    driver.sfn.stop_execution(executionArn=holder["executionArn"], cause="the test releases the lock in the gap")
    driver.dynamodb.update_item(
        TableName=driver.local.table_name,
        Key={"pk": {"S": job.partition_key}, "sk": {"S": "LOCK"}},
        UpdateExpression="SET LockState = :released",
        ExpressionAttributeValues={":released": {"S": "RELEASED"}},
    )
    faults.remove(held)
    executions = driver.wait_until_settled(job, expected_executions=2, deadline_seconds=120)
    (recorder,) = recorded_by(executions)
    assert recorder["executionArn"] == late
    names = list(driver.state_names(late))
    assert names[:5] == ["Validate input", "Acquire job lock", "Read job lock", "Lock state?", "Take over job lock"]
    assert "Job already tracked" not in names
    assert driver.items(job)["LOCK"]["ExecutionArn"] == late
    assert driver.items(job)["SUMMARY"]["RecordState"] == "COMPLETE"
