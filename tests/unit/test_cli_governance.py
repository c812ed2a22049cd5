"""Governing the record from the CLI: erasure of a customer's items (both ways a kind can name one),
failures of one ErrorCode across jobs (the sharded index), and recent executions by status."""

# ruff: noqa: F811 - the tests take `cloud`, the CLI commands' moto cloud fixture imported below, by name
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from botocore.stub import Stubber

from batch_job_tracker_cli.erasure import delete_items, items_naming
from batch_job_tracker_cli.errors import CliError
from batch_job_tracker_cli.shared import JOB_KINDS, schema
from batch_job_tracker_cli.target import Target
from job_tracker.adapters.dynamodb import DynamoDbFailureStore
from job_tracker.models import JobDescription, JobRef, JobStatus, S3Location
from job_tracker.output_file import FailedRequest
from job_tracker.recording import failure_item
from tests.unit.test_cli_commands import (
    DOMAIN,
    ENROLLMENT_JOB,
    OTHER_DOMAIN,
    SPEAKERS,
    TABLE,
    cloud,  # noqa: F401 - the CLI commands' moto cloud (a fixture)
    invoke,
    stopped_execution,
    tracker_state_machine,
)

# Bedrock's records may be a customer's own (a recordId the operator chose, a call or a case): its kind names
# RecordId as the items' subject, so an erasure finds them by it, with no branch on the kind's name.
RECORDS = JOB_KINDS["BEDROCK_BATCH_INFERENCE"]
_serializer = TypeSerializer()


def described(job_id: str, kind: Any, created: str, domain: str = DOMAIN) -> JobDescription:
    return JobDescription(
        ref=JobRef(domain, job_id),
        kind=kind,
        status=JobStatus.COMPLETED_WITH_ERRORS,
        percent_complete=100,
        job_name=f"name-{job_id[:4]}",
        created_at=created,
        ended_at=created,
        failure_details=None,
        output=S3Location("out", f"{job_id}/m.json.out"),
    )


def record(dynamodb: Any, job: JobDescription, failures: Sequence[tuple[str, int, Mapping[str, str]]]) -> None:
    """Write failure items exactly as the record step builds them, through its store."""
    writer = DynamoDbFailureStore(dynamodb, TABLE).writer()
    for request_id, code, fields in failures:
        writer.put(failure_item(job, FailedRequest(request_id, code, f"error {code} for {request_id}"), dict(fields)))
    writer.flush()


def all_items(dynamodb: Any) -> list[dict[str, Any]]:
    """Every item (a Scan: the test's own check of what is left, not how the CLI finds them)."""
    items: list[dict[str, Any]] = dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return items


def test_erase_deletes_every_item_naming_the_customer_in_either_kind_and_is_idempotent(
    cloud: dict[str, Any],
) -> None:
    dynamodb = cloud["dynamodb"]
    enrollment_a = described("EnrollJobBBBBBBBBBBBBB", SPEAKERS, "2026-11-20T10:00:00+00:00")
    enrollment_b = described("EnrollJobCCCCCCCCCCCCC", SPEAKERS, "2026-11-21T10:00:00+00:00", domain=OTHER_DOMAIN)
    records = described("RecordsJobDDDDDDDDDDDD", RECORDS, "2026-11-22T10:00:00+00:00")
    record(
        dynamodb,
        enrollment_a,
        [("a-1", 409, {"CustomerSpeakerId": "cust-42"}), ("a-2", 400, {"CustomerSpeakerId": "cust-7"})],
    )
    record(dynamodb, enrollment_b, [("b-1", 400, {"CustomerSpeakerId": "cust-42"})])
    record(dynamodb, records, [("r-1", 400, {"RecordId": "rec-42"}), ("r-2", 500, {"RecordId": "rec-9"})])
    before = len(all_items(dynamodb))

    result = invoke(cloud["target"], "erase", "--customer-speaker-id", "cust-42", "--format", "json")
    assert result.exit_code == 0, result.output
    deleted = json.loads(result.stdout)
    assert deleted["Attribute"] == "CustomerSpeakerId"
    assert sorted((item["DomainId"], item["JobId"], item["Item"]) for item in deleted["Deleted"]) == [
        (DOMAIN, enrollment_a.ref.job_id, "FAILURE#a-1"),
        (OTHER_DOMAIN, enrollment_b.ref.job_id, "FAILURE#b-1"),
    ]
    left = all_items(dynamodb)
    assert not [item for item in left if item.get("CustomerSpeakerId") == {"S": "cust-42"}]
    assert len(left) == before - 2 + 1  # and the erasure register's item, which holds a hash of cust-42
    assert not [item for item in left if "cust-42" in json.dumps(item)]
    assert any(item.get("CustomerSpeakerId") == {"S": "cust-7"} for item in left)  # nobody else's

    again = invoke(cloud["target"], "erase", "--customer-speaker-id", "cust-42")
    assert again.exit_code == 0, again.output
    assert "No item names CustomerSpeakerId cust-42: nothing to delete." in again.stdout
    assert len(all_items(dynamodb)) == before - 2 + 1

    by_record = invoke(cloud["target"], "erase", "--record-id", "rec-42")
    assert by_record.exit_code == 0, by_record.output
    assert "Deleted 1 item(s) naming RecordId rec-42" in by_record.stdout
    assert "RecordsJobDDDDDDDDDDDD" in by_record.stdout
    assert "looking anyway" not in by_record.stderr  # a kind the CLI knows records it
    left = all_items(dynamodb)
    assert not [item for item in left if item.get("RecordId") == {"S": "rec-42"}]
    assert [item["RecordId"] for item in left if "RecordId" in item] == [{"S": "rec-9"}]


