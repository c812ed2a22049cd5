"""Erasure on the local cloud (issue 22, point 9): a speaker enrollment whose input manifest lies outside the
configured input locations is recorded without CustomerSpeakerId (IAM denies the record step the manifest),
yet Voice ID's 409 message names the opted-out customer. The summary says the subject could not be read, and
`erase --customer-speaker-id` finds and deletes that item, leaving the other customers' items; a re-record through
`track --rerecord` does not write it again, and the summary counts it (ErasedRecordCount)."""

from __future__ import annotations

import json
import uuid

from local_cloud.driver import SPEAKER_ENROLLMENT, AudioRequest, TrackerDriver
from tests.e2e.test_cli import cli
from tests.e2e.test_job_kinds_end_to_end import enrollment_requests, speaker


def test_erase_finds_an_enrollment_failure_recorded_without_its_speaker(driver: TrackerDriver, domain_id: str) -> None:
    opted_out = speaker("opted-out")
    driver.local.voice_id.admin.opt_out_speaker(domain_id, opted_out)
    requests: list[AudioRequest] = enrollment_requests(opted_out)
    # The manifest as the driver writes it (audio included), then moved outside tracker:inputLocations.
    inside = driver.upload_manifest(requests, kind=SPEAKER_ENROLLMENT)
    bucket, _, key = inside.removeprefix("s3://").partition("/")
    outside_key = f"outside-{uuid.uuid4().hex[:8]}/speakers.json"
    driver.s3.copy_object(Bucket=bucket, Key=outside_key, CopySource={"Bucket": bucket, "Key": key})
    driver.s3.delete_object(Bucket=bucket, Key=key)
    job = driver.start_job(domain_id, f"s3://{bucket}/{outside_key}", kind=SPEAKER_ENROLLMENT)
    driver.wait_until_settled(job)

    items = driver.items(job)
    failures = {sk.removeprefix("FAILURE#"): item for sk, item in items.items() if sk.startswith("FAILURE#")}
    assert set(failures) == {"enroll-opted-out", "enroll-short", "enroll-missing"}
    assert not any("CustomerSpeakerId" in item for item in failures.values())
    assert opted_out in failures["enroll-opted-out"]["ErrorMessage"]
    summary = items["SUMMARY"]
    assert summary["RecordState"] == "COMPLETE" and summary["SubjectUnreadCount"] == 3
    assert summary["SubjectUnreadReason"].startswith("3 failure item(s) have no CustomerSpeakerId: the input manifest")
    assert outside_key in summary["SubjectUnreadReason"]

    erased = cli(driver.local.outputs_path, "erase", "--customer-speaker-id", opted_out, "--format", "json")
    assert erased.exit_code == 0, erased.output
    report = json.loads(erased.stdout)
    assert [(item["JobId"], item["Item"]) for item in report["Deleted"]] == [(job.job_id, "FAILURE#enroll-opted-out")]
    assert set(driver.failures(job)) == {"enroll-short", "enroll-missing"}
    again = cli(driver.local.outputs_path, "erase", "--customer-speaker-id", opted_out)
    assert f"No item names CustomerSpeakerId {opted_out}: nothing to delete." in again.stdout
    assert "since an earlier erasure" in again.stdout

    # The erasure lasts (issue 26, point 1): re-recording the job, as this page's governance advice does, reads
    # the same .out again, and the record step leaves the erased customer out and says so.
    rerecord = cli(
        driver.local.outputs_path,
        "track",
        job.job_id,
        "--domain",
        domain_id,
        "--kind",
        SPEAKER_ENROLLMENT,
        "--rerecord",
    )
    assert rerecord.exit_code == 0, rerecord.output
    driver.wait_until_settled(job, expected_executions=2)
    assert set(driver.failures(job)) == {"enroll-short", "enroll-missing"}
    summary = driver.items(job)["SUMMARY"]
    assert summary["RecordState"] == "COMPLETE"
    assert (summary["FailedRequestCount"], summary["ErasedRecordCount"], summary["SubjectUnreadCount"]) == (2, 1, 2)
