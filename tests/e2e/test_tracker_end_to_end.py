"""The deployed mechanics on the local cloud: Voice ID events start executions, the loop polls, and failures
land in DynamoDB Local. Each test acts only as Voice ID's user (or an operator) and checks the outcome."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest

from local_cloud.driver import AudioRequest, TrackedJob, TrackerDriver, recorded_by
from local_cloud.testing import wait_for_execution
from voiceid_emulator.events import EventPublisher

# Every test registers new audio: the domain is shared, and audio seen before is a duplicate fraudster.
_seeds = itertools.count(1000, 10)


def mixed() -> list[AudioRequest]:
    """Two good recordings, one with too little speech, one whose audio was never uploaded."""
    seed = next(_seeds)
    return [
        AudioRequest("good-1", seed=seed),
        AudioRequest("good-2", seed=seed + 1),
        AudioRequest("short-3", seconds_speech=0.5, seconds_silence=3.0, seed=seed + 2),
        AudioRequest("missing-4", missing=True),
    ]


def long_job(count: int = 60) -> list[AudioRequest]:
    """A job that stays IN_PROGRESS for several seconds (9 s at the tests' pacing), so its tracker can be caught
    running: with 24 requests (3.6 s), a second execution sometimes read the lock after the job was recorded."""
    seed = next(_seeds) * 100
    return [AudioRequest(f"req-{n}", seconds_speech=2.5, seed=seed + n) for n in range(count)]


def run_job(driver: TrackerDriver, domain_id: str, requests: list[AudioRequest], **wait: Any) -> TrackedJob:
    job = driver.start_job(domain_id, driver.upload_manifest(requests))
    driver.wait_until_settled(job, **wait)
    return job


def test_completed_with_errors_records_exactly_the_failed_requests(driver: TrackerDriver, domain_id: str) -> None:
    job = run_job(driver, domain_id, mixed(), expected_executions=2)
    failures = driver.failures(job)
    assert sorted(failures) == ["missing-4", "short-3"]
    assert failures["short-3"]["ErrorCode"] == 400
    assert "speech" in failures["short-3"]["ErrorMessage"]
    assert failures["missing-4"]["ErrorCode"] == 400
    assert failures["missing-4"]["JobId"] == job.job_id and failures["missing-4"]["DomainId"] == domain_id
    summary = driver.items(job)["SUMMARY"]
    assert summary["JobStatus"] == "COMPLETED_WITH_ERRORS"
    assert (summary["FailedRequestCount"], summary["RegisteredRequestCount"]) == (2, 2)
    assert summary["RecordState"] == "COMPLETE"
    (recorder,) = recorded_by(job.executions)
    output = json.loads(recorder["output"])
    assert output["Items"] == {"TableName": driver.local.table_name, "pk": job.partition_key}
    assert set(driver.items(job)) == {"FAILURE#missing-4", "FAILURE#short-3", "SUMMARY", "LOCK"}


def test_completed_job_has_no_failure_items_and_a_correct_summary(driver: TrackerDriver, domain_id: str) -> None:
    seed = next(_seeds)
    job = run_job(driver, domain_id, [AudioRequest(f"clean-{n}", seed=seed + n) for n in range(3)])
    assert driver.failures(job) == {}
    summary = driver.items(job)["SUMMARY"]
    assert summary["JobStatus"] == "COMPLETED"
    assert summary["FailedRequestCount"] == 0
    assert summary["RegisteredRequestCount"] == 3
    assert summary["RecordState"] == "COMPLETE"
    assert summary["OutputUri"].endswith(f"/{job.job_id}/fraudsters.json.out")


def test_failed_job_records_its_failure_details(driver: TrackerDriver, domain_id: str) -> None:
    manifest = driver.upload_raw_manifest({"Version": "2.0", "FraudsterRegistrationRequests": []})
    job = driver.start_job(domain_id, manifest)
    executions = driver.wait_until_settled(job, expected_executions=2)
    assert len(recorded_by(executions)) == 1
    summary = driver.items(job)["SUMMARY"]
    assert summary["JobStatus"] == "FAILED"
    assert summary["FailureDetails"]["StatusCode"] == 400
    assert "Version" in summary["FailureDetails"]["Message"]
    assert driver.failures(job) == {}


def test_three_events_for_one_job_give_one_tracked_run_and_one_set_of_items(
    driver: TrackerDriver, domain_id: str
) -> None:
    job = run_job(driver, domain_id, mixed(), expected_executions=2)
    first_items = driver.items(job)
    # EventBridge delivery is at least once: the success event arrives a second time.
    (success,) = [
        e
        for e in driver.local.voice_id.events
        if e["detail"]["batchJobId"] == job.job_id and e["detail"]["status"] == "SUCCEEDED"
    ]
    response = driver.local.cloud.client("events").put_events(
        Entries=[
            {"Source": success["source"], "DetailType": success["detail-type"], "Detail": json.dumps(success["detail"])}
        ]
    )
    assert response["FailedEntryCount"] == 0
    executions = driver.wait_until_settled(job, expected_executions=3)
    assert len(executions) == 3
    assert all(e["status"] == "SUCCEEDED" for e in executions)
    assert len(recorded_by(executions)) == 1
    skipped = [json.loads(e["output"]) for e in executions if "ALREADY_TRACKED" in (e.get("output") or "")]
    assert len(skipped) == 2
    assert driver.items(job) == first_items


def test_a_lost_submit_event_still_leads_to_a_full_record(
    driver: TrackerDriver, domain_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish = EventPublisher.publish

    def drop_submit_events(
        self: EventPublisher, detail_type: str, resources: list[str], detail: dict[str, Any]
    ) -> dict[str, Any]:
        if detail.get("status") == "SUBMITTED":
            return self.envelope(detail_type, resources, detail)  # built, never delivered
        return publish(self, detail_type, resources, detail)

    monkeypatch.setattr(EventPublisher, "publish", drop_submit_events)
    job = run_job(driver, domain_id, mixed(), expected_executions=1)
    (execution,) = job.executions
    assert execution["status"] == "SUCCEEDED"
    assert sorted(driver.failures(job)) == ["missing-4", "short-3"]
    assert driver.items(job)["SUMMARY"]["RecordState"] == "COMPLETE"


def test_unknown_job_fails_the_execution_with_a_clear_error_and_cause(driver: TrackerDriver, domain_id: str) -> None:
    job = TrackedJob(domain_id=domain_id, job_id="NoSuchJob0000000000000")
    driver.start_execution(job)
    (execution,) = driver.wait_until_settled(job)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "JobNotFound"
    assert "Voice ID has no fraudster registration job NoSuchJob0000000000000" in execution["cause"]
    assert driver.items(job)["LOCK"]["LockState"] == "RELEASED"


def test_malformed_ids_are_rejected_by_the_describe_step(driver: TrackerDriver, domain_id: str) -> None:
    job = TrackedJob(domain_id=domain_id, job_id="not-a-job-id")
    driver.start_execution(job)
    (execution,) = driver.wait_until_settled(job)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "InvalidJobRequest"
    assert "JobId must be 22 letters or digits" in execution["cause"]


def test_voice_id_throttling_is_retried_and_the_run_completes(driver: TrackerDriver, domain_id: str) -> None:
    manifest = driver.upload_manifest(mixed())
    job = driver.start_job(domain_id, manifest)
    faults = driver.local.voice_id.faults
    before = faults.throttled_requests
    # A quarter of the documented 2 TPS: the describe Lambda's calls collide with the bucket and retry.
    driver.local.voice_id.admin.set_throttling(True, tps=0.25)
    executions = driver.wait_until_settled(job, expected_executions=2, deadline_seconds=150)
    assert faults.throttled_requests > before
    assert all(e["status"] == "SUCCEEDED" for e in executions)
    assert sorted(driver.failures(job)) == ["missing-4", "short-3"]


def test_recording_the_same_job_twice_leaves_identical_items(driver: TrackerDriver, domain_id: str) -> None:
    job = run_job(driver, domain_id, mixed(), expected_executions=2)
    started = time.time()
    before = {key: item for key, item in driver.items(job).items() if key != "LOCK"}
    # Every failure and the summary expire tracker:retentionDays (cdk.json: 90) after they were written.
    retention = 90 * 86400
    assert all(started - 120 + retention <= item["ExpiresAt"] <= started + retention for item in before.values())
    dynamodb = driver.local.cloud.client("dynamodb")
    ttl = dynamodb.describe_time_to_live(TableName=driver.local.table_name)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ExpiresAt")
    driver.start_execution(job, Rerecord=True)
    executions = driver.wait_until_settled(job, expected_executions=3)
    assert len(recorded_by(executions)) == 2
    after = {key: item for key, item in driver.items(job).items() if key != "LOCK"}
    # The same items, but for their expiry: counted from the latest record.
    assert {k: {**i, "ExpiresAt": 0} for k, i in after.items()} == {k: {**i, "ExpiresAt": 0} for k, i in before.items()}
    assert all(after[key]["ExpiresAt"] >= item["ExpiresAt"] for key, item in before.items())
    lock = driver.items(job)["LOCK"]
    assert lock["LockState"] == "RECORDED"
    # Both executions that recorded it took the lock, and the lock lists them (what `show` reads).
    assert lock["ExecutionArns"] == [e["executionArn"] for e in recorded_by(executions)]


def test_input_without_ids_is_rejected_before_any_work(driver: TrackerDriver) -> None:
    started = driver.sfn.start_execution(
        stateMachineArn=driver.local.state_machine_arn, name="no-ids", input=json.dumps({"jobId": "x"})
    )
    described = wait_for_execution(driver.sfn, started["executionArn"])
    assert described["status"] == "FAILED"
    assert described["error"] == "InvalidJobRequest"
    assert list(driver.state_names(started["executionArn"])) == [
        "Validate input",
        "Explain rejection",
        "Input rejected",
    ]
    assert "DomainId must be 22 letters or digits" in described["cause"]


def test_rerecord_while_the_job_is_being_tracked_starts_no_second_tracker(
    driver: TrackerDriver, domain_id: str
) -> None:
    job = driver.start_job(domain_id, driver.upload_manifest(long_job()))
    driver.wait_until_running(job)
    manual = driver.start_execution(job, Rerecord=True)
    assert wait_for_execution(driver.sfn, manual)["status"] == "SUCCEEDED"
    assert "Lock holder still running?" in list(driver.state_names(manual))
    executions = driver.wait_until_settled(job, expected_executions=3)
    assert len(recorded_by(executions)) == 1
    assert len(driver.failures(job)) == 0
    assert driver.items(job)["SUMMARY"]["RegisteredRequestCount"] == 60


def test_a_lock_left_by_a_stopped_execution_is_taken_over(driver: TrackerDriver, domain_id: str) -> None:
    job = driver.start_job(domain_id, driver.upload_manifest(long_job()))
    first = driver.wait_until_running(job)
    driver.sfn.stop_execution(executionArn=first["executionArn"], error="Operator", cause="stopped by the test")
    assert driver.items(job)["LOCK"]["LockState"] == "TRACKING"  # a stopped execution runs no catch
    executions = driver.wait_until_settled(job, expected_executions=2)
    assert [e["status"] for e in executions] == ["ABORTED", "SUCCEEDED"]
    assert "Take over job lock" in list(driver.state_names(executions[1]["executionArn"]))
    assert driver.items(job)["LOCK"]["LockState"] == "RECORDED"
    assert driver.items(job)["SUMMARY"]["RecordState"] == "COMPLETE"


def test_an_unreadable_output_file_fails_the_record_step_and_says_why(driver: TrackerDriver, domain_id: str) -> None:
    job = run_job(driver, domain_id, mixed(), expected_executions=2)
    output_uri = driver.items(job)["SUMMARY"]["OutputUri"]
    bucket, key = output_uri.removeprefix("s3://").split("/", 1)
    driver.s3.put_object(Bucket=bucket, Key=key, Body=b'{"Version": "1.0", "Errors": [')
    manual = driver.start_execution(job, Rerecord=True)
    described = wait_for_execution(driver.sfn, manual)
    assert described["status"] == "FAILED"
    assert described["error"] == "OutputFileInvalid"
    assert described["cause"].startswith(f"{output_uri} is not valid JSON")
    items = driver.items(job)
    assert items["LOCK"]["LockState"] == "RELEASED"
    assert items["SUMMARY"]["RecordState"] == "FAILED"
    assert "OutputFileInvalid" in items["SUMMARY"]["RecordProblem"]


def test_jobs_of_unconfigured_domains_start_no_execution(driver: TrackerDriver, other_domain_id: str) -> None:
    job = driver.start_job(other_domain_id, driver.upload_manifest(mixed()))
    assert driver.local.voice_id.wait_for_job(job.job_id, timeout=60) == "COMPLETED_WITH_ERRORS"
    events = [e for e in driver.local.voice_id.events if e["detail"]["batchJobId"] == job.job_id]
    assert [e["detail"]["status"] for e in events] == ["SUBMITTED", "SUCCEEDED"]
    # Routing is synchronous: once this PutEvents returns, any matching rule has started its execution.
    response = driver.local.cloud.client("events").put_events(
        Entries=[
            {
                "Source": "aws.voiceid",
                "DetailType": events[-1]["detail-type"],
                "Detail": json.dumps(events[-1]["detail"]),
            }
        ]
    )
    assert response["FailedEntryCount"] == 0
    assert driver.executions(job) == []


def with_poll_cap_2(driver: TrackerDriver, name: str, *, outlived: bool = False) -> str:
    """The deployed definition with a cap of 2 polls, as a second state machine (its hand-overs start
    executions of itself: $$.StateMachine.Id). `outlived`: every job is taken for one followed longer than its
    kind allows (describe-job's WithinLongestJob read as false)."""
    sfn = driver.sfn
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=driver.local.state_machine_arn)["definition"])
    outlived_rule, handed_over_rule = definition["States"]["Poll cap reached?"]["Choices"]
    cap, present, within = outlived_rule["And"]
    cap["NumericGreaterThanEquals"] = handed_over_rule["NumericGreaterThanEquals"] = 2
    assert (present["Variable"], within["BooleanEquals"]) == ("$.Job.WithinLongestJob", False)
    within["BooleanEquals"] = outlived
    return str(
        sfn.create_state_machine(
            name=name,
            definition=json.dumps(definition),
            roleArn=f"arn:aws:iam::{driver.local.cloud.account_id}:role/tracker",
        )["stateMachineArn"]
    )


