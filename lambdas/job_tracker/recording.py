"""Record a finished job: its failed requests as items, then one summary item.

Order matters for honesty on a crash or a bad file: the summary is first flagged RECORDING, failures are
written, failure items left over from an earlier run that the `.out` no longer lists are deleted (but for
those of requests this run could not check, such as Bedrock records whose input is gone: kept), and only
then is the summary written as COMPLETE. Every write is a keyed put or delete, so re-running the step
leaves exactly the same items.

The step watches its deadline: once less than DEADLINE_RESERVE_SECONDS of the function's time is left it
stops (RecordingIncomplete), which the state machine retries. A retry that finds the summary RECORDING or
FAILED (an interrupted record) resumes: it skips the failure items already written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from job_tracker import table_schema as schema
from job_tracker.adapters.dynamodb import FailureStore, Item
from job_tracker.adapters.s3 import ObjectReader
from job_tracker.bedrock_output import read_bedrock_outputs
from job_tracker.clients import RECORD_DYNAMODB, RECORD_S3
from job_tracker.erasure_register import NOTHING_ERASED, ErasedSubjects
from job_tracker.errors import (
    AccessDenied,
    InvalidJobRequest,
    OutputFileInvalid,
    OutputFileMissing,
    RecordingIncomplete,
    TransientServiceError,
)
from job_tracker.kinds.bedrock_batch_inference import BEDROCK_JSONL
from job_tracker.kinds.s3_batch_operations import S3BATCH_REPORT
from job_tracker.models import JobDescription, JobStatus, S3Location
from job_tracker.output_file import FailedRequest, OutputTally, read_manifest_fields, read_output_file
from job_tracker.s3batch_report import read_s3batch_report

# A standard logger: handlers attach Powertools' JSON formatter (and the JobId correlation id) to it.
logger = logging.getLogger(__name__)

# Time kept back from the Lambda timeout: the call in flight may still take its worst case (a DynamoDB
# batch with every retry, or one read of the `.out`), and marking the summary FAILED takes another.
DEADLINE_RESERVE_SECONDS = (
    max(RECORD_DYNAMODB.worst_case_call_seconds(), RECORD_S3.read_timeout) + RECORD_DYNAMODB.worst_case_call_seconds()
)
# A record resumes (skipping the failure items already written) only after an attempt the state machine
# retries: it leaves the summary RECORDING. After FAILED (an error no retry fixes, or retries run out) the next
# record, once the cause is fixed, rewrites every item, so none keeps what the failed attempt could not read.
INTERRUPTED_STATES = frozenset({schema.RECORD_STATE_RECORDING})


@dataclass(frozen=True)
class Deadline:
    """When the step must stop: `remaining_seconds` is the Lambda context's time left."""

    remaining_seconds: Callable[[], float]
    reserve_seconds: float = DEADLINE_RESERVE_SECONDS

    def check(self, progress: Callable[[], str]) -> None:
        left = self.remaining_seconds()
        if left < self.reserve_seconds:
            raise RecordingIncomplete(
                f"stopped with {left:.0f} s of the function's time left, {progress()}; the retry resumes, "
                "skipping the failure items already written"
            )

    def guard(self, chunks: Iterable[bytes], progress: Callable[[], str]) -> Iterator[bytes]:
        for chunk in chunks:
            self.check(progress)
            yield chunk


NO_DEADLINE = Deadline(remaining_seconds=lambda: float("inf"))


@dataclass(frozen=True)
class RecordResult:
    job: JobDescription
    failed: int
    counts: dict[str, int]
    """Successful requests by the kind's OutcomeCount.summary_attribute."""
    stale_failures_removed: int
    summary: dict[str, Any] = field(default_factory=dict)
    """The summary's attributes the kind's output format adds (Bedrock: record counts, token totals)."""

    def to_output(self, table_name: str) -> dict[str, Any]:
        """The execution's output: short, and enough to find the items."""
        return {
            "DomainId": self.job.ref.domain_id,
            "JobId": self.job.ref.job_id,
            "JobKind": self.job.kind.name,
            **self.job.status_attributes,
            "FailedRequests": self.failed,
            **{count.output_key: self.counts.get(count.summary_attribute, 0) for count in self.job.kind.counts},
            **{name: value for name, value in self.summary.items() if name.endswith("Count")},
            "OutputUri": self.job.output.uri if self.job.output else None,
            "FailureDetails": self.job.failure_details.to_dict() if self.job.failure_details else None,
            "Items": {"TableName": table_name, "pk": self.job.ref.partition_key},
        }


