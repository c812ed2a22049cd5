"""Read a finished S3 Batch Operations job's completion report: its `manifest.json`, then every results CSV.

The report of a job whose report is enabled and that ran at least one task lies under `<Prefix>/job-<JobId>/`
in the report bucket (fact sheet §4; the describe adapter puts that folder in `JobDescription.output`)::

    manifest.json      {"Format": "Report_CSV_20180820", "ReportSchema": "Bucket, Key, VersionId, TaskStatus,
                        ErrorCode, HTTPStatusCode, ResultMessage", "Results": [{"TaskExecutionStatus":
                        "succeeded" | "failed", "Bucket": "<bucket>", "Key": "<...>/results/<hex>.csv", ...}]}
    results/<hex>.csv  one task a row, no header: Bucket,Key,VersionId,TaskStatus,...,ResultMessage

The schema string declares ErrorCode before HTTPStatusCode, while every row AWS publishes puts the HTTP status
first (`failed,404,NoSuchKey,...`): each row is read by position and the numeric one of the two columns is the
HTTP status, so both orders are read alike. Keys are URL-encoded, as in the job's manifest, and are decoded
(`unquote_plus`, as AWS's own sample does).

A report reaches millions of rows, so every CSV is streamed: csv.reader over the lines of one chunk at a time
(S3ObjectReader's 64 KiB chunks), and nothing of a row outlives it but, for a failed task, its item
(written at once) and its id (what the recording step needs to delete stale items on a re-record).

Missing evidence is never a zero. The report's counts are cross-checked against DescribeJob's ProgressSummary
(each disagreement named in CountMismatches). A job whose ProgressSummary says tasks ran but whose report's
manifest.json cannot be read is not recorded (RecordingIncomplete: retried, then FAILED naming the object). A
job with no report (it ran no task, or its report is disabled) is recorded with its FailureReasons and the
reason there is no report, its failed tasks counted from ProgressSummary as unnamed, or unknown.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import json
import logging
import operator
import posixpath
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from job_tracker.adapters.s3 import ObjectReader
from job_tracker.adapters.s3control import bucket_name
from job_tracker.errors import AccessDenied, OutputFileInvalid, OutputFileMissing, RecordingIncomplete
from job_tracker.jsonl import MAX_LINE_BYTES
from job_tracker.kinds.s3_batch_operations import FAILED_TASKS, FAILED_TASKS_ONLY, SUCCEEDED_TASKS, TOTAL_TASKS
from job_tracker.models import JobDescription, S3Location
from job_tracker.output_file import FailedRequest, OutputTally

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
REPORT_FORMAT = "Report_CSV_20180820"
SUCCEEDED = "succeeded"
FAILED = "failed"
TASK_STATUSES = frozenset({SUCCEEDED, FAILED})
# A ResultMessage can hold a Lambda function's whole answer; a message cut here still names the problem, and
# keeps an item far below DynamoDB's 400 KB (the message is on the item twice: ErrorMessage and ResultMessage).
MAX_RESULT_MESSAGE_CHARACTERS = 4_000
PROGRESS_SOURCE = "ProgressSummary"
# Statuses a job reaches only after running its tasks: without counts, its missing report is missing evidence.
STATUSES_WITH_TASKS_RUN = frozenset({"Complete"})


@dataclass(frozen=True)
class TaskRow:
    """One row of a results CSV, its key decoded."""

    bucket: str
    key: str
    version_id: str | None
    status: str
    error_code: str
    http_status: int | None
    result_message: str


def _is_http_status(value: str) -> bool:
    return len(value) == 3 and value.isascii() and value.isdigit()


def parse_row(row: list[str], source: str, line: int) -> TaskRow:
    """A results row read by position: `Bucket, Key, VersionId, TaskStatus`, then the error code and the HTTP
    status in either documented order (the numeric one is the status), then ResultMessage. A row without the
    VersionId column (as one of AWS's troubleshooting examples prints it) is read too, and a ResultMessage
    split by unquoted commas is joined back."""
    if len(row) >= 4 and row[3] in TASK_STATUSES:
        bucket, raw_key, version_id, status = row[:4]
        rest = row[4:]
    elif len(row) >= 3 and row[2] in TASK_STATUSES:
        bucket, raw_key, status = row[:3]
        version_id, rest = "", row[3:]
    else:
        raise OutputFileInvalid(
            f"{source} line {line} is not a task result: no TaskStatus (succeeded or failed) in its 4th column"
        )
    first, second = [*rest, "", ""][:2]
    message = ",".join(rest[2:])
    if _is_http_status(first):
        http, code = first, second  # the order of every row AWS publishes
    elif _is_http_status(second):
        code, http = first, second  # the order ReportSchema declares
    elif first and second:
        raise OutputFileInvalid(
            f"{source} line {line} has no HTTP status code beside its error code: {first!r}, {second!r}"
        )
    else:
        http, code = "", first or second
    if not bucket or not raw_key:
        raise OutputFileInvalid(f"{source} line {line} names no bucket or no key")
    return TaskRow(
        bucket=bucket,
        key=urllib.parse.unquote_plus(raw_key),
        version_id=version_id or None,
        status=status,
        error_code=code,
        http_status=int(http) if http else None,
        result_message=message,
    )


def _cut(message: str) -> str:
    if len(message) <= MAX_RESULT_MESSAGE_CHARACTERS:
        return message
    return message[:MAX_RESULT_MESSAGE_CHARACTERS] + "... (cut)"


def task_failure(task: TaskRow, report_file: S3Location, line: int) -> FailedRequest:
    """A failed task's item: its id is its place in the report (the CSV's name and the row's first line), which
    a re-record finds again, so it rewrites the same item."""
    code: int | str
    if task.error_code:
        code = task.error_code
    elif task.http_status is not None:
        code = task.http_status
    else:
        raise OutputFileInvalid(f"{report_file.uri} line {line} is a failed task with no error code or HTTP status")
    message = _cut(task.result_message)
    return FailedRequest(
        request_id=f"{posixpath.basename(report_file.key)}:{line}",
        error_code=code,
        error_message=message,
        details={
            "Bucket": task.bucket,
            "Key": task.key,
            "VersionId": task.version_id,
            "ErrorCode": task.error_code or None,
            "HTTPStatusCode": task.http_status,
            "ResultMessage": message,
            "ReportFile": report_file.uri,
            "LineNumber": line,
        },
    )


def text_lines(chunks: Iterable[bytes], source: str, max_line_characters: int = MAX_LINE_BYTES) -> Iterator[str]:
    """The object's lines as text, each with its line end, as csv.reader wants them (a quoted field spanning
    lines keeps its newline). Memory holds one chunk and one line; a line longer than `max_line_characters` is
    refused. Each chunk is split at once, not line by line as jsonl.lines does: a report's rows are short and
    millions, and a Python step per row would take twice the time csv.reader itself takes."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    pending = ""
    lines_before = 0
    for chunk in chunks:
        try:
            parts = (pending + decoder.decode(chunk)).split("\n")
        except UnicodeDecodeError as error:
            near = lines_before + chunk[: max(error.start, 0)].count(b"\n") + 1
            raise OutputFileInvalid(f"{source} is not UTF-8 text (line {near})") from None
        pending = parts.pop()
        lines_before += len(parts)
        if len(pending) > max_line_characters:
            raise OutputFileInvalid(
                f"{source} line {lines_before + 1} is longer than {max_line_characters} characters (no line end?)"
            )
        yield from map(operator.add, parts, itertools.repeat("\n"))
    try:
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise OutputFileInvalid(f"{source} is not UTF-8 text (line {lines_before + 1} ends mid-character)") from None
    if pending:
        yield pending