def test_at_the_poll_cap_a_running_job_is_handed_over_and_recorded_once(driver: TrackerDriver, domain_id: str) -> None:
    sfn = driver.sfn
    low_cap = with_poll_cap_2(driver, "tracker-handing-over-at-2")
    driver.local.voice_id.admin.set_event_loss(1.0)
    job = driver.start_job(domain_id, driver.upload_manifest(long_job(40)))
    first = sfn.start_execution(
        stateMachineArn=low_cap,
        name=f"first-{job.job_id}",
        input=json.dumps({"DomainId": job.domain_id, "JobId": job.job_id}),
    )["executionArn"]
    deadline = time.monotonic() + 120
    while True:
        listed = sfn.list_executions(stateMachineArn=low_cap)["executions"]
        executions: list[dict[str, Any]] = [
            dict(sfn.describe_execution(executionArn=e["executionArn"])) for e in listed
        ]
        if recorded_by(executions) and all(e["status"] != "RUNNING" for e in executions):
            break
        assert time.monotonic() < deadline, [(e["name"], e["status"]) for e in executions]
        time.sleep(0.5)
    assert [e["status"] for e in executions if e["status"] != "SUCCEEDED"] == []
    handed_over = [json.loads(e["output"]) for e in executions if '"HANDED_OVER"' in e["output"]]
    assert json.loads(next(e for e in executions if e["executionArn"] == first)["output"])["Outcome"] == "HANDED_OVER"
    assert len(recorded_by(executions)) == 1 and len(handed_over) == len(executions) - 1
    lock = driver.items(job)["LOCK"]
    assert lock["LockState"] == "RECORDED"
    assert len(lock["ExecutionArns"]) == len(executions)
    assert driver.items(job)["SUMMARY"]["RecordState"] == "COMPLETE"


