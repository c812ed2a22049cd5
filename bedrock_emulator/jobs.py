"""The job lifecycle: Submitted -> Validating -> Scheduled -> InProgress -> Completed | PartiallyCompleted |
Failed, Stopping -> Stopped, Expired; reading the input from S3, answering each record, and writing the output."""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bedrock_emulator import events, formats
from bedrock_emulator.faults import BedrockFaults
from bedrock_emulator.store import (
    COMPLETED,
    EXPIRED,
    FAILED,
    IN_PROGRESS,
    PARTIALLY_COMPLETED,
    SCHEDULED,
    STOPPED,
    STOPPING,
    SUBMITTED,
    TIMEOUT_COUNTS,
    TIMEOUT_FROM_SUBMISSION,
    VALIDATING,
    AccountState,
    InputFile,
    InputRecord,
    Job,
    Quotas,
    generated_record_id,
)
from emulator_core.clock import Clock
from emulator_core.events import EventPublisher
from emulator_core.jobs import SteppingEngine
from emulator_core.s3io import S3AccessError, S3Location, S3Store

LOG = logging.getLogger(__name__)

# Per-file and per-job input size limits (bedrock-facts §4).
MAX_FILE_BYTES = 1024**3
MAX_JOB_BYTES = 5 * 1024**3
# With no record pacing, the worker answers this many records per step, so counts move while a big job runs and
# a stop or another job is looked at between steps.
RECORDS_PER_FAST_STEP = 500
# Statuses that come before processing: a timeout here expires the job (the model's doc of Expired).
_WAITING = frozenset({SUBMITTED, VALIDATING, SCHEDULED})


class JobFailure(Exception):
    """The whole job fails, with this message."""


@dataclass(frozen=True)
class Pacing:
    """How jobs move. `manual`: only `step_job`/`advance`/`run_until_done` move them, one status or
    `records_per_step` records a step. Otherwise a background worker moves them on the clock: each of Submitted,
    Validating, Scheduled and Stopping lasts `stage_seconds`, and records are answered at `records_per_second`
    (0: as fast as possible)."""

    stage_seconds: float = 0.0
    records_per_second: float = 0.0
    manual: bool = False
    records_per_step: int = 1

    def __post_init__(self) -> None:
        if self.stage_seconds < 0 or self.records_per_second < 0:
            raise ValueError("pacing values must be >= 0")
        if self.records_per_step < 1:
            raise ValueError("records_per_step must be >= 1")

    @classmethod
    def instant(cls) -> Pacing:
        return cls()

    @classmethod
    def manual_steps(cls, records_per_step: int = 1) -> Pacing:
        return cls(manual=True, records_per_step=records_per_step)

    @classmethod
    def real_time(cls, stage_seconds: float, records_per_second: float) -> Pacing:
        return cls(stage_seconds=stage_seconds, records_per_second=records_per_second)

    def to_api(self) -> dict[str, Any]:
        return {
            "manual": self.manual,
            "stageSeconds": self.stage_seconds,
            "recordsPerSecond": self.records_per_second,
        }


def output_prefix(job: Job) -> S3Location:
    """`<outputS3Uri>/<jobId>` (a trailing `/` on the URI ignored): where a job's output files go."""
    folder = S3Location.parse(job.params["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"].rstrip("/"))
    return S3Location(folder.bucket, "/".join(part for part in (folder.key, job.job_id) if part))