def failure_item(job: JobDescription, failure: FailedRequest, manifest_fields: dict[str, str] | None = None) -> Item:
    """One failed request's item; `manifest_fields` (and the failure's details) are what the kind copies from
    its input and output files."""
    ref = job.ref
    kind_fields = {
        **{attribute: None for attribute in job.kind.failure_fields_from_manifest},
        **(manifest_fields or {}),
        **failure.details,
    }
    return {
        **kind_fields,
        schema.PARTITION_KEY: ref.partition_key,
        schema.SORT_KEY: f"{schema.FAILURE_SORT_KEY_PREFIX}{failure.request_id}",
        **schema.error_code_index_keys(
            ref.domain_id, failure.error_code, failure.request_id, job.created_at, ref.job_id
        ),
        **schema.subject_index_keys(job.kind.subject_attribute, kind_fields, failure.request_id),
        "RecordType": schema.RECORD_TYPE_FAILED_REQUEST,
        "JobKind": job.kind.name,
        "DomainId": ref.domain_id,
        "JobId": ref.job_id,
        "JobName": job.job_name,
        "JobCreatedAt": job.created_at,
        "JobEndedAt": job.ended_at,
        "RequestId": failure.request_id,
        "ErrorCode": failure.error_code,
        "ErrorMessage": failure.error_message,
        "OutputUri": job.output.uri if job.output else None,
    }


def summary_item(result: RecordResult) -> Item:
    job = result.job
    return {
        schema.PARTITION_KEY: job.ref.partition_key,
        schema.SORT_KEY: schema.SUMMARY_SORT_KEY,
        **schema.jobs_index_keys(job.ref.domain_id, job.created_at, job.ref.job_id),
        "RecordType": schema.RECORD_TYPE_SUMMARY,
        "RecordState": schema.RECORD_STATE_COMPLETE,
        "JobKind": job.kind.name,
        "DomainId": job.ref.domain_id,
        "JobId": job.ref.job_id,
        "JobName": job.job_name,
        **job.status_attributes,
        "JobCreatedAt": job.created_at,
        "JobEndedAt": job.ended_at,
        job.kind.failed_count_attribute: result.failed,
        **result.summary,
        **{count.summary_attribute: result.counts.get(count.summary_attribute, 0) for count in job.kind.counts},
        "OutputUri": job.output.uri if job.output else None,
        "InputUri": job.input.uri if job.input else None,
        "FailureDetails": job.failure_details.to_dict() if job.failure_details else None,
    }


def _read_voiceid_out(
    job: JobDescription, reader: ObjectReader, on_failure: Callable[[FailedRequest], None]
) -> OutputTally:
    """Voice ID's one `.out` per job, its failures enriched from the input manifest as the kind asks."""
    if job.output is None:
        raise OutputFileMissing(
            f"job {job.ref.job_id} ended {job.status.value} but has no OutputDataConfig/InputDataConfig "
            "to locate its .out file"
        )
    manifest, manifest_problem = _manifest_fields(job, reader)
    tally = read_output_file(
        reader.chunks(job.output),
        job.output.uri,
        lambda failure: on_failure(
            replace(failure, details={**failure.details, **manifest.get(failure.request_id, {})})
        ),
        job.kind,
    )
    if manifest_problem is not None:
        tally.summary[SUBJECT_UNREAD_CAUSE] = f"the input manifest could not be read ({manifest_problem})"
    if job.status is JobStatus.COMPLETED and tally.failed:
        logger.warning(
            "Job reported COMPLETED but its output lists failed requests; recording them anyway",
            extra={"failed": tally.failed},
        )
    if tally.undocumented_members:
        logger.warning(
            "Output file has members the documented schema lacks; ignored them",
            extra={"members": tally.undocumented_members, "output_uri": job.output.uri},
        )
    logger.info(
        "Read the job's output file",
        extra={
            "output_uri": job.output.uri,
            "failed": tally.failed,
            "counts": tally.counts,
        },
    )
    return tally


# Each kind's output format, by JobKind.output_format: the reader hands every failed entry to a callback
# and returns the tally; recording is the same for all.
OUTPUT_READERS: dict[str, Callable[[JobDescription, ObjectReader, Callable[[FailedRequest], None]], OutputTally]] = {
    "voiceid-out": _read_voiceid_out,
    BEDROCK_JSONL: read_bedrock_outputs,
    S3BATCH_REPORT: read_s3batch_report,
}


class _DeadlineReader:
    """The job's reader, with the deadline checked before each chunk: a long stretch of successes still
    stops the step in good time."""

    def __init__(self, reader: ObjectReader, deadline: Deadline, progress: Callable[[], str]) -> None:
        self._reader = reader
        self._deadline = deadline
        self._progress = progress

    def chunks(self, location: S3Location) -> Iterator[bytes]:
        return self._deadline.guard(self._reader.chunks(location), self._progress)

    def keys(self, prefix: S3Location) -> Iterator[str]:
        return self._reader.keys(prefix)


