"""Never miss a job: the reconciliation sweep records jobs whose events were all lost (and jobs that ended
before the stack existed), never twice, and still finds every job while Voice ID throttles. The sweep is
invoked as the schedule invokes it: Lambda Invoke of the sweep function with `{}`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local_cloud.driver import AudioRequest, TrackedJob, TrackerDriver, recorded_by
from tests.e2e.test_tracker_end_to_end import mixed

DAY = 86_400


@pytest.fixture
def events_lost(driver: TrackerDriver) -> Iterator[TrackerDriver]:
    driver.local.voice_id.admin.set_event_loss(1.0)
    yield driver
    driver.local.voice_id.admin.set_event_loss(0.0)


def finished_job(driver: TrackerDriver, domain_id: str, requests: list[AudioRequest]) -> TrackedJob:
    job = driver.start_job(domain_id, driver.upload_manifest(requests))
    assert driver.local.voice_id.wait_for_job(job.job_id, timeout=60) == "COMPLETED_WITH_ERRORS"
    return job


def test_with_every_event_lost_the_sweep_records_the_job_exactly_once(
    events_lost: TrackerDriver, domain_id: str
) -> None:
    driver = events_lost
    job = finished_job(driver, domain_id, mixed())
    dropped = [e for e in driver.local.voice_id.dropped_events if e["detail"]["batchJobId"] == job.job_id]
    assert [e["detail"]["status"] for e in dropped] == ["SUBMITTED", "SUCCEEDED"]
    assert driver.executions(job) == []

    report = driver.run_sweep()
    assert job.job_id in report["Started"]
    (execution,) = driver.wait_until_settled(job)
    assert json.loads(execution["input"]) == {
        "DomainId": domain_id,
        "JobId": job.job_id,
        "JobKind": "FRAUDSTER_REGISTRATION",
        "StartedBy": "RECONCILIATION_SWEEP",
    }
    assert execution["status"] == "SUCCEEDED"
    items = driver.items(job)
    assert set(items) == {"FAILURE#missing-4", "FAILURE#short-3", "SUMMARY", "LOCK"}
    summary = items["SUMMARY"]
    assert (summary["JobStatus"], summary["RecordState"]) == ("COMPLETED_WITH_ERRORS", "COMPLETE")
    assert (summary["FailedRequestCount"], summary["RegisteredRequestCount"]) == (2, 2)
    assert items["FAILURE#short-3"]["ErrorCode"] == 400

    # Sweeps repeated, and the lost events delivered late after all: one record, one set of items.
    for _ in range(2):
        again = driver.run_sweep()
        assert job.job_id not in again["Started"]
        assert again["JobsAlreadyRecorded"] >= 1
    events = driver.local.cloud.client("events")
    for event in dropped:
        entry = {"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"])}
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    executions = driver.wait_until_settled(job, expected_executions=3)
    assert len(executions) == 3
    assert len(recorded_by(executions)) == 1
    assert driver.items(job) == items


def test_a_job_that_ended_before_deployment_is_backfilled_within_the_lookback_only(
    events_lost: TrackerDriver, domain_id: str
) -> None:
    driver = events_lost
    admin = driver.local.voice_id.admin
    inside = finished_job(driver, domain_id, mixed())
    outside = finished_job(driver, domain_id, mixed())
    # As if both ran before the stack was deployed: 6 and 8 days ago, with a lookback of 7 days.
    admin.backdate_job(inside.job_id, 6 * DAY)
    admin.backdate_job(outside.job_id, 8 * DAY)

    report = driver.run_sweep()
    assert inside.job_id in report["Started"]
    assert outside.job_id not in report["Started"]
    assert report["JobsOutsideLookback"] >= 1
    (execution,) = driver.wait_until_settled(inside)
    assert execution["status"] == "SUCCEEDED"
    assert sorted(driver.failures(inside)) == ["missing-4", "short-3"]
    assert driver.items(inside)["SUMMARY"]["RecordState"] == "COMPLETE"
    assert driver.executions(outside) == []
    assert driver.items(outside) == {}


def test_the_sweep_finds_every_job_while_voice_id_throttles(events_lost: TrackerDriver, domain_id: str) -> None:
    driver = events_lost
    job = finished_job(driver, domain_id, mixed())
    faults = driver.local.voice_id.faults
    # One request every 5 s, and the only token spent just now: the sweep's List call is throttled first.
    driver.local.voice_id.admin.set_throttling(True, tps=0.2)
    driver.voice_id.list_domains(MaxResults=1)
    before = faults.throttled_requests
    report = driver.run_sweep()
    assert faults.throttled_requests > before
    driver.local.voice_id.admin.set_throttling(True)
    # The sweep lists both kinds of job.
    listed = [
        summary["JobId"]
        for operation in ("list_fraudster_registration_jobs", "list_speaker_enrollment_jobs")
        for page in driver.voice_id.get_paginator(operation).paginate(DomainId=domain_id)
        for summary in page["JobSummaries"]
    ]
    # ... and the Bedrock jobs the stack follows (other tests of the session ran some).
    bedrock = driver.local.cloud.client("bedrock")
    listed += [
        summary["jobArn"]
        for page in bedrock.get_paginator("list_model_invocation_jobs").paginate(nameContains="tracked-")
        for summary in page["invocationJobSummaries"]
        if summary["jobName"].startswith("tracked-")
        and summary["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"].startswith(driver.local.bedrock_output_s3_uri)
    ]
    # ... and the S3 Batch Operations jobs described tracked-* (ListJobs gives the description; all pages).
    s3control = driver.local.s3batch.client()
    request: dict[str, Any] = {"AccountId": driver.local.cloud.account_id}
    while True:
        page = s3control.list_jobs(**request)
        listed += [
            entry["JobId"] for entry in page.get("Jobs", []) if entry.get("Description", "").startswith("tracked-")
        ]
        if not page.get("NextToken"):
            break
        request["NextToken"] = page["NextToken"]
    assert report["JobsFound"] == len(listed)
    assert job.job_id in report["Started"]
    (execution,) = driver.wait_until_settled(job)
    assert execution["status"] == "SUCCEEDED"
    assert sorted(driver.failures(job)) == ["missing-4", "short-3"]
