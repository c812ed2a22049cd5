"""The S3 Batch Operations kind (issue 25, the domain layer): its thirteen statuses on the tracker's loop,
DescribeJob and ListJobs through botocore's s3control model (Stubber: moto has no S3 Control job APIs), and
the completion report recorded against moto's S3 and DynamoDB through the record step's own entry point, on
every edge the report can have; a large report is streamed in bounded memory (tracemalloc)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tracemalloc
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.stub import Stubber

from batch_job_tracker_cli.app import kind_of_job_id
from job_tracker.adapters.dynamodb import DynamoDbFailureStore
from job_tracker.adapters.s3 import S3ObjectReader
from job_tracker.adapters.s3control import S3BatchJobDescriber, S3BatchJobLister
from job_tracker.adapters.services import DescriberByService
from job_tracker.errors import (
    AccessDenied,
    InvalidJobRequest,
    JobNotFound,
    OutputFileInvalid,
    RecordingIncomplete,
    S3BatchThrottled,
    S3BatchUnavailable,
)
from job_tracker.kinds import JOB_KINDS, SERVICES
from job_tracker.models import JobDescription, JobRef, JobStatus, S3Location, job_from_payload, job_to_payload
from job_tracker.output_file import FailedRequest
from job_tracker.s3batch_report import ReportTally, parse_row, read_results_csv, read_s3batch_report, text_lines
from job_tracker.tracking import record_job
from s3batch_emulator.reports import write_report
from s3batch_emulator.store import Job as EmulatedJob
from s3batch_emulator.store import Task, TaskResult
from tests.unit.conftest import OUTPUT_BUCKET, REGION, TABLE

S3BATCH = JOB_KINDS["S3_BATCH_OPERATIONS"]
ACCOUNT = "123456789012"
JOB_ID = "93735294-df46-44d5-8638-6356f335324e"
PK = f"JOB#{ACCOUNT}#{JOB_ID}"
FOLDER = f"reports/job-{JOB_ID}"
MANIFEST_ARN = "arn:aws:s3:::batch-input/manifests/copy.csv"
CREATED = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
ENDED = datetime(2026, 12, 1, 10, 20, tzinfo=UTC)
ALL_STATUSES = (
    "New",
    "Preparing",
    "Suspended",
    "Ready",
    "Active",
    "Pausing",
    "Paused",
    "Completing",
    "Cancelling",
    "Failing",
    "Complete",
    "Cancelled",
    "Failed",
)


def report_config(*, enabled: bool = True, prefix: str | None = "reports", scope: str = "AllTasks") -> dict[str, Any]:
    config: dict[str, Any] = {"Enabled": enabled}
    if enabled:
        config.update(Bucket=f"arn:aws:s3:::{OUTPUT_BUCKET}", Format="Report_CSV_20180820", ReportScope=scope)
        if prefix is not None:
            config["Prefix"] = prefix
    return config


def descriptor(
    status: str,
    *,
    total: int | None = 4,
    succeeded: int = 0,
    failed: int = 0,
    report: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    job: dict[str, Any] = {
        "JobId": JOB_ID,
        "JobArn": f"arn:aws:s3:{REGION}:{ACCOUNT}:job/{JOB_ID}",
        "Description": "nightly-copy",
        "Status": status,
        "Priority": 10,
        "Manifest": {
            "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
            "Location": {"ObjectArn": MANIFEST_ARN, "ETag": "60e460c9d1046e73f7dde5043ac3ae85"},
        },
        "Operation": {"S3PutObjectCopy": {"TargetResource": "arn:aws:s3:::batch-copies"}},
        "Report": report if report is not None else report_config(),
        "CreationTime": CREATED,
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/S3BatchOperations",
        "FailureReasons": [],
        **extra,
    }
    if total is not None:
        job["ProgressSummary"] = {
            "TotalNumberOfTasks": total,
            "NumberOfTasksSucceeded": succeeded,
            "NumberOfTasksFailed": failed,
            "Timers": {"ElapsedTimeInActiveSeconds": 30},
        }
    if status in {"Complete", "Cancelled", "Failed"}:
        job["TerminationDate"] = ENDED
    return job


def s3control() -> Any:
    return boto3.client("s3control", region_name=REGION)


def described(status: str, **fields: Any) -> JobDescription:
    client = s3control()
    with Stubber(client) as stub:
        stub.add_response(
            "describe_job", {"Job": descriptor(status, **fields)}, {"AccountId": ACCOUNT, "JobId": JOB_ID}
        )
        return S3BatchJobDescriber(client).describe(JobRef(ACCOUNT, JOB_ID), S3BATCH)


# --- the kind ------------------------------------------------------------------------------------------------


def test_the_kind_names_the_s3_control_job_apis_and_their_iam_actions() -> None:
    assert SERVICES["s3"] is S3BATCH.service
    assert (S3BATCH.describe_api, S3BATCH.list_api, S3BATCH.start_api) == ("DescribeJob", "ListJobs", "CreateJob")
    assert (S3BATCH.describe_method, S3BATCH.list_method) == ("describe_job", "list_jobs")
    assert (S3BATCH.describe_action, S3BATCH.list_action) == ("s3:DescribeJob", "s3:ListJobs")
    assert (S3BATCH.service.client_name, S3BATCH.service.event_source) == ("s3control", "aws.s3")
    assert S3BATCH.event_detail_types == ("AWS Service Event via CloudTrail",)
    assert S3BATCH.failure_noun == "task" and S3BATCH.failed_count_attribute == "FailedTaskCount"
    assert set(S3BATCH.service_statuses) == set(ALL_STATUSES)
    assert S3BATCH.terminal_statuses == {"Complete", "Cancelled", "Failed"}


def test_a_job_id_says_its_service_its_uuid_never_mistaken_for_bedrock_or_voice_id() -> None:
    assert S3BATCH.service.job_id.fullmatch(JOB_ID)
    assert S3BATCH.service.scope_id.fullmatch(ACCOUNT)
    for other in ("abcdef123456", "JobBBBBBBBBBBBBBBBBBBB"):
        assert not S3BATCH.service.job_id.fullmatch(other)
    assert kind_of_job_id(JOB_ID) is S3BATCH
    assert kind_of_job_id("abcdef123456") is JOB_KINDS["BEDROCK_BATCH_INFERENCE"]
    with pytest.raises(InvalidJobRequest, match=r"JobId must be a UUID \(8-4-4-4-12 hexadecimal digits\)"):
        JobRef.parse({"JobKind": S3BATCH.name, "DomainId": ACCOUNT, "JobId": "abcdef123456"})


@pytest.mark.parametrize(
    ("status", "tracker_status"),
    [
        ("New", JobStatus.SUBMITTED),
        ("Preparing", JobStatus.SUBMITTED),
        ("Suspended", JobStatus.SUBMITTED),
        ("Ready", JobStatus.SUBMITTED),
        ("Active", JobStatus.IN_PROGRESS),
        ("Pausing", JobStatus.IN_PROGRESS),
        ("Paused", JobStatus.IN_PROGRESS),
        ("Completing", JobStatus.IN_PROGRESS),
        ("Cancelling", JobStatus.IN_PROGRESS),
        ("Failing", JobStatus.IN_PROGRESS),
        ("Complete", JobStatus.COMPLETED),
        ("Cancelled", JobStatus.COMPLETED_WITH_ERRORS),
        ("Failed", JobStatus.FAILED),
    ],
)
def test_every_status_maps_to_the_loop_and_is_kept_in_its_own_word(status: str, tracker_status: JobStatus) -> None:
    job = described(status, succeeded=4)
    assert job.status is tracker_status
    assert job.reported_status == status
    assert job.status_attributes == {"JobStatus": status, "TrackerJobStatus": tracker_status.value}
    # Suspended (awaiting confirmation, up to 30 days) and Paused (behind a higher-priority job) are waited on.
    assert job.status.is_terminal == (status in {"Complete", "Cancelled", "Failed"})


def test_a_complete_job_with_failed_tasks_has_errors_though_its_failure_reasons_are_empty() -> None:
    job = described("Complete", succeeded=3, failed=1)
    assert job.status is JobStatus.COMPLETED_WITH_ERRORS and job.reported_status == "Complete"
    assert job.failure_details is None
    assert described("Complete", succeeded=4).status is JobStatus.COMPLETED


def test_progress_comes_from_the_progress_summary() -> None:
    assert described("Active", total=400, succeeded=90, failed=10).percent_complete == 25
    assert described("Paused", total=0).percent_complete == 0
    no_summary = described("Active", total=None)
    assert no_summary.percent_complete == 0 and no_summary.record_counts is None
    assert described("Complete", succeeded=4).percent_complete == 100


def test_the_description_carries_report_folder_scope_manifest_counts_and_reasons_through_the_payload() -> None:
    job = described(
        "Failed",
        total=2000,
        succeeded=400,
        failed=700,
        report=report_config(scope="FailedTasksOnly"),
        FailureReasons=[
            {"FailureCode": "TaskFailureThresholdExceeded", "FailureReason": "More than 50% of the tasks failed"}
        ],
    )
    assert job.output == S3Location(OUTPUT_BUCKET, f"{FOLDER}/")
    assert job.output_scope == "FailedTasksOnly"
    assert job.input == S3Location("batch-input", "manifests/copy.csv")
    assert job.job_name == "nightly-copy"
    assert (job.created_at, job.ended_at) == (CREATED.isoformat(), ENDED.isoformat())
    assert job.record_counts == {"TotalNumberOfTasks": 2000, "NumberOfTasksSucceeded": 400, "NumberOfTasksFailed": 700}
    assert job.failure_details is not None
    assert job.failure_details.message == "TaskFailureThresholdExceeded: More than 50% of the tasks failed"
    assert job_from_payload(job_to_payload(job)) == job


@pytest.mark.parametrize(
    ("report", "folder"),
    [
        (report_config(prefix=None), f"job-{JOB_ID}/"),
        (report_config(prefix="batch/reports/"), f"batch/reports/job-{JOB_ID}/"),
        (report_config(enabled=False), None),
    ],
    ids=["no prefix", "trailing slash", "disabled"],
)
def test_the_report_folder_follows_the_prefix_and_a_disabled_report_has_none(
    report: dict[str, Any], folder: str | None
) -> None:
    job = described("Complete", succeeded=4, report=report)
    assert job.output == (S3Location(OUTPUT_BUCKET, folder) if folder else None)
    assert job.output_scope == (None if folder is None else "AllTasks")


def test_a_cancelled_job_carries_the_reason_it_was_cancelled() -> None:
    job = described("Cancelled", succeeded=1, StatusUpdateReason="operator stopped the copy")
    assert job.failure_details is not None
    assert job.failure_details.message == "StatusUpdateReason: operator stopped the copy"


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("TooManyRequestsException", 400, S3BatchThrottled),
        ("SlowDown", 503, S3BatchThrottled),
        ("NotFoundException", 404, JobNotFound),
        ("BadRequestException", 400, InvalidJobRequest),
        ("AccessDenied", 403, AccessDenied),
        ("InternalServiceException", 500, S3BatchUnavailable),
    ],
)
def test_describe_errors_are_the_tracker_s_own(code: str, status: int, error: type[Exception]) -> None:
    client = s3control()
    with Stubber(client) as stub:
        stub.add_client_error(
            "describe_job", code, "said", status, expected_params={"AccountId": ACCOUNT, "JobId": JOB_ID}
        )
        with pytest.raises(error, match=f"{JOB_ID} in account {ACCOUNT}"):
            S3BatchJobDescriber(client).describe(JobRef(ACCOUNT, JOB_ID), S3BATCH)


def test_the_describer_by_service_reaches_the_s3_batch_adapter() -> None:
    client = s3control()
    with Stubber(client) as stub:
        stub.add_response("describe_job", {"Job": descriptor("Active", succeeded=1)})
        job = DescriberByService({"s3": S3BatchJobDescriber(client)}).describe(JobRef(ACCOUNT, JOB_ID), S3BATCH)
    assert job.status is JobStatus.IN_PROGRESS


def test_the_sweep_lists_every_page_and_keeps_the_jobs_created_within_the_lookback() -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    client = s3control()

    def entry(job_id: str, age: timedelta, status: str = "Active") -> dict[str, Any]:
        return {
            "JobId": job_id,
            "Operation": "S3PutObjectCopy",
            "Priority": 10,
            "Status": status,
            "CreationTime": now - age,
        }

    recent, also_recent, old = (f"{n}{JOB_ID[1:]}" for n in "123")
    with Stubber(client) as stub:
        stub.add_response(
            "list_jobs",
            {
                "Jobs": [entry(recent, timedelta(hours=1)), entry(old, timedelta(days=9), "Complete")],
                "NextToken": "page2",
            },
            {"AccountId": ACCOUNT, "MaxResults": 1000},
        )
        stub.add_response(
            "list_jobs",
            # A job listed again on the next page (new jobs moved the pages) is listed once.
            {"Jobs": [entry(recent, timedelta(hours=1)), entry(also_recent, timedelta(days=2), "Suspended")]},
            {"AccountId": ACCOUNT, "MaxResults": 1000, "NextToken": "page2"},
        )
        lister = S3BatchJobLister(client, timedelta(days=7), lambda: now)
        pages = list(lister.list_job_pages(ACCOUNT, S3BATCH))
    assert [[(job.ref.job_id, job.status) for job in page] for page in pages] == [
        [(recent, "Active")],
        [(also_recent, "Suspended")],
    ]
    assert all(job.ref.domain_id == ACCOUNT and job.kind is S3BATCH for page in pages for job in page)


def test_a_list_that_fails_is_the_tracker_s_error() -> None:
    client = s3control()
    with Stubber(client) as stub:
        stub.add_client_error("list_jobs", "InvalidNextTokenException", "stale token", 400)
        lister = S3BatchJobLister(client, timedelta(days=7), lambda: CREATED)
        with pytest.raises(InvalidJobRequest, match=f"jobs of account {ACCOUNT}"):
            list(lister.list_jobs(ACCOUNT, S3BATCH))


# --- the report, row by row -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "row",
    [
        ["src", "a%20b.txt", "", "failed", "404", "NoSuchKey", "Not found"],  # as AWS's example rows
        ["src", "a%20b.txt", "", "failed", "NoSuchKey", "404", "Not found"],  # as ReportSchema declares
        ["src", "a%20b.txt", "failed", "404", "NoSuchKey", "Not found"],  # a troubleshooting example, no VersionId
        ["src", "a%20b.txt", "", "failed", "404", "NoSuchKey", "Not", " found"],  # an unquoted comma
    ],
    ids=["http first", "code first", "no version column", "unquoted comma"],
)
def test_a_row_is_read_by_position_in_either_documented_order(row: list[str]) -> None:
    task = parse_row(row, "s3://r/x.csv", 1)
    assert (task.bucket, task.key, task.version_id, task.status) == ("src", "a b.txt", None, "failed")
    assert (task.error_code, task.http_status) == ("NoSuchKey", 404)
    assert task.result_message in {"Not found", "Not, found"}


def test_a_row_without_task_status_is_refused_naming_file_and_line() -> None:
    with pytest.raises(OutputFileInvalid, match=r"s3://r/x.csv line 7 is not a task result"):
        parse_row(["Bucket", "Key", "VersionId", "TaskStatus"], "s3://r/x.csv", 7)
    with pytest.raises(OutputFileInvalid, match="line 2 has no HTTP status code beside its error code"):
        parse_row(["b", "k", "", "failed", "NoSuchKey", "Oops", "m"], "s3://r/x.csv", 2)


def test_a_results_csv_is_read_across_chunk_ends_with_crlf_lines_and_refused_when_not_text() -> None:
    body = 'src,a,,failed,404,NoSuchKey,"x\r\ny"\r\nsrc,b%C3%A9,,failed,403,AccessDenied,"d\u00e9nied"\r\n'.encode()
    location = S3Location(OUTPUT_BUCKET, f"{FOLDER}/results/r.csv")
    seen: list[FailedRequest] = []
    # One byte a chunk: every line, quoted newline and two-byte character straddles a chunk's end.
    read_results_csv((body[n : n + 1] for n in range(len(body))), location, ReportTally(), seen.append)
    assert [(f.details["Key"], f.details["LineNumber"], f.error_message) for f in seen] == [
        ("a", 1, "x\r\ny"),
        ("bé", 3, "dénied"),
    ]
    with pytest.raises(OutputFileInvalid, match=r"r\.csv is not UTF-8 text \(line 2\)"):
        read_results_csv(
            [b"src,a,,succeeded,200,,ok\nsrc,\xff,,failed,404,NoSuchKey,x\n"], location, ReportTally(), seen.append
        )
    with pytest.raises(OutputFileInvalid, match=r"r\.csv line 2 is longer than 64 characters"):
        list(text_lines([b"short\n", b"x" * 65], location.uri, max_line_characters=64))


# --- recording a report -----------------------------------------------------------------------------------------


def csv_rows(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def put_report(s3: Any, files: list[tuple[str, bytes]], folder: str = FOLDER) -> list[str]:
    """A completion report as S3 Batch Operations writes it: the CSVs, then manifest.json listing them."""
    results = []
    for index, (status, body) in enumerate(files):
        key = f"{folder}/results/{hashlib.sha1(f'{status}{index}'.encode()).hexdigest()}.csv"
        s3.put_object(Bucket=OUTPUT_BUCKET, Key=key, Body=body)
        results.append({"TaskExecutionStatus": status, "Bucket": OUTPUT_BUCKET, "MD5Checksum": "0" * 32, "Key": key})
    manifest = {
        "Format": "Report_CSV_20180820",
        "ReportCreationDate": "2026-12-01T10:20:00.000Z",
        "Results": results,
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage",
    }
    s3.put_object(Bucket=OUTPUT_BUCKET, Key=f"{folder}/manifest.json", Body=json.dumps(manifest).encode())
    return [str(entry["Key"]) for entry in results]


_deserializer = TypeDeserializer()


def items(dynamodb: Any) -> dict[str, dict[str, Any]]:
    found = dynamodb.query(
        TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": PK}}
    )["Items"]
    return {
        entry["sk"]["S"]: {name: _deserializer.deserialize(value) for name, value in entry.items()} for entry in found
    }


def failures(dynamodb: Any) -> dict[str, dict[str, Any]]:
    return {key.removeprefix("FAILURE#"): item for key, item in items(dynamodb).items() if key.startswith("FAILURE#")}


def record(s3: Any, dynamodb: Any, job: JobDescription) -> Any:
    request = {"DomainId": ACCOUNT, "JobId": JOB_ID, "JobKind": S3BATCH.name, "Job": job_to_payload(job)}
    return record_job(request, S3ObjectReader(s3, chunk_bytes=97), DynamoDbFailureStore(dynamodb, TABLE))


SUCCEEDED_ROWS = [
    ["src", "ok/1.txt", "", "succeeded", "200", "", "Successful"],
    ["src", "ok/2.txt", "v2", "succeeded", "200", "", "Successful"],
]


def test_a_copy_job_s_failed_tasks_are_one_item_each_in_both_column_orders_keys_decoded(s3: Any, dynamodb: Any) -> None:
    failed = csv_rows(
        [
            [
                "src",
                "photos/my%20cat+%C3%A9t%C3%A9.jpg",
                "",
                "failed",
                "404",
                "NoSuchKey",
                "The specified key does not exist.",
            ],
            [
                "forbidden",
                "a%2Bb%2Fc.txt",
                "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
                "failed",
                "AccessDenied",
                "403",
                "Access Denied",
            ],
        ]
    )
    keys = put_report(s3, [("succeeded", csv_rows(SUCCEEDED_ROWS)), ("failed", failed)])
    result = record(s3, dynamodb, described("Complete", total=4, succeeded=2, failed=2))
    found = failures(dynamodb)
    name = keys[1].rsplit("/", 1)[1]
    assert sorted(found) == [f"{name}:1", f"{name}:2"]
    missing, denied = found[f"{name}:1"], found[f"{name}:2"]
    # None is not written: an item without VersionId names an unversioned task.
    assert {field: missing.get(field) for field in ("Bucket", "Key", "VersionId", "ErrorCode", "HTTPStatusCode")} == {
        "Bucket": "src",
        "Key": "photos/my cat été.jpg",
        "VersionId": None,
        "ErrorCode": "NoSuchKey",
        "HTTPStatusCode": 404,
    }
    assert missing["ResultMessage"] == missing["ErrorMessage"] == "The specified key does not exist."
    assert (missing["ReportFile"], missing["LineNumber"]) == (f"s3://{OUTPUT_BUCKET}/{keys[1]}", 1)
    assert (denied["Key"], denied["VersionId"]) == ("a+b/c.txt", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")
    assert (denied["ErrorCode"], denied["HTTPStatusCode"]) == ("AccessDenied", 403)
    assert denied["JobKind"] == "S3_BATCH_OPERATIONS" and denied["RequestId"] == f"{name}:2"
    summary = items(dynamodb)["SUMMARY"]
    assert (summary["RecordState"], summary["JobStatus"], summary["TrackerJobStatus"]) == (
        "COMPLETE",
        "Complete",
        "COMPLETED_WITH_ERRORS",
    )
    assert (summary["FailedTaskCount"], summary["SucceededTaskCount"], summary["UnnamedFailedTaskCount"]) == (2, 2, 0)
    assert (summary["TotalTaskCount"], summary["UnprocessedTaskCount"], summary["ReportFileCount"]) == (4, 0, 2)
    assert "CountMismatches" not in summary and summary["ReportRead"] is True
    assert summary["OutputUri"] == f"s3://{OUTPUT_BUCKET}/{FOLDER}/"
    assert result.to_output("t")["FailedRequests"] == 2


def test_quoted_fields_with_commas_quotes_and_newlines_keep_each_task_s_first_line(s3: Any, dynamodb: Any) -> None:
    message = 'Lambda returned function error: {"errorMessage": "bad, very bad",\n"trace": ["line 2"]}'
    failed = csv_rows(
        [
            ["src", "lambda/1", "", "failed", "200", "PermanentFailure", message],
            ["src", "lambda/2", "", "failed", "200", "TemporaryFailure", "Retries\r\nexhausted"],
            ["src", "lambda/3", "", "failed", "500", "InternalError", "We encountered an internal error."],
        ]
    )
    (key,) = put_report(s3, [("failed", failed)])
    record(s3, dynamodb, described("Complete", total=3, failed=3, report=report_config(scope="FailedTasksOnly")))
    name = key.rsplit("/", 1)[1]
    found = failures(dynamodb)
    # Rows start on lines 1, 3 and 5: the first two each span two lines.
    assert {item["Key"]: (item["LineNumber"], item["ErrorCode"]) for item in found.values()} == {
        "lambda/1": (1, "PermanentFailure"),
        "lambda/2": (3, "TemporaryFailure"),
        "lambda/3": (5, "InternalError"),
    }
    assert found[f"{name}:1"]["ResultMessage"] == message
    assert found[f"{name}:3"]["ResultMessage"] == "Retries\r\nexhausted"


def test_a_failed_tasks_only_report_takes_successes_from_the_progress_summary(s3: Any, dynamodb: Any) -> None:
    put_report(s3, [("failed", csv_rows([["src", "k", "", "failed", "404", "NoSuchKey", "gone"]]))])
    job = described("Complete", total=5, succeeded=4, failed=1, report=report_config(scope="FailedTasksOnly"))
    record(s3, dynamodb, job)
    summary = items(dynamodb)["SUMMARY"]
    assert (summary["FailedTaskCount"], summary["SucceededTaskCount"], summary["ReportScope"]) == (
        1,
        4,
        "FailedTasksOnly",
    )
    assert "CountMismatches" not in summary


def test_an_all_tasks_report_counts_its_succeeded_rows_and_names_a_mismatch(s3: Any, dynamodb: Any) -> None:
    put_report(
        s3,
        [
            ("succeeded", csv_rows(SUCCEEDED_ROWS)),
            ("failed", csv_rows([["src", "k", "", "failed", "404", "NoSuchKey", "gone"]])),
        ],
    )
    # ProgressSummary counts one more failed task and one more success than the report lists.
    record(s3, dynamodb, described("Complete", total=5, succeeded=3, failed=2))
    summary = items(dynamodb)["SUMMARY"]
    assert (summary["FailedTaskCount"], summary["SucceededTaskCount"], summary["UnnamedFailedTaskCount"]) == (1, 2, 1)
    assert summary["CountMismatches"] == [
        "ProgressSummary says NumberOfTasksFailed 2, the report lists 1 failed task(s)",
        "ProgressSummary says NumberOfTasksSucceeded 3, the report lists 2 succeeded task(s)",
    ]


def test_an_empty_report_of_a_job_whose_tasks_all_succeeded_records_no_failure(s3: Any, dynamodb: Any) -> None:
    # A FailedTasksOnly report of a job without failures lists no file; an AllTasks one may list an empty CSV.
    put_report(s3, [("succeeded", b"")])
    record(s3, dynamodb, described("Complete", total=0, report=report_config()))
    summary = items(dynamodb)["SUMMARY"]
    assert (summary["RecordState"], summary["FailedTaskCount"], summary["SucceededTaskCount"]) == ("COMPLETE", 0, 0)
    assert summary["ReportFileCount"] == 1 and "CountMismatches" not in summary


def test_a_job_failed_by_its_threshold_is_recorded_from_its_report(s3: Any, dynamodb: Any) -> None:
    rows = [["src", f"k{n}", "", "failed", "403", "AccessDenied", "Access Denied"] for n in range(3)]
    put_report(s3, [("succeeded", csv_rows(SUCCEEDED_ROWS[:1])), ("failed", csv_rows(rows))])
    reasons = [{"FailureCode": "TaskFailureThresholdExceeded", "FailureReason": "More than 50% of the tasks failed"}]
    job = described("Failed", total=10, succeeded=1, failed=3, FailureReasons=reasons)
    assert job.status is JobStatus.FAILED
    record(s3, dynamodb, job)
    assert len(failures(dynamodb)) == 3
    summary = items(dynamodb)["SUMMARY"]
    assert (summary["JobStatus"], summary["TrackerJobStatus"], summary["FailedTaskCount"]) == ("Failed", "FAILED", 3)
    assert summary["UnprocessedTaskCount"] == 6
    assert summary["FailureDetails"]["Message"] == "TaskFailureThresholdExceeded: More than 50% of the tasks failed"


def test_a_job_that_failed_before_any_task_is_recorded_with_its_failure_reasons_not_as_a_zero(
    s3: Any, dynamodb: Any
) -> None:
    reasons = [
        {"FailureCode": "ManifestETagMismatch", "FailureReason": "Reading the manifest is forbidden: AccessDenied"}
    ]
    record(s3, dynamodb, described("Failed", total=0, FailureReasons=reasons))
    summary = items(dynamodb)["SUMMARY"]
    assert (summary["RecordState"], summary["JobStatus"], summary["TrackerJobStatus"]) == (
        "COMPLETE",
        "Failed",
        "FAILED",
    )
    assert (
        summary["FailureDetails"]["Message"] == "ManifestETagMismatch: Reading the manifest is forbidden: AccessDenied"
    )
    assert summary["NoReportReason"].startswith("no task ran before the job ended Failed")
    assert summary["ReportRead"] is False and summary["UnnamedFailedTaskCount"] == 0


def test_a_job_whose_report_is_disabled_counts_its_failed_tasks_as_unnamed(s3: Any, dynamodb: Any) -> None:
    record(s3, dynamodb, described("Complete", total=4, succeeded=1, failed=3, report=report_config(enabled=False)))
    summary = items(dynamodb)["SUMMARY"]
    assert (summary["FailedTaskCount"], summary["UnnamedFailedTaskCount"], summary["SucceededTaskCount"]) == (0, 3, 1)
    assert summary["NoReportReason"].startswith("the job's completion report is disabled (Report.Enabled false)")
    assert "OutputUri" not in summary and summary["ReportRead"] is False


def test_a_job_without_progress_or_report_leaves_its_failed_count_unknown(s3: Any, dynamodb: Any) -> None:
    record(s3, dynamodb, described("Cancelled", total=None))
    summary = items(dynamodb)["SUMMARY"]
    # Unknown counts are absent from the summary, never 0.
    assert "UnnamedFailedTaskCount" not in summary and "SucceededTaskCount" not in summary
    assert "DescribeJob gave no ProgressSummary: whether any task ran" in summary["NoReportReason"]


@pytest.mark.parametrize(
    ("status", "said"), [("Complete", "ProgressSummary says 4 task\\(s\\) ran"), ("Cancelled", "ProgressSummary says")]
)
def test_a_missing_report_of_a_job_that_ran_tasks_is_not_recorded(
    s3: Any, dynamodb: Any, status: str, said: str
) -> None:
    manifest = f"s3://{OUTPUT_BUCKET}/{FOLDER}/manifest.json"
    with pytest.raises(RecordingIncomplete, match=rf"{manifest} cannot be read, yet {said}"):
        record(s3, dynamodb, described(status, total=6, succeeded=3, failed=1))
    summary = items(dynamodb)["SUMMARY"]
    # The state machine retries RecordingIncomplete, then marks the summary FAILED; meanwhile it says why.
    assert summary["RecordState"] == "RECORDING"
    assert f"{manifest} cannot be read" in summary["RecordProblem"]


def test_a_report_manifest_that_is_not_json_is_refused(s3: Any, dynamodb: Any) -> None:
    s3.put_object(Bucket=OUTPUT_BUCKET, Key=f"{FOLDER}/manifest.json", Body=b"{not json")
    with pytest.raises(OutputFileInvalid, match=r"manifest\.json is not JSON"):
        record(s3, dynamodb, described("Complete", succeeded=4))
    assert items(dynamodb)["SUMMARY"]["RecordState"] == "FAILED"


def test_a_re_record_rewrites_the_same_items_and_drops_those_the_report_no_longer_lists(s3: Any, dynamodb: Any) -> None:
    rows = [["src", f"k{n}", "", "failed", "404", "NoSuchKey", "gone"] for n in range(3)]
    put_report(s3, [("failed", csv_rows(rows))])
    job = described("Complete", total=3, failed=3, report=report_config(scope="FailedTasksOnly"))
    record(s3, dynamodb, job)
    first = items(dynamodb)
    record(s3, dynamodb, job)
    assert items(dynamodb) == first
    put_report(s3, [("failed", csv_rows(rows[:2]))])
    result = record(s3, dynamodb, job)
    assert result.stale_failures_removed == 1 and len(failures(dynamodb)) == 2


def test_a_report_as_the_local_s3_batch_operations_writes_it_is_recorded_exactly(s3: Any, dynamodb: Any) -> None:
    """The emulator's own report writer (split files, URL-encoded keys, the HTTP status before the error code):
    what the local cloud's jobs will leave for the record step."""
    raw_keys = ["in/a%20b.txt", "in/%C3%A9t%C3%A9+1.txt", "in/ok.txt", "in/gone.txt", "in/lambda.txt"]
    outcomes = [
        (True, 200, "", ""),
        (False, 404, "NoSuchKey", "The specified key does not exist."),
        (True, 200, "", ""),
        (False, 403, "AccessDenied", "Access Denied"),
        (False, 200, "PermanentFailure", 'Lambda returned function error: {"errorMessage": "no, really"}'),
    ]
    tasks = [Task("src", raw, urllib.parse.unquote_plus(raw), None) for raw in raw_keys]
    results = [TaskResult(task, *outcome) for task, outcome in zip(tasks, outcomes, strict=True)]
    emulated = EmulatedJob(
        job_id=JOB_ID,
        arn=f"arn:aws:s3:{REGION}:{ACCOUNT}:job/{JOB_ID}",
        params={"Report": report_config(), "Operation": {"S3PutObjectCopy": {}}},
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/S3BatchOperations",
        priority=10,
        creation_time=CREATED.timestamp(),
        confirmation_required=False,
        client_token="token",
        fingerprint="fingerprint",
        tags=[],
    )
    written = write_report(s3, emulated, results, rows_per_file=2, now=ENDED.timestamp())
    assert written[-1] == f"{FOLDER}/manifest.json" and len(written) == 4  # 2 succeeded in 1 file, 3 failed in 2
    record(s3, dynamodb, described("Complete", total=5, succeeded=2, failed=3))
    found = {
        item["Key"]: (item["ErrorCode"], item["HTTPStatusCode"], item["ErrorMessage"])
        for item in failures(dynamodb).values()
    }
    assert found == {
        "in/été 1.txt": ("NoSuchKey", 404, "The specified key does not exist."),
        "in/gone.txt": ("AccessDenied", 403, "Access Denied"),
        "in/lambda.txt": ("PermanentFailure", 200, 'Lambda returned function error: {"errorMessage": "no, really"}'),
    }
    summary = items(dynamodb)["SUMMARY"]
    assert (summary["SucceededTaskCount"], summary["ReportFileCount"]) == (2, 3)
    assert "CountMismatches" not in summary


