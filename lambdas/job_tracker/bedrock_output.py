"""Read a finished Bedrock batch inference job's output: every `.jsonl.out`, line by line, and its manifest.

Bedrock writes one `<input file name>.jsonl.out` per input `.jsonl` file under `<outputS3Uri>/<jobId>/`,
one JSON object a line (docs/bedrock-jobs.md)::

    {"recordId": "r1", "modelInput": {...}, "modelOutput": {...}}
    {"recordId": "r2", "modelInput": {...}, "error": {"errorCode": 400, "errorMessage": "..."}}

and a `manifest.json.out` of counts and token totals. Files reach 1 GB and every line copies its prompt, so
each file is streamed: one line is held at a time, and what is kept across lines is the set of record ids
seen (the join key for unprocessed records, at most the job's 50,000 records). `modelInput` is never
copied into an item: items are capped at 400 KB and prompts can be sensitive.

A stopped, expired or partially completed job leaves records without an output line. When the input lines
carry `recordId`, each such record is named (ErrorCode `UNPROCESSED`), joined on `recordId`, never on
position: the docs do not promise output order. When they do not, the records are counted and the summary
says why they cannot be named.

Missing evidence is never a zero: a job that processed records (by its status or any count) but whose folder
holds no `.jsonl.out` is not recorded (RecordingIncomplete, retried, then FAILED naming the folder), and an
input that cannot be read leaves the unprocessed count unknown, or taken from the reported counts, with the
reason on the summary.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from job_tracker.adapters.s3 import ObjectReader
from job_tracker.errors import AccessDenied, OutputFileInvalid, OutputFileMissing, RecordingIncomplete
from job_tracker.jsonl import lines
from job_tracker.kinds.bedrock_batch_inference import (
    STATUSES_WITH_PROCESSED_RECORDS,
    STATUSES_WITH_UNPROCESSED_RECORDS,
)
from job_tracker.models import JobDescription, S3Location
from job_tracker.output_file import MAX_REQUEST_ID_BYTES, FailedRequest, OutputTally

logger = logging.getLogger(__name__)

OUTPUT_SUFFIX = ".jsonl.out"
INPUT_SUFFIX = ".jsonl"
MANIFEST_NAME = "manifest.json.out"
UNPROCESSED = "UNPROCESSED"
UNPROCESSED_MESSAGE = "Bedrock wrote no output line for this record before the job ended {status}"
# Bedrock's error messages are short; a message cut here still names the problem, and keeps an item far
# below DynamoDB's 400 KB whatever a model returns.
MAX_ERROR_MESSAGE_CHARACTERS = 4_000
TOKEN_COUNTS = {"inputTokenCount": "InputTokenCount", "outputTokenCount": "OutputTokenCount"}
# The counts, in the manifest and GetModelInvocationJob alike, that say records were processed.
PROCESSED_COUNTS = ("processedRecordCount", "successRecordCount", "errorRecordCount")
MANIFEST_SOURCE = MANIFEST_NAME
API_SOURCE = "GetModelInvocationJob"


def _decode(line: bytes, source: str, number: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError) as error:
        raise OutputFileInvalid(f"{source} line {number} is not a JSON object: {error}") from None
    if not isinstance(record, dict):
        raise OutputFileInvalid(f"{source} line {number} is not a JSON object")
    return record


def _record_id(record: dict[str, Any], source: str, number: int) -> str:
    record_id = record.get("recordId")
    if not isinstance(record_id, str) or not record_id:
        raise OutputFileInvalid(f"{source} line {number} has no recordId")
    if len(record_id.encode("utf-8")) > MAX_REQUEST_ID_BYTES:
        raise OutputFileInvalid(f"{source} line {number} has a recordId longer than {MAX_REQUEST_ID_BYTES} bytes")
    return record_id


def _failure(error: object, record_id: str, source: str, number: int) -> FailedRequest:
    if not isinstance(error, dict):
        raise OutputFileInvalid(f"{source} line {number} has an error that is not an object")
    code = error.get("errorCode")
    if isinstance(code, bool) or not isinstance(code, int | str) or code == "":
        raise OutputFileInvalid(f"{source} line {number} has no errorCode (a number or a word): {code!r}")
    message = error.get("errorMessage")
    message = message if isinstance(message, str) else ""
    if len(message) > MAX_ERROR_MESSAGE_CHARACTERS:
        message = message[:MAX_ERROR_MESSAGE_CHARACTERS] + "... (cut)"
    return FailedRequest(
        request_id=record_id,
        error_code=code,
        error_message=message,
        details={"RecordId": record_id, "OutputFile": source, "LineNumber": number},
    )


@dataclass
class OutputFileTally:
    """What the `.jsonl.out` files of a job say, over every file."""

    succeeded: int = 0
    failed: int = 0
    record_ids: set[str] = field(default_factory=set)
    """Every record id with an output line: the join key for the input's unprocessed records."""
    failed_ids: set[str] = field(default_factory=set)
    duplicate_ids: int = 0
    files: int = 0


