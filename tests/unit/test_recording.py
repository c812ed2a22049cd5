"""Recording a finished job against moto's S3 (SSE-KMS), KMS and DynamoDB."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from job_tracker import table_schema as schema
from job_tracker.adapters.dynamodb import DynamoDbFailureStore
from job_tracker.adapters.s3 import S3ObjectReader
from job_tracker.errors import OutputFileInvalid, OutputFileMissing
from job_tracker.kinds import JOB_KINDS
from job_tracker.models import FailureDetails, JobStatus, job_to_payload
from job_tracker.recording import RecordResult, summary_item
from job_tracker.tracking import record_job
from tests.unit.conftest import DOMAIN_ID, JOB_ID, TABLE, job, output_document, put_output

OUT_KEY = f"out/{JOB_ID}/manifest.json.out"
PK = f"JOB#{DOMAIN_ID}#{JOB_ID}"


def items(dynamodb: Any) -> dict[str, dict[str, Any]]:
    found = dynamodb.query(
        TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": PK}}
    )["Items"]
    return {entry["sk"]["S"]: entry for entry in found}


def record(s3: Any, dynamodb: Any, status: JobStatus = JobStatus.COMPLETED_WITH_ERRORS, **kwargs: Any) -> Any:
    described = job(status, **kwargs)
    store = DynamoDbFailureStore(dynamodb, TABLE)
    request = {"DomainId": DOMAIN_ID, "JobId": JOB_ID, "Job": job_to_payload(described)}
    return record_job(request, S3ObjectReader(s3, chunk_bytes=256), store)


def test_completed_with_errors_writes_one_item_per_failure_and_a_summary(
    s3: Any, dynamodb: Any, kms_key_id: str
) -> None:
    errors = [(f"req-{n}", 400, "Not enough speech") for n in range(30)] + [("req-q", 402, "Fraudster limit")]
    put_output(s3, OUT_KEY, output_document(errors=errors, registered=5, duplicates=2), kms_key_id)
    result = record(s3, dynamodb)
    stored = items(dynamodb)
    failures = {k: v for k, v in stored.items() if k.startswith("FAILURE#")}
    assert len(failures) == 31
    quota = failures["FAILURE#req-q"]
    assert quota["ErrorCode"] == {"N": "402"}
    assert quota["ErrorMessage"] == {"S": "Fraudster limit"}
    assert quota["DomainId"] == {"S": DOMAIN_ID} and quota["JobId"] == {"S": JOB_ID}
    assert quota["JobCreatedAt"] == {"S": "2026-11-25T10:00:00+00:00"}
    assert quota[schema.ERROR_CODE_INDEX_PARTITION_KEY] == {
        "S": f"DOMAIN#{DOMAIN_ID}#ERROR#402#SHARD#{schema.error_code_shard('req-q')}"
    }
    # One job's 30 failures of one code are spread over the index's shards, not one hot partition.
    shards = {
        item[schema.ERROR_CODE_INDEX_PARTITION_KEY]["S"]
        for item in failures.values()
        if item["ErrorCode"]["N"] == "400"
    }
    assert len(shards) >= schema.ERROR_CODE_SHARDS // 2
    # A fraudster registration names no customer: nothing for the erasure index.
    assert schema.SUBJECT_INDEX_PARTITION_KEY not in quota
    summary = stored["SUMMARY"]
    assert summary["RecordState"] == {"S": "COMPLETE"}
    assert summary["FailedRequestCount"] == {"N": "31"}
    assert summary["RegisteredRequestCount"] == {"N": "5"}
    assert summary["DuplicateSkippedRequestCount"] == {"N": "2"}
    assert summary["OutputUri"] == {"S": f"s3://voiceid-output-bucket/{OUT_KEY}"}
    output = result.to_output(TABLE)
    assert output["FailedRequests"] == 31 and output["Items"] == {"TableName": TABLE, "pk": PK}


def test_recording_twice_leaves_identical_items(s3: Any, dynamodb: Any) -> None:
    put_output(s3, OUT_KEY, output_document(errors=[("a", 400, "x"), ("b", 500, "y")], registered=1))
    record(s3, dynamodb)
    first = items(dynamodb)
    record(s3, dynamodb)
    assert items(dynamodb) == first


def test_rerun_removes_failures_the_output_no_longer_lists(s3: Any, dynamodb: Any) -> None:
    put_output(s3, OUT_KEY, output_document(errors=[("a", 400, "x"), ("b", 400, "x")]))
    record(s3, dynamodb)
    put_output(s3, OUT_KEY, output_document(errors=[("b", 400, "x")], registered=1))
    result = record(s3, dynamodb)
    assert result.stale_failures_removed == 1
    assert sorted(k for k in items(dynamodb) if k.startswith("FAILURE#")) == ["FAILURE#b"]


def test_completed_job_checks_the_output_and_records_zero_failures(s3: Any, dynamodb: Any) -> None:
    put_output(s3, OUT_KEY, output_document(registered=4))
    record(s3, dynamodb, JobStatus.COMPLETED)
    stored = items(dynamodb)
    assert list(stored) == ["SUMMARY"]
    assert stored["SUMMARY"]["JobStatus"] == {"S": "COMPLETED"}
    assert stored["SUMMARY"]["FailedRequestCount"] == {"N": "0"}
    assert stored["SUMMARY"]["RegisteredRequestCount"] == {"N": "4"}


def test_completed_job_still_needs_its_output(s3: Any, dynamodb: Any) -> None:
    with pytest.raises(OutputFileMissing, match=f"s3://voiceid-output-bucket/{OUT_KEY} does not exist"):
        record(s3, dynamodb, JobStatus.COMPLETED)
    summary = items(dynamodb)["SUMMARY"]
    assert summary["RecordState"] == {"S": "FAILED"}
    assert "does not exist" in summary["RecordProblem"]["S"]


def test_failed_job_records_its_failure_details_without_reading_output(s3: Any, dynamodb: Any) -> None:
    details = FailureDetails(status_code=400, message="Manifest Version must be 1.0")
    record(s3, dynamodb, JobStatus.FAILED, output_key=None, failure=details)
    summary = items(dynamodb)["SUMMARY"]
    assert summary["JobStatus"] == {"S": "FAILED"}
    assert summary["FailureDetails"] == {
        "M": {"StatusCode": {"N": "400"}, "Message": {"S": "Manifest Version must be 1.0"}}
    }
    assert summary["RecordState"] == {"S": "COMPLETE"}
    assert summary["FailedRequestCount"] == {"N": "0"}


def test_malformed_output_names_the_object_and_never_claims_a_complete_record(s3: Any, dynamodb: Any) -> None:
    put_output(s3, OUT_KEY, b'{"Version": "1.0", "Errors": [{"RequestId": "a", "ErrorCode": 400, "ErrorMe')
    with pytest.raises(OutputFileInvalid, match=f"s3://voiceid-output-bucket/{OUT_KEY} is not valid JSON"):
        record(s3, dynamodb)
    summary = items(dynamodb)["SUMMARY"]
    assert summary["RecordState"] == {"S": "FAILED"}
    assert "FailedRequestCount" not in summary


def test_a_failed_rerun_downgrades_an_earlier_complete_summary(s3: Any, dynamodb: Any) -> None:
    put_output(s3, OUT_KEY, output_document(errors=[("a", 400, "x")]))
    record(s3, dynamodb)
    put_output(s3, OUT_KEY, b"not json")
    with pytest.raises(OutputFileInvalid):
        record(s3, dynamodb)
    assert items(dynamodb)["SUMMARY"]["RecordState"] == {"S": "FAILED"}


def test_mismatched_ids_between_input_and_job_are_rejected(s3: Any, dynamodb: Any) -> None:
    from job_tracker.errors import InvalidJobRequest

    request = {"DomainId": DOMAIN_ID, "JobId": "X" * 22, "Job": job_to_payload(job())}
    with pytest.raises(InvalidJobRequest, match="do not match"):
        record_job(request, S3ObjectReader(s3), DynamoDbFailureStore(dynamodb, TABLE))


def test_writes_dynamodb_never_takes_leave_the_summary_recording_with_the_reason(s3: Any, dynamodb: Any) -> None:
    """RecordingIncomplete is retried by the state machine, whose retry resumes the record (and which marks
    it FAILED if its retries run out): the summary must not look failed, nor complete, meanwhile."""
    from job_tracker.adapters.dynamodb import BatchWriter
    from job_tracker.errors import RecordingIncomplete

    put_output(s3, OUT_KEY, output_document(errors=[(f"r{n}", 400, "x") for n in range(30)]))

    class NeverDone:
        def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
            return {"UnprocessedItems": RequestItems}

    store = DynamoDbFailureStore(dynamodb, TABLE, max_attempts=2, sleep=lambda _: None)
    store.writer = lambda: BatchWriter(NeverDone(), TABLE, max_attempts=2, sleep=lambda _: None)  # type: ignore[method-assign,arg-type]
    request = {"DomainId": DOMAIN_ID, "JobId": JOB_ID, "Job": job_to_payload(job())}
    with pytest.raises(RecordingIncomplete):
        record_job(request, S3ObjectReader(s3), store)
    summary = items(dynamodb)["SUMMARY"]
    assert summary["RecordState"] == {"S": "RECORDING"}
    assert summary["RecordProblem"]["S"].startswith("RecordingIncomplete: DynamoDB left")


def test_a_running_job_is_not_recorded(s3: Any, dynamodb: Any) -> None:
    from job_tracker.errors import InvalidJobRequest

    with pytest.raises(InvalidJobRequest, match="still IN_PROGRESS"):
        record(s3, dynamodb, JobStatus.IN_PROGRESS)
    assert items(dynamodb) == {}


class CountingClient:
    """A real (moto) DynamoDB client that counts the items each BatchWriteItem puts."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.put_keys: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_write_item(self, RequestItems: dict[str, Any]) -> Any:
        self.put_keys += [r["PutRequest"]["Item"]["sk"]["S"] for r in RequestItems[TABLE] if "PutRequest" in r]
        return self._client.batch_write_item(RequestItems=RequestItems)