# --- a large report, streamed -----------------------------------------------------------------------------------


class GeneratedReport:
    """An ObjectReader whose one results CSV is generated chunk by chunk as it is read: `rows` tasks, every
    `failed_every`-th failed. Nothing holds the report, so what tracemalloc sees is the reader's own memory."""

    def __init__(self, rows: int, failed_every: int) -> None:
        self.rows = rows
        self.failed_every = failed_every
        self.bytes_read = 0
        self.csv_key = f"{FOLDER}/results/{'ab' * 20}.csv"

    def chunks(self, location: S3Location) -> Iterator[bytes]:
        if location.key.endswith("manifest.json"):
            entry = {"TaskExecutionStatus": "failed", "Bucket": OUTPUT_BUCKET, "Key": self.csv_key}
            yield json.dumps({"Format": "Report_CSV_20180820", "Results": [entry]}).encode()
            return
        batch: list[str] = []
        for n in range(self.rows):
            if n % self.failed_every == 0:
                batch.append(f'src,data/object%20{n:09d}.bin,,failed,404,NoSuchKey,"Not found, key {n}"\n')
            else:
                batch.append(f"src,data/object%20{n:09d}.bin,,succeeded,200,,Successful\n")
            if len(batch) == 1000:
                chunk = "".join(batch).encode()
                self.bytes_read += len(chunk)
                yield chunk
                batch.clear()
        if batch:
            chunk = "".join(batch).encode()
            self.bytes_read += len(chunk)
            yield chunk

    def keys(self, prefix: S3Location) -> Iterator[str]:
        raise AssertionError("the report reader lists nothing: manifest.json names its files")


def test_a_large_report_is_streamed_in_bounded_memory() -> None:
    rows, failed_every = 200_000, 1_000
    report = GeneratedReport(rows, failed_every)
    job = job_from_payload(
        job_to_payload(
            described("Complete", total=rows, succeeded=rows - rows // failed_every, failed=rows // failed_every)
        )
    )
    seen: list[int] = []

    def count(failure: FailedRequest) -> None:
        seen.append(failure.details["LineNumber"])

    tracemalloc.start()
    try:
        tally = read_s3batch_report(job, report, count)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert tally.failed == len(seen) == rows // failed_every
    assert seen[:3] == [1, 1 + failed_every, 1 + 2 * failed_every]
    assert tally.summary["SucceededTaskCount"] == rows - rows // failed_every
    assert tally.summary["CountMismatches"] is None
    # 11 MB of report went through; the reader held under a tenth of it (the failed tasks' 200 ids included).
    assert report.bytes_read > 11_000_000
    assert peak < 1_000_000, f"peak {peak} bytes"