def test_erase_needs_exactly_one_subject(cloud: dict[str, Any]) -> None:
    neither = invoke(cloud["target"], "erase")
    assert neither.exit_code == 2
    assert "give exactly one of --customer-speaker-id, --record-id or" in neither.output
    both = invoke(cloud["target"], "erase", "--customer-speaker-id", "a", "--record-id", "b")
    assert both.exit_code == 2
    bad_job = invoke(cloud["target"], "erase", "--record-id", "b", "--job", "short")
    assert bad_job.exit_code == 1
    assert "--job must be 22 letters or digits" in bad_job.stderr


def test_erase_of_one_job_only_leaves_the_same_record_id_of_other_jobs(cloud: dict[str, Any]) -> None:
    dynamodb = cloud["dynamodb"]
    first = described("RecordsJobEEEEEEEEEEEE", RECORDS, "2026-11-22T10:00:00+00:00")
    second = described("RecordsJobFFFFFFFFFFFF", RECORDS, "2026-11-23T10:00:00+00:00")
    record(dynamodb, first, [("r-1", 400, {"RecordId": "CALL0001"})])
    record(dynamodb, second, [("r-1", 400, {"RecordId": "CALL0001"})])
    result = invoke(cloud["target"], "erase", "--record-id", "CALL0001", "--job", first.ref.job_id, "--format", "json")
    assert result.exit_code == 0, result.output
    assert [item["JobId"] for item in json.loads(result.stdout)["Deleted"]] == [first.ref.job_id]
    left = [item["pk"]["S"] for item in all_items(dynamodb) if item.get("RecordId") == {"S": "CALL0001"}]
    assert left == [second.ref.partition_key]


def test_failures_by_code_merges_the_shards_across_jobs_within_the_window(cloud: dict[str, Any]) -> None:
    dynamodb = cloud["dynamodb"]
    old = described("OldJobGGGGGGGGGGGGGGGG", SPEAKERS, "2026-10-01T10:00:00+00:00")
    big = described("BigJobHHHHHHHHHHHHHHHH", SPEAKERS, "2026-11-20T10:00:00+00:00")
    later = described("LaterJobIIIIIIIIIIIIII", JOB_KINDS["FRAUDSTER_REGISTRATION"], "2026-11-24T10:00:00+00:00")
    record(dynamodb, old, [("o-1", 409, {})])
    record(dynamodb, big, [(f"b-{n:03d}", 409, {}) for n in range(60)] + [("b-x", 400, {})])
    record(dynamodb, later, [("l-1", 409, {})])
    partitions = {item["gsi1pk"]["S"] for item in all_items(dynamodb) if item.get("JobId") == {"S": big.ref.job_id}}
    assert len(partitions) > 2  # one job's failures of one code are not on one partition

    result = invoke(cloud["target"], "failures-by-code", "409", "--since", "2026-11-01", "--format", "json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert [(f["JobId"], f["RequestId"]) for f in found] == [
        *((big.ref.job_id, f"b-{n:03d}") for n in range(60)),
        (later.ref.job_id, "l-1"),
    ]
    assert set(found[0]) == set(schema.ERROR_CODE_INDEX_ATTRIBUTES)  # what the index projects, and no more
    window = invoke(
        cloud["target"], "failures-by-code", "409", "--since", "2026-11-21", "--until", "2026-11-25",
        "--kind", "FRAUDSTER_REGISTRATION",
    )  # fmt: skip
    assert window.exit_code == 0, window.output
    assert "1 failed request(s) with ErrorCode 409" in window.stdout and "l-1" in window.stdout
    limited = invoke(
        cloud["target"], "failures-by-code", "409", "--since", "2026-09-01", "--limit", "2", "--format", "json"
    )
    assert [f["RequestId"] for f in json.loads(limited.stdout)] == ["o-1", "b-000"]