def test_the_record_stops_before_its_deadline_and_its_retry_resumes(s3: Any, dynamodb: Any) -> None:
    from job_tracker.errors import RecordingIncomplete
    from job_tracker.recording import DEADLINE_RESERVE_SECONDS, Deadline

    put_output(s3, OUT_KEY, output_document(errors=[(f"r{n:03}", 400, "x") for n in range(100)]))
    request = {"DomainId": DOMAIN_ID, "JobId": JOB_ID, "Job": job_to_payload(job())}
    counting = CountingClient(dynamodb)
    store = DynamoDbFailureStore(counting, TABLE)  # type: ignore[arg-type]
    # The function's clock: plenty of time for two batches, then less than the reserve.
    time_left = Deadline(lambda: 900.0 if len(counting.put_keys) < 50 else DEADLINE_RESERVE_SECONDS - 1)
    with pytest.raises(RecordingIncomplete, match=r"stopped with \d+ s of the function's time left, 2 batch"):
        record_job(request, S3ObjectReader(s3, chunk_bytes=256), store, time_left)
    # Two batches of 25 went out before the deadline; the summary says the record is not complete.
    assert len(counting.put_keys) == 50
    assert items(dynamodb)["SUMMARY"]["RecordState"] == {"S": "RECORDING"}

    # The state machine's retry: a fresh invocation writes only what is missing, and completes the record.
    counting.put_keys.clear()
    result = record_job(request, S3ObjectReader(s3, chunk_bytes=256), store)
    assert len(counting.put_keys) == 50
    assert not set(counting.put_keys) & {f"FAILURE#r{n:03}" for n in range(50)}
    stored = items(dynamodb)
    assert len([key for key in stored if key.startswith("FAILURE#")]) == 100 == result.failed
    assert stored["SUMMARY"]["RecordState"] == {"S": "COMPLETE"}


