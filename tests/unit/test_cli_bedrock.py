"""The CLI on a Bedrock job, on moto (DynamoDB, S3) with Bedrock stubbed against botocore's model: failures
with their file and line, the retry JSONL byte for byte from the input, --code UNPROCESSED, the refusal
below the minimum record count, and an idempotent CreateModelInvocationJob."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from batch_job_tracker_cli.bedrock_retry import pick_lines, plan
from batch_job_tracker_cli.errors import CliError
from batch_job_tracker_cli.progress import DESCRIBERS
from batch_job_tracker_cli.records import JobRecord
from batch_job_tracker_cli.retry import S3Uri
from batch_job_tracker_cli.shared import JOB_KINDS
from batch_job_tracker_cli.target import Target
from job_tracker.bedrock_retry_lines import RecordSource, retry_job_name
from tests.unit.test_cli_commands import create_table, invoke, put, summary

REGION = "us-east-1"
ACCOUNT = "123456789012"
JOB = "abcdef123456"
INPUT = "bedrock-in"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/BedrockBatch"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
# Input lines as an operator wrote them: spacing and key order that re-serializing would not keep.
LINES = {
    "r1": b'{"recordId": "r1", "modelInput": {"messages": [{"role": "user", "content": "caf\\u00e9 1.50"}]}}',
    "r2": b'{"modelInput":{"messages":[{"role":"user","content":"two"}]},  "recordId":"r2"}',
    "r3": b'{"recordId": "r3", "modelInput": {"max_tokens": 1e3, "messages": []}}',
    "r4": b'{"recordId": "r4", "modelInput": {"messages": [{"role": "user", "content": "four"}]}}',
}


class BedrockTarget(Target):
    def __init__(self, bedrock: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._bedrock = bedrock

    def bedrock(self) -> Any:
        return self._bedrock


def failure(record_id: str, code: int | str, where: dict[str, Any]) -> dict[str, Any]:
    return {
        "pk": f"JOB#{ACCOUNT}#{JOB}",
        "sk": f"FAILURE#{record_id}",
        "RecordType": "FAILED_REQUEST",
        "JobKind": "BEDROCK_BATCH_INFERENCE",
        "DomainId": ACCOUNT,
        "JobId": JOB,
        "RequestId": record_id,
        "RecordId": record_id,
        "gsi3pk": f"RecordId#{record_id}",  # FailuresBySubject, as the record step keys it
        "ErrorCode": code,
        "ErrorMessage": "bad" if code != "UNPROCESSED" else "never processed",
        **where,
    }


@pytest.fixture
def cloud() -> Iterator[dict[str, Any]]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        dynamodb = session.client("dynamodb")
        create_table(dynamodb)
        s3 = session.client("s3")
        s3.create_bucket(Bucket=INPUT)
        s3.put_object(Bucket=INPUT, Key="in/a.jsonl", Body=LINES["r1"] + b"\n" + LINES["r2"] + b"\n")
        s3.put_object(Bucket=INPUT, Key="in/b.jsonl", Body=LINES["r3"] + b"\r\n" + LINES["r4"])
        put(
            dynamodb,
            summary(
                ACCOUNT,
                JOB,
                "2026-11-25T10:00:00+00:00",
                kind="BEDROCK_BATCH_INFERENCE",
                status="Stopped",
                FailedRecordCount=3,
                SucceededRecordCount=1,
                UnprocessedRecordCount=2,
                InputUri=f"s3://{INPUT}/in/",
                JobName="tracked-nightly",
            ),
        )
        put(dynamodb, failure("r1", 400, {"OutputFile": f"s3://out/x/{JOB}/a.jsonl.out", "LineNumber": 2}))
        put(dynamodb, failure("r3", "UNPROCESSED", {"InputFile": f"s3://{INPUT}/in/b.jsonl", "LineNumber": 1}))
        put(dynamodb, failure("r4", "UNPROCESSED", {"InputFile": f"s3://{INPUT}/in/b.jsonl", "LineNumber": 2}))
        bedrock = boto3.client("bedrock", region_name=REGION)
        stubber = Stubber(bedrock)
        target = BedrockTarget(
            bedrock,
            description="stack Test (us-east-1)",
            outputs={
                "FailuresTableName": TABLE_NAME,
                "StateMachineArn": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:tracker",
                "BedrockAccountId": ACCOUNT,
                "BedrockRetryInputLocation": f"s3://{INPUT}/retries/",
                "BedrockMinRecordsPerJob": "3",
            },
            session=session,
        )
        with stubber:
            yield {"target": target, "s3": s3, "stubber": stubber, "dynamodb": dynamodb}


TABLE_NAME = "failures"


def bedrock_summary() -> dict[str, Any]:
    """The fixture's summary item, to put again with other attributes."""
    return summary(
        ACCOUNT,
        JOB,
        "2026-11-25T10:00:00+00:00",
        kind="BEDROCK_BATCH_INFERENCE",
        status="Stopped",
        FailedRecordCount=3,
        SucceededRecordCount=1,
        UnprocessedRecordCount=2,
        InputUri=f"s3://{INPUT}/in/",
        JobName="tracked-nightly",
    )