def _read_failures(
    job: JobDescription,
    reader: ObjectReader,
    store: FailureStore,
    written: set[str],
    deadline: Deadline,
    *,
    erased: ErasedSubjects = NOTHING_ERASED,
) -> tuple[OutputTally, ErasedFailures]:
    """Read the job's output with its kind's reader and write a failure item for each failed record whose
    key is not in `written` (the items an interrupted record already wrote) and whose subject is not `erased`;
    returns the tally and the failures left unwritten as erased."""
    read = OUTPUT_READERS.get(job.kind.output_format)
    if read is None:
        raise InvalidJobRequest(f"no reader for the {job.kind.output_format!r} output of {job.kind.name} jobs")
    writer = store.writer()
    skipped = 0
    subject = job.kind.subject_attribute
    unread_subjects = 0
    left_out = ErasedFailures()

    def progress() -> str:
        return f"{writer.batches_sent} batch(es) written and {skipped} item(s) found written before"

    def write(failure: FailedRequest) -> None:
        nonlocal skipped, unread_subjects
        value = failure.details.get(subject) if subject else None
        if erased and erased.erases_failure(value, failure.error_message, job.ref.job_id):
            # Erased by `erase`: never written again (a written one is removed as stale), and counted.
            left_out.request_ids.add(failure.request_id)
            left_out.count += 1
            return
        if subject and not value:
            unread_subjects += 1  # counted before the skip: a resumed record says it of every item
        if f"{schema.FAILURE_SORT_KEY_PREFIX}{failure.request_id}" in written:
            skipped += 1
            return
        deadline.check(progress)
        writer.put(failure_item(job, failure))

    tally = read(job, _DeadlineReader(reader, deadline, progress), write)
    writer.flush()
    _say_unread_subjects(job, tally, unread_subjects)
    logger.info(
        "Wrote the failure items",
        extra={
            "batches": writer.batches_sent,
            "unprocessed_retries": writer.retries,
            "already_written": skipped,
            "erased": left_out.count,
        },
    )
    return tally, left_out


@dataclass
class ErasedFailures:
    """The failures a record left unwritten because `erase` erased their subject (job_tracker.erasure_register)."""

    request_ids: set[str] = field(default_factory=set)
    count: int = 0
    """Every such failure, a repeated id (Bedrock's duplicate recordIds) counted each time, as the tally counts."""


SUBJECT_UNREAD_CAUSE = "SubjectUnreadReason"
ERASED_COUNT = "ErasedRecordCount"
"""The summary's count of failed records left unwritten because `erase` erased their subject."""


def _say_unread_subjects(job: JobDescription, tally: OutputTally, unread: int) -> None:
    """The summary's SubjectUnreadCount and SubjectUnreadReason when failure items lack the attribute that
    names a person (`JobKind.subject_attribute`): `erase` finds such items by reading them (their ErrorMessage
    can name the person), and whoever answers an erasure request must know the record could not say whom
    they name. The reader sets the reason's cause when it knows it."""
    cause = tally.summary.pop(SUBJECT_UNREAD_CAUSE, None)
    if not unread or not job.kind.subject_attribute:
        return
    attribute = job.kind.subject_attribute
    tally.summary["SubjectUnreadCount"] = unread
    tally.summary[SUBJECT_UNREAD_CAUSE] = (
        f"{unread} failure item(s) have no {attribute}: {cause or 'the input does not give it for their requests'}"
        f"; `erase --{_option(attribute)}` still finds them, by the value in their other attributes (ErrorMessage)"
    )


def _option(attribute: str) -> str:
    """`CustomerSpeakerId` as the erase option's name, `customer-speaker-id`."""
    return "".join(f"-{char.lower()}" if char.isupper() else char for char in attribute).lstrip("-")


def _manifest_fields(job: JobDescription, reader: ObjectReader) -> tuple[dict[str, dict[str, str]], str | None]:
    """What the kind's failure items copy from the input manifest, by RequestId (nothing for kinds that
    copy nothing), and why the manifest could not be read (None when it was, or nothing is copied). Without
    read access to the manifest the items are still written, without those fields: the failures are the
    record's point; the summary says which items lack the field naming a person (SubjectUnreadReason)."""
    if not job.kind.failure_fields_from_manifest or job.input is None:
        return {}, None
    try:
        return read_manifest_fields(reader.chunks(job.input), job.input.uri, job.kind), None
    except (AccessDenied, OutputFileMissing, OutputFileInvalid) as error:
        logger.warning(
            "Could not read the job's input manifest; failure items lack its fields",
            extra={
                "input_uri": job.input.uri,
                "fields": sorted(job.kind.failure_fields_from_manifest),
                "problem": str(error),
            },
        )
        return {}, str(error)


