"""The CLI's commands on moto (DynamoDB, S3, Step Functions) with Voice ID stubbed: speaker enrollment
specifics (CustomerSpeakerId columns, SpeakerId in retry manifests, EnrollmentConfig on the new job), the
table queries (JobsByDomain, paging), and expected errors as one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from moto import mock_aws
from typer.testing import CliRunner

from batch_job_tracker_cli import records
from batch_job_tracker_cli.app import Options, app
from batch_job_tracker_cli.records import JobRecord, failed_requests, list_jobs, parse_since
from batch_job_tracker_cli.shared import JOB_KINDS, schema
from batch_job_tracker_cli.target import Target

REGION = "us-east-1"
DOMAIN = "DomainAAAAAAAAAAAAAAAA"
OTHER_DOMAIN = "DomainCCCCCCCCCCCCCCCC"
TABLE = "failures"
INPUT_BUCKET = "voiceid-input"
ROLE = "arn:aws:iam::123456789012:role/VoiceIdBatchDataAccess"
ENROLLMENT_JOB = "EnrollJobAAAAAAAAAAAAA"
SPEAKERS = JOB_KINDS["SPEAKER_ENROLLMENT"]
_serializer = TypeSerializer()
runner = CliRunner(env={"COLUMNS": "250"})


class StubbedTarget(Target):
    """moto for everything but Voice ID, whose client is stubbed."""

    def __init__(self, voice_id: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._voice_id = voice_id

    def voice_id(self) -> Any:
        return self._voice_id


def create_table(client: Any) -> None:
    """The failures table with the template's indexes and projections (tests/infra checks they match)."""
    indexes: list[tuple[str, list[str], dict[str, Any]]] = [
        (
            schema.ERROR_CODE_INDEX,
            [schema.ERROR_CODE_INDEX_PARTITION_KEY, schema.ERROR_CODE_INDEX_SORT_KEY],
            {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(schema.ERROR_CODE_INDEX_ATTRIBUTES)},
        ),
        (
            schema.JOBS_INDEX,
            [schema.JOBS_INDEX_PARTITION_KEY, schema.JOBS_INDEX_SORT_KEY],
            {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(schema.JOBS_INDEX_ATTRIBUTES)},
        ),
        (schema.SUBJECT_INDEX, [schema.SUBJECT_INDEX_PARTITION_KEY], {"ProjectionType": "KEYS_ONLY"}),
    ]
    names = [schema.PARTITION_KEY, schema.SORT_KEY, *(name for _, keys, _ in indexes for name in keys)]
    client.create_table(
        TableName=TABLE,
        KeySchema=[
            {"AttributeName": schema.PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": schema.SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in names],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": name, "KeyType": key_type}
                    for name, key_type in zip(keys, ("HASH", "RANGE"), strict=False)
                ],
                "Projection": projection,
            }
            for index, keys, projection in indexes
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def put(client: Any, item: dict[str, Any]) -> None:
    client.put_item(TableName=TABLE, Item={key: _serializer.serialize(value) for key, value in item.items()})


def summary(
    domain: str,
    job: str,
    created: str,
    *,
    kind: str = "FRAUDSTER_REGISTRATION",
    status: str = "COMPLETED_WITH_ERRORS",
    record_state: str = "COMPLETE",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "pk": f"JOB#{domain}#{job}",
        "sk": "SUMMARY",
        **schema.jobs_index_keys(domain, created, job),
        "RecordType": "JOB_SUMMARY",
        "RecordState": record_state,
        "JobKind": kind,
        "DomainId": domain,
        "JobId": job,
        "JobName": f"name-{job[:4]}",
        "JobStatus": status,
        "JobCreatedAt": created,
        "FailedRequestCount": 0,
        **extra,
    }


def enrollment_failure(request_id: str, code: int, speaker: str | None) -> dict[str, Any]:
    return {
        "pk": f"JOB#{DOMAIN}#{ENROLLMENT_JOB}",
        "sk": f"FAILURE#{request_id}",
        "RecordType": "FAILED_REQUEST",
        "JobKind": "SPEAKER_ENROLLMENT",
        "DomainId": DOMAIN,
        "JobId": ENROLLMENT_JOB,
        "RequestId": request_id,
        "ErrorCode": code,
        "ErrorMessage": f"error [{code}] for {request_id}",
        "CustomerSpeakerId": speaker,
    }