def test_failures_by_code_finds_a_bedrock_job_s_unprocessed_records_and_refuses_a_bad_code(
    cloud: dict[str, Any],
) -> None:
    dynamodb = cloud["dynamodb"]
    stopped = described("StoppedJobJJJJJJJJJJJJ", RECORDS, "2026-11-25T10:00:00+00:00")
    record(dynamodb, stopped, [("e-1", 400, {})])
    # The record step writes UNPROCESSED as the code of a record Bedrock never processed.
    writer = DynamoDbFailureStore(dynamodb, TABLE).writer()
    for request_id in ("u-1", "u-2"):
        writer.put(failure_item(stopped, FailedRequest(request_id, "UNPROCESSED", "never processed"), {}))
    writer.flush()
    result = invoke(cloud["target"], "failures-by-code", "unprocessed", "--since", "2026-11-01", "--format", "json")
    assert result.exit_code == 0, result.output
    assert sorted(f["RequestId"] for f in json.loads(result.stdout)) == ["u-1", "u-2"]
    refused = invoke(cloud["target"], "failures-by-code", "4xx")
    assert (
        refused.exit_code == 1
        and "CODE takes HTTP status codes, a service's error codes (NoSuchKey) or UNPROCESSED, got '4xx'"
        in refused.stderr
    )


def _execution(name: str, started: datetime, status: str = "FAILED") -> dict[str, Any]:
    return {
        "executionArn": f"arn:aws:states:us-east-1:123456789012:execution:tracker:{name}",
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:tracker",
        "name": name,
        "status": status,
        "startDate": started,
    }


def test_executions_lists_failed_ones_since_a_time_and_stops_listing_at_the_first_older_one() -> None:
    now = datetime.now(UTC)
    client = boto3.client("stepfunctions", region_name="us-east-1")
    target = Target(
        description="stack Test",
        outputs={"StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:tracker"},
        session=boto3.Session(region_name="us-east-1"),
    )
    target._clients["stepfunctions"] = client
    recent = [_execution(f"e{n}", now - timedelta(hours=n + 1)) for n in range(3)]
    older = _execution("old", now - timedelta(days=2))
    with Stubber(client) as stubber:
        stubber.add_response(
            "list_executions",
            {"executions": [*recent, older], "nextToken": "more"},  # the next page is never asked for
            {"stateMachineArn": target.state_machine_arn, "maxResults": 100, "statusFilter": "FAILED"},
        )
        for n, execution in enumerate(recent):
            stubber.add_response(
                "describe_execution",
                {
                    **execution,
                    "input": json.dumps({"DomainId": DOMAIN, "JobId": f"Job{n}" + "A" * 19}),
                    "error": "VoiceId.AccessDeniedException",
                    "cause": f"denied {n}",
                    "stopDate": execution["startDate"] + timedelta(minutes=1),
                },
                {"executionArn": execution["executionArn"]},
            )
        result = invoke(target, "executions", "--status", "failed", "--since", "1d", "--format", "json")
        stubber.assert_no_pending_responses()
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [e["Name"] for e in listed] == ["e0", "e1", "e2"]
    assert listed[0]["Input"]["JobId"] == "Job0" + "A" * 19
    assert listed[2]["Outcome"] == "VoiceId.AccessDeniedException: denied 2"
    bad = invoke(target, "executions", "--status", "BROKEN")
    assert bad.exit_code == 1 and "--status must be one of RUNNING" in bad.stderr