def test_a_re_record_of_a_complete_record_rewrites_every_item(s3: Any, dynamodb: Any) -> None:
    put_output(s3, OUT_KEY, output_document(errors=[(f"r{n}", 400, "x") for n in range(30)]))
    record(s3, dynamodb)
    counting = CountingClient(dynamodb)
    request = {"DomainId": DOMAIN_ID, "JobId": JOB_ID, "Job": job_to_payload(job())}
    record_job(request, S3ObjectReader(s3), DynamoDbFailureStore(counting, TABLE))  # type: ignore[arg-type]
    assert len(counting.put_keys) == 30


def test_a_transient_failure_keeps_the_summary_recording_with_the_reason(s3: Any, dynamodb: Any) -> None:
    from botocore.stub import Stubber

    from job_tracker.errors import TransientServiceError

    put_output(s3, OUT_KEY, output_document(errors=[("r1", 400, "x")]))
    stubber = Stubber(s3)
    stubber.add_client_error("get_object", "SlowDown", "Please reduce your request rate.", 503)
    stubber.activate()
    with pytest.raises(TransientServiceError, match="SlowDown"):
        record(s3, dynamodb)
    summary = items(dynamodb)["SUMMARY"]
    assert summary["RecordState"] == {"S": "RECORDING"}
    assert summary["RecordProblem"]["S"].startswith("TransientServiceError: S3 GetObject")


