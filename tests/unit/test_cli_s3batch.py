"""The CLI on an S3 Batch Operations job, on moto (DynamoDB, S3) with S3 Control stubbed against botocore's
model: the job inferred from its UUID and the stack's account, its failed tasks as the record step writes them
(object, codes, report line), progress from ProgressSummary, the retry manifest (keys URL-encoded as the local
S3 Batch Operations decodes them) and its idempotent CreateJob, and an erasure by object key."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from batch_job_tracker_cli.errors import CliError
from batch_job_tracker_cli.progress import DESCRIBERS
from batch_job_tracker_cli.records import JobRecord
from batch_job_tracker_cli.retry import parse_codes
from batch_job_tracker_cli.s3batch_retry import TaskObject as RetryObject
from batch_job_tracker_cli.s3batch_retry import fingerprint, manifest_body, manifest_key, retry_description
from batch_job_tracker_cli.shared import JOB_KINDS
from batch_job_tracker_cli.target import Target
from job_tracker.adapters.dynamodb import DynamoDbFailureStore
from job_tracker.adapters.s3control import to_description
from job_tracker.models import JobRef, S3Location
from job_tracker.recording import failure_item
from job_tracker.s3batch_report import parse_row, task_failure
from s3batch_emulator.manifest import parse_csv_rows
from tests.unit.test_cli_commands import TABLE, create_table, invoke, put, summary

REGION = "us-east-1"
ACCOUNT = "123456789012"
JOB = "93735294-df46-44d5-8638-6356f335324e"
INPUT = "s3batch-input"
REPORTS = "s3batch-reports"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/S3BatchOperations"
KIND = JOB_KINDS["S3_BATCH_OPERATIONS"]
REPORT_FILE = S3Location(REPORTS, f"reports/job-{JOB}/results/0b1c.csv")
# The source job as DescribeJob gives it: a copy job whose report lists its tasks.
SOURCE: dict[str, Any] = {
    "JobId": JOB,
    "Description": "tracked-copy nightly",
    "Status": "Complete",
    "Operation": {"S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{INPUT}", "TargetKeyPrefix": "copied/"}},
    "Priority": 42,
    "RoleArn": ROLE,
    "Manifest": {
        "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
        "Location": {"ObjectArn": f"arn:aws:s3:::{INPUT}/manifests/nightly.csv", "ETag": "abc"},
    },
    "Report": {
        "Bucket": f"arn:aws:s3:::{REPORTS}",
        "Format": "Report_CSV_20180820",
        "Enabled": True,
        "Prefix": "reports",
        "ReportScope": "AllTasks",
    },
    "ProgressSummary": {"TotalNumberOfTasks": 6, "NumberOfTasksSucceeded": 3, "NumberOfTasksFailed": 3},
    "CreationTime": datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
    "TerminationDate": datetime(2026, 11, 25, 10, 5, tzinfo=UTC),
}
# Report rows as S3 Batch Operations writes them (keys encoded, HTTP status before the code).
ROWS = {
    2: f"{INPUT},objects/a%20b%2Bc.txt,,failed,404,NoSuchKey,The specified key does not exist.",
    4: "forbidden-bucket,objects/customer-7731/passport.jpg,,failed,403,AccessDenied,Access Denied",
    5: f"{INPUT},objects/caf%C3%A9%2C%20menu.txt,,failed,404,NoSuchKey,The specified key does not exist.",
}


class S3ControlTarget(Target):
    def __init__(self, s3control: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._s3control = s3control

    def s3control(self) -> Any:
        return self._s3control


def record_tasks(dynamodb: Any, rows: dict[int, str], job: dict[str, Any] = SOURCE) -> None:
    """The failed tasks' items exactly as the record step writes them (s3batch_report, recording)."""
    described = to_description(JobRef(ACCOUNT, str(job["JobId"])), KIND, job)
    writer = DynamoDbFailureStore(dynamodb, TABLE).writer()
    for line, row in rows.items():
        task = parse_row(next(csv.reader([row])), REPORT_FILE.uri, line)
        writer.put(failure_item(described, task_failure(task, REPORT_FILE, line)))
    writer.flush()