def test_show_finds_the_jobs_executions_in_a_bounded_number_of_calls_among_1000(cloud: dict[str, Any]) -> None:
    target: Target = cloud["target"]
    sfn = target.stepfunctions()
    machine = tracker_state_machine(sfn)
    target.outputs["StateMachineArn"] = machine
    job = "ShowJobJJJJJJJJJJJJJJJ"

    def start(job_id: str) -> str:
        payload = json.dumps({"DomainId": DOMAIN, "JobId": job_id})
        return str(sfn.start_execution(stateMachineArn=machine, input=payload)["executionArn"])

    failed_first = start(job)
    others = [start(f"Other{n:017d}") for n in range(499)]
    recorder = start(job)
    others += [start(f"Later{n:017d}") for n in range(499)]
    assert len(others) + 2 == 1000
    dynamodb = cloud["dynamodb"]
    serialize = TypeSerializer().serialize
    lock = {
        "pk": f"JOB#{DOMAIN}#{job}",
        "sk": "LOCK",
        "LockState": "RECORDED",
        "JobKind": "FRAUDSTER_REGISTRATION",  # as the state machine writes it
        "ExecutionArn": recorder,
        "ExecutionArns": [failed_first, recorder],
    }
    dynamodb.put_item(TableName=TABLE, Item={k: serialize(v) for k, v in lock.items()})
    calls: list[str] = []
    sfn.meta.events.register("before-call.states.*", lambda model, **_: calls.append(model.name))

    result = invoke(target, "show", job, "--format", "json")
    assert result.exit_code == 0, result.output
    assert [e["ExecutionArn"] for e in json.loads(result.stdout)["Executions"]] == [failed_first, recorder]
    assert sorted(calls) == ["DescribeExecution", "DescribeExecution"]  # no listing of the 1,000


def test_jobs_all_adds_the_jobs_a_tracker_took_and_did_not_record_with_its_last_status(
    cloud: dict[str, Any],
) -> None:
    target: Target = cloud["target"]
    sfn = target.stepfunctions()
    machine = tracker_state_machine(sfn, waits=True)
    stopped = stopped_execution(sfn, machine)
    dynamodb = cloud["dynamodb"]
    serialize = TypeSerializer().serialize

    def lock(job: str, state: str, arn: str, at: str) -> None:
        item = {
            "pk": f"JOB#{DOMAIN}#{job}",
            "sk": "LOCK",
            "gsi2pk": f"DOMAIN#{DOMAIN}",
            "gsi2sk": f"{at}#{job}",  # as the state machine writes it: the time the lock was taken
            "LockState": state,
            "ExecutionArn": arn,
            "LockedAt": at,
            "DomainId": DOMAIN,
            "JobId": job,
            "JobKind": "FRAUDSTER_REGISTRATION",
        }
        dynamodb.put_item(TableName=TABLE, Item={k: serialize(v) for k, v in item.items()})

    lock("AbortedJobAAAAAAAAAAAA", "TRACKING", stopped, "2026-11-26T09:00:00.000Z")
    lock(
        "ExpiredJobBBBBBBBBBBBB",
        "RELEASED",
        f"{machine.replace('stateMachine', 'execution')}:gone",
        "2026-11-26T08:00:00.000Z",
    )
    # The fixture's recorded enrollment job has a lock too: listed once, as its summary.
    lock(ENROLLMENT_JOB, "RECORDED", stopped, "2026-11-25T10:00:01.000Z")

    recorded_only = invoke(target, "jobs", "--format", "json")
    assert recorded_only.exit_code == 0, recorded_only.output
    assert [job["JobId"] for job in json.loads(recorded_only.stdout)] == [ENROLLMENT_JOB]

    every = invoke(target, "jobs", "--all", "--format", "json")
    assert every.exit_code == 0, every.output
    listed = json.loads(every.stdout)
    assert [(job["JobId"], job.get("RecordState"), job.get("TrackerStatus")) for job in listed] == [
        ("AbortedJobAAAAAAAAAAAA", None, "ABORTED"),
        ("ExpiredJobBBBBBBBBBBBB", None, "EXPIRED"),
        (ENROLLMENT_JOB, "COMPLETE", None),
    ]
    table = invoke(target, "jobs", "--all")
    assert "none: lock TRACKING, tracker ABORTED" in table.stdout


def test_deletions_dynamodb_keeps_leaving_unprocessed_end_in_a_clear_error_and_a_re_run_finishes(
    cloud: dict[str, Any],
) -> None:
    dynamodb = cloud["dynamodb"]
    job = described("EnrollJobGGGGGGGGGGGGG", SPEAKERS, "2026-11-24T10:00:00+00:00")
    record(dynamodb, job, [(f"g-{n}", 400, {"CustomerSpeakerId": "cust-99"}) for n in range(30)])
    found = items_naming(dynamodb, TABLE, "CustomerSpeakerId", "cust-99")
    assert len(found) == 30

    class Throttled:
        """DynamoDB leaving every deletion unprocessed."""

        def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
            return {"UnprocessedItems": RequestItems}

    with pytest.raises(CliError, match=r"unprocessed after 2 attempts.*Run the same erase again"):
        delete_items(Throttled(), TABLE, found, max_attempts=2)  # type: ignore[arg-type]
    delete_items(dynamodb, TABLE, [*found, found[0]])  # a repeated key is sent once
    assert items_naming(dynamodb, TABLE, "CustomerSpeakerId", "cust-99") == []