@pytest.fixture
def cloud() -> Iterator[dict[str, Any]]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        dynamodb = session.client("dynamodb")
        create_table(dynamodb)
        s3 = session.client("s3")
        s3.create_bucket(Bucket=INPUT_BUCKET)
        manifest = {
            "Version": "1.0",
            "SpeakerEnrollmentRequests": [
                {"RequestId": rid, "SpeakerId": f"cust-{rid}", "AudioSpecifications": [{"S3Uri": f"s3://a/{rid}.wav"}]}
                for rid in ("e-1", "e-2", "e-3", "e-4")
            ],
        }
        s3.put_object(Bucket=INPUT_BUCKET, Key="batch/speakers.json", Body=json.dumps(manifest).encode())
        put(
            dynamodb,
            summary(
                DOMAIN,
                ENROLLMENT_JOB,
                "2026-11-25T10:00:00+00:00",
                kind="SPEAKER_ENROLLMENT",
                FailedRequestCount=3,
                NewEnrollmentCount=1,
                OverwrittenEnrollmentCount=0,
                DuplicateSkippedRequestCount=0,
                InputUri=f"s3://{INPUT_BUCKET}/batch/speakers.json",
                JobName="nightly-speakers",
            ),
        )
        for request_id, code, speaker in (("e-1", 400, "cust-e-1"), ("e-3", 500, "cust-e-3"), ("e-4", 400, None)):
            put(dynamodb, enrollment_failure(request_id, code, speaker))
        voice_id = boto3.client("voice-id", region_name=REGION)
        stubber = Stubber(voice_id)
        target = StubbedTarget(
            voice_id,
            description="stack Test (us-east-1)",
            outputs={
                "FailuresTableName": TABLE,
                "StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:tracker",
                "VoiceIdDomainIds": f"{DOMAIN},{OTHER_DOMAIN}",
            },
            session=session,
        )
        with stubber:
            yield {"target": target, "dynamodb": dynamodb, "s3": s3, "stubber": stubber}


def tracker_state_machine(sfn: Any, *, waits: bool = False) -> str:
    """A stand-in for the tracker's state machine on moto: its executions succeed at once or, when `waits`, run
    for ten minutes (long enough to stop one while it runs)."""
    first = (
        {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}
        if waits
        else {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    )
    created = sfn.create_state_machine(
        name="tracker", definition=json.dumps(first), roleArn="arn:aws:iam::123456789012:role/tracker"
    )
    return str(created["stateMachineArn"])


def stopped_execution(sfn: Any, machine: str) -> str:
    """An execution of `machine` (a waiting one) that was stopped while it ran: ABORTED."""
    execution = str(sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"])
    sfn.stop_execution(executionArn=execution)
    return execution


def invoke(target: Target, *args: str) -> Any:
    return runner.invoke(app, list(args), obj=Options(target=target))


def test_enrollment_failures_carry_the_customer_speaker_id_in_json_and_csv(cloud: dict[str, Any]) -> None:
    result = invoke(cloud["target"], "failures", ENROLLMENT_JOB, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"RequestId": "e-1", "ErrorCode": 400, "ErrorMessage": "error [400] for e-1", "CustomerSpeakerId": "cust-e-1"},
        {"RequestId": "e-3", "ErrorCode": 500, "ErrorMessage": "error [500] for e-3", "CustomerSpeakerId": "cust-e-3"},
        {"RequestId": "e-4", "ErrorCode": 400, "ErrorMessage": "error [400] for e-4", "CustomerSpeakerId": None},
    ]
    result = invoke(cloud["target"], "failures", ENROLLMENT_JOB, "--format", "csv", "--code", "400")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "RequestId,ErrorCode,ErrorMessage,CustomerSpeakerId\n"
        "e-1,400,error [400] for e-1,cust-e-1\n"
        "e-4,400,error [400] for e-4,\n"
    )
    table = invoke(cloud["target"], "failures", ENROLLMENT_JOB)
    assert table.exit_code == 0, table.output
    assert "CustomerSpeakerId" in table.stdout
    assert "error [500] for e-3" in table.stdout  # shown as data, not read as Rich markup