@dataclass
class ReportTally:
    """What the results CSVs of a report say, over every file."""

    succeeded: int = 0
    failed: int = 0
    files: int = 0
    failed_ids: set[str] = field(default_factory=set)


def read_results_csv(
    chunks: Iterable[bytes], location: S3Location, tally: ReportTally, on_failure: Callable[[FailedRequest], None]
) -> None:
    """One results CSV, row by row: each failed task handed to `on_failure` as it is read; successes counted."""
    tally.files += 1
    rows = csv.reader(text_lines(chunks, location.uri))
    try:
        for row in rows:
            if len(row) > 3 and row[3] == SUCCEEDED:
                tally.succeeded += 1  # the common row, counted without being parsed
                continue
            if not row:
                continue
            # The row's first line: csv.reader has read up to its last, one more for each newline in a field.
            line = rows.line_num - sum(cell.count("\n") for cell in row)
            task = parse_row(row, location.uri, line)
            if task.status == SUCCEEDED:
                tally.succeeded += 1
                continue
            failure = task_failure(task, location, line)
            tally.failed += 1
            tally.failed_ids.add(failure.request_id)
            on_failure(failure)
    except csv.Error as error:
        raise OutputFileInvalid(f"{location.uri} line {rows.line_num} is not CSV: {error}") from None