def test_erase_finds_an_enrollment_item_whose_speaker_could_not_be_read_by_its_error_message(
    cloud: dict[str, Any],
) -> None:
    """The input manifest lay outside the input locations: the items have no CustomerSpeakerId, but Voice ID's
    409 message names the customer. erase finds that item, and leaves the one naming another customer."""
    dynamodb = cloud["dynamodb"]
    unread = described("EnrollJobGGGGGGGGGGGGG", SPEAKERS, "2026-11-24T10:00:00+00:00")
    writer = DynamoDbFailureStore(dynamodb, TABLE).writer()
    for request_id, customer in (("g-1", "cust-42"), ("g-2", "cust-420")):
        message = f"You cannot request an enrollment for an opted out speaker ({customer})"
        writer.put(failure_item(unread, FailedRequest(request_id, 409, message)))
    writer.flush()
    result = invoke(cloud["target"], "erase", "--customer-speaker-id", "cust-42", "--format", "json")
    assert result.exit_code == 0, result.output
    erased = json.loads(result.stdout)
    assert [item["Item"] for item in erased["Deleted"]] == ["FAILURE#g-1"]
    assert erased["UnreadSubjectItemsRead"] == 2
    left = [item["sk"]["S"] for item in all_items(dynamodb) if item["pk"]["S"] == unread.ref.partition_key]
    assert left == ["FAILURE#g-2"]  # cust-420 is another customer
    again = invoke(cloud["target"], "erase", "--customer-speaker-id", "cust-42")
    assert "No item names CustomerSpeakerId cust-42: nothing to delete." in again.stdout
    assert "Read 1 item(s) whose CustomerSpeakerId could not be recorded" in again.stdout


RETRIES = "bedrock-retries"


def test_erase_deletes_the_retry_files_holding_the_customer_s_records(cloud: dict[str, Any]) -> None:
    """The retry JSONL files hold records verbatim: those with a line naming the RecordId go, under the stack's
    BedrockRetryInputLocation and each --retry-location; --job keeps the files of other jobs."""
    s3 = cloud["s3"]
    s3.create_bucket(Bucket=RETRIES)
    cloud["target"].outputs["BedrockRetryInputLocation"] = f"s3://{RETRIES}/retries/"
    line = b'{"recordId": "CALL0042", "modelInput": {"messages": []}}\n'
    other = b'{"recordId": "CALL00421", "modelInput": {"messages": []}}\n'
    files = {
        "retries/nightly-retry-aaaaaaaaaaaa.jsonl": (line + other, "abcdefabcdef"),
        "retries/nightly-retry-bbbbbbbbbbbb.jsonl": (other, "abcdefabcdef"),
        "retries/weekly-retry-cccccccccccc.jsonl": (line, "fedcbafedcba"),
        "elsewhere/nightly-retry-dddddddddddd.jsonl": (other + line, "abcdefabcdef"),
    }
    for key, (body, job_id) in files.items():
        s3.put_object(Bucket=RETRIES, Key=key, Body=body, Metadata={"tracker-source-job-id": job_id})

    def left() -> set[str]:
        return {entry["Key"] for entry in s3.list_objects_v2(Bucket=RETRIES).get("Contents", [])}

    one_job = invoke(cloud["target"], "erase", "--record-id", "CALL0042", "--job", "abcdefabcdef", "--format", "json")
    assert one_job.exit_code == 0, one_job.output
    assert json.loads(one_job.stdout)["RetryFilesDeleted"] == [
        f"s3://{RETRIES}/retries/nightly-retry-aaaaaaaaaaaa.jsonl"
    ]
    assert left() == set(files) - {"retries/nightly-retry-aaaaaaaaaaaa.jsonl"}
    every = invoke(
        cloud["target"], "erase", "--record-id", "CALL0042", "--retry-location", f"s3://{RETRIES}/elsewhere/"
    )
    assert every.exit_code == 0, every.output
    assert f"Deleted the retry file s3://{RETRIES}/retries/weekly-retry-cccccccccccc.jsonl" in every.stdout
    assert left() == {"retries/nightly-retry-bbbbbbbbbbbb.jsonl"}  # CALL00421 is another record
    again = invoke(cloud["target"], "erase", "--record-id", "CALL0042", "--format", "json")
    assert json.loads(again.stdout)["RetryFilesDeleted"] == []
    # A folder whose bucket is gone holds no retry file: the erasure goes on.
    gone = invoke(cloud["target"], "erase", "--record-id", "CALL0042", "--retry-location", "s3://no-such-bucket/r/")
    assert gone.exit_code == 0, gone.output