@dataclass(frozen=True)
class StaleFailures:
    removed: int
    kept: int
    """Items of an earlier record this one could not check (`OutputTally.accounted_request_ids`), kept."""


def _remove_stale_failures(
    job: JobDescription, store: FailureStore, existing: set[str], tally: OutputTally, erased_ids: set[str]
) -> StaleFailures:
    """Delete the failure items of an earlier record (`existing`) that this record no longer lists (or lists
    with an erased subject), but for those of requests it could not account for: a re-record whose input could
    not be read never deletes the UNPROCESSED items an earlier record named from it."""
    wanted = {f"{schema.FAILURE_SORT_KEY_PREFIX}{request_id}" for request_id in tally.failed_request_ids - erased_ids}
    stale = existing - wanted
    kept = 0
    if tally.accounted_request_ids is not None:
        accounted = tally.accounted_request_ids
        unchecked = {key for key in stale if key.removeprefix(schema.FAILURE_SORT_KEY_PREFIX) not in accounted}
        if unchecked:
            logger.warning(
                "Kept failure items of an earlier record that this record could not check",
                extra={"kept": len(unchecked)},
            )
        stale -= unchecked
        kept = len(unchecked)
    if stale:
        writer = store.writer()
        for sort_key in sorted(stale):
            writer.delete(job.ref.partition_key, sort_key)
        writer.flush()
        logger.warning("Removed failure items the output file no longer lists", extra={"removed": len(stale)})
    return StaleFailures(removed=len(stale), kept=kept)


def record_job_outcome(
    job: JobDescription, reader: ObjectReader, store: FailureStore, deadline: Deadline = NO_DEADLINE
) -> RecordResult:
    """Write a finished job's record. A stop the state machine retries (RecordingIncomplete at the deadline,
    TransientServiceError) leaves the summary RECORDING, since the retry resumes it (and the state machine
    marks it FAILED if its retries run out); any other failure (OutputFileMissing, OutputFileInvalid,
    AccessDenied, ...) is raised after marking the summary FAILED with the reason."""
    if not job.status.is_terminal:
        raise InvalidJobRequest(f"job {job.ref.job_id} is still {job.status.value}; only finished jobs are recorded")
    previous = store.mark_recording(job)
    try:
        return _record(job, reader, store, resume=previous in INTERRUPTED_STATES, deadline=deadline)
    except Exception as error:
        # Whatever stopped the record, the summary must not look complete; a stop the state machine retries
        # keeps it RECORDING (operators watching see it still being recorded, not failed), any other marks it
        # FAILED. Either way it names the reason; and if even that write fails, the original error (perhaps a
        # retryable one) is what the state machine sees.
        retried = isinstance(error, RecordingIncomplete | TransientServiceError)
        mark = store.mark_record_interrupted if retried else store.mark_record_failed
        try:
            mark(job, f"{type(error).__name__}: {error}")
        except Exception:
            logger.exception("Could not note why the record stopped", extra={"original_error": str(error)})
        raise


def _record(
    job: JobDescription, reader: ObjectReader, store: FailureStore, *, resume: bool, deadline: Deadline
) -> RecordResult:
    # Read before writing: a first record finds an empty partition in one short Query, instead of reading
    # back every item it has just written.
    existing = store.failure_sort_keys(job.ref)
    tally = OutputTally()
    erased = ErasedFailures()
    if job.status is not JobStatus.FAILED or job.kind.reads_output_of_failed_jobs:
        # A FAILED job failed as a whole (FailureDetails); Voice ID promises no .out for it (S3 Batch Operations
        # may have a report of the tasks that ran: JobKind.reads_output_of_failed_jobs). An interrupted
        # record wrote its items from the same `.out`, so they are kept; a re-record rewrites them all.
        if resume and existing:
            logger.info("Resuming an interrupted record", extra={"items_written_before": len(existing)})
        # The erasure register, loaded once (one paged Query) and checked per failure by set membership.
        register = store.erased_subjects(job.kind.subject_attribute)
        tally, erased = _read_failures(job, reader, store, existing if resume else set(), deadline, erased=register)
    stale = _remove_stale_failures(job, store, existing, tally, erased.request_ids)
    summary = tally.summary
    if stale.kept:
        summary = {**summary, "KeptFailureItemCount": stale.kept}
    if erased.count:
        # The failed records `erase` erased: not written, and said, so the counts still add up.
        summary = {**summary, ERASED_COUNT: erased.count}
    # The failed count is the job's failure items, the kept ones included and the erased ones not.
    result = RecordResult(
        job=job,
        failed=tally.failed - erased.count + stale.kept,
        counts=tally.counts,
        stale_failures_removed=stale.removed,
        summary=summary,
    )
    store.put_summary(summary_item(result))
    return result