def test_an_enrollment_retry_copies_speakers_and_starts_a_job_with_the_same_enrollment_config(
    cloud: dict[str, Any],
) -> None:
    stubber: Stubber = cloud["stubber"]
    source_job = {
        "JobId": ENROLLMENT_JOB,
        "DomainId": DOMAIN,
        "JobName": "nightly-speakers",
        "JobStatus": "COMPLETED_WITH_ERRORS",
        "DataAccessRoleArn": ROLE,
        "EnrollmentConfig": {
            "ExistingEnrollmentAction": "OVERWRITE",
            "FraudDetectionConfig": {"FraudDetectionAction": "IGNORE", "RiskThreshold": 60},
        },
        "InputDataConfig": {"S3Uri": f"s3://{INPUT_BUCKET}/batch/speakers.json"},
        "OutputDataConfig": {"S3Uri": "s3://out/voiceid-output/", "KmsKeyId": "key-1"},
    }
    stubber.add_response(
        "describe_speaker_enrollment_job", {"Job": source_job}, {"DomainId": DOMAIN, "JobId": ENROLLMENT_JOB}
    )
    expected_start = {
        "ClientToken": ANY,
        "JobName": ANY,
        "DomainId": DOMAIN,
        "DataAccessRoleArn": ROLE,
        "InputDataConfig": {"S3Uri": ANY},
        "OutputDataConfig": {"S3Uri": "s3://out/voiceid-output/", "KmsKeyId": "key-1"},
        "EnrollmentConfig": source_job["EnrollmentConfig"],
    }
    stubber.add_response(
        "start_speaker_enrollment_job",
        {"Job": {"JobId": "RetryJobAAAAAAAAAAAAAA", "JobStatus": "SUBMITTED", "DomainId": DOMAIN}},
        expected_start,
    )
    result = invoke(cloud["target"], "retry", ENROLLMENT_JOB, "--code", "400", "--start")
    assert result.exit_code == 0, result.output
    manifest_uri, new_job = result.stdout.splitlines()
    assert new_job == "RetryJobAAAAAAAAAAAAAA"
    assert manifest_uri.startswith(f"s3://{INPUT_BUCKET}/batch/speakers-retry-") and manifest_uri.endswith(".json")
    key = manifest_uri.removeprefix(f"s3://{INPUT_BUCKET}/")
    written = json.loads(cloud["s3"].get_object(Bucket=INPUT_BUCKET, Key=key)["Body"].read())
    assert written == {
        "Version": "1.0",
        "SpeakerEnrollmentRequests": [
            {"RequestId": "e-1", "SpeakerId": "cust-e-1", "AudioSpecifications": [{"S3Uri": "s3://a/e-1.wav"}]},
            {"RequestId": "e-4", "SpeakerId": "cust-e-4", "AudioSpecifications": [{"S3Uri": "s3://a/e-4.wav"}]},
        ],
    }
    stubber.assert_no_pending_responses()


def test_retry_refuses_past_the_kinds_quota(cloud: dict[str, Any]) -> None:
    job = "BigJobAAAAAAAAAAAAAAAA"
    put(cloud["dynamodb"], summary(DOMAIN, job, "2026-11-26T00:00:00+00:00", InputUri="s3://voiceid-input/x.json"))
    for n in range(501):
        put(
            cloud["dynamodb"],
            {"pk": f"JOB#{DOMAIN}#{job}", "sk": f"FAILURE#r{n:04d}", "RequestId": f"r{n:04d}", "ErrorCode": 400},
        )
    result = invoke(cloud["target"], "retry", job)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: 501 requests would pass the fraudster registration quota of 500 per job; choose fewer with --code"
    )