def read_jsonl_out(
    chunks: Iterable[bytes],
    source: str,
    tally: OutputFileTally,
    on_failure: Callable[[FailedRequest], None],
    on_success: Callable[[str, int], None] | None = None,
) -> None:
    """One `.jsonl.out`: each failed line handed to `on_failure` as it is read; successes counted, and handed
    to `on_success` (recordId, line number) when given: the automatic retries say where a retried record's
    answer lies."""
    tally.files += 1
    for number, line in enumerate(lines(chunks, source=source), start=1):
        if not line.strip():
            continue
        record = _decode(line, source, number)
        record_id = _record_id(record, source, number)
        error = record.get("error")
        failure = _failure(error, record_id, source, number) if error is not None else None
        if failure is None and "modelOutput" not in record:
            raise OutputFileInvalid(f"{source} line {number} has neither modelOutput nor error")
        if record_id in tally.record_ids:
            # A recordId repeated in the input (Bedrock does not refuse it): one item per id, so its later
            # lines are counted as duplicates, not as more failures or successes.
            tally.duplicate_ids += 1
            continue
        tally.record_ids.add(record_id)
        if failure is None:
            tally.succeeded += 1
            if on_success is not None:
                on_success(record_id, number)
        else:
            tally.failed += 1
            tally.failed_ids.add(record_id)
            on_failure(failure)


@dataclass
class UnprocessedTally:
    named: int = 0
    unnamed: int = 0
    """Input records without recordId that have no output line we could match."""
    input_records: int = 0
    input_files: int = 0
    unreadable: list[str] = field(default_factory=list)
    """Why the input, or some of its files, could not be read (each listing or file, with its error): the
    records of what was read are still named; how many others have no output line is then not known from
    the input."""


def job_output_folder(job: JobDescription) -> S3Location:
    """`<outputS3Uri>/<jobId>/`, where Bedrock writes the job's files."""
    if job.output is None:
        raise OutputFileMissing(f"job {job.ref.job_id} ended {job.reported_status} but has no outputDataConfig")
    return job.output


def input_folder(input_location: S3Location) -> S3Location:
    """The folder an input URI that does not end in `.jsonl` names, listed as `<key>/` (as Bedrock does: the
    local Bedrock's Validating step), so that `batch/in` never takes in `batch/in-old/` or `batch/in2.jsonl`.
    The bucket's root (an empty key) stays the root."""
    key = input_location.key
    return input_location if not key or key.endswith("/") else S3Location(input_location.bucket, f"{key}/")


def input_files(input_location: S3Location, reader: ObjectReader) -> list[S3Location]:
    """The input `.jsonl` files of a job whose `inputDataConfig` S3 URI is `input_location`, in S3's order: a
    URI ending in `.jsonl` is that one file (not checked here: reading it says whether it exists); any other
    names a folder, and every `.jsonl` under `<key>/` is the job's, nested ones too. The record step and the
    CLI's retry both read a job's input through this."""
    if input_location.key.endswith(INPUT_SUFFIX):
        return [input_location]
    folder = input_folder(input_location)
    return [S3Location(folder.bucket, key) for key in reader.keys(folder) if key.endswith(INPUT_SUFFIX)]


def output_files(job: JobDescription, reader: ObjectReader) -> list[S3Location]:
    folder = job_output_folder(job)
    return [S3Location(folder.bucket, key) for key in reader.keys(folder) if key.endswith(OUTPUT_SUFFIX)]