@dataclass(frozen=True)
class ResultFile:
    location: S3Location
    status: str


def manifest_location(folder: S3Location) -> S3Location:
    return S3Location(folder.bucket, posixpath.join(folder.key, MANIFEST_NAME))


def result_files(document: object, source: str) -> list[ResultFile]:
    """The results CSVs a report's manifest.json lists, each once, in its order."""
    if not isinstance(document, dict):
        raise OutputFileInvalid(f"{source} is not a JSON object")
    report_format = document.get("Format")
    if report_format is not None and report_format != REPORT_FORMAT:
        raise OutputFileInvalid(f"{source} is of Format {report_format!r}; the tracker reads {REPORT_FORMAT}")
    results = document.get("Results")
    if not isinstance(results, list):
        raise OutputFileInvalid(f"{source} has no Results list")
    files: list[ResultFile] = []
    seen: set[S3Location] = set()
    for number, entry in enumerate(results, start=1):
        bucket = entry.get("Bucket") if isinstance(entry, dict) else None
        key = entry.get("Key") if isinstance(entry, dict) else None
        status = entry.get("TaskExecutionStatus") if isinstance(entry, dict) else None
        if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
            raise OutputFileInvalid(f"{source} Results entry {number} names no Bucket and Key")
        if status not in TASK_STATUSES:
            raise OutputFileInvalid(
                f"{source} Results entry {number} has TaskExecutionStatus {status!r}, not succeeded or failed"
            )
        location = S3Location(bucket_name(bucket), key)
        if location not in seen:
            seen.add(location)
            files.append(ResultFile(location, str(status)))
    return files


def _progress(job: JobDescription, name: str) -> int | None:
    value = (job.record_counts or {}).get(name)
    return value if isinstance(value, int) else None


def _tasks_run(job: JobDescription) -> int | None:
    succeeded, failed = _progress(job, SUCCEEDED_TASKS), _progress(job, FAILED_TASKS)
    return None if succeeded is None or failed is None else succeeded + failed


def _read_manifest(location: S3Location, reader: ObjectReader) -> list[ResultFile] | None:
    """The report's result files; None when its manifest.json cannot be read (missing, or not readable: without
    s3:ListBucket S3 answers a missing object with 403)."""
    try:
        body = b"".join(reader.chunks(location))
    except (OutputFileMissing, AccessDenied) as error:
        logger.warning("No readable report manifest", extra={"manifest_uri": location.uri, "problem": str(error)})
        return None
    try:
        document = json.loads(body)
    except ValueError as error:
        raise OutputFileInvalid(f"{location.uri} is not JSON: {error}") from None
    return result_files(document, location.uri)


REPORT_DISABLED = (
    "the job's completion report is disabled (Report.Enabled false), so no failed task can be named; "
    f"{PROGRESS_SOURCE} counts them"
)


def _no_report_reason(job: JobDescription, manifest: S3Location) -> str | None:
    """Why an enabled report's manifest.json may well be absent, or None when its absence is missing evidence
    (tasks ran, or the job says it ran them), which RecordingIncomplete reports instead."""
    run = _tasks_run(job)
    ended = job.reported_status
    if run == 0:
        return (
            f"no task ran before the job ended {ended}: S3 Batch Operations writes a completion report once a task "
            f"has run (the job's FailureReasons, if any, say why)"
        )
    if run is None and ended not in STATUSES_WITH_TASKS_RUN:
        return (
            f"{manifest.uri} does not exist, and DescribeJob gave no {PROGRESS_SOURCE}: whether any task ran before "
            f"the job ended {ended} is unknown"
        )
    return None