@pytest.fixture
def cloud() -> Iterator[dict[str, Any]]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        dynamodb = session.client("dynamodb")
        create_table(dynamodb)
        s3 = session.client("s3")
        s3.create_bucket(Bucket=INPUT)
        s3.put_object(Bucket=INPUT, Key="manifests/nightly.csv", Body=b"whatever the operator wrote\n")
        put(
            dynamodb,
            summary(
                ACCOUNT,
                JOB,
                "2026-11-25T10:00:00+00:00",
                kind=KIND.name,
                status="Complete",
                TrackerJobStatus="COMPLETED_WITH_ERRORS",
                FailedTaskCount=3,
                SucceededTaskCount=3,
                InputUri=f"s3://{INPUT}/manifests/nightly.csv",
                JobName="tracked-copy nightly",
            ),
        )
        record_tasks(dynamodb, ROWS)
        s3control = boto3.client("s3control", region_name=REGION)
        stubber = Stubber(s3control)
        target = S3ControlTarget(
            s3control,
            description="stack Test (us-east-1)",
            outputs={
                "FailuresTableName": TABLE,
                "StateMachineArn": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:tracker",
                "VoiceIdDomainIds": "DomainAAAAAAAAAAAAAAAA",
                "S3BatchAccountId": ACCOUNT,
                "S3BatchJobDescriptionPrefixes": "tracked-,nightly-",
            },
            session=session,
        )
        with stubber:
            yield {"target": target, "s3": s3, "stubber": stubber, "dynamodb": dynamodb}