def _name_unprocessed(
    job: JobDescription,
    reader: ObjectReader,
    seen: set[str],
    on_failure: Callable[[FailedRequest], None],
) -> UnprocessedTally:
    """Every input record without an output line, joined on recordId."""
    tally = UnprocessedTally()
    message = UNPROCESSED_MESSAGE.format(status=job.reported_status)
    if job.input is None:
        tally.unreadable.append("the job names no input location (inputDataConfig)")
        return tally
    try:
        files = input_files(job.input, reader)
    except (AccessDenied, OutputFileMissing) as error:
        tally.unreadable.append(str(error))
        return tally
    if not files:
        tally.unreadable.append(f"{input_folder(job.input).uri} lists no {INPUT_SUFFIX} file")
        return tally
    named_ids: set[str] = set()
    for location in files:
        tally.input_files += 1
        try:
            for number, line in enumerate(lines(reader.chunks(location), source=location.uri), start=1):
                if not line.strip():
                    continue
                tally.input_records += 1
                record = _decode(line, location.uri, number)
                if not isinstance(record.get("recordId"), str) or not record["recordId"]:
                    tally.unnamed += 1
                    continue
                record_id = _record_id(record, location.uri, number)  # held to the key's length limit
                if record_id in seen or record_id in named_ids:
                    continue
                named_ids.add(record_id)
                tally.named += 1
                on_failure(
                    FailedRequest(
                        request_id=record_id,
                        error_code=UNPROCESSED,
                        error_message=message,
                        details={"RecordId": record_id, "InputFile": location.uri, "LineNumber": number},
                    )
                )
        except (AccessDenied, OutputFileMissing) as error:
            # This file's records are not named; the other files' still are.
            tally.unreadable.append(str(error))
    return tally


