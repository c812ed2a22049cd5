"""Speaker enrollment jobs tracked like fraudster registrations, on the same state machine, and execution
input rejected before anything is written. Each test acts as Voice ID's user (or an operator)."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from job_tracker import table_schema as schema
from local_cloud.driver import SPEAKER_ENROLLMENT, AudioRequest, TrackedJob, TrackerDriver, recorded_by
from local_cloud.testing import wait_for_execution

_seeds = itertools.count(500_000, 10)
_speakers = itertools.count(1)


def speaker(label: str) -> str:
    """A CustomerSpeakerId never used before in the shared domain (a repeated one would be a duplicate)."""
    return f"{label}-{next(_speakers):05d}"


def enrollment_requests(opted_out: str) -> list[AudioRequest]:
    seed = next(_seeds)
    return [
        AudioRequest("enroll-good-1", seed=seed, speaker_id=speaker("good")),
        AudioRequest("enroll-good-2", seed=seed + 1, speaker_id=speaker("good")),
        AudioRequest("enroll-opted-out", seed=seed + 2, speaker_id=opted_out),
        AudioRequest("enroll-short", seconds_speech=0.5, seconds_silence=3.0, seed=seed + 3, speaker_id=speaker("s")),
        AudioRequest("enroll-missing", missing=True, speaker_id=speaker("missing")),
    ]


def start_enrollment(driver: TrackerDriver, domain_id: str, requests: list[AudioRequest], **options: Any) -> TrackedJob:
    manifest = driver.upload_manifest(requests, kind=SPEAKER_ENROLLMENT)
    return driver.start_job(domain_id, manifest, kind=SPEAKER_ENROLLMENT, **options)


def test_an_enrollment_with_errors_records_each_failure_with_its_speaker(driver: TrackerDriver, domain_id: str) -> None:
    opted_out = speaker("opted-out")
    driver.local.voice_id.admin.opt_out_speaker(domain_id, opted_out)
    requests = enrollment_requests(opted_out)
    job = start_enrollment(driver, domain_id, requests)
    executions = driver.wait_until_settled(job, expected_executions=2)
    assert len(recorded_by(executions)) == 1
    speakers = {request.request_id: request.speaker_id for request in requests}
    failures = driver.failures(job)
    assert {rid: (item["ErrorCode"], item["CustomerSpeakerId"]) for rid, item in failures.items()} == {
        "enroll-opted-out": (409, speakers["enroll-opted-out"]),
        "enroll-short": (400, speakers["enroll-short"]),
        "enroll-missing": (400, speakers["enroll-missing"]),
    }
    assert "opted out" in failures["enroll-opted-out"]["ErrorMessage"]
    assert all(item["JobKind"] == SPEAKER_ENROLLMENT for item in failures.values())
    shard = schema.error_code_shard("enroll-opted-out")
    assert failures["enroll-opted-out"]["gsi1pk"] == f"DOMAIN#{domain_id}#ERROR#409#SHARD#{shard}"
    # Found for erasure by the customer it names.
    assert failures["enroll-opted-out"]["gsi3pk"] == f"CustomerSpeakerId#{speakers['enroll-opted-out']}"
    summary = driver.items(job)["SUMMARY"]
    assert (summary["JobKind"], summary["JobStatus"], summary["RecordState"]) == (
        SPEAKER_ENROLLMENT,
        "COMPLETED_WITH_ERRORS",
        "COMPLETE",
    )
    assert (summary["FailedRequestCount"], summary["NewEnrollmentCount"]) == (3, 2)
    assert (summary["OverwrittenEnrollmentCount"], summary["DuplicateSkippedRequestCount"]) == (0, 0)
    output = json.loads(recorded_by(executions)[0]["output"])
    assert (output["JobKind"], output["NewEnrollments"], output["FailedRequests"]) == (SPEAKER_ENROLLMENT, 2, 3)


def test_a_completed_enrollment_counts_new_overwritten_and_skipped_speakers(
    driver: TrackerDriver, domain_id: str
) -> None:
    seed = next(_seeds)
    first = [AudioRequest(f"first-{n}", seed=seed + n, speaker_id=speaker("again")) for n in range(3)]
    job = start_enrollment(driver, domain_id, first)
    driver.wait_until_settled(job, expected_executions=2)
    # The same three speakers again, overwriting; a repeat with SKIP is a duplicate.
    again = [AudioRequest(f"again-{n}", seed=seed + 10 + n, speaker_id=r.speaker_id) for n, r in enumerate(first)]
    overwrite = start_enrollment(driver, domain_id, again, existing_enrollment_action="OVERWRITE")
    driver.wait_until_settled(overwrite, expected_executions=2)
    skip = start_enrollment(driver, domain_id, again[:1])
    driver.wait_until_settled(skip, expected_executions=2)
    counts = ("JobStatus", "NewEnrollmentCount", "OverwrittenEnrollmentCount", "DuplicateSkippedRequestCount")
    assert [tuple(driver.items(j)["SUMMARY"][key] for key in counts) for j in (job, overwrite, skip)] == [
        ("COMPLETED", 3, 0, 0),
        ("COMPLETED", 0, 3, 0),
        ("COMPLETED", 0, 0, 1),
    ]
    assert driver.failures(job) == driver.failures(overwrite) == driver.failures(skip) == {}


def test_a_failed_enrollment_records_its_failure_details(driver: TrackerDriver, domain_id: str) -> None:
    manifest = driver.upload_raw_manifest({"Version": "2.0", "SpeakerEnrollmentRequests": []}, name="bad")
    job = driver.start_job(domain_id, manifest, kind=SPEAKER_ENROLLMENT)
    executions = driver.wait_until_settled(job, expected_executions=2)
    assert len(recorded_by(executions)) == 1
    summary = driver.items(job)["SUMMARY"]
    assert (summary["JobKind"], summary["JobStatus"]) == (SPEAKER_ENROLLMENT, "FAILED")
    assert summary["FailureDetails"]["StatusCode"] == 400
    assert driver.failures(job) == {}


def test_duplicate_and_lost_enrollment_events_give_one_record(driver: TrackerDriver, domain_id: str) -> None:
    opted_out = speaker("opted-out")
    driver.local.voice_id.admin.opt_out_speaker(domain_id, opted_out)
    # The submit event is lost: the end event's execution records the job.
    driver.local.voice_id.admin.set_event_loss(1.0)
    job = start_enrollment(driver, domain_id, enrollment_requests(opted_out))
    driver.local.voice_id.wait_for_job(job.job_id, timeout=60)
    driver.local.voice_id.admin.set_event_loss(0.0)
    (submitted, ended) = [e for e in driver.local.voice_id.dropped_events if e["detail"]["batchJobId"] == job.job_id]
    assert submitted["detail-type"] == "VoiceId Batch Speaker Enrollment Action"
    assert submitted["detail"]["action"] == "BATCH_ENROLLMENT_REQUEST"
    events = driver.local.cloud.client("events")

    def deliver(event: dict[str, Any], detail_type: str | None = None) -> None:
        entry = {
            "Source": event["source"],
            "DetailType": detail_type or event["detail-type"],
            "Detail": json.dumps(event["detail"]),
        }
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0

    deliver(ended)
    (first,) = driver.wait_until_settled(job)
    assert first["status"] == "SUCCEEDED"
    first_items = driver.items(job)
    assert sorted(driver.failures(job)) == ["enroll-missing", "enroll-opted-out", "enroll-short"]
    # Delivered twice more, once in the admin guide's spelling: each execution finds the job recorded.
    deliver(ended)
    deliver(ended, "VoiceID Batch Speaker Enrollment Action")
    executions = driver.wait_until_settled(job, expected_executions=3)
    assert len(recorded_by(executions)) == 1
    assert all(e["status"] == "SUCCEEDED" for e in executions)
    assert driver.items(job) == first_items


BAD_INPUTS = [
    ({"JobId": "../../etc/passwd"}, "JobId must be 22 letters or digits"),
    ({"JobId": "J" * 5000}, "(5002 characters)"),
    ({"JobId": 12345}, "JobId must be 22 letters or digits"),
    ({"JobKind": "WATCHLIST_SYNC"}, "JobKind must be one of FRAUDSTER_REGISTRATION, SPEAKER_ENROLLMENT"),
    ({"DomainId": "NotConfiguredDomain000"}, "is not a domain this stack tracks"),
    ({"Rerecord": "please"}, "Rerecord must be true or false"),
]


@pytest.mark.parametrize(("change", "problem"), BAD_INPUTS)
def test_bad_input_is_rejected_before_anything_is_written(
    driver: TrackerDriver, domain_id: str, change: dict[str, Any], problem: str
) -> None:
    execution_input = {"DomainId": domain_id, "JobId": "ValidLooking0000000000", **change}
    # Named: moto, unlike Step Functions, gives every unnamed execution the same name.
    started = driver.sfn.start_execution(
        stateMachineArn=driver.local.state_machine_arn,
        name=f"bad-{uuid.uuid4().hex}",
        input=json.dumps(execution_input),
    )
    described = wait_for_execution(driver.sfn, started["executionArn"])
    assert described["status"] == "FAILED"
    assert described["error"] == "InvalidJobRequest"
    assert problem in described["cause"]
    assert 'Start the execution with {"DomainId"' in described["cause"]
    # Nothing but the check ran: no lock, no describe (for a 5,000-character id, the key itself would be invalid).
    assert list(driver.state_names(started["executionArn"])) == [
        "Validate input",
        "Explain rejection",
        "Input rejected",
    ]
    job_id = execution_input["JobId"]
    if isinstance(job_id, str) and len(job_id) < 900:
        assert driver.items(TrackedJob(str(execution_input["DomainId"]), job_id)) == {}


@pytest.mark.parametrize("raw", ['["a", "list"]', '"just text"', "42"])
def test_input_that_is_not_an_object_is_rejected(driver: TrackerDriver, raw: str) -> None:
    started = driver.sfn.start_execution(
        stateMachineArn=driver.local.state_machine_arn, name=f"not-an-object-{uuid.uuid4().hex}", input=raw
    )
    described = wait_for_execution(driver.sfn, started["executionArn"])
    assert (described["status"], described["error"]) == ("FAILED", "InvalidJobRequest")
    assert "must be a JSON object" in described["cause"]
    assert list(driver.state_names(started["executionArn"])) == [
        "Validate input",
        "Explain rejection",
        "Input rejected",
    ]


@pytest.fixture
def fast_voice_id(driver: TrackerDriver) -> Iterator[TrackerDriver]:
    admin = driver.local.voice_id.admin
    admin.set_pacing(submitted_seconds=0.0, seconds_per_request=0.0)
    try:
        yield driver
    finally:
        admin.reset_pacing()


def test_a_ten_thousand_speaker_enrollment_is_recorded_exactly(fast_voice_id: TrackerDriver, domain_id: str) -> None:
    driver = fast_voice_id
    seed = next(_seeds)
    voices = [driver.upload_audio(f"big/voice-{n}.wav", AudioRequest(f"v{n}", seed=seed + n)) for n in range(4)]
    keys = [uri.removeprefix("s3://").split("/", 1)[1] for uri in voices]
    batch = next(_speakers)
    requests = [
        # Every fourth request names audio that was never uploaded: 2,500 failures, each with its speaker.
        AudioRequest(
            f"big-{n:05d}",
            speaker_id=f"big-{batch}-{n:05d}",
            audio_key=f"big/absent-{n}.wav" if n % 4 == 3 else keys[n % 4],
        )
        for n in range(10_000)
    ]
    job = start_enrollment(driver, domain_id, requests)
    executions = driver.wait_until_settled(job, expected_executions=2, deadline_seconds=300)
    assert len(recorded_by(executions)) == 1
    summary = driver.items(job)["SUMMARY"]
    assert (summary["RecordState"], summary["FailedRequestCount"], summary["NewEnrollmentCount"]) == (
        "COMPLETE",
        2_500,
        7_500,
    )
    failures = driver.failures(job)
    assert len(failures) == 2_500
    expected = {f"big-{n:05d}": f"big-{batch}-{n:05d}" for n in range(3, 10_000, 4)}
    assert {rid: item["CustomerSpeakerId"] for rid, item in failures.items()} == expected
    assert {item["ErrorCode"] for item in failures.values()} == {400}
