"""DescribeFraudsterRegistrationJob through botocore's Stubber: every JobStatus and every error path."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from job_tracker.adapters.voiceid import VoiceIdJobDescriber
from job_tracker.errors import (
    AccessDenied,
    InvalidJobRequest,
    JobNotFound,
    UnexpectedJobStatus,
    VoiceIdThrottled,
    VoiceIdUnavailable,
)
from job_tracker.kinds import JOB_KINDS
from job_tracker.models import JobRef, JobStatus
from job_tracker.polling import PollBounds
from job_tracker.tracking import describe_job
from tests.unit.conftest import DOMAIN_ID, JOB_ID, REGION

REQUEST = {"DomainId": DOMAIN_ID, "JobId": JOB_ID}
FRAUDSTERS = JOB_KINDS["FRAUDSTER_REGISTRATION"]
BOUNDS = PollBounds(5, 60)


@pytest.fixture
def stubbed() -> Iterator[tuple[VoiceIdJobDescriber, Stubber]]:
    client = boto3.client("voice-id", region_name=REGION, config=Config(retries={"max_attempts": 1}))
    with Stubber(client) as stubber:
        yield VoiceIdJobDescriber(client), stubber
        stubber.assert_no_pending_responses()


def api_job(status: str, **extra: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "DomainId": DOMAIN_ID,
        "JobId": JOB_ID,
        "JobName": "nightly",
        "JobStatus": status,
        "CreatedAt": datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
        "JobProgress": {"PercentComplete": 40},
        "DataAccessRoleArn": "arn:aws:iam::123456789012:role/VoiceIdAccess",
        "InputDataConfig": {"S3Uri": "s3://in-bucket/manifests/batch-7.json"},
        "OutputDataConfig": {"S3Uri": "s3://out-bucket/voiceid-output/", "KmsKeyId": "key-1"},
    }
    job.update(extra)
    return job


@pytest.mark.parametrize("status", ["SUBMITTED", "IN_PROGRESS"])
def test_running_job_gets_a_wait_within_bounds(stubbed: tuple[VoiceIdJobDescriber, Stubber], status: str) -> None:
    describer, stubber = stubbed
    stubber.add_response("describe_fraudster_registration_job", {"Job": api_job(status)}, REQUEST)
    payload = describe_job({**REQUEST, "PollCount": 3}, describer, BOUNDS, random.Random(1))
    assert payload["JobStatus"] == status
    assert payload["PollCount"] == 4
    assert BOUNDS.min_seconds <= payload["WaitSeconds"] <= BOUNDS.max_seconds
    assert payload["PercentComplete"] == 40
    assert payload["OutputUri"] == f"s3://out-bucket/voiceid-output/{JOB_ID}/batch-7.json.out"


@pytest.mark.parametrize("status", ["COMPLETED", "COMPLETED_WITH_ERRORS"])
def test_finished_job_carries_its_output_location(stubbed: tuple[VoiceIdJobDescriber, Stubber], status: str) -> None:
    describer, stubber = stubbed
    ended = datetime(2026, 11, 25, 10, 7, tzinfo=UTC)
    stubber.add_response("describe_fraudster_registration_job", {"Job": api_job(status, EndedAt=ended)}, REQUEST)
    payload = describe_job(REQUEST, describer, BOUNDS)
    assert payload["JobStatus"] == status
    assert payload["PollCount"] == 1
    assert payload["WaitSeconds"] == 0
    assert payload["EndedAt"] == "2026-11-25T10:07:00+00:00"
    assert payload["FailureDetails"] is None


def test_failed_job_carries_failure_details(stubbed: tuple[VoiceIdJobDescriber, Stubber]) -> None:
    describer, stubber = stubbed
    details = {"StatusCode": 400, "Message": "Manifest Version must be 1.0"}
    stubber.add_response(
        "describe_fraudster_registration_job", {"Job": api_job("FAILED", FailureDetails=details)}, REQUEST
    )
    payload = describe_job(REQUEST, describer, BOUNDS)
    assert payload["JobStatus"] == JobStatus.FAILED
    assert payload["FailureDetails"] == details


@pytest.mark.parametrize(
    ("code", "status", "raised", "text"),
    [
        ("ResourceNotFoundException", 404, JobNotFound, "has no fraudster registration job"),
        ("ValidationException", 400, InvalidJobRequest, "rejected the request"),
        ("AccessDeniedException", 403, AccessDenied, "not allowed to call DescribeFraudsterRegistrationJob"),
        ("ThrottlingException", 429, VoiceIdThrottled, "throttled"),
        ("InternalServerException", 500, VoiceIdUnavailable, "failed internally"),
    ],
)
def test_service_errors_become_named_tracker_errors(
    stubbed: tuple[VoiceIdJobDescriber, Stubber], code: str, status: int, raised: type[Exception], text: str
) -> None:
    describer, stubber = stubbed
    stubber.add_client_error(
        "describe_fraudster_registration_job",
        service_error_code=code,
        http_status_code=status,
        service_message="from Voice ID",
        expected_params=REQUEST,
    )
    with pytest.raises(raised, match=text) as error:
        describe_job(REQUEST, describer, BOUNDS)
    assert JOB_ID in str(error.value) and "from Voice ID" in str(error.value)


@pytest.mark.parametrize("poll_count", [-1, "2", True, 1.5])
def test_bad_poll_count_is_rejected_before_calling_voice_id(
    stubbed: tuple[VoiceIdJobDescriber, Stubber], poll_count: object
) -> None:
    describer, _ = stubbed
    with pytest.raises(InvalidJobRequest, match="PollCount"):
        describe_job({**REQUEST, "PollCount": poll_count}, describer, BOUNDS)


def test_bad_ids_are_rejected_before_calling_voice_id(stubbed: tuple[VoiceIdJobDescriber, Stubber]) -> None:
    describer, _ = stubbed
    with pytest.raises(InvalidJobRequest, match="JobId"):
        describe_job({"DomainId": DOMAIN_ID, "JobId": "../../etc"}, describer, BOUNDS)


class ClientAnswering:
    """A Voice ID client whose answer the model's own validation would refuse (a status it does not list)."""

    def __init__(self, job: dict[str, Any]) -> None:
        self._job = job

    def describe_fraudster_registration_job(self, **_: str) -> dict[str, Any]:
        return {"Job": self._job}


def test_an_unknown_job_status_is_a_named_error() -> None:
    describer = VoiceIdJobDescriber(ClientAnswering(api_job("PAUSED")))  # type: ignore[arg-type]
    with pytest.raises(UnexpectedJobStatus, match="JobStatus 'PAUSED'"):
        describe_job(REQUEST, describer, BOUNDS)


def test_connection_failures_become_retryable_unavailability() -> None:
    client = boto3.client(
        "voice-id",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",  # discard port: nothing listens
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(VoiceIdUnavailable, match="could not reach Voice ID"):
        VoiceIdJobDescriber(client).describe(JobRef(DOMAIN_ID, JOB_ID), FRAUDSTERS)