def _manifest(job: JobDescription, reader: ObjectReader) -> dict[str, Any] | None:
    folder = job_output_folder(job)
    location = S3Location(folder.bucket, posixpath.join(folder.key, MANIFEST_NAME))
    try:
        document = json.loads(b"".join(reader.chunks(location)))
    except (OutputFileMissing, AccessDenied) as error:
        logger.warning("No readable manifest.json.out", extra={"manifest_uri": location.uri, "problem": str(error)})
        return None
    except ValueError as error:
        raise OutputFileInvalid(f"{location.uri} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise OutputFileInvalid(f"{location.uri} is not a JSON object")
    return document


def _count(document: dict[str, Any] | None, name: str) -> int | None:
    value = None if document is None else document.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def cross_check(outputs: OutputFileTally, manifest: dict[str, Any] | None, api: dict[str, int] | None) -> list[str]:
    """Where the lines read, the manifest and the API disagree, each named; empty when they agree."""
    read = {
        "processedRecordCount": outputs.succeeded + outputs.failed,
        "successRecordCount": outputs.succeeded,
        "errorRecordCount": outputs.failed,
    }
    mismatches: list[str] = []
    for source_name, counts in ((MANIFEST_SOURCE, manifest), (API_SOURCE, api)):
        if counts is None:
            continue
        for name, value in read.items():
            reported = _count(counts, name)
            if reported is not None and reported != value:
                mismatches.append(f"{source_name} says {name} {reported}, the output files hold {value}")
    if manifest is not None and api is not None:
        total_manifest, total_api = _count(manifest, "totalRecordCount"), _count(api, "totalRecordCount")
        if total_manifest is not None and total_api is not None and total_manifest != total_api:
            mismatches.append(
                f"manifest.json.out says totalRecordCount {total_manifest}, GetModelInvocationJob {total_api}"
            )
    return mismatches


def _processing_evidence(job: JobDescription, manifest: dict[str, Any] | None) -> str | None:
    """What says that `job` processed records (a count above 0, or its status), in words; None when nothing does
    (a job stopped or expired before its first record)."""
    for source_name, counts in ((MANIFEST_SOURCE, manifest), (API_SOURCE, job.record_counts)):
        for name in PROCESSED_COUNTS:
            value = _count(counts, name)
            if value:
                return f"{source_name} says {name} {value}"
    if job.service_status in STATUSES_WITH_PROCESSED_RECORDS:
        return f"the job ended {job.service_status}"
    return None


def _check_outputs_exist(job: JobDescription, files: list[S3Location], manifest: dict[str, Any] | None) -> None:
    """A job that processed records but whose folder holds no `.jsonl.out` is missing its evidence: recording
    it would say that nothing failed. RecordingIncomplete, which the state machine retries (S3 may list a new
    object late) and, once its retries run out, marks the summary FAILED with this message."""
    if files:
        return
    evidence = _processing_evidence(job, manifest)
    if evidence is not None:
        raise RecordingIncomplete(
            f"{job_output_folder(job).uri} holds no {OUTPUT_SUFFIX} file, yet {evidence}: the job's output is "
            "missing (not listed yet, or removed), so its failed records cannot be told; the record is retried, "
            "and marked FAILED if the output never appears"
        )


def _reported_total(job: JobDescription, manifest: dict[str, Any] | None) -> tuple[int | None, str | None]:
    """The job's totalRecordCount and where it comes from: manifest.json.out first, else the API's."""
    for source_name, counts in ((MANIFEST_SOURCE, manifest), (API_SOURCE, job.record_counts)):
        total = _count(counts, "totalRecordCount")
        if total is not None:
            return total, source_name
    return None, None


@dataclass
class _UnprocessedCount:
    """How many records have no output line, and what the summary says about those that are not named."""

    count: int | None
    """None: unknown (the input could not be read and no count gives the total)."""
    reason: str | None


def _count_unprocessed(
    join: UnprocessedTally, processed: int, total: int | None, total_source: str | None
) -> _UnprocessedCount:
    if join.unreadable:
        # What was read is named; the rest is known only from a reported total, never taken as 0.
        problem = "; ".join(join.unreadable)
        named = f"; {join.named} were named from the input that could be read" if join.named else ""
        if total is None:
            return _UnprocessedCount(
                None,
                f"How many records have no output line is unknown: the input could not be read ({problem}), and "
                f"neither {MANIFEST_SOURCE} nor {API_SOURCE} gives totalRecordCount{named}",
            )
        count = max(total - processed, join.named)
        return _UnprocessedCount(
            count,
            f"{count - join.named} record(s) have no output line and cannot be named: the input could not be read "
            f"({problem}); counted from {total_source}'s totalRecordCount {total} less the {processed} output "
            f"line(s){named}",
        )
    count = join.named + join.unnamed - _unnamed_processed(join, processed)
    if total is not None and join.input_records and total != join.input_records:
        logger.warning(
            "The input holds a different number of records than the job reports",
            extra={"input_records": join.input_records, "total_record_count": total},
        )
    if count <= join.named:
        return _UnprocessedCount(count, None)
    return _UnprocessedCount(
        count,
        f"{count - join.named} of {join.unnamed} input record(s) without recordId have no output line; Bedrock "
        "gave them generated ids, so which ones cannot be told (add a recordId to every input line to have them "
        "named)",
    )


def read_bedrock_outputs(
    job: JobDescription, reader: ObjectReader, on_failure: Callable[[FailedRequest], None]
) -> OutputTally:
    """Stream every output file of `job`, hand each failed (and unprocessed) record to `on_failure`, and
    return the tally with the summary's Bedrock attributes."""
    files = output_files(job, reader)
    manifest = _manifest(job, reader)
    _check_outputs_exist(job, files, manifest)
    outputs = OutputFileTally()
    for location in files:
        read_jsonl_out(reader.chunks(location), location.uri, outputs, on_failure)
    total, total_source = _reported_total(job, manifest)
    processed = outputs.succeeded + outputs.failed
    unprocessed_named = 0
    unprocessed = _UnprocessedCount(0, None)
    failed_ids = set(outputs.failed_ids)
    accounted_ids: set[str] | None = None
    if job.service_status in STATUSES_WITH_UNPROCESSED_RECORDS or (total is not None and total > processed):
        named_ids: list[str] = []

        def named(failure: FailedRequest) -> None:
            named_ids.append(failure.request_id)
            on_failure(failure)

        join = _name_unprocessed(job, reader, outputs.record_ids, named)
        unprocessed_named = join.named
        failed_ids.update(named_ids)
        unprocessed = _count_unprocessed(join, processed, total, total_source)
        if join.unreadable:
            # Records this record could not check keep the items an earlier record named them in.
            accounted_ids = outputs.record_ids | failed_ids
    summary: dict[str, Any] = {
        "SucceededRecordCount": outputs.succeeded,
        "UnprocessedRecordCount": unprocessed.count,
        "UnprocessedNamedCount": unprocessed_named,
        "UnprocessedUnnamedReason": unprocessed.reason,
        "TotalRecordCount": total,
        "OutputFileCount": outputs.files,
        "DuplicateRecordIdCount": outputs.duplicate_ids,
        **{attribute: _count(manifest, name) for name, attribute in TOKEN_COUNTS.items()},
    }
    mismatches = cross_check(outputs, manifest, job.record_counts)
    summary["CountMismatches"] = mismatches or None
    summary["ManifestRead"] = manifest is not None
    if mismatches:
        logger.warning("Record counts disagree; the output files' are recorded", extra={"mismatches": mismatches})
    if unprocessed.reason:
        logger.warning("Not every unprocessed record could be named", extra={"reason": unprocessed.reason})
    logger.info(
        "Read the job's output files",
        extra={"files": outputs.files, "succeeded": outputs.succeeded, "failed": outputs.failed, **summary},
    )
    return OutputTally(
        failed=outputs.failed + unprocessed_named,
        failed_request_ids=failed_ids,
        summary=summary,
        accounted_request_ids=accounted_ids,
    )


def _unnamed_processed(join: UnprocessedTally, processed: int) -> int:
    """How many of the input's records without recordId got an output line: the output lines left once the
    input's named records that were processed are taken away (the others carry ids Bedrock generated)."""
    named_processed = join.input_records - join.unnamed - join.named
    return min(max(processed - named_processed, 0), join.unnamed)
