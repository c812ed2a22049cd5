from __future__ import annotations

from dataclasses import replace

import pytest

from job_tracker import table_schema
from job_tracker.errors import ConfigurationError, InvalidJobRequest
from job_tracker.models import JobRef, JobStatus, S3Location, job_from_payload, job_to_payload, output_location
from job_tracker.polling import PollBounds
from job_tracker.settings import DescribeJobSettings, RecordFailuresSettings
from tests.unit.conftest import DOMAIN_ID, JOB_ID, job


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("s3://output-bucket/output-folder", "s3://output-bucket/output-folder/JOB/input-file.json.out"),
        ("s3://output-bucket/output-folder/", "s3://output-bucket/output-folder/JOB/input-file.json.out"),
        ("s3://output-bucket/a/b/", "s3://output-bucket/a/b/JOB/input-file.json.out"),
        ("s3://output-bucket", "s3://output-bucket/JOB/input-file.json.out"),
    ],
)
def test_output_location_follows_the_documented_rule(folder: str, expected: str) -> None:
    location = output_location(folder, "JOB", "s3://input-bucket/manifests/input-file.json")
    assert location.uri == expected


def test_output_location_needs_an_input_file_name() -> None:
    with pytest.raises(InvalidJobRequest, match="names no file"):
        output_location("s3://output-bucket/out", "JOB", "s3://input-bucket/")


@pytest.mark.parametrize("uri", ["http://bucket/key", "s3://B/key", "s3://a", "bucket/key"])
def test_s3_uri_parsing_rejects_non_s3_uris(uri: str) -> None:
    with pytest.raises(InvalidJobRequest):
        S3Location.parse(uri)


@pytest.mark.parametrize(
    "payload",
    [
        {"DomainId": DOMAIN_ID},
        {"DomainId": DOMAIN_ID, "JobId": "short"},
        {"DomainId": DOMAIN_ID + "x", "JobId": JOB_ID},
        {"DomainId": "Domain-AAAAAAAAAAAAAAA", "JobId": JOB_ID},
        {"DomainId": 7, "JobId": JOB_ID},
    ],
)
def test_job_ref_requires_two_22_character_ids(payload: dict[str, object]) -> None:
    with pytest.raises(InvalidJobRequest, match=r"\^\[a-zA-Z0-9\]\{22\}\$"):
        JobRef.parse(payload)


def test_a_jobs_partition_key_names_its_domain_and_job_in_every_spelling() -> None:
    key = JobRef(DOMAIN_ID, JOB_ID).partition_key
    assert key == f"JOB#{DOMAIN_ID}#{JOB_ID}"
    assert table_schema.job_of_partition_key(key) == (DOMAIN_ID, JOB_ID)
    assert (
        table_schema.job_partition_key_intrinsic("$.DomainId", "$.JobId")
        == "States.Format('JOB#{}#{}', $.DomainId, $.JobId)"
    )


def test_job_payload_round_trips() -> None:
    original = job()
    assert job_from_payload(job_to_payload(original)) == original


def test_a_job_s_status_attributes_are_the_service_s_word_and_the_tracker_s() -> None:
    completed = replace(job(JobStatus.COMPLETED_WITH_ERRORS), service_status="Completed")
    assert completed.status_attributes == {"JobStatus": "Completed", "TrackerJobStatus": "COMPLETED_WITH_ERRORS"}
    assert job(JobStatus.FAILED).status_attributes == {"JobStatus": "FAILED", "TrackerJobStatus": "FAILED"}


def test_job_payload_with_unknown_status_is_rejected() -> None:
    payload = job_to_payload(job())
    payload["JobStatus"] = "PAUSED"
    with pytest.raises(InvalidJobRequest, match="not usable"):
        job_from_payload(payload)


@pytest.mark.parametrize(("low", "high"), [(0, 10), (20, 10)])
def test_poll_bounds_are_validated(low: int, high: int) -> None:
    with pytest.raises(ConfigurationError, match="1 <= min <= max"):
        PollBounds(low, high)


def test_settings_name_the_missing_or_bad_variable() -> None:
    with pytest.raises(ConfigurationError, match="MIN_POLL_SECONDS is not set"):
        DescribeJobSettings.from_env({"MAX_POLL_SECONDS": "60"})
    with pytest.raises(ConfigurationError, match="MAX_POLL_SECONDS must be a whole number"):
        DescribeJobSettings.from_env({"MIN_POLL_SECONDS": "5", "MAX_POLL_SECONDS": "1m"})
    with pytest.raises(ConfigurationError, match="FAILURES_TABLE_NAME is not set"):
        RecordFailuresSettings.from_env({"FAILURES_TABLE_NAME": "  "})
    settings = DescribeJobSettings.from_env({"MIN_POLL_SECONDS": "5", "MAX_POLL_SECONDS": "60"})
    assert settings.poll_bounds == PollBounds(5, 60)