def retry_body(cloud: dict[str, Any], uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return bytes(cloud["s3"].get_object(Bucket=bucket, Key=key)["Body"].read())


def test_failures_of_a_bedrock_job_show_their_code_file_and_line(cloud: dict[str, Any]) -> None:
    result = invoke(cloud["target"], "failures", JOB, "--format", "json")
    assert result.exit_code == 0, result.stderr
    found = {entry["RequestId"]: entry for entry in json.loads(result.stdout)}
    assert found["r3"]["ErrorCode"] == "UNPROCESSED" and found["r3"]["LineNumber"] == 1
    assert found["r1"]["OutputFile"].endswith("a.jsonl.out")
    csv = invoke(cloud["target"], "failures", JOB, "--format", "csv")
    assert csv.exit_code == 0, csv.stderr
    assert csv.stdout.splitlines()[0] == "RequestId,ErrorCode,ErrorMessage,OutputFile,InputFile,LineNumber"
    table = invoke(cloud["target"], "failures", JOB)
    assert "3 failed record(s)" in table.stdout and "a.jsonl.out:2" in table.stdout and "b.jsonl:1" in table.stdout


def test_the_retry_jsonl_holds_the_original_lines_byte_for_byte(cloud: dict[str, Any]) -> None:
    result = invoke(cloud["target"], "retry", JOB)
    assert result.exit_code == 0, result.stderr
    uri = result.stdout.strip()
    assert uri.startswith(f"s3://{INPUT}/retries/tracked-nightly-retry-") and uri.endswith(".jsonl")
    # 3 records: the minimum, enough for a job; the command that starts it, as it runs.
    assert f"Start it with `batch-job-tracker retry {JOB} --start`." in result.stderr
    assert retry_body(cloud, uri) == LINES["r1"] + b"\n" + LINES["r3"] + b"\n" + LINES["r4"] + b"\n"
    # The same selection again: the same object.
    assert invoke(cloud["target"], "retry", JOB).stdout.strip() == uri


def test_codes_pick_the_unprocessed_records_and_a_retry_below_the_minimum_is_refused(cloud: dict[str, Any]) -> None:
    result = invoke(cloud["target"], "retry", JOB, "--code", "UNPROCESSED", "--start")
    assert result.exit_code == 1
    assert "not starting a job: 2 record(s) are fewer than Bedrock's minimum for the model, 3" in result.stderr
    uri = result.stdout.strip()
    assert retry_body(cloud, uri) == LINES["r3"] + b"\n" + LINES["r4"] + b"\n"
    # Without --start, the JSONL is written and the operator told plainly that it cannot be a job of its own.
    unstarted = invoke(cloud["target"], "retry", JOB, "--code", "UNPROCESSED")
    assert unstarted.exit_code == 0 and unstarted.stdout.strip() == uri
    assert "Not enough for a job of their own: 2 record(s) are fewer" in unstarted.stderr
    assert "Start it with" not in unstarted.stderr
    # The job's other code makes up the minimum: that retry is the advice, as a command that runs.
    assert unstarted.stderr.endswith(
        f"instead, or retry every code at once: `batch-job-tracker retry {JOB} --code 400 --code UNPROCESSED "
        "--start`.\n"
    )


def test_start_creates_the_job_with_the_source_s_model_role_and_output_under_a_stable_token(
    cloud: dict[str, Any],
) -> None:
    output = {"s3OutputDataConfig": {"s3Uri": "s3://out/x/"}}
    source = {
        "jobArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/{JOB}",
        "jobName": "tracked-nightly",
        "modelId": MODEL,
        "roleArn": ROLE,
        "status": "Stopped",
        "submitTime": datetime(2026, 11, 25, tzinfo=UTC),
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{INPUT}/in/"}},
        "outputDataConfig": output,
        "timeoutDurationInHours": 24,
    }
    record = JobRecord(domain_id=ACCOUNT, job_id=JOB, summary={"JobName": "tracked-nightly"}, lock=None)
    expected = plan(record, ["r1", "r3", "r4"], S3Uri(INPUT, "retries/"))
    created = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/newjob000001"
    # The new job as Bedrock describes it: submitted by the first run; the second run gets it back.
    submitted = [datetime.now(UTC) + timedelta(minutes=1), datetime(2026, 11, 25, 11, tzinfo=UTC)]
    for submit_time in submitted:  # the same retry twice: the same request, token included
        cloud["stubber"].add_response("get_model_invocation_job", source, {"jobIdentifier": JOB})
        cloud["stubber"].add_response(
            "create_model_invocation_job",
            {"jobArn": created},
            {
                "jobName": expected.job_name,
                "clientRequestToken": expected.client_request_token,
                "roleArn": ROLE,
                "modelId": MODEL,
                "inputDataConfig": {"s3InputDataConfig": {"s3Uri": str(expected.input_uri), "s3InputFormat": "JSONL"}},
                "outputDataConfig": output,
                "timeoutDurationInHours": 24,
            },
        )
        new_job = {**source, "jobArn": created, "submitTime": submit_time, "status": "Submitted"}
        cloud["stubber"].add_response("get_model_invocation_job", new_job, {"jobIdentifier": created})
    said = []
    for _ in range(2):
        result = invoke(cloud["target"], "retry", JOB, "--start")
        assert result.exit_code == 0, result.stderr
        assert result.stdout.strip().splitlines() == [str(expected.input_uri), created]
        said.append(result.stderr.splitlines()[-1])
    cloud["stubber"].assert_no_pending_responses()
    assert said[0].startswith("Started Bedrock batch inference job newjob000001 (")
    assert (
        said[1].startswith("Amazon Bedrock returned Bedrock batch inference job newjob000001 (tracked-nightly-retry-")
        and "which an earlier `retry --start` of this selection started at 2026-11-25 11:00:00+00:00" in said[1]
    )
    assert said[1].endswith("nothing new was started; follow it with `batch-job-tracker watch newjob000001`:")
    assert expected.job_name.startswith("tracked-nightly-retry-") and len(expected.job_name) <= 63


def test_a_record_missing_from_the_input_is_named() -> None:
    files = {"s3://b/a.jsonl": [LINES["r1"]]}
    with pytest.raises(CliError, match=r"neither the job's input nor its output holds record\(s\) gone"):
        pick_lines(files.__getitem__, list(files), [RecordSource("r1"), RecordSource("gone")])


def test_a_bare_input_prefix_is_a_folder_and_its_siblings_give_no_retry_line(cloud: dict[str, Any]) -> None:
    """InputUri `s3://bedrock-in/in` names the folder `in/`, as Bedrock lists it: `in-old/` and `in2.jsonl`
    share the prefix, sort before and after it, and hold other lines under the same record ids."""
    s3 = cloud["s3"]
    s3.put_object(Bucket=INPUT, Key="in-old/a.jsonl", Body=b'{"recordId": "r1", "modelInput": {"old": 1}}\n')
    s3.put_object(Bucket=INPUT, Key="in2.jsonl", Body=b'{"recordId": "r4", "modelInput": {"sibling": 2}}\n')
    put(cloud["dynamodb"], {**bedrock_summary(), "InputUri": f"s3://{INPUT}/in"})
    result = invoke(cloud["target"], "retry", JOB)
    assert result.exit_code == 0, result.stderr
    assert retry_body(cloud, result.stdout.strip()) == LINES["r1"] + b"\n" + LINES["r3"] + b"\n" + LINES["r4"] + b"\n"


def test_the_retry_reads_a_record_from_the_input_file_its_item_names_first(cloud: dict[str, Any]) -> None:
    # r3 also in a.jsonl, which the listing reads first: the item says b.jsonl line 1 is the one not processed.
    cloud["s3"].put_object(
        Bucket=INPUT, Key="in/a.jsonl", Body=LINES["r1"] + b"\n" + b'{"recordId": "r3", "modelInput": {"a": 1}}\n'
    )
    result = invoke(cloud["target"], "retry", JOB, "--code", "UNPROCESSED")
    assert result.exit_code == 0, result.stderr
    assert retry_body(cloud, result.stdout.strip()) == LINES["r3"] + b"\n" + LINES["r4"] + b"\n"
    # A file an item names that is gone since: its records are looked for in the job's other input files.
    where = {"InputFile": f"s3://{INPUT}/in/gone.jsonl", "LineNumber": 1}
    put(cloud["dynamodb"], failure("r1", "UNPROCESSED", where))
    moved = invoke(cloud["target"], "retry", JOB, "--code", "UNPROCESSED")
    assert moved.exit_code == 0, moved.stderr
    assert retry_body(cloud, moved.stdout.strip()) == LINES["r1"] + b"\n" + LINES["r3"] + b"\n" + LINES["r4"] + b"\n"


def test_a_failed_record_without_record_id_is_retried_with_its_output_line_s_model_input(
    cloud: dict[str, Any],
) -> None:
    """Bedrock gave the id-less input line a generated id: no input line holds it, its output line does."""
    s3, model_input = cloud["s3"], {"messages": [{"role": "user", "content": "no id, caf\u00e9"}], "max_tokens": 10}
    s3.put_object(Bucket=INPUT, Key="in/c.jsonl", Body=json.dumps({"modelInput": model_input}).encode() + b"\n")
    s3.create_bucket(Bucket="out")
    output = [{"recordId": "r2", "modelInput": {}, "modelOutput": {}}]
    output.append({"recordId": "GENERATED01", "modelInput": model_input, "error": {"errorCode": 400}})
    s3.put_object(Bucket="out", Key=f"x/{JOB}/c.jsonl.out", Body="\n".join(map(json.dumps, output)).encode())
    where = {"OutputFile": f"s3://out/x/{JOB}/c.jsonl.out", "LineNumber": 2}
    put(cloud["dynamodb"], failure("GENERATED01", 400, where))
    result = invoke(cloud["target"], "retry", JOB, "--code", "400")
    assert result.exit_code == 0, result.stderr
    lines = retry_body(cloud, result.stdout.strip()).splitlines()
    assert len(lines) == 2 and LINES["r1"] in lines
    assert json.loads(next(line for line in lines if line != LINES["r1"])) == {
        "recordId": "GENERATED01",
        "modelInput": model_input,
    }
    # An output line that is not the item's record (the output was replaced since): a clear error.
    put(cloud["dynamodb"], failure("GENERATED01", 400, {**where, "LineNumber": 1}))
    moved = invoke(cloud["target"], "retry", JOB, "--code", "400")
    assert moved.exit_code == 1 and f"s3://out/x/{JOB}/c.jsonl.out line 1 is not record GENERATED01's" in moved.stderr


def test_the_retry_says_how_many_unprocessed_records_it_could_not_name_and_why(cloud: dict[str, Any]) -> None:
    reason = "2 of 2 input record(s) without recordId have no output line; Bedrock gave them generated ids"
    put(
        cloud["dynamodb"],
        {
            **bedrock_summary(),
            "UnprocessedRecordCount": 4,
            "UnprocessedNamedCount": 2,
            "UnprocessedUnnamedReason": reason,
        },
    )
    result = invoke(cloud["target"], "retry", JOB)
    assert result.exit_code == 0, result.stderr
    assert f"2 unprocessed record(s) left out: the record could not name them ({reason})" in result.stderr
    assert "left out" not in invoke(cloud["target"], "retry", JOB, "--code", "400").stderr
    # Nothing chosen at all: the refusal says what was left out too.
    put(cloud["dynamodb"], {**bedrock_summary(), "UnprocessedRecordCount": 2, "UnprocessedNamedCount": 0})
    nothing = invoke(cloud["target"], "retry", JOB, "--code", "429")
    assert nothing.exit_code == 1
    assert "has no failed requests with code 429: nothing to retry" in nothing.stderr
    unprocessed_only = invoke(cloud["target"], "retry", JOB, "--code", "UNPROCESSED")
    assert "2 unprocessed record(s) left out: the record could not name them" in unprocessed_only.stderr


@pytest.mark.parametrize(
    "line",
    [b'{"recordId": ["x"], "modelInput": {}}', b'{"recordId": "", "modelInput": {}}', b"[1, 2]"],
)
def test_a_malformed_input_line_is_an_error_naming_the_file_and_line(cloud: dict[str, Any], line: bytes) -> None:
    cloud["s3"].put_object(Bucket=INPUT, Key="in/a.jsonl", Body=b"\n" + line + b"\n" + LINES["r1"] + b"\n")
    result = invoke(cloud["target"], "retry", JOB)
    assert result.exit_code == 1
    assert f"s3://{INPUT}/in/a.jsonl line 2 " in result.stderr
    assert isinstance(result.exception, SystemExit)  # a CliError's exit, not an exception's traceback


LONG_PREFIX = "tracked-" + "p" * 47  # 55 characters: more than the 48 a name keeps before `-retry-<8 hex>`


@pytest.mark.parametrize(
    ("original", "prefixes", "expected"),
    [
        (f"{LONG_PREFIX}-nightly", [LONG_PREFIX], f"{LONG_PREFIX}-0123456"),
        (f"{LONG_PREFIX}-nightly", ["tracked-", LONG_PREFIX], f"{LONG_PREFIX}-0123456"),
        ("t" * 63, ["t" * 63], "t" * 63),  # a 63-character prefix leaves no room: the token tells the jobs apart
        ("t" * 62 + "x", ["t" * 62], "t" * 62 + "0"),
        ("tracked-" + "n" * 55, ["tracked-"], "tracked-" + "n" * 40 + "-retry-01234567"),
    ],
)
def test_a_retry_job_name_keeps_the_tracked_prefix_whatever_its_length(
    original: str, prefixes: list[str], expected: str
) -> None:
    name = retry_job_name(original, JOB, "0123456789abcdef" * 4, prefixes)
    assert name == expected and len(name) <= 63
    assert re.fullmatch(r"[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}", name)  # botocore's jobName pattern


def test_start_names_the_retry_job_with_the_stack_s_tracked_prefix(cloud: dict[str, Any]) -> None:
    original = f"{LONG_PREFIX}-nightly"
    cloud["target"].outputs["BedrockJobNamePrefixes"] = f"other-,{LONG_PREFIX}"
    put(cloud["dynamodb"], {**bedrock_summary(), "JobName": original})
    source = {
        "jobArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/{JOB}",
        "jobName": original,
        "modelId": MODEL,
        "roleArn": ROLE,
        "status": "Stopped",
        "submitTime": datetime(2026, 11, 25, tzinfo=UTC),
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{INPUT}/in/"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://out/x/"}},
    }
    cloud["stubber"].add_response("get_model_invocation_job", source, {"jobIdentifier": JOB})
    created = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/newjob000002"
    cloud["stubber"].add_response("create_model_invocation_job", {"jobArn": created})
    cloud["stubber"].add_response("get_model_invocation_job", {**source, "jobArn": created}, {"jobIdentifier": created})
    result = invoke(cloud["target"], "retry", JOB, "--start")
    assert result.exit_code == 0, result.stderr
    named = re.search(r"\((\S+), clientRequestToken", result.stderr)
    assert named and named.group(1).startswith(LONG_PREFIX) and len(named.group(1)) <= 63