def body_of(cloud: dict[str, Any], uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return bytes(cloud["s3"].get_object(Bucket=bucket, Key=key)["Body"].read())


def test_failures_name_each_task_s_object_codes_and_report_line(cloud: dict[str, Any]) -> None:
    listed = invoke(cloud["target"], "failures", JOB, "--format", "json")
    assert listed.exit_code == 0, listed.stderr
    by_line = {failure["LineNumber"]: failure for failure in json.loads(listed.stdout)}
    assert by_line[2] | {"ErrorMessage": None} == {
        "RequestId": "0b1c.csv:2",
        "ErrorCode": "NoSuchKey",
        "ErrorMessage": None,
        "Bucket": INPUT,
        "Key": "objects/a b+c.txt",
        "VersionId": None,
        "HTTPStatusCode": 404,
        "ReportFile": REPORT_FILE.uri,
        "LineNumber": 2,
    }
    table = invoke(cloud["target"], "failures", JOB)
    assert table.exit_code == 0, table.stderr
    header = next(line for line in table.stdout.splitlines() if "Bucket" in line)
    columns = ["Bucket", "Key", "VersionId", "ErrorCode", "HTTPStatusCode", "ResultMessage", "ReportFile:Line"]
    assert [name for name in header.replace("┃", " ").split() if name] == columns
    assert "0b1c.csv:4" in table.stdout and "objects/customer-7731/passport.jpg" in table.stdout


def test_the_service_s_error_codes_filter_failures_and_find_them_across_jobs(cloud: dict[str, Any]) -> None:
    assert parse_codes(["NoSuchKey", "403"]) == frozenset({"NoSuchKey", 403})
    listed = invoke(cloud["target"], "failures", JOB, "--code", "NoSuchKey", "--format", "json")
    assert listed.exit_code == 0, listed.stderr
    assert sorted(failure["LineNumber"] for failure in json.loads(listed.stdout)) == [2, 5]
    across = invoke(cloud["target"], "failures-by-code", "AccessDenied", "--since", "2026-11-01", "--format", "json")
    assert across.exit_code == 0, across.stderr
    assert [(f["JobId"], f["RequestId"]) for f in json.loads(across.stdout)] == [(JOB, "0b1c.csv:4")]


def test_show_and_jobs_read_the_job_in_the_stack_s_s3_batch_account(cloud: dict[str, Any]) -> None:
    shown = invoke(cloud["target"], "show", JOB, "--format", "json")
    assert shown.exit_code == 0, shown.stderr
    assert (json.loads(shown.stdout)["DomainId"], json.loads(shown.stdout)["JobKind"]) == (ACCOUNT, KIND.name)
    listed = invoke(cloud["target"], "jobs", "--kind", "s3-batch-operations", "--format", "json")
    assert listed.exit_code == 0, listed.stderr
    assert [job["JobId"] for job in json.loads(listed.stdout)] == [JOB]


def test_track_infers_the_kind_from_the_uuid_and_the_account_from_the_stack(cloud: dict[str, Any]) -> None:
    other = "0f6c1a52-3b1e-4d7e-9a43-2a1f3c4d5e6f"
    started: list[dict[str, Any]] = []

    class Recorder:
        def start_execution(self, **request: Any) -> dict[str, Any]:
            started.append(json.loads(request["input"]))
            return {"executionArn": f"arn:aws:states:us-east-1:{ACCOUNT}:execution:tracker:x"}

    cloud["target"]._clients["stepfunctions"] = Recorder()
    # S3 Batch Operations has the job in the stack's account: described first, as watch does.
    cloud["stubber"].add_response(
        "describe_job", {"Job": {**SOURCE, "JobId": other}}, {"AccountId": ACCOUNT, "JobId": other}
    )
    result = invoke(cloud["target"], "track", other)
    assert result.exit_code == 0, result.stderr
    assert started == [{"DomainId": ACCOUNT, "JobId": other, "JobKind": KIND.name}]


def test_watch_describes_the_job_with_progress_from_its_progress_summary(cloud: dict[str, Any]) -> None:
    running = {
        **SOURCE,
        "Status": "Active",
        "ProgressSummary": {"TotalNumberOfTasks": 8, "NumberOfTasksSucceeded": 3, "NumberOfTasksFailed": 1},
    }
    del running["TerminationDate"]
    cloud["stubber"].add_response("describe_job", {"Job": running}, {"AccountId": ACCOUNT, "JobId": JOB})
    assert DESCRIBERS["s3"](cloud["target"], KIND, ACCOUNT, JOB) == ("Active", 50)
    cloud["stubber"].add_client_error("describe_job", "NotFoundException", "no such job", 404)
    with pytest.raises(CliError, match=f"S3 Batch Operations has no S3 Batch Operations job {JOB} in account"):
        DESCRIBERS["s3"](cloud["target"], KIND, ACCOUNT, JOB)


def test_the_retry_manifest_lists_exactly_the_chosen_failed_tasks_as_the_service_reads_them(
    cloud: dict[str, Any],
) -> None:
    result = invoke(cloud["target"], "retry", JOB, "--code", "NoSuchKey")
    assert result.exit_code == 0, result.stderr
    uri = result.stdout.strip()
    assert uri.startswith(f"s3://{INPUT}/manifests/nightly-retry-") and uri.endswith(".csv")
    body = body_of(cloud, uri)
    assert body == (f"{INPUT},objects/a%20b%2Bc.txt\n{INPUT},objects/caf%C3%A9%2C%20menu.txt\n".encode())
    # The local S3 Batch Operations reads it back as the failed tasks' objects, keys decoded.
    tasks = parse_csv_rows(body.decode(), ("Bucket", "Key"), uri, 100)
    assert [(task.bucket, task.key) for task in tasks] == [
        (INPUT, "objects/a b+c.txt"),
        (INPUT, "objects/café, menu.txt"),
    ]
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    assert cloud["s3"].head_object(Bucket=bucket, Key=key)["Metadata"] == {"tracker-source-job-id": JOB}
    again = invoke(cloud["target"], "retry", JOB, "--code", "NoSuchKey")
    assert again.stdout == result.stdout and body_of(cloud, uri) == body
    every = invoke(cloud["target"], "retry", JOB, "--output", f"s3://{INPUT}/retries")
    assert every.exit_code == 0, every.stderr
    assert every.stdout.startswith(f"s3://{INPUT}/retries/nightly-retry-")
    assert len(body_of(cloud, every.stdout.strip()).splitlines()) == 3


def test_start_creates_the_job_with_the_source_s_operation_role_report_and_priority(cloud: dict[str, Any]) -> None:
    written = invoke(cloud["target"], "retry", JOB, "--code", "AccessDenied")
    uri = written.stdout.strip()
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    etag = cloud["s3"].head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    new_job = "5e0a4e2c-1111-4222-8333-444455556666"
    digest = fingerprint(JobRecord(ACCOUNT, JOB, None, None), ["0b1c.csv:4"])
    # The new job as S3 describes it: created by the first run; the second run's CreateJob returns it.
    for created in (datetime.now(UTC) + timedelta(minutes=1), datetime(2026, 11, 25, 11, tzinfo=UTC)):
        cloud["stubber"].add_response("describe_job", {"Job": SOURCE}, {"AccountId": ACCOUNT, "JobId": JOB})
        cloud["stubber"].add_response(
            "create_job",
            {"JobId": new_job},
            {
                "AccountId": ACCOUNT,
                "ConfirmationRequired": False,
                "Operation": SOURCE["Operation"],
                "Report": SOURCE["Report"],
                "ClientRequestToken": f"retry-{digest}"[:64],
                "Manifest": {
                    "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
                    "Location": {"ObjectArn": f"arn:aws:s3:::{bucket}/{key}", "ETag": etag},
                },
                "Priority": 42,
                "RoleArn": ROLE,
                "Description": f"tracked-copy nightly retry-{digest[:8]}",
            },
        )
        described = {**SOURCE, "JobId": new_job, "Status": "Ready", "CreationTime": created}
        cloud["stubber"].add_response("describe_job", {"Job": described}, {"AccountId": ACCOUNT, "JobId": new_job})
    first = invoke(cloud["target"], "retry", JOB, "--code", "AccessDenied", "--start")
    second = invoke(cloud["target"], "retry", JOB, "--code", "AccessDenied", "--start")
    assert first.exit_code == 0, first.stderr
    assert first.stdout.splitlines() == [uri, new_job] and second.stdout == first.stdout
    cloud["stubber"].assert_no_pending_responses()
    assert first.stderr.splitlines()[-1].startswith(f"Started S3 Batch Operations job {new_job} ('tracked-copy")
    assert second.stderr.splitlines()[-1].startswith(
        f"S3 Batch Operations returned S3 Batch Operations job {new_job} ('tracked-copy nightly retry-"
    )
    assert second.stderr.splitlines()[-1].endswith(
        f"nothing new was started; follow it with `batch-job-tracker watch {new_job}`:"
    )


def test_a_retry_description_keeps_the_tracked_prefix_and_fits_256_characters() -> None:
    digest = "f" * 64
    assert retry_description("tracked-copy nightly", JOB, digest, ["tracked-"]) == "tracked-copy nightly retry-ffffffff"
    assert retry_description(None, JOB, digest, ["nightly-"]) == f"nightly-retry of {JOB} retry-ffffffff"
    long = retry_description("tracked-" + "x" * 300, JOB, digest, ["tracked-"])
    assert len(long) == 256 and long.startswith("tracked-") and long.endswith(" retry-ffffffff")


def test_a_manifest_s_rows_all_carry_a_version_id_or_none() -> None:
    body, fields = manifest_body([RetryObject("b", "k 1", "v1"), RetryObject("b", "k/2", "v2")])
    assert (body, fields) == (b"b,k%201,v1\nb,k/2,v2\n", ["Bucket", "Key", "VersionId"])
    with pytest.raises(CliError, match="1 of the 2 chosen tasks name a version id and the others none"):
        manifest_body([RetryObject("b", "k", "v1"), RetryObject("b", "j", None)])
    assert manifest_key("100%/a+b c\n") == "100%25/a%2Bb%20c%0A"


def test_erase_by_object_key_deletes_its_tasks_and_the_retry_manifests_listing_it(cloud: dict[str, Any]) -> None:
    passport = "objects/customer-7731/passport.jpg"
    written = invoke(cloud["target"], "retry", JOB)  # every failed task, the passport among them
    other = invoke(cloud["target"], "retry", JOB, "--code", "NoSuchKey")
    assert written.exit_code == 0 and other.exit_code == 0, written.stderr + other.stderr
    erased = invoke(cloud["target"], "erase", "--object-key", passport, "--format", "json")
    assert erased.exit_code == 0, erased.stderr
    report = json.loads(erased.stdout)
    assert [item["Item"] for item in report["Deleted"]] == ["FAILURE#0b1c.csv:4"]
    assert report["RetryFilesDeleted"] == [written.stdout.strip()]
    left = invoke(cloud["target"], "failures", JOB, "--format", "json")
    assert sorted(failure["LineNumber"] for failure in json.loads(left.stdout)) == [2, 5]
    listing = cloud["s3"].list_objects_v2(Bucket=INPUT, Prefix="manifests/")["Contents"]
    # The operator's own manifest stays (retry did not write it); the other retry manifest does not list the key.
    assert sorted(obj["Key"] for obj in listing) == sorted(
        ["manifests/nightly.csv", other.stdout.strip().split("/", 3)[3]]
    )
    again = invoke(cloud["target"], "erase", "--object-key", passport, "--format", "json")
    assert json.loads(again.stdout)["Deleted"] == [] and json.loads(again.stdout)["RetryFilesDeleted"] == []


def test_the_retry_says_which_failed_tasks_no_report_names(cloud: dict[str, Any]) -> None:
    put(
        cloud["dynamodb"],
        summary(
            ACCOUNT,
            JOB,
            "2026-11-25T10:00:00+00:00",
            kind=KIND.name,
            status="Cancelled",
            FailedTaskCount=3,
            UnnamedFailedTaskCount=2,
            UnprocessedTaskCount=7,
            InputUri=f"s3://{INPUT}/manifests/nightly.csv",
        ),
    )
    result = invoke(cloud["target"], "retry", JOB)
    assert result.exit_code == 0, result.stderr
    assert "left out: 2 failed task(s) no report names; 7 task(s) the job never ran" in result.stderr
    assert len(io.BytesIO(body_of(cloud, result.stdout.strip())).read().splitlines()) == 3


def test_show_says_why_there_is_no_report_and_jobs_counts_tasks_by_their_outcome(cloud: dict[str, Any]) -> None:
    failed = "0f6c1a52-3b1e-4d7e-9a43-2a1f3c4d5e6f"
    reason = "no task ran before the job ended Failed (ManifestETagMismatch)"
    put(
        cloud["dynamodb"],
        summary(
            ACCOUNT,
            failed,
            "2026-11-26T10:00:00+00:00",
            kind=KIND.name,
            status="Failed",
            FailedTaskCount=0,
            SucceededTaskCount=0,
            UnnamedFailedTaskCount=0,
            NoReportReason=reason,
        ),
    )
    shown = invoke(cloud["target"], "show", failed)
    assert shown.exit_code == 0, shown.stderr
    assert any(line.split()[:1] == ["NoReportReason"] and reason in line for line in shown.stdout.splitlines())
    listed = invoke(cloud["target"], "jobs")
    assert listed.exit_code == 0, listed.stderr
    rows = {job: next(line for line in listed.stdout.splitlines() if job in line) for job in (JOB, failed)}
    assert "│ 3      │ 3         │ -                │" in rows[JOB] and "succeeded task" not in listed.stdout
    assert "│ 0      │ 0         │ unnamed failed 0 │" in rows[failed]