def output_order(job_id: str, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The processed lines in an order other than the input's (the docs promise none: bedrock-facts §2.2), fixed
    for a job so that a test can repeat it."""
    ordered = sorted(lines, key=lambda line: hashlib.sha256(f"{job_id}\n{line['recordId']}".encode()).digest())
    if len(ordered) > 1 and [line["recordId"] for line in ordered] == [line["recordId"] for line in lines]:
        ordered = ordered[1:] + ordered[:1]
    return ordered


class JobEngine(SteppingEngine[Job, Pacing]):
    worker_name = "bedrock-job-worker"
    max_steps = 10_000_000

    def __init__(
        self,
        *,
        state: AccountState,
        s3_for_role: Callable[[str], S3Store],
        publisher: EventPublisher,
        faults: BedrockFaults,
        clock: Clock,
        quotas: Quotas,
        pacing: Pacing,
        account_id: str,
    ) -> None:
        super().__init__(state=state, pacing=pacing)
        self.state: AccountState = state
        self._s3_for_role = s3_for_role
        self.publisher = publisher
        self.faults = faults
        self.clock = clock
        self.quotas = quotas
        self.account_id = account_id
        # How the jobs created from now on count their timeout (store.TIMEOUT_COUNTS; bedrock-facts §3.2).
        self.timeout_counted_from = TIMEOUT_FROM_SUBMISSION

    # --- status changes --------------------------------------------------------------------------------------

    def _set_status(self, job: Job, status: str, message: str | None = None) -> None:
        with self.state.lock:
            now = self.clock.now()
            job.status = status
            job.last_modified = now
            if message is not None:
                job.message = message
            if not job.active:
                job.end_time = now
            job.paced_from = now
            job.next_due = now + self._interval(job)
            event_detail = events.detail(job, self.account_id)
        LOG.info("Job %s is %s%s", job.job_id, status, f": {message}" if message else "")
        self.publisher.publish(events.DETAIL_TYPE, [job.arn], event_detail)
        if not job.active:
            with self.state.lock:
                job.end_event_handed_over = True

    def _interval(self, job: Job) -> float:
        if job.status == IN_PROGRESS:
            rate = self.pacing.records_per_second
            return 1.0 / rate if rate > 0 else 0.0
        return self.pacing.stage_seconds

    def submitted(self, job: Job) -> None:
        """A new job: its Submitted event, and the worker woken."""
        self._set_status(job, SUBMITTED)
        self.wake()

    def request_stop(self, job: Job) -> bool:
        """StopModelInvocationJob on an active job: Stopping now, Stopped (with the output so far) at its next step.

        Taken between steps (under the step lock), so a step under way cannot overwrite Stopping with the status
        it was heading for. False when the job has ended."""
        with self._step_lock:
            if not job.active:
                return False  # it ended while the request waited for the step under way
            if job.status != STOPPING:
                self._set_status(job, STOPPING)
        self.wake()
        return True

    def set_pacing(self, pacing: Pacing) -> None:
        """Switch background pacing: new jobs, and the step each active job waits for, use it."""
        with self._step_lock, self.state.lock:
            self._switch_pacing(pacing)
            for job in self.state.active_jobs():
                job.next_due = job.paced_from + self._interval(job)
        self.wake()

    def count_timeout_from(self, counted_from: str) -> None:
        """Count the timeout of the jobs created from now on from their submission or their start; the jobs
        already created keep theirs. ValueError for another value."""
        if counted_from not in TIMEOUT_COUNTS:
            raise ValueError(f"countedFrom must be one of {', '.join(TIMEOUT_COUNTS)}, got {counted_from!r}")
        with self.state.lock:
            self.timeout_counted_from = counted_from

    # --- stepping --------------------------------------------------------------------------------------------

    def step(self, job_id: str) -> bool:
        """One step of a job; False when it is unknown or already ended."""
        with self._step_lock:
            return self._step(job_id, self.pacing.records_per_step if self.pacing.manual else RECORDS_PER_FAST_STEP)

    def _step(self, job_id: str, records: int) -> bool:
        with self.state.lock:
            job = self.state.find_job(job_id)
            if job is None or not job.active:
                return False
            status = job.status
            expired = self.clock.now() >= job.expiration_time
        try:
            if expired and status in _WAITING:
                self._end(job, EXPIRED, "The job timed out before it started: it was not processed within its timeout")
            elif expired and status == IN_PROGRESS:
                self._end(job, PARTIALLY_COMPLETED, None)
            elif self._forced_outcome_due(job):
                assert job.forced is not None
                self._end(job, job.forced.status, job.forced.message or _forced_message(job.forced.status))
            elif status == SUBMITTED:
                self._set_status(job, VALIDATING)
            elif status == VALIDATING:
                self._validate(job)
            elif status == SCHEDULED:
                with self.state.lock:
                    job.start_time = self.clock.now()
                self._set_status(job, IN_PROGRESS)
            elif status == IN_PROGRESS:
                self._process(job, records)
            elif status == STOPPING:
                self._end(job, STOPPED, None)
        except JobFailure as failure:
            self._end(job, FAILED, str(failure))
        except Exception as exc:
            LOG.exception("Unexpected error in job %s", job_id)
            self._end(job, FAILED, f"Internal failure: {exc}")
        return True

    def _forced_outcome_due(self, job: Job) -> bool:
        forced = job.forced
        if forced is None:
            return False
        if forced.after_records == 0:
            return True
        return job.status == IN_PROGRESS and job.processed >= min(forced.after_records, job.total)

    # --- validation ------------------------------------------------------------------------------------------

    def _validate(self, job: Job) -> None:
        store = self._s3_for_role(job.role_arn)
        uri = job.params["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        files = self._input_files(store, uri)
        records: list[InputRecord] = []
        for index, input_file in enumerate(files):
            records.extend(self._read_records(store, job, index, input_file))
        quota = self.quotas.for_model(job.model_id)
        if len(records) < quota.min_records_per_job:
            raise JobFailure(
                f"The input has {len(records)} records; a batch inference job for {job.model_id} needs at least "
                f"{quota.min_records_per_job}"
            )
        if len(records) > quota.max_records_per_job:
            raise JobFailure(
                f"The input has {len(records)} records; a batch inference job for {job.model_id} takes at most "
                f"{quota.max_records_per_job}"
            )
        with self.state.lock:
            job.files = files
            job.records = records
            job.total = len(records)
        self._set_status(job, SCHEDULED)

    def _input_files(self, store: S3Store, uri: str) -> list[InputFile]:
        location = S3Location.parse(uri)
        try:
            if location.key.endswith(".jsonl"):
                listed = [(key, size) for key, size in store.list_keys(location.bucket, location.key)]
                match = [(key, size) for key, size in listed if key == location.key]
                if not match:
                    raise JobFailure(f"The input file {uri} does not exist")
                return self._checked_sizes(match, uri, posixpath.basename)
            prefix = location.key if not location.key or location.key.endswith("/") else location.key + "/"
            listed = store.list_keys(location.bucket, prefix)
        except S3AccessError as exc:
            raise JobFailure(f"Unable to read the input at {uri}: {exc}") from exc
        jsonl = [(key, size) for key, size in listed if key.endswith(".jsonl")]
        if not jsonl:
            raise JobFailure(f"No .jsonl files were found under {uri}")
        return self._checked_sizes(jsonl, uri, lambda key: key[len(prefix) :])

    @staticmethod
    def _checked_sizes(found: list[tuple[str, int]], uri: str, output_name: Callable[[str], str]) -> list[InputFile]:
        for key, size in found:
            if size > MAX_FILE_BYTES:
                bucket = S3Location.parse(uri).bucket
                raise JobFailure(f"The input file s3://{bucket}/{key} is {size} bytes; the maximum is {MAX_FILE_BYTES}")
        total = sum(size for _, size in found)
        if total > MAX_JOB_BYTES:
            raise JobFailure(f"The input under {uri} is {total} bytes; a job takes at most {MAX_JOB_BYTES}")
        return [InputFile(key=key, output_name=output_name(key)) for key, _ in found]

    def _read_records(self, store: S3Store, job: Job, file_index: int, input_file: InputFile) -> list[InputRecord]:
        bucket = S3Location.parse(job.params["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]).bucket
        uri = f"s3://{bucket}/{input_file.key}"
        try:
            raw = store.read(uri)
        except S3AccessError as exc:
            raise JobFailure(f"Unable to read the input file {uri}: {exc}") from exc
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JobFailure(f"The input file {uri} is not UTF-8: {exc}") from exc
        records = []
        for line_number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"line {line_number} of {uri}"
            try:
                document = json.loads(line)
            except ValueError as exc:
                raise JobFailure(f"The record on {where} is not valid JSON: {exc}") from exc
            if not isinstance(document, dict) or not isinstance(document.get("modelInput"), dict):
                raise JobFailure(f"The record on {where} must be a JSON object with a modelInput object")
            record_id = document.get("recordId")
            if record_id is None:
                record_id = generated_record_id(job.job_id, input_file.key, line_number)
            elif not isinstance(record_id, str) or not record_id:
                raise JobFailure(f"The recordId on {where} must be a non-empty string")
            records.append(InputRecord(file_index, line_number, record_id, document["modelInput"]))
        return records

    # --- processing ------------------------------------------------------------------------------------------

    def _process(self, job: Job, limit: int) -> None:
        family = formats.family_for(job.model_id, job.params.get("modelInvocationType", "InvokeModel"))
        assert family is not None, "Create refuses models without a format"
        for _ in range(limit):
            with self.state.lock:
                index = job.processed
                if index >= job.total:
                    break
                record = job.records[index]
            line = self._answer(family, job, record)
            with self.state.lock:
                job.results[index] = line
                job.last_modified = self.clock.now()
                job.paced_from = job.last_modified
                job.next_due = job.paced_from + self._interval(job)
            if self._forced_outcome_due(job):
                return  # the next step ends it
        with self.state.lock:
            done = job.processed >= job.total
        if done:
            self._end(job, COMPLETED, None)

    def _answer(self, family: formats.Family, job: Job, record: InputRecord) -> dict[str, Any]:
        line: dict[str, Any] = {"recordId": record.record_id, "modelInput": record.model_input}
        forced = self.faults.take_record_error(record.record_id, job.model_id, record.model_input)
        if forced is not None:
            line["error"] = {"errorCode": forced.error_code, "errorMessage": forced.error_message}
        else:
            try:
                output, usage = formats.process(family, job.model_id, record.model_input)
            except formats.InvalidModelInput as exc:
                line["error"] = {"errorCode": 400, "errorMessage": str(exc)}
            else:
                line["modelOutput"] = output
                with self.state.lock:
                    job.input_tokens += usage.input_tokens
                    job.output_tokens += usage.output_tokens
        with self.state.lock:
            if "error" in line:
                job.errors += 1
            else:
                job.success += 1
        return line

    # --- the end ----------------------------------------------------------------------------------------------

    def _end(self, job: Job, status: str, message: str | None) -> None:
        """End the job; every end but Failed leaves the output of the records it processed."""
        if status != FAILED:
            try:
                self._write_output(job)
            except S3AccessError as exc:
                status, message = FAILED, f"Unable to write the job output: {exc}"
        self._set_status(job, status, message)
        self.wake()

    def _write_output(self, job: Job) -> None:
        store = self._s3_for_role(job.role_arn)
        prefix = output_prefix(job)
        kms_key = job.params["outputDataConfig"]["s3OutputDataConfig"].get("s3EncryptionKeyId")
        with self.state.lock:
            by_file: dict[int, list[dict[str, Any]]] = {}
            for index, line in sorted(job.results.items()):
                by_file.setdefault(job.records[index].file_index, []).append(line)
            manifest = {
                "totalRecordCount": job.total,
                "processedRecordCount": job.processed,
                "successRecordCount": job.success,
                "errorRecordCount": job.errors,
                "inputTokenCount": job.input_tokens,
                "outputTokenCount": job.output_tokens,
            }
            files = list(job.files)
        for file_index, lines in sorted(by_file.items()):
            body = "".join(json.dumps(line) + "\n" for line in output_order(job.job_id, lines))
            location = S3Location(prefix.bucket, f"{prefix.key}/{files[file_index].output_name}.out")
            store.write_output(location, body.encode(), kms_key, content_type="application/jsonl")
        store.write_output(
            S3Location(prefix.bucket, f"{prefix.key}/manifest.json.out"), json.dumps(manifest).encode(), kms_key
        )

    # --- background worker -----------------------------------------------------------------------------------

    def _run_due_steps(self) -> bool:
        moved = False
        with self._step_lock:
            with self.state.lock:
                now = self.clock.now()
                due = [
                    job.job_id
                    for job in self.state.active_jobs()
                    if job.next_due <= now or now >= job.expiration_time or job.forced is not None
                ]
            for job_id in due:
                with self.state.lock:
                    job = self.state.find_job(job_id)
                    if job is None:
                        continue
                    if job.next_due > now and not self._forced_outcome_due(job) and now < job.expiration_time:
                        continue
                    records = self._due_records(job, now)
                if self._step(job_id, records):
                    moved = True
        return moved

    def _due_records(self, job: Job, now: float) -> int:
        rate = self.pacing.records_per_second
        if job.status != IN_PROGRESS or rate <= 0:
            return RECORDS_PER_FAST_STEP
        return max(1, min(RECORDS_PER_FAST_STEP, int((now - job.paced_from) * rate)))


def _forced_message(status: str) -> str | None:
    if status == FAILED:
        return "The job was failed on demand through the Bedrock emulator's admin API"
    if status == EXPIRED:
        return "The job timed out (forced through the Bedrock emulator's admin API)"
    return None
