"""Job kinds as data: speaker enrollment jobs read, recorded and described through the same code as fraudster
registrations, and execution input checked before anything is written."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from job_tracker.adapters.dynamodb import DynamoDbFailureStore
from job_tracker.adapters.s3 import S3ObjectReader
from job_tracker.adapters.voiceid import VoiceIdJobDescriber
from job_tracker.errors import InvalidJobRequest, OutputFileInvalid
from job_tracker.execution_input import normalize_execution_input
from job_tracker.kinds import DEFAULT_JOB_KIND, JOB_KINDS, job_kind
from job_tracker.models import JobStatus, job_to_payload
from job_tracker.output_file import FailedRequest, read_manifest_fields, read_output_file
from job_tracker.polling import PollBounds
from job_tracker.scopes import TrackedJobs, VoiceIdScope
from job_tracker.tracking import describe_job, record_job
from tests.unit.conftest import DOMAIN_ID, JOB_ID, OUTPUT_BUCKET, REGION, TABLE, job, put_output

ENROLLMENTS = JOB_KINDS["SPEAKER_ENROLLMENT"]
OUT_KEY = f"out/{JOB_ID}/speakers.json.out"
MANIFEST_KEY = "in/speakers.json"
PK = f"JOB#{DOMAIN_ID}#{JOB_ID}"


def enrollment_output(errors: list[tuple[str, int, str]], statuses: list[str]) -> dict[str, Any]:
    return {
        "Version": "1.0",
        "Errors": [{"RequestId": r, "ErrorCode": c, "ErrorMessage": m} for r, c, m in errors],
        "SuccessfulEnrollments": [
            {
                "RequestId": f"ok-{n}",
                "GeneratedSpeakerId": f"id#{n:022d}",
                "CustomerSpeakerId": f"customer-{n}",
                "EnrollmentStatus": status,
            }
            for n, status in enumerate(statuses)
        ],
    }


def manifest(request_ids: list[str]) -> dict[str, Any]:
    return {
        "Version": "1.0",
        "SpeakerEnrollmentRequests": [
            {"RequestId": r, "SpeakerId": f"speaker-of-{r}", "AudioSpecifications": [{"S3Uri": "s3://b/a.wav"}]}
            for r in request_ids
        ],
    }


def test_the_default_kind_is_fraudster_registration_and_unknown_kinds_are_named() -> None:
    assert job_kind(None) is DEFAULT_JOB_KIND is JOB_KINDS["FRAUDSTER_REGISTRATION"]
    assert job_kind("SPEAKER_ENROLLMENT") is ENROLLMENTS
    with pytest.raises(InvalidJobRequest, match="JobKind must be one of FRAUDSTER_REGISTRATION, SPEAKER_ENROLLMENT"):
        job_kind("WATCHLIST_CLEANUP")
    assert ENROLLMENTS.describe_method == "describe_speaker_enrollment_job"
    assert ENROLLMENTS.describe_action == "voiceid:DescribeSpeakerEnrollmentJob"
    assert ENROLLMENTS.list_action == "voiceid:ListSpeakerEnrollmentJobs"
    assert set(ENROLLMENTS.event_detail_types) == {
        "VoiceId Batch Speaker Enrollment Action",
        "VoiceID Batch Speaker Enrollment Action",
    }


def test_the_outcome_event_says_voice_id_only_for_voice_id_jobs() -> None:
    """The tracker's own event keeps its detail-type from before Bedrock for Voice ID's jobs (existing rules
    match it) and calls every other job what it is."""
    detail_types = {name: kind.service.outcome_event_detail_type for name, kind in JOB_KINDS.items()}
    assert detail_types == {
        "FRAUDSTER_REGISTRATION": "Voice ID Job Recorded",
        "SPEAKER_ENROLLMENT": "Voice ID Job Recorded",
        "BEDROCK_BATCH_INFERENCE": "Batch Job Recorded",
        "S3_BATCH_OPERATIONS": "Batch Job Recorded",
    }


def test_an_enrollment_output_counts_new_overwritten_and_skipped_and_streams_each_failure() -> None:
    document = enrollment_output(
        [("opted-out", 409, "You cannot request an enrollment for an opted out speaker"), ("short", 400, "speech")],
        ["NEW_ENROLLMENT", "NEW_ENROLLMENT", "ENROLLMENT_OVERWRITE", "DUPLICATE_SKIPPED"],
    )
    failures: list[FailedRequest] = []
    data = json.dumps(document).encode()
    tally = read_output_file(
        (data[i : i + 7] for i in range(0, len(data), 7)), "s3://b/k", failures.append, ENROLLMENTS
    )
    assert [(f.request_id, f.error_code) for f in failures] == [("opted-out", 409), ("short", 400)]
    assert tally.counts == {"NewEnrollmentCount": 2, "OverwrittenEnrollmentCount": 1, "DuplicateSkippedRequestCount": 1}


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"EnrollmentStatus": "ENROLLED"}, "unknown EnrollmentStatus 'ENROLLED'"),
        ({"GeneratedSpeakerId": "speaker-1"}, "GeneratedSpeakerId not of the form"),
        ({"CustomerSpeakerId": "no spaces allowed"}, "CustomerSpeakerId not of"),
    ],
)
def test_an_enrollment_entry_that_breaks_the_schema_is_named(entry: dict[str, Any], problem: str) -> None:
    document = enrollment_output([], ["NEW_ENROLLMENT"])
    document["SuccessfulEnrollments"][0].update(entry)
    with pytest.raises(OutputFileInvalid, match=problem):
        read_output_file([json.dumps(document).encode()], "s3://b/k", lambda _: None, ENROLLMENTS)


def test_a_fraudster_output_is_not_an_enrollment_output() -> None:
    document = {"Version": "1.0", "Errors": [], "SuccessfulRegistrations": []}
    with pytest.raises(OutputFileInvalid, match="lacks the required member"):
        read_output_file([json.dumps(document).encode()], "s3://b/k", lambda _: None, ENROLLMENTS)


def test_the_manifest_gives_each_request_its_speaker() -> None:
    data = json.dumps(manifest(["a", "b"])).encode()
    fields = read_manifest_fields((data[i : i + 5] for i in range(0, len(data), 5)), "s3://b/m", ENROLLMENTS)
    assert fields == {"a": {"CustomerSpeakerId": "speaker-of-a"}, "b": {"CustomerSpeakerId": "speaker-of-b"}}


def items(dynamodb: Any) -> dict[str, dict[str, Any]]:
    found = dynamodb.query(
        TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": PK}}
    )["Items"]
    return {entry["sk"]["S"]: entry for entry in found}


def record_enrollment(s3: Any, dynamodb: Any) -> dict[str, Any]:
    described = job(JobStatus.COMPLETED_WITH_ERRORS, output_key=OUT_KEY, kind=ENROLLMENTS, input_key=MANIFEST_KEY)
    request = {"DomainId": DOMAIN_ID, "JobId": JOB_ID, "Job": job_to_payload(described)}
    result = record_job(request, S3ObjectReader(s3, chunk_bytes=128), DynamoDbFailureStore(dynamodb, TABLE))
    return result.to_output(TABLE)


def test_enrollment_failures_carry_their_speaker_and_kind_and_the_summary_its_counts(
    s3: Any, dynamodb: Any, kms_key_id: str
) -> None:
    errors = [("opted-out", 409, "opted out"), ("short", 400, "not enough speech")]
    put_output(s3, OUT_KEY, enrollment_output(errors, ["NEW_ENROLLMENT", "ENROLLMENT_OVERWRITE"]), kms_key_id)
    put_output(s3, MANIFEST_KEY, manifest(["opted-out", "short", "ok-0", "ok-1"]), kms_key_id)
    output = record_enrollment(s3, dynamodb)
    stored = items(dynamodb)
    opted_out = stored["FAILURE#opted-out"]
    assert opted_out["CustomerSpeakerId"] == {"S": "speaker-of-opted-out"}
    assert opted_out["JobKind"] == {"S": "SPEAKER_ENROLLMENT"}
    shard = zlib.crc32(b"opted-out") % 8
    assert opted_out["gsi1pk"] == {"S": f"DOMAIN#{DOMAIN_ID}#ERROR#409#SHARD#{shard}"}
    # The speaker the failure names, for erasure (FailuresBySubject).
    assert opted_out["gsi3pk"] == {"S": "CustomerSpeakerId#speaker-of-opted-out"}
    summary = stored["SUMMARY"]
    assert summary["JobKind"] == {"S": "SPEAKER_ENROLLMENT"}
    assert (summary["NewEnrollmentCount"], summary["OverwrittenEnrollmentCount"]) == ({"N": "1"}, {"N": "1"})
    assert summary["DuplicateSkippedRequestCount"] == {"N": "0"} and "RegisteredRequestCount" not in summary
    assert output["JobKind"] == "SPEAKER_ENROLLMENT"
    assert (output["FailedRequests"], output["NewEnrollments"], output["OverwrittenEnrollments"]) == (2, 1, 1)


def test_without_the_manifest_failures_are_still_recorded_without_a_speaker(s3: Any, dynamodb: Any) -> None:
    put_output(s3, OUT_KEY, enrollment_output([("short", 400, "not enough speech")], []))
    output = record_enrollment(s3, dynamodb)
    stored = items(dynamodb)
    assert output["FailedRequests"] == 1
    assert "CustomerSpeakerId" not in stored["FAILURE#short"]
    assert stored["SUMMARY"]["RecordState"] == {"S": "COMPLETE"}


def test_the_summary_says_which_failure_items_lack_their_speaker_and_erase_can_still_find_them(
    s3: Any, dynamodb: Any
) -> None:
    """A manifest the tracker cannot read (here: missing; outside the input locations, S3 denies it): the
    items keep the ErrorMessage naming the speaker, are keyed in FailuresBySubject's unread partition for
    their attribute, and the summary counts them and says why."""
    errors = [("opted-out", 409, "You cannot request an enrollment for an opted out speaker (cust-42)")]
    put_output(s3, OUT_KEY, enrollment_output([*errors, ("short", 400, "not enough speech")], []))
    record_enrollment(s3, dynamodb)
    stored = items(dynamodb)
    shard = zlib.crc32(b"opted-out") % 8
    assert stored["FAILURE#opted-out"]["gsi3pk"] == {"S": f"SUBJECT_UNREAD#CustomerSpeakerId#SHARD#{shard}"}
    summary = stored["SUMMARY"]
    assert summary["SubjectUnreadCount"] == {"N": "2"}
    reason = summary["SubjectUnreadReason"]["S"]
    assert reason.startswith("2 failure item(s) have no CustomerSpeakerId: the input manifest could not be read (")
    assert MANIFEST_KEY in reason and "erase --customer-speaker-id" in reason
    # Once the manifest can be read, a re-record names every speaker and the summary says nothing of it.
    put_output(s3, MANIFEST_KEY, manifest(["opted-out", "short"]))
    record_enrollment(s3, dynamodb)
    stored = items(dynamodb)
    assert stored["FAILURE#opted-out"]["gsi3pk"] == {"S": "CustomerSpeakerId#speaker-of-opted-out"}
    assert "SubjectUnreadCount" not in stored["SUMMARY"] and "SubjectUnreadReason" not in stored["SUMMARY"]


@pytest.fixture
def stubbed() -> Iterator[Stubber]:
    client = boto3.client("voice-id", region_name=REGION, config=Config(retries={"max_attempts": 1}))
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_an_enrollment_job_is_described_with_its_own_api(stubbed: Stubber) -> None:
    client: Any = stubbed.client
    api_job = {
        "DomainId": DOMAIN_ID,
        "JobId": JOB_ID,
        "JobStatus": "IN_PROGRESS",
        "CreatedAt": datetime(2026, 11, 25, tzinfo=UTC),
        "JobProgress": {"PercentComplete": 10},
        "InputDataConfig": {"S3Uri": f"s3://{OUTPUT_BUCKET}/{MANIFEST_KEY}"},
        "OutputDataConfig": {"S3Uri": f"s3://{OUTPUT_BUCKET}/out/"},
    }
    stubbed.add_response("describe_speaker_enrollment_job", {"Job": api_job}, {"DomainId": DOMAIN_ID, "JobId": JOB_ID})
    request = {"DomainId": DOMAIN_ID, "JobId": JOB_ID, "JobKind": "SPEAKER_ENROLLMENT"}
    payload = describe_job(request, VoiceIdJobDescriber(client), PollBounds(1, 5))
    assert payload["JobKind"] == "SPEAKER_ENROLLMENT"
    assert payload["InputUri"] == f"s3://{OUTPUT_BUCKET}/{MANIFEST_KEY}"
    assert payload["OutputUri"] == f"s3://{OUTPUT_BUCKET}/out/{JOB_ID}/speakers.json.out"


CONFIGURED = TrackedJobs(scopes={"voiceid": VoiceIdScope(domain_ids=(DOMAIN_ID,))})


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"DomainId": DOMAIN_ID, "JobId": "../../etc/passwd"}, "JobId must be 22 letters or digits"),
        ({"DomainId": DOMAIN_ID, "JobId": 42}, "JobId must be 22 letters or digits"),
        ({"DomainId": DOMAIN_ID}, "JobId must be 22 letters or digits (^[a-zA-Z0-9]{22}$), got None"),
        ({"DomainId": DOMAIN_ID, "JobId": JOB_ID, "JobKind": "SPEAKERS"}, "JobKind must be one of"),
        ({"DomainId": "OtherDomainCCCCCCCCCCC", "JobId": JOB_ID}, "is not a domain this stack tracks"),
        ({"DomainId": DOMAIN_ID, "JobId": JOB_ID, "Rerecord": "yes"}, "Rerecord must be true or false"),
        (["not", "an", "object"], "must be a JSON object"),
        ("just text", "must be a JSON object"),
    ],
)
def test_bad_execution_input_is_rejected_saying_what_to_send(raw: object, problem: str) -> None:
    with pytest.raises(InvalidJobRequest) as raised:
        normalize_execution_input(raw, CONFIGURED)
    message = str(raised.value)
    assert problem in message
    assert 'Start the execution with {"DomainId"' in message


def test_a_huge_job_id_is_rejected_with_a_short_message() -> None:
    with pytest.raises(InvalidJobRequest) as raised:
        normalize_execution_input({"DomainId": DOMAIN_ID, "JobId": "x" * 5000}, CONFIGURED)
    assert "(5002 characters)" in str(raised.value)
    assert len(str(raised.value)) < 600


def test_good_input_is_normalized_with_the_default_kind() -> None:
    assert normalize_execution_input({"DomainId": DOMAIN_ID, "JobId": JOB_ID, "Extra": 1}, CONFIGURED) == {
        "DomainId": DOMAIN_ID,
        "JobId": JOB_ID,
        "JobKind": "FRAUDSTER_REGISTRATION",
        "Rerecord": False,
    }
    swept = {
        "DomainId": DOMAIN_ID,
        "JobId": JOB_ID,
        "JobKind": "SPEAKER_ENROLLMENT",
        "StartedBy": "RECONCILIATION_SWEEP",
    }
    assert normalize_execution_input(swept, CONFIGURED)["StartedBy"] == "RECONCILIATION_SWEEP"
