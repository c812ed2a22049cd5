"""Completion reports (s3batch-facts §4): under `<prefix>/job-<JobId>/` (no prefix: `job-<JobId>/`) the report
`manifest.json` and `results/<40 hex>.csv`, the succeeded and the failed tasks in separate files, each object
encrypted with SSE-S3 (AWS always encrypts reports so; the JobReport shape has no encryption field).

The CSV rows have no header and, as every row AWS publishes, put the HTTP status before the error code:
`Bucket,Key,VersionId,TaskStatus,HTTPStatusCode,ErrorCode,ResultMessage`, while the manifest's `ReportSchema`
string keeps AWS's own declared order ("... TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"): both exactly
as AWS writes them, so a reader parses by position and checks the numeric column (s3batch-facts §4). Keys are
written as the manifest had them (URL-encoded), which AWS's sample decodes with `unquote_plus` [unconfirmed
by an AWS statement]. The model's doc names the report `report.json`; the user guide's layout and example say
`manifest.json`, which this follows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from s3batch_emulator.store import Job, TaskResult

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REPORT_FORMAT = "Report_CSV_20180820"
REPORT_SCHEMA = "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"


@dataclass(frozen=True)
class ReportLocation:
    bucket: str
    folder: str
    """`<prefix>/job-<JobId>` or `job-<JobId>`, no trailing slash."""

    @classmethod
    def of(cls, job: Job) -> ReportLocation:
        report = job.params["Report"]
        bucket = str(report["Bucket"]).split(":::", 1)[-1]
        prefix = str(report.get("Prefix") or "").strip("/")
        folder = f"{prefix}/job-{job.job_id}" if prefix else f"job-{job.job_id}"
        return cls(bucket, folder)


def report_wanted(job: Job) -> bool:
    """A report is written for an enabled report once at least one task ran (s3batch-facts §4)."""
    return bool(job.params["Report"].get("Enabled")) and job.tasks_run > 0


def csv_rows(results: list[TaskResult]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for result in results:
        task = result.task
        writer.writerow(
            [
                task.bucket,
                task.raw_key,
                task.version_id or "",
                "succeeded" if result.succeeded else "failed",
                result.http_status,
                result.error_code,
                result.message,
            ]
        )
    return out.getvalue().encode()


def _file_name(job_id: str, status: str, index: int) -> str:
    return hashlib.sha1(f"{job_id}/{status}/{index}".encode(), usedforsecurity=False).hexdigest() + ".csv"


def write_report(s3: S3Client, job: Job, results: list[TaskResult], rows_per_file: int, now: float) -> list[str]:
    """Write the report's CSVs, then its manifest.json; the keys written, manifest.json last."""
    location = ReportLocation.of(job)
    scope = job.params["Report"].get("ReportScope", "AllTasks")
    groups: dict[str, list[TaskResult]] = {
        "succeeded": [] if scope == "FailedTasksOnly" else [r for r in results if r.succeeded],
        "failed": [r for r in results if not r.succeeded],
    }
    entries: list[dict[str, Any]] = []
    written: list[str] = []
    for status, rows in groups.items():
        for index, start in enumerate(range(0, len(rows), rows_per_file)):
            body = csv_rows(rows[start : start + rows_per_file])
            key = f"{location.folder}/results/{_file_name(job.job_id, status, index)}"
            _put(s3, location.bucket, key, body, "text/csv")
            written.append(key)
            entries.append(
                {
                    "TaskExecutionStatus": status,
                    "Bucket": location.bucket,
                    "MD5Checksum": hashlib.md5(body, usedforsecurity=False).hexdigest(),
                    "Key": key,
                }
            )
    manifest = {
        "Format": REPORT_FORMAT,
        "ReportCreationDate": _report_date(now),
        "Results": entries,
        "ReportSchema": REPORT_SCHEMA,
    }
    key = f"{location.folder}/manifest.json"
    _put(s3, location.bucket, key, json.dumps(manifest).encode(), "application/json")
    written.append(key)
    return written


def _put(s3: S3Client, bucket: str, key: str, body: bytes, content_type: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, ServerSideEncryption="AES256")


def _report_date(now: float) -> str:
    moment = datetime.fromtimestamp(now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
