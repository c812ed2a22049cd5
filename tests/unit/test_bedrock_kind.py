"""The Bedrock batch inference kind: describe and list through botocore's model (Stubber), record every
`.jsonl.out` of a job against moto's S3 and DynamoDB, name unprocessed records, check the input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from job_tracker import table_schema as schema
from job_tracker.adapters.bedrock import BedrockJobDescriber, BedrockJobLister
from job_tracker.adapters.dynamodb import DynamoDbFailureStore
from job_tracker.adapters.s3 import S3ObjectReader
from job_tracker.errors import BedrockThrottled, ConfigurationError, InvalidJobRequest, OutputFileInvalid
from job_tracker.execution_input import normalize_execution_input
from job_tracker.kinds import JOB_KINDS
from job_tracker.models import FailureDetails, JobDescription, JobRef, JobStatus, S3Location, job_to_payload
from job_tracker.scopes import BedrockScope, TrackedJobs, VoiceIdScope
from job_tracker.settings import tracked_jobs
from job_tracker.tracking import record_job
from tests.unit.conftest import DOMAIN_ID, OUTPUT_BUCKET, REGION, TABLE

BEDROCK = JOB_KINDS["BEDROCK_BATCH_INFERENCE"]
ACCOUNT = "123456789012"
JOB_ID = "abcdef123456"
JOB_ARN = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/{JOB_ID}"
PK = f"JOB#{ACCOUNT}#{JOB_ID}"
OUT = f"bedrock-out/{JOB_ID}/"
SCOPE = BedrockScope(
    account_id=ACCOUNT,
    region=REGION,
    job_name_prefixes=("nightly-",),
    output_prefixes=(S3Location(OUTPUT_BUCKET, "bedrock-out/"),),
)
TRACKED = TrackedJobs(scopes={"bedrock": SCOPE, "voiceid": VoiceIdScope(domain_ids=(DOMAIN_ID,))})
SUBMITTED = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def get_answer(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "jobArn": JOB_ARN,
        "jobName": "nightly-summaries",
        "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/BedrockBatch",
        "status": status,
        "submitTime": SUBMITTED,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{OUTPUT_BUCKET}/bedrock-in/"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{OUTPUT_BUCKET}/bedrock-out/"}},
        **extra,
    }


def described(status: str, **extra: Any) -> JobDescription:
    client = boto3.client("bedrock", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_response("get_model_invocation_job", get_answer(status, **extra), {"jobIdentifier": JOB_ID})
        return BedrockJobDescriber(client).describe(JobRef(ACCOUNT, JOB_ID), BEDROCK)


@pytest.mark.parametrize(
    ("status", "tracker_status"),
    [
        ("Submitted", JobStatus.SUBMITTED),
        ("Validating", JobStatus.SUBMITTED),
        ("Scheduled", JobStatus.SUBMITTED),
        ("InProgress", JobStatus.IN_PROGRESS),
        ("Stopping", JobStatus.IN_PROGRESS),
        ("Completed", JobStatus.COMPLETED),
        ("PartiallyCompleted", JobStatus.COMPLETED_WITH_ERRORS),
        ("Stopped", JobStatus.COMPLETED_WITH_ERRORS),
        ("Expired", JobStatus.COMPLETED_WITH_ERRORS),
        ("Failed", JobStatus.FAILED),
    ],
)
def test_every_bedrock_status_maps_to_the_loop_and_is_kept_in_its_own_word(
    status: str, tracker_status: JobStatus
) -> None:
    job = described(status)
    assert job.status is tracker_status
    assert job.reported_status == status
    assert job.output == S3Location(OUTPUT_BUCKET, OUT)
    assert job.created_at == SUBMITTED.isoformat()
    assert job.status.is_terminal == (status in {"Completed", "PartiallyCompleted", "Stopped", "Expired", "Failed"})


def test_progress_comes_from_the_record_counts_and_is_zero_without_them() -> None:
    counts = {"totalRecordCount": 400, "processedRecordCount": 100, "successRecordCount": 90, "errorRecordCount": 10}
    assert described("InProgress", **counts).percent_complete == 25
    # An SDK older than botocore 1.42.81 drops the counts: no progress, no cross-check, still tracked.
    older = described("InProgress")
    assert older.percent_complete == 0 and older.record_counts is None
    assert described("Completed", **counts).status is JobStatus.COMPLETED_WITH_ERRORS


def test_a_failed_job_carries_its_message_through_the_payload() -> None:
    job = described("Failed", message="No .jsonl files under s3://b/bedrock-in/")
    assert job.failure_details == FailureDetails(status_code=None, message="No .jsonl files under s3://b/bedrock-in/")
    payload = job_to_payload(job)
    assert payload["JobStatus"] == "FAILED" and payload["ServiceJobStatus"] == "Failed"


def test_throttling_left_after_the_sdk_retries_is_bedrock_throttled() -> None:
    client = boto3.client("bedrock", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_client_error("get_model_invocation_job", "ThrottlingException", "slow down", 429)
        with pytest.raises(BedrockThrottled, match="GetModelInvocationJob"):
            BedrockJobDescriber(client).describe(JobRef(ACCOUNT, JOB_ID), BEDROCK)


def test_the_sweep_lists_within_the_lookback_only_the_configured_jobs() -> None:
    now = datetime(2026, 11, 26, tzinfo=UTC)
    client = boto3.client("bedrock", region_name=REGION)

    def summary(job_id: str, name: str, output: str) -> dict[str, Any]:
        answer = get_answer("Completed", jobName=name)
        answer["jobArn"] = JOB_ARN.replace(JOB_ID, job_id)
        answer["outputDataConfig"] = {"s3OutputDataConfig": {"s3Uri": output}}
        return answer

    inside = f"s3://{OUTPUT_BUCKET}/bedrock-out/"
    with Stubber(client) as stub:
        stub.add_response(
            "list_model_invocation_jobs",
            {
                "invocationJobSummaries": [
                    summary("aaaaaaaaaaa1", "nightly-a", inside),
                    summary("aaaaaaaaaaa2", "adhoc-nightly-b", inside),  # nameContains, not a prefix
                ],
                "nextToken": "page2",
            },
            {"submitTimeAfter": now - timedelta(days=7), "nameContains": "nightly-", "maxResults": 1000},
        )
        stub.add_response(
            "list_model_invocation_jobs",
            {"invocationJobSummaries": [summary("aaaaaaaaaaa3", "nightly-c", "s3://elsewhere-bucket/out/")]},
            {
                "submitTimeAfter": now - timedelta(days=7),
                "nameContains": "nightly-",
                "maxResults": 1000,
                "nextToken": "page2",
            },
        )
        # The clock moves while pages are read; every page's request repeats the first one's window.
        clock = iter([now, now + timedelta(minutes=5), now + timedelta(minutes=10)]).__next__
        listed = list(BedrockJobLister(client, SCOPE, timedelta(days=7), clock).list_jobs(ACCOUNT, BEDROCK))
    assert [job.ref for job in listed] == [JobRef(ACCOUNT, "aaaaaaaaaaa1")]
    assert listed[0].kind is BEDROCK and listed[0].created_at == SUBMITTED


# --- execution input -------------------------------------------------------------------------------------


class FakeDescriber:
    def __init__(self, job: JobDescription) -> None:
        self.job = job
        self.calls = 0

    def describe(self, ref: JobRef, kind: Any) -> JobDescription:
        self.calls += 1
        return self.job


def test_the_rule_s_job_arn_becomes_the_account_and_job_id() -> None:
    describer = FakeDescriber(described("InProgress"))
    normalized = normalize_execution_input({"JobKind": BEDROCK.name, "JobArn": JOB_ARN}, TRACKED, describer)
    assert normalized == {"DomainId": ACCOUNT, "JobId": JOB_ID, "JobKind": BEDROCK.name, "Rerecord": False}
    assert describer.calls == 1


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"JobKind": BEDROCK.name, "JobArn": "arn:aws:bedrock:us-east-1:123:model-invocation-job/x"}, "JobArn must"),
        ({"JobKind": BEDROCK.name, "JobArn": JOB_ARN.replace(REGION, "eu-west-1")}, "Region eu-west-1"),
        ({"JobKind": BEDROCK.name, "JobArn": JOB_ARN.replace(ACCOUNT, "999999999999")}, "account 999999999999"),
        ({"JobKind": BEDROCK.name, "DomainId": ACCOUNT, "JobId": "TOO-LONG-ID-x"}, "12 lowercase letters or digits"),
    ],
)
def test_malformed_bedrock_input_is_rejected_before_any_call(raw: dict[str, Any], problem: str) -> None:
    describer = FakeDescriber(described("InProgress"))
    with pytest.raises(InvalidJobRequest, match=problem):
        normalize_execution_input(raw, TRACKED, describer)
    assert describer.calls == 0


def test_a_job_outside_the_configured_prefixes_or_output_is_rejected_naming_the_setting() -> None:
    other_name = FakeDescriber(described("InProgress", jobName="adhoc-1"))
    with pytest.raises(InvalidJobRequest, match="tracker:bedrockJobNamePrefixes"):
        normalize_execution_input({"JobKind": BEDROCK.name, "JobArn": JOB_ARN}, TRACKED, other_name)
    other_output = described("InProgress")
    other_output = JobDescription(**{**other_output.__dict__, "output": S3Location("elsewhere", f"x/{JOB_ID}/")})
    with pytest.raises(InvalidJobRequest, match="tracker:bedrockOutputLocations"):
        normalize_execution_input({"JobKind": BEDROCK.name, "JobArn": JOB_ARN}, TRACKED, FakeDescriber(other_output))


def test_a_stack_without_bedrock_refuses_bedrock_jobs_and_one_without_voice_id_refuses_voice_id() -> None:
    voice_only = TrackedJobs(scopes={"voiceid": VoiceIdScope(domain_ids=(DOMAIN_ID,))})
    with pytest.raises(InvalidJobRequest, match="does not follow Amazon Bedrock jobs"):
        normalize_execution_input({"JobKind": BEDROCK.name, "JobArn": JOB_ARN}, voice_only)
    bedrock_only = TrackedJobs(scopes={"bedrock": SCOPE})
    with pytest.raises(InvalidJobRequest, match="does not follow Voice ID jobs"):
        normalize_execution_input({"DomainId": DOMAIN_ID, "JobId": "JobBBBBBBBBBBBBBBBBBBB"}, bedrock_only)


def test_configuration_voice_id_alone_bedrock_alone_both_and_neither() -> None:
    bedrock_env = {
        "BEDROCK_JOB_NAME_PREFIXES": "nightly-,weekly-",
        "BEDROCK_OUTPUT_LOCATIONS": f"s3://{OUTPUT_BUCKET}/bedrock-out/",
        "BEDROCK_ACCOUNT_ID": ACCOUNT,
        "AWS_REGION": REGION,
    }
    assert set(tracked_jobs({"VOICE_ID_DOMAIN_IDS": DOMAIN_ID}).scopes) == {"voiceid"}
    bedrock = tracked_jobs(bedrock_env)
    assert set(bedrock.scopes) == {"bedrock"} and [kind.name for kind in bedrock.kinds] == [BEDROCK.name]
    assert set(tracked_jobs({**bedrock_env, "VOICE_ID_DOMAIN_IDS": DOMAIN_ID}).scopes) == {"voiceid", "bedrock"}
    with pytest.raises(ConfigurationError, match="would follow no job"):
        tracked_jobs({})
    with pytest.raises(ConfigurationError, match="BEDROCK_OUTPUT_LOCATIONS"):
        tracked_jobs({**bedrock_env, "BEDROCK_OUTPUT_LOCATIONS": ""})


# --- recording -------------------------------------------------------------------------------------------


def record_line(record_id: str, *, error: tuple[int, str] | None = None, prompt: str = "Summarize.") -> bytes:
    line: dict[str, Any] = {
        "recordId": record_id,
        "modelInput": {"messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}]},
    }
    if error:
        line["error"] = {"errorCode": error[0], "errorMessage": error[1]}
    else:
        line["modelOutput"] = {"content": [{"type": "text", "text": "ok"}], "usage": {"input_tokens": 3}}
    return json.dumps(line).encode()


def put(s3: Any, key: str, body: bytes, kms_key_id: str | None = None) -> None:
    extra: dict[str, str] = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id} if kms_key_id else {}
    s3.put_object(Bucket=OUTPUT_BUCKET, Key=key, Body=body, **extra)


def put_input(s3: Any, name: str, record_ids: list[str | None]) -> None:
    rows = []
    for record_id in record_ids:
        row: dict[str, Any] = {"modelInput": {"messages": [{"role": "user", "content": "hi"}]}}
        if record_id is not None:
            row["recordId"] = record_id
        rows.append(json.dumps(row))
    put(s3, f"bedrock-in/{name}", "\n".join(rows).encode() + b"\n")


def put_manifest(s3: Any, **counts: int) -> None:
    put(s3, f"{OUT}manifest.json.out", json.dumps(counts).encode())


def items(dynamodb: Any) -> dict[str, dict[str, Any]]:
    found = dynamodb.query(
        TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": PK}}
    )["Items"]
    return {entry["sk"]["S"]: entry for entry in found}


def record(s3: Any, dynamodb: Any, job: JobDescription) -> Any:
    request = {"DomainId": ACCOUNT, "JobId": JOB_ID, "Job": job_to_payload(job)}
    return record_job(request, S3ObjectReader(s3, chunk_bytes=97), DynamoDbFailureStore(dynamodb, TABLE))


def test_completed_with_errors_over_two_files_writes_one_item_per_failed_record(
    s3: Any, dynamodb: Any, kms_key_id: str
) -> None:
    put_input(s3, "a.jsonl", ["a1", "a2", "a3"])
    put_input(s3, "b.jsonl", ["b1", "b2"])
    # Output lines in another order than the input's, as Bedrock's docs allow.
    put(
        s3,
        f"{OUT}a.jsonl.out",
        b"\n".join([record_line("a3"), record_line("a1", error=(400, "bad")), record_line("a2")]),
        kms_key_id,
    )
    put(
        s3,
        f"{OUT}b.jsonl.out",
        b"\n".join([record_line("b2", error=(429, "Too many")), record_line("b1")]) + b"\n",
        kms_key_id,
    )
    put_manifest(
        s3,
        totalRecordCount=5,
        processedRecordCount=5,
        successRecordCount=3,
        errorRecordCount=2,
        inputTokenCount=1500,
        outputTokenCount=700,
    )
    counts = {"totalRecordCount": 5, "processedRecordCount": 5, "successRecordCount": 3, "errorRecordCount": 2}
    result = record(s3, dynamodb, described("Completed", **counts))
    stored = items(dynamodb)
    failures = {key: value for key, value in stored.items() if key.startswith("FAILURE#")}
    assert set(failures) == {"FAILURE#a1", "FAILURE#b2"}
    b2 = failures["FAILURE#b2"]
    assert b2["RecordId"] == {"S": "b2"} and b2["RequestId"] == {"S": "b2"}
    assert b2["ErrorCode"] == {"N": "429"} and b2["ErrorMessage"] == {"S": "Too many"}
    assert b2["OutputFile"] == {"S": f"s3://{OUTPUT_BUCKET}/{OUT}b.jsonl.out"} and b2["LineNumber"] == {"N": "1"}
    assert "modelInput" not in b2 and "Summarize." not in json.dumps(b2)
    index_key = schema.error_code_index_key(ACCOUNT, 429, schema.error_code_shard("b2"))
    assert b2[schema.ERROR_CODE_INDEX_PARTITION_KEY] == {"S": index_key}
    summary = stored["SUMMARY"]
    assert summary["JobKind"] == {"S": BEDROCK.name} and summary["JobStatus"] == {"S": "Completed"}
    assert summary["RecordState"] == {"S": "COMPLETE"}
    assert summary["FailedRecordCount"] == {"N": "2"} and summary["SucceededRecordCount"] == {"N": "3"}
    assert summary["UnprocessedRecordCount"] == {"N": "0"}
    assert summary["InputTokenCount"] == {"N": "1500"} and summary["OutputTokenCount"] == {"N": "700"}
    assert "CountMismatches" not in summary
    assert result.to_output(TABLE)["FailedRequests"] == 2


@pytest.mark.parametrize("status", ["PartiallyCompleted", "Stopped", "Expired"])
def test_records_without_an_output_line_are_named_unprocessed_joined_on_record_id(
    s3: Any, dynamodb: Any, status: str
) -> None:
    put_input(s3, "a.jsonl", ["a1", "a2", "a3", "a4"])
    put_input(s3, "b.jsonl", ["b1", "b2"])  # no output file at all: stopped before it
    put(s3, f"{OUT}a.jsonl.out", b"\n".join([record_line("a4"), record_line("a1", error=(400, "bad"))]))
    put_manifest(s3, totalRecordCount=6, processedRecordCount=2, successRecordCount=1, errorRecordCount=1)
    record(s3, dynamodb, described(status))
    stored = items(dynamodb)
    failures = {key: value for key, value in stored.items() if key.startswith("FAILURE#")}
    assert set(failures) == {"FAILURE#a1", "FAILURE#a2", "FAILURE#a3", "FAILURE#b1", "FAILURE#b2"}
    assert failures["FAILURE#a3"]["ErrorCode"] == {"S": "UNPROCESSED"}
    assert status in failures["FAILURE#b2"]["ErrorMessage"]["S"]
    assert failures["FAILURE#b2"]["InputFile"] == {"S": f"s3://{OUTPUT_BUCKET}/bedrock-in/b.jsonl"}
    summary = stored["SUMMARY"]
    assert summary["JobStatus"] == {"S": status}
    assert summary["UnprocessedRecordCount"] == {"N": "4"} and summary["FailedRecordCount"] == {"N": "5"}
    assert "UnprocessedUnnamedReason" not in summary


def test_without_record_ids_in_the_input_the_unprocessed_are_counted_and_explained(s3: Any, dynamodb: Any) -> None:
    put_input(s3, "a.jsonl", [None, None, None, "named"])
    put(s3, f"{OUT}a.jsonl.out", b"\n".join([record_line("GENERATED01"), record_line("named")]))
    record(s3, dynamodb, described("Stopped"))
    summary = items(dynamodb)["SUMMARY"]
    assert summary["UnprocessedRecordCount"] == {"N": "2"}
    assert "cannot be told" in summary["UnprocessedUnnamedReason"]["S"]
    assert not [key for key in items(dynamodb) if key.startswith("FAILURE#")]


def test_a_count_that_disagrees_with_the_manifest_or_the_api_is_named(s3: Any, dynamodb: Any) -> None:
    put_input(s3, "a.jsonl", ["a1", "a2"])
    put(s3, f"{OUT}a.jsonl.out", b"\n".join([record_line("a1"), record_line("a2", error=(400, "bad"))]))
    put_manifest(s3, totalRecordCount=2, processedRecordCount=2, successRecordCount=2, errorRecordCount=0)
    api = {"totalRecordCount": 2, "processedRecordCount": 2, "successRecordCount": 1, "errorRecordCount": 1}
    record(s3, dynamodb, described("Completed", **api))
    mismatches = [entry["S"] for entry in items(dynamodb)["SUMMARY"]["CountMismatches"]["L"]]
    assert mismatches == [
        "manifest.json.out says successRecordCount 2, the output files hold 1",
        "manifest.json.out says errorRecordCount 0, the output files hold 1",
    ]


def test_a_failed_job_is_recorded_with_its_message_and_needs_no_file(s3: Any, dynamodb: Any) -> None:
    result = record(s3, dynamodb, described("Failed", message="Input file has invalid JSON"))
    summary = items(dynamodb)["SUMMARY"]
    assert summary["JobStatus"] == {"S": "Failed"} and summary["RecordState"] == {"S": "COMPLETE"}
    assert summary["FailureDetails"]["M"]["Message"] == {"S": "Input file has invalid JSON"}
    assert result.failed == 0


def test_re_recording_writes_the_same_items(s3: Any, dynamodb: Any) -> None:
    put_input(s3, "a.jsonl", ["a1", "a2", "a3"])
    put(s3, f"{OUT}a.jsonl.out", b"\n".join([record_line("a1", error=(400, "bad")), record_line("a2")]))
    record(s3, dynamodb, described("PartiallyCompleted"))
    first = items(dynamodb)
    record(s3, dynamodb, described("PartiallyCompleted"))
    assert items(dynamodb) == first


def test_a_broken_line_fails_the_record_naming_the_file_and_line(s3: Any, dynamodb: Any) -> None:
    put(s3, f"{OUT}a.jsonl.out", record_line("a1") + b"\n{not json\n")
    with pytest.raises(OutputFileInvalid, match=r"a\.jsonl\.out line 2 is not a JSON object"):
        record(s3, dynamodb, described("Completed"))
    assert items(dynamodb)["SUMMARY"]["RecordState"] == {"S": "FAILED"}


def test_a_repeated_record_id_is_one_item_and_one_failure_and_is_counted_as_a_duplicate(s3: Any, dynamodb: Any) -> None:
    put_input(s3, "a.jsonl", ["a1", "a1", "a2"])
    lines_out = [record_line("a1", error=(400, "bad")), record_line("a1", error=(400, "bad")), record_line("a2")]
    put(s3, f"{OUT}a.jsonl.out", b"\n".join(lines_out))
    result = record(s3, dynamodb, described("Completed"))
    stored = items(dynamodb)
    assert [key for key in stored if key.startswith("FAILURE#")] == ["FAILURE#a1"]
    summary = stored["SUMMARY"]
    assert summary["FailedRecordCount"] == {"N": "1"} and summary["SucceededRecordCount"] == {"N": "1"}
    assert summary["DuplicateRecordIdCount"] == {"N": "1"}
    assert result.to_output(TABLE)["FailedRequests"] == 1


def test_an_unprocessed_input_record_id_too_long_for_a_key_fails_the_record_naming_its_line(
    s3: Any, dynamodb: Any
) -> None:
    put_input(s3, "a.jsonl", ["a1", "x" * 2_000])
    put(s3, f"{OUT}a.jsonl.out", record_line("a1"))
    with pytest.raises(OutputFileInvalid, match=r"bedrock-in/a\.jsonl line 2 has a recordId longer than"):
        record(s3, dynamodb, described("Stopped"))


def test_the_kinds_tracker_statuses_are_the_job_status_enum_s() -> None:
    """kinds.base cannot import models (models imports kinds), so the two lists are held equal here."""
    from job_tracker.kinds.base import TRACKER_STATUSES, TRACKER_TERMINAL_STATUSES

    assert tuple(status.value for status in JobStatus) == TRACKER_STATUSES
    assert {JobStatus.COMPLETED, JobStatus.COMPLETED_WITH_ERRORS, JobStatus.FAILED} == TRACKER_TERMINAL_STATUSES
    assert not JobStatus.IN_PROGRESS.is_terminal and JobStatus.FAILED.is_terminal
    assert BEDROCK.terminal_statuses == {"Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"}