def test_after_a_failed_record_the_next_one_rewrites_every_item(s3: Any, dynamodb: Any) -> None:
    """A FAILED record is not resumed: its items may lack what that attempt could not read."""
    put_output(s3, OUT_KEY, output_document(errors=[(f"r{n}", 400, "x") for n in range(30)]))
    record(s3, dynamodb)
    dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": f"JOB#{DOMAIN_ID}#{JOB_ID}"}, "sk": {"S": "SUMMARY"}},
        UpdateExpression="SET RecordState = :failed",
        ExpressionAttributeValues={":failed": {"S": "FAILED"}},
    )
    counting = CountingClient(dynamodb)
    request = {"DomainId": DOMAIN_ID, "JobId": JOB_ID, "Job": job_to_payload(job())}
    record_job(request, S3ObjectReader(s3), DynamoDbFailureStore(counting, TABLE))  # type: ignore[arg-type]
    assert len(counting.put_keys) == 30
    assert items(dynamodb)["SUMMARY"]["RecordState"] == {"S": "COMPLETE"}


def test_the_summary_holds_the_service_s_word_and_the_tracker_s_beside_it_from_first_write_to_last(
    s3: Any, dynamodb: Any
) -> None:
    """A stopped Bedrock job: `JobStatus` is Bedrock's `Stopped` while the summary is RECORDING and once it is
    COMPLETE (before, RECORDING held the tracker's COMPLETED_WITH_ERRORS), `TrackerJobStatus` the tracker's."""
    stopped = replace(
        job(JobStatus.COMPLETED_WITH_ERRORS, kind=JOB_KINDS["BEDROCK_BATCH_INFERENCE"]), service_status="Stopped"
    )
    store = DynamoDbFailureStore(dynamodb, TABLE)
    words = {"JobStatus": {"S": "Stopped"}, "TrackerJobStatus": {"S": "COMPLETED_WITH_ERRORS"}}
    store.mark_recording(stopped)
    recording = items(dynamodb)["SUMMARY"]
    assert recording["RecordState"] == {"S": "RECORDING"}
    assert {name: recording.get(name) for name in words} == words
    result = RecordResult(job=stopped, failed=0, counts={}, stale_failures_removed=0)
    store.put_summary(summary_item(result))
    complete = items(dynamodb)["SUMMARY"]
    assert complete["RecordState"] == {"S": "COMPLETE"}
    assert {name: complete.get(name) for name in words} == words
    output = result.to_output(TABLE)
    assert (output["JobStatus"], output["TrackerJobStatus"]) == ("Stopped", "COMPLETED_WITH_ERRORS")


def test_a_voice_id_summary_holds_one_word_in_both_attributes(s3: Any, dynamodb: Any) -> None:
    put_output(s3, OUT_KEY, output_document(errors=[("a", 400, "x")]))
    record(s3, dynamodb)
    summary = items(dynamodb)["SUMMARY"]
    assert summary["JobStatus"] == summary["TrackerJobStatus"] == {"S": "COMPLETED_WITH_ERRORS"}