def test_the_poll_cap_stops_a_job_followed_longer_than_its_kind_allows_and_releases_the_lock(
    driver: TrackerDriver, domain_id: str
) -> None:
    # The deployed definition with a cap of 2 polls, as a second state machine, that takes every job for one
    # followed longer than its kind allows (describe-job's WithinLongestJob read as false): at the cap it
    # stops instead of handing over (tests/e2e/test_week_long_job.py: the hand-over). The job's events are
    # lost, so only this machine follows it.
    sfn = driver.sfn
    low_cap = with_poll_cap_2(driver, "tracker-with-poll-cap-2", outlived=True)
    driver.local.voice_id.admin.set_event_loss(1.0)
    job = driver.start_job(domain_id, driver.upload_manifest(long_job(40)))
    started = sfn.start_execution(
        stateMachineArn=low_cap,
        name=f"cap-{job.job_id}",
        input=json.dumps({"DomainId": job.domain_id, "JobId": job.job_id}),
    )
    described = wait_for_execution(sfn, started["executionArn"])
    assert described["status"] == "FAILED"
    assert described["error"] == "PollCapReached"
    assert "after 2 polls" in described["cause"]
    assert driver.items(job)["LOCK"]["LockState"] == "RELEASED"
    driver.local.voice_id.wait_for_job(job.job_id, timeout=60)