def _missing_report(job: JobDescription, manifest: S3Location) -> RecordingIncomplete:
    run = _tasks_run(job)
    evidence = f"{PROGRESS_SOURCE} says {run} task(s) ran" if run else f"the job ended {job.reported_status}"
    return RecordingIncomplete(
        f"{manifest.uri} cannot be read, yet {evidence}: the job's completion report is missing (not written "
        "yet, removed, or not readable by the tracker), so its failed tasks cannot be told; the record is "
        "retried, and marked FAILED if the report never appears"
    )


def _without_report(job: JobDescription, reason: str) -> OutputTally:
    """A job with no report: nothing named, its counts from ProgressSummary (absent: unknown), and why."""
    logger.warning("The job has no completion report", extra={"reason": reason})
    return OutputTally(
        summary=_summary(
            job,
            ReportTally(),
            succeeded=_progress(job, SUCCEEDED_TASKS),
            mismatches=[],
            report_read=False,
            no_report_reason=reason,
        )
    )


def cross_check(job: JobDescription, report: ReportTally, lists_successes: bool) -> list[str]:
    """Where the report's rows and DescribeJob's ProgressSummary disagree, each named; empty when they agree."""
    compared = [(FAILED_TASKS, report.failed, "failed")]
    if lists_successes:
        compared.append((SUCCEEDED_TASKS, report.succeeded, "succeeded"))
    mismatches: list[str] = []
    for name, read, word in compared:
        reported = _progress(job, name)
        if reported is not None and reported != read:
            mismatches.append(f"{PROGRESS_SOURCE} says {name} {reported}, the report lists {read} {word} task(s)")
    return mismatches


def _unnamed_failed(job: JobDescription, named: int) -> int | None:
    reported = _progress(job, FAILED_TASKS)
    return None if reported is None else max(reported - named, 0)


def _unprocessed(job: JobDescription) -> int | None:
    total, run = _progress(job, TOTAL_TASKS), _tasks_run(job)
    return None if total is None or run is None else max(total - run, 0)


def read_s3batch_report(
    job: JobDescription, reader: ObjectReader, on_failure: Callable[[FailedRequest], None]
) -> OutputTally:
    """Stream every results CSV of `job`'s report, hand each failed task to `on_failure`, and return the tally
    with the summary's S3 Batch Operations attributes."""
    if job.output is None:
        return _without_report(job, REPORT_DISABLED)
    manifest = manifest_location(job.output)
    files = _read_manifest(manifest, reader)
    if files is None:
        reason = _no_report_reason(job, manifest)
        if reason is None:
            raise _missing_report(job, manifest)
        return _without_report(job, reason)
    report = ReportTally()
    for result in files:
        read_results_csv(reader.chunks(result.location), result.location, report, on_failure)
    lists_successes = job.output_scope != FAILED_TASKS_ONLY
    mismatches = cross_check(job, report, lists_successes)
    if mismatches:
        logger.warning("Task counts disagree; the report's are recorded", extra={"mismatches": mismatches})
    # A FailedTasksOnly report lists no success: ProgressSummary is the only count of them.
    succeeded = report.succeeded if lists_successes else _progress(job, SUCCEEDED_TASKS)
    summary = _summary(job, report, succeeded=succeeded, mismatches=mismatches, report_read=True)
    logger.info(
        "Read the job's completion report",
        extra={"files": report.files, "succeeded": report.succeeded, "failed": report.failed, **summary},
    )
    return OutputTally(failed=report.failed, failed_request_ids=report.failed_ids, summary=summary)


def _summary(
    job: JobDescription,
    report: ReportTally,
    *,
    succeeded: int | None,
    mismatches: list[str],
    report_read: bool,
    no_report_reason: str | None = None,
) -> dict[str, Any]:
    return {
        "SucceededTaskCount": succeeded,
        "UnnamedFailedTaskCount": _unnamed_failed(job, report.failed),
        "UnprocessedTaskCount": _unprocessed(job),
        "TotalTaskCount": _progress(job, TOTAL_TASKS),
        "ReportFileCount": report.files,
        "ReportScope": job.output_scope,
        "ReportRead": report_read,
        "NoReportReason": no_report_reason,
        "CountMismatches": mismatches or None,
    }