def test_jobs_lists_every_configured_domain_newest_first_with_filters(cloud: dict[str, Any]) -> None:
    dynamodb = cloud["dynamodb"]
    put(dynamodb, summary(DOMAIN, "OldJobAAAAAAAAAAAAAAAA", "2026-11-01T08:00:00+00:00", status="COMPLETED"))
    put(dynamodb, summary(OTHER_DOMAIN, "NewJobAAAAAAAAAAAAAAAA", "2026-11-30T08:00:00+00:00"))
    put(dynamodb, summary(DOMAIN, "RecJobAAAAAAAAAAAAAAAA", "2026-11-28T08:00:00+00:00", record_state="RECORDING"))
    table, target = TABLE, cloud["target"]
    ids = [s["JobId"] for s in list_jobs(dynamodb, table, [DOMAIN, OTHER_DOMAIN])]
    assert ids == ["NewJobAAAAAAAAAAAAAAAA", "RecJobAAAAAAAAAAAAAAAA", ENROLLMENT_JOB, "OldJobAAAAAAAAAAAAAAAA"]
    assert [s["JobId"] for s in list_jobs(dynamodb, table, [DOMAIN], since="2026-11-25T10:00:00")] == [
        "RecJobAAAAAAAAAAAAAAAA",
        ENROLLMENT_JOB,
    ]
    assert [s["JobId"] for s in list_jobs(dynamodb, table, [DOMAIN, OTHER_DOMAIN], kind="SPEAKER_ENROLLMENT")] == [
        ENROLLMENT_JOB
    ]
    assert [s["JobId"] for s in list_jobs(dynamodb, table, [DOMAIN, OTHER_DOMAIN], status="COMPLETED")] == [
        "OldJobAAAAAAAAAAAAAAAA"
    ]
    assert len(list_jobs(dynamodb, table, [DOMAIN, OTHER_DOMAIN], limit=2)) == 2

    result = invoke(target, "jobs", "--kind", "speaker-enrollment", "--format", "json")
    assert result.exit_code == 0, result.output
    (listed,) = json.loads(result.stdout)
    assert (listed["JobId"], listed["FailedRequestCount"], listed["NewEnrollmentCount"]) == (ENROLLMENT_JOB, 3, 1)
    result = invoke(target, "jobs", "--domain", DOMAIN)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if ENROLLMENT_JOB in line)
    # Succeeded adds up the enrollments (new 1, overwritten 0); the skipped ones have a column of their own.
    assert "│ 3      │ 1         │ duplicate skipped 0 │" in row
    assert "NewJobAAAAAAAAAAAAAAAA" not in result.stdout  # another domain
    result = invoke(target, "jobs", "--domain", "DomainZZZZZZZZZZZZZZZZ")
    assert result.exit_code == 1
    assert "domain DomainZZZZZZZZZZZZZZZZ is not one stack Test (us-east-1) follows" in result.stderr


def test_jobs_shows_a_bedrock_job_s_counts_which_the_index_does_not_copy(cloud: dict[str, Any]) -> None:
    dynamodb, target = cloud["dynamodb"], cloud["target"]
    counts: dict[str, Any] = {"FailedRecordCount": 7, "SucceededRecordCount": 113, "UnprocessedRecordCount": 0}
    bedrock = summary(DOMAIN, "abcdef123456", "2026-11-02T08:00:00+00:00", kind="BEDROCK_BATCH_INFERENCE", **counts)
    put(dynamodb, bedrock)
    result = invoke(target, "jobs", "--kind", "bedrock-batch-inference", "--format", "json")
    assert result.exit_code == 0, result.output
    (listed,) = json.loads(result.stdout)
    assert {key: listed.get(key) for key in counts} == counts
    table = invoke(target, "jobs", "--kind", "bedrock-batch-inference")
    row = next(line for line in table.stdout.splitlines() if "abcdef123456" in line)
    assert "│ 7      │ 113       │ unprocessed 0 " in row and "token" not in table.stdout


def test_jobs_status_is_the_exact_word_or_every_service_s_word_for_it(cloud: dict[str, Any]) -> None:
    dynamodb, target = cloud["dynamodb"], cloud["target"]
    put(dynamodb, summary(DOMAIN, "VoiceJobAAAAAAAAAAAAAAA", "2026-11-01T08:00:00+00:00", status="COMPLETED"))
    put(dynamodb, summary(DOMAIN, "BedrockJobAAAAAAAAAAAAA", "2026-11-02T08:00:00+00:00", status="Completed"))

    def listed(status: str) -> list[str]:
        result = invoke(target, "jobs", "--status", status, "--format", "json")
        assert result.exit_code == 0, result.output
        return sorted(job["JobId"] for job in json.loads(result.stdout))

    assert listed("COMPLETED") == ["VoiceJobAAAAAAAAAAAAAAA"]
    assert listed("Completed") == ["BedrockJobAAAAAAAAAAAAA"]
    assert listed("completed") == ["BedrockJobAAAAAAAAAAAAA", "VoiceJobAAAAAAAAAAAAAAA"]
    refused = invoke(target, "jobs", "--status", "DONE")
    assert refused.exit_code == 1 and "--status must be one of SUBMITTED, IN_PROGRESS" in refused.stderr
    assert "PartiallyCompleted" in refused.stderr