def test_watch_describes_a_bedrock_job_through_bedrock_with_progress_from_its_record_counts(
    cloud: dict[str, Any],
) -> None:
    kind = JOB_KINDS["BEDROCK_BATCH_INFERENCE"]
    answer = {
        "jobArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/{JOB}",
        "modelId": MODEL,
        "roleArn": ROLE,
        "status": "InProgress",
        "submitTime": datetime(2026, 11, 25, tzinfo=UTC),
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{INPUT}/in/"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://out/x/"}},
        "totalRecordCount": 400,
        "processedRecordCount": 100,
    }
    cloud["stubber"].add_response("get_model_invocation_job", answer, {"jobIdentifier": JOB})
    assert DESCRIBERS["bedrock"](cloud["target"], kind, ACCOUNT, JOB) == ("InProgress", 25)
    cloud["stubber"].add_client_error("get_model_invocation_job", "ResourceNotFoundException", "gone", 404)
    with pytest.raises(CliError, match=f"Bedrock has no Bedrock batch inference job {JOB}"):
        DESCRIBERS["bedrock"](cloud["target"], kind, ACCOUNT, JOB)


def test_erase_of_a_record_deletes_the_retry_file_that_holds_it(cloud: dict[str, Any]) -> None:
    written = invoke(cloud["target"], "retry", JOB).stdout.strip()
    other_job = invoke(cloud["target"], "erase", "--record-id", "r3", "--job", "zzzzzzzzzzzz", "--format", "json")
    assert json.loads(other_job.stdout)["RetryFilesDeleted"] == []  # the file says which job it came from
    erased = invoke(cloud["target"], "erase", "--record-id", "r3", "--job", JOB, "--format", "json")
    assert erased.exit_code == 0, erased.output
    report = json.loads(erased.stdout)
    assert report["RetryFilesDeleted"] == [written]
    assert [item["Item"] for item in report["Deleted"]] == ["FAILURE#r3"]
    assert report["RetryFoldersSearched"] == [f"s3://{INPUT}/retries/"]
    assert "Contents" not in cloud["s3"].list_objects_v2(Bucket=INPUT, Prefix="retries/")