def test_since_is_a_sort_key_bound() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert parse_since("2026-11-25", now) == "2026-11-25T00:00:00"
    assert parse_since("2026-11-25T12:30:00+02:00", now) == "2026-11-25T10:30:00"
    assert parse_since("7d", now) == "2026-11-23T12:00:00"
    assert parse_since("90m", now) == "2026-11-30T10:30:00"
    sort_key = "2026-11-25T00:00:00+00:00#JobId"
    assert parse_since("2026-11-25", now) < sort_key < parse_since("2026-11-25T00:00:01", now)


class PagedTable:
    """A DynamoDB client answering Query one item a page, to see that every page is read."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = [{k: _serializer.serialize(v) for k, v in item.items()} for item in items]
        self.requests: list[dict[str, Any]] = []

    def query(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        start = int(request.get("ExclusiveStartKey", {}).get("n", {"N": "0"})["N"])
        page: dict[str, Any] = {"Items": self.items[start : start + 1]}
        if start + 1 < len(self.items):
            page["LastEvaluatedKey"] = {"n": {"N": str(start + 1)}}
        return page


def test_failures_are_read_from_every_page() -> None:
    client = PagedTable([enrollment_failure(f"p-{n}", 400, f"s-{n}") for n in range(5)])
    record = JobRecord(DOMAIN, ENROLLMENT_JOB, summary=None, lock=None)
    found = failed_requests(client, TABLE, record, SPEAKERS, [400])  # type: ignore[arg-type]
    assert [f.request_id for f in found] == [f"p-{n}" for n in range(5)]
    assert [f.fields for f in found][:1] == [{"CustomerSpeakerId": "s-0"}]
    assert len(client.requests) == 5
    assert client.requests[0]["KeyConditionExpression"] == "#pk = :pk AND begins_with(#sk, :failure)"
    assert client.requests[0]["FilterExpression"] == "ErrorCode IN (:code0)"


def test_unknown_and_malformed_jobs_are_one_line_errors(cloud: dict[str, Any]) -> None:
    result = invoke(cloud["target"], "show", "NoSuchJobAAAAAAAAAAAAA")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: job NoSuchJobAAAAAAAAAAAAA is not known to the tracker")
    assert len(result.stderr.strip().splitlines()) == 1
    result = invoke(cloud["target"], "failures", "not-a-job")
    assert (result.exit_code, result.stderr.strip()) == (
        1,
        "error: JOB must be 22 letters or digits (^[a-zA-Z0-9]{22}$) or 12 lowercase letters or digits "
        "(^[a-z0-9]{12}$) or a UUID (8-4-4-4-12 hexadecimal digits), got 'not-a-job'",
    )


def test_access_denied_is_one_line(cloud: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not authorized to BatchGetItem"}}, "BatchGetItem"
        )

    monkeypatch.setattr(records, "lookup_job", refuse)
    result = invoke(cloud["target"], "show", ENROLLMENT_JOB)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: access denied: BatchGetItem was refused (not authorized to BatchGetItem); "
        "check the role or profile in use\n"
    )


def test_a_stack_without_a_sweep_says_so(cloud: dict[str, Any]) -> None:
    result = invoke(cloud["target"], "sweep")
    assert (result.exit_code, result.stderr) == (
        1,
        "error: stack Test (us-east-1) has no sweep (no SweepFunctionName output)\n",
    )


def test_stack_target_reads_the_outputs_and_refuses_missing_stacks(monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        template = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {
                "FailuresTableName": {"Value": TABLE},
                "StateMachineArn": {"Value": "arn:aws:states:us-east-1:123456789012:stateMachine:tracker"},
                "VoiceIdDomainIds": {"Value": DOMAIN},
            },
        }
        cloudformation.create_stack(StackName="Tracker", TemplateBody=json.dumps(template))
        create_table(boto3.client("dynamodb", region_name=REGION))
        result = runner.invoke(app, ["--stack", "Tracker", "jobs", "--format", "json"])
        assert (result.exit_code, result.stdout) == (0, "[]\n"), result.output
        result = runner.invoke(app, ["--stack", "Nope", "jobs"])
        assert (result.exit_code, result.stderr) == (
            1,
            f"error: no stack named Nope in {REGION}: pass --stack NAME (the default is VoiceIdJobTracker) "
            "or --local\n",
        )
        monkeypatch.delenv("AWS_DEFAULT_REGION")
        monkeypatch.delenv("AWS_REGION", raising=False)
        result = runner.invoke(app, ["jobs"])
        assert (result.exit_code, result.stderr) == (
            1,
            "error: no AWS region: set AWS_REGION or AWS_DEFAULT_REGION (or a profile's region), or use --local\n",
        )
