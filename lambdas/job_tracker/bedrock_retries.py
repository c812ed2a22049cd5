"""Automatic retries of Bedrock records: pools, batch retry jobs, on-demand runs, and each record's lineage
(docs/automatic-retries.md).

When a Bedrock job is recorded, each failure item whose ErrorCode the policy retries goes into the pool of what
a job needs to rerun it (`PoolConfig`: model, invocation type, role, output location and key, VPC); the others
are final at once. A pool that reaches the model's minimum becomes one retry job (at most 50,000 records, the
records' own lines, a tracked name and an idempotent token), which the tracker follows like any job; a pool under
the minimum for longer than the policy's wait runs on demand through bedrock-runtime, its answers written as a
`.jsonl.out` in Bedrock's batch format. Each outcome maps back to the original failure item: SUCCEEDED (with
where the answer lies), back into the pool with its attempt raised, or FINAL. Once no record of a job is pending,
one event says it is settled.

Crash safety: a batch's id, its JSONL's name and its clientRequestToken derive from its records, its item is
written before anything runs, and every record's move is a conditional transaction (adapters/retry_store.py);
a dispatcher that stops part-way is resumed by the next run from the batch item, never starting a second job or
running a record twice at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from job_tracker import table_schema as schema
from job_tracker.adapters.retry_store import Item, lineage_key, member_key
from job_tracker.adapters.s3 import ObjectReader
from job_tracker.bedrock_output import OUTPUT_SUFFIX, OutputFileTally, input_files, read_jsonl_out
from job_tracker.bedrock_retry_lines import RecordSource, client_request_token, pick_lines, retry_job_name
from job_tracker.erasure_register import ErasedSubjects
from job_tracker.kinds.bedrock_batch_inference import BEDROCK_BATCH_INFERENCE
from job_tracker.models import S3Location, bedrock_output_folder
from job_tracker.output_file import FailedRequest
from job_tracker.retry_policy import ALWAYS_FINAL_CODES, RetryPolicy

logger = logging.getLogger(__name__)

POOLED, SUBMITTED, SUCCEEDED, FINAL = "POOLED", "SUBMITTED", "SUCCEEDED", "FINAL"
PENDING_STATES = frozenset({POOLED, SUBMITTED})
ON_DEMAND = "on-demand"
MODE_JOB, MODE_ON_DEMAND = "JOB", "ON_DEMAND"
BATCH_OPEN, BATCH_SUBMITTED = "OPEN", "SUBMITTED"
# Where the retry jobs' input files go, under the configured retry input location: erase finds them there too.
AUTO_FOLDER = "auto/"
# Bedrock documents most batch jobs ending within a day; a record pending longer than the pool wait plus this is
# overdue (the RetryRecordsOverdue metric and its alarm).
EXPECTED_JOB_DURATION = timedelta(hours=24)
# How long a dispatcher holds an open batch it runs: the function's longest run (its 15-minute timeout). A batch
# whose run stopped (a crash, a timeout) is resumed by the first run after that.
BATCH_LEASE = timedelta(minutes=15)
THROTTLE_RETRIES = 5
THROTTLE_BASE_SECONDS = 0.5
HELD_NOTE = "RetryHeldReason"


class RuntimeRecordError(Exception):
    """bedrock-runtime refused or failed one record: `code` as a batch output line's errorCode."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RuntimeThrottled(RuntimeRecordError):
    def __init__(self, message: str) -> None:
        super().__init__(429, message)


class RetryStore(Protocol):
    def summary(self, domain_id: str, job_id: str) -> Item | None: ...
    def failures(self, domain_id: str, job_id: str) -> list[Item]: ...
    def lineage(self, domain_id: str, job_id: str) -> list[Item]: ...
    def pools(self) -> list[Item]: ...
    def members(self, pool_key: str) -> list[Item]: ...
    def batches(self) -> list[Item]: ...
    def batch(self, batch_id: str) -> Item | None: ...
    def retried_on(self, day: str) -> int: ...
    def erased_subjects(self, attribute: str | None) -> ErasedSubjects: ...
    def forget(self, member: Item) -> None: ...
    def pool_record(self, lineage: Item, member: Item | None) -> bool: ...
    def mirror_state(self, domain_id: str, job_id: str, record_id: str, state: str) -> None: ...
    def put_pool(self, pool: Item) -> None: ...
    def open_batch(self, batch: Item, day: str, cap: int) -> bool: ...
    def take_lease(self, batch_id: str, now: str, until: str) -> bool: ...
    def release_lease(self, batch_id: str) -> None: ...
    def claim(self, member: Item, batch_id: str) -> bool: ...
    def update_batch(self, batch_id: str, **attributes: Any) -> None: ...
    def delete_batch(self, batch_id: str) -> None: ...
    def mark_submitted(self, member: Item, batch_id: str, retried_by: str) -> bool: ...
    def settle(self, member: Item, batch_id: str, lineage_update: Item, back_to_pool: Item | None) -> bool: ...
    def set_summary_counts(
        self, domain_id: str, job_id: str, counts: Mapping[str, Any], settled_at: str | None
    ) -> bool: ...
    def set_summary_note(self, domain_id: str, job_id: str, name: str, value: str | None) -> None: ...


class RetryJobs(Protocol):
    def describe(self, job_id: str) -> dict[str, Any]:
        """GetModelInvocationJob's answer."""
        ...

    def create(self, request: dict[str, Any]) -> str:
        """CreateModelInvocationJob; the new job's ARN (the same job again for the same clientRequestToken)."""
        ...


class ModelRuntime(Protocol):
    def run(self, model_id: str, invocation_type: str, model_input: dict[str, Any], record_id: str) -> Any:
        """The model's answer to one record (InvokeModel's body, or Converse's response); RuntimeThrottled or
        RuntimeRecordError when it gives none."""
        ...


class ObjectWriter(Protocol):
    def put(self, location: S3Location, body: bytes, metadata: Mapping[str, str], kms_key_id: str | None) -> None: ...


class SettledEvents(Protocol):
    def settled(self, detail: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class PoolConfig:
    """What a job needs to rerun records: records that share it can share a retry job."""

    model_id: str
    invocation_type: str
    role_arn: str
    output_s3_uri: str
    output_kms_key_id: str | None
    vpc_config: dict[str, Any] | None
    timeout_hours: int | None

    @classmethod
    def of_job(cls, job: Mapping[str, Any]) -> PoolConfig:
        output = job.get("outputDataConfig", {}).get("s3OutputDataConfig", {})
        timeout = job.get("timeoutDurationInHours")
        return cls(
            model_id=str(job["modelId"]),
            invocation_type=str(job.get("modelInvocationType") or "InvokeModel"),
            role_arn=str(job["roleArn"]),
            output_s3_uri=str(output["s3Uri"]),
            output_kms_key_id=output.get("s3EncryptionKeyId") or None,
            vpc_config=job.get("vpcConfig") or None,
            timeout_hours=int(timeout) if isinstance(timeout, int) else None,
        )

    @property
    def key(self) -> str:
        canonical = json.dumps(self.to_item(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:24]

    def to_item(self) -> Item:
        return {
            "ModelId": self.model_id,
            "ModelInvocationType": self.invocation_type,
            "RoleArn": self.role_arn,
            "OutputS3Uri": self.output_s3_uri,
            "OutputKmsKeyId": self.output_kms_key_id,
            "VpcConfig": self.vpc_config,
            "TimeoutHours": self.timeout_hours,
        }

    @classmethod
    def of_item(cls, item: Mapping[str, Any]) -> PoolConfig:
        return cls(
            model_id=item["ModelId"],
            invocation_type=item["ModelInvocationType"],
            role_arn=item["RoleArn"],
            output_s3_uri=item["OutputS3Uri"],
            output_kms_key_id=item.get("OutputKmsKeyId"),
            vpc_config=item.get("VpcConfig"),
            timeout_hours=item.get("TimeoutHours"),
        )


@dataclass(frozen=True)
class RetrySettings:
    policy: RetryPolicy
    retry_input: S3Location
    """The configured retry input location (a folder): retry jobs' JSONL files go under its `auto/`."""
    job_name_prefixes: tuple[str, ...]
    min_records_per_job: int
    max_records_per_job: int = BEDROCK_BATCH_INFERENCE.max_requests_per_job

    @property
    def auto_folder(self) -> S3Location:
        key = self.retry_input.key
        prefix = key if not key or key.endswith("/") else f"{key}/"
        return S3Location(self.retry_input.bucket, f"{prefix}{AUTO_FOLDER}")


@dataclass(frozen=True)
class Outcome:
    """One record's answer in a retry: where its output line is, and its error when it failed."""

    output_file: str | None
    line_number: int | None
    error_code: int | str | None = None
    error_message: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.error_code is None


@dataclass
class DispatchReport:
    pooled: int = 0
    final_at_once: int = 0
    jobs_submitted: list[str] = field(default_factory=list)
    on_demand_records: int = 0
    settled: int = 0
    jobs_settled: list[str] = field(default_factory=list)
    waiting_for_slot: int = 0
    held_by_cap: str | None = None
    overdue: int = 0
    erased: int = 0
    """Pooled records whose subject `erase` erased: taken out of the retries, never sent again."""

    def to_output(self) -> dict[str, Any]:
        return {
            "RecordsPooled": self.pooled,
            "RecordsFinalAtOnce": self.final_at_once,
            "RetryJobsSubmitted": self.jobs_submitted,
            "RecordsRunOnDemand": self.on_demand_records,
            "RecordsSettled": self.settled,
            "JobsSettled": self.jobs_settled,
            "PoolsWaitingForJobSlot": self.waiting_for_slot,
            "HeldByDailyCap": self.held_by_cap,
            "RecordsOverdue": self.overdue,
            "ErasedRecordsDropped": self.erased,
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _final_reason(code: object, attempts: int, policy: RetryPolicy) -> str:
    if code in ALWAYS_FINAL_CODES or str(code) in {str(final) for final in ALWAYS_FINAL_CODES}:
        return f"error {code} is final at once: the record itself is invalid"
    if not policy.is_retryable(code):
        return f"error {code} is not among the policy's retryCodes"
    return f"failed {attempts} attempt(s), the policy's maxAttempts"


class RetryDispatcher:
    def __init__(
        self,
        settings: RetrySettings,
        store: RetryStore,
        *,
        jobs: RetryJobs,
        runtime: ModelRuntime,
        reader: ObjectReader,
        writer: ObjectWriter,
        events: SettledEvents,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._policy = settings.policy
        self._store = store
        self._jobs = jobs
        self._runtime = runtime
        self._reader = reader
        self._writer = writer
        self._events = events
        self._clock = clock
        self._sleep = sleep

    # --- a job was recorded --------------------------------------------------------------------------------
    def on_job_recorded(self, domain_id: str, job_id: str, report: DispatchReport | None = None) -> DispatchReport:
        """Pool a recorded job's retryable records, or, for a retry job, map its outcomes back to their originals."""
        report = report or DispatchReport()
        summary = self._store.summary(domain_id, job_id)
        if summary is None or summary.get("JobKind") != BEDROCK_BATCH_INFERENCE.name:
            return report
        if summary.get("RecordState") != schema.RECORD_STATE_COMPLETE:
            logger.info("The job's record is not complete; nothing to pool yet", extra={"job_id": job_id})
            return report
        batch_id = self._batch_of_input(summary.get("InputUri"))
        if batch_id is not None:
            batch = self._store.batch(batch_id)
            if batch is None:
                logger.info("Retry job already settled", extra={"job_id": job_id, "batch_id": batch_id})
            else:
                self._settle_job_batch(batch, job_id, report)
            return report
        self._pool_job(domain_id, job_id, summary, report)
        return report

    def _batch_of_input(self, input_uri: object) -> str | None:
        """The batch a retry job runs, read from its input file's name (`<retry input>/auto/<batch id>.jsonl`)."""
        if not isinstance(input_uri, str):
            return None
        folder = self._settings.auto_folder
        location = S3Location.parse(input_uri)
        if location.bucket != folder.bucket or not location.key.startswith(folder.key):
            return None
        name = location.key[len(folder.key) :]
        return name.removesuffix(".jsonl") if name.endswith(".jsonl") and "/" not in name else None

    def _pool_job(self, domain_id: str, job_id: str, summary: Item, report: DispatchReport) -> None:
        known = {item["RecordId"]: item for item in self._store.lineage(domain_id, job_id)}
        config: PoolConfig | None = None
        now = _iso(self._clock())
        erased = self._erased()
        for failure in self._store.failures(domain_id, job_id):
            record_id = str(failure["RequestId"])
            if erased.erases(record_id, job_id):
                continue  # erased since it was recorded: `erase` deletes its failure item too
            if record_id in known:
                # Pooled before (this is a re-record, or a repeated event): its state is the lineage's.
                self._store.mirror_state(domain_id, job_id, record_id, known[record_id]["RetryState"])
                continue
            code = failure.get("ErrorCode")
            retryable = self._policy.is_retryable(code) and self._policy.max_attempts > 1
            if retryable and config is None:
                config = PoolConfig.of_job(self._jobs.describe(job_id))
            source = {name: failure.get(name) for name in ("InputFile", "OutputFile", "LineNumber")}
            pk, sk = lineage_key(domain_id, job_id, record_id)
            lineage: Item = {
                schema.PARTITION_KEY: pk,
                schema.SORT_KEY: sk,
                "DomainId": domain_id,
                "JobId": job_id,
                "JobName": summary.get("JobName"),
                "RecordId": record_id,
                "RetryState": POOLED if retryable else FINAL,
                "Attempt": 1,
                "ErrorCode": code,
                "ErrorMessage": failure.get("ErrorMessage"),
                "InputUri": summary.get("InputUri"),
                **source,
                "PoolKey": config.key if retryable and config else None,
                "FinalReason": None if retryable else _final_reason(code, 1, self._policy),
                "Attempts": [
                    {
                        "Attempt": 1,
                        "RunBy": job_id,
                        "ErrorCode": code,
                        "ErrorMessage": failure.get("ErrorMessage"),
                        **{name: value for name, value in source.items() if value is not None},
                    }
                ],
            }
            # Keyed in FailuresBySubject as the failure item is: `erase --record-id` finds and deletes them too.
            subject_keys = schema.subject_index_keys(BEDROCK_BATCH_INFERENCE.subject_attribute, lineage, record_id)
            lineage.update(subject_keys)
            member: Item | None = None
            if retryable and config is not None:
                mpk, msk = member_key(config.key, domain_id, job_id, record_id)
                member = {
                    schema.PARTITION_KEY: mpk,
                    schema.SORT_KEY: msk,
                    "DomainId": domain_id,
                    "JobId": job_id,
                    "JobName": summary.get("JobName"),
                    "RecordId": record_id,
                    "Attempt": 1,
                    "PooledAt": now,
                    "InputUri": summary.get("InputUri"),
                    "PoolKey": config.key,
                    **source,
                    **subject_keys,
                }
            if self._store.pool_record(lineage, member):
                if retryable:
                    report.pooled += 1
                else:
                    report.final_at_once += 1
        if config is not None:
            self._store.put_pool({"PoolKey": config.key, **config.to_item()})
        logger.info(
            "Pooled the job's retryable records",
            extra={"job_id": job_id, "pooled": report.pooled, "final": report.final_at_once},
        )
        self._refresh_summary(domain_id, job_id, report)

    # --- the summary and the settled event -----------------------------------------------------------------
    def _refresh_summary(self, domain_id: str, job_id: str, report: DispatchReport) -> None:
        lineage = self._store.lineage(domain_id, job_id)
        states = [item.get("RetryState") for item in lineage]
        counts = {
            "RetrySucceededCount": states.count(SUCCEEDED),
            "RetryPendingCount": sum(1 for state in states if state in PENDING_STATES),
            "FinalFailedCount": states.count(FINAL),
        }
        settled_at = _iso(self._clock()) if counts["RetryPendingCount"] == 0 else None
        if self._store.set_summary_counts(domain_id, job_id, counts, settled_at):
            summary = self._store.summary(domain_id, job_id) or {}
            detail = {
                "JobKind": BEDROCK_BATCH_INFERENCE.name,
                "DomainId": domain_id,
                "JobId": job_id,
                "JobName": summary.get("JobName"),
                "SucceededRecordCount": summary.get("SucceededRecordCount"),
                **counts,
                "RetrySettledAt": settled_at,
            }
            self._events.settled(detail)
            report.jobs_settled.append(job_id)
            logger.info("Every record of the job is settled", extra=detail)

    # --- the scheduled run ---------------------------------------------------------------------------------
    def run(self, report: DispatchReport | None = None) -> DispatchReport:
        """Resume or settle the open batches, then start a batch for every pool that is due."""
        report = report or DispatchReport()
        batches = self._store.batches()
        for batch in batches:
            self._resume(batch, report)
        for pool in self._store.pools():
            self._dispatch_pool(pool, report)
        return report

    def _resume(self, batch: Item, report: DispatchReport) -> None:
        if batch.get("BatchState") == BATCH_OPEN:
            if not self._lease(batch["BatchId"]):
                return  # another run holds it, or held it too recently to be known stopped
            logger.warning("Resuming a retry batch an earlier run left open", extra={"batch_id": batch["BatchId"]})
            self._run_batch(batch, report)
            return
        job_id = batch.get("RetryJobId")
        if batch.get("Mode") == MODE_JOB and isinstance(job_id, str):
            summary = self._store.summary(str(batch["DomainId"]), job_id)
            if summary is not None and summary.get("RecordState") == schema.RECORD_STATE_COMPLETE:
                # The retry job is recorded, but its event did not reach us (or failed): settle from here.
                self._settle_job_batch(batch, job_id, report)

    def _in_flight(self, model_id: str) -> int:
        return sum(
            1 for batch in self._store.batches() if batch.get("Mode") == MODE_JOB and batch.get("ModelId") == model_id
        )

    def _dispatch_pool(self, pool: Item, report: DispatchReport) -> None:
        config = PoolConfig.of_item(pool)
        now = self._clock()
        members = self._without_erased(self._store.members(pool["PoolKey"]), report)
        overdue_before = now - timedelta(seconds=self._policy.pool_wait_seconds) - EXPECTED_JOB_DURATION
        report.overdue += sum(1 for member in members if datetime.fromisoformat(member["PooledAt"]) < overdue_before)
        free = sorted(
            (member for member in members if not member.get("BatchId")),
            key=lambda member: (member["PooledAt"], member[schema.SORT_KEY]),
        )
        while free:
            day = now.date().isoformat()
            room = self._policy.max_records_per_day - self._store.retried_on(day)
            minimum = self._settings.min_records_per_job
            waited = now - datetime.fromisoformat(free[0]["PooledAt"]) >= timedelta(
                seconds=self._policy.pool_wait_seconds
            )
            if len(free) >= minimum and room >= minimum:
                if self._in_flight(config.model_id) >= self._policy.max_jobs_in_flight_per_model:
                    report.waiting_for_slot += 1
                    logger.info(
                        "The model has as many retry jobs in flight as the policy allows; the pool waits",
                        extra={"model_id": config.model_id, "records": len(free)},
                    )
                    return
                mode, take = MODE_JOB, free[: min(self._settings.max_records_per_job, room)]
            elif waited and room > 0:
                # Under the minimum (or the day's room is): the records run on demand, as many as the cap allows.
                mode, take = MODE_ON_DEMAND, free[:room]
            elif room < len(free) and (waited or len(free) >= minimum):
                self._hold(free, day, room, report)
                return
            else:
                return
            if not self._start_batch(config, pool["PoolKey"], mode=mode, take=take, day=day, report=report):
                return
            free = free[len(take) :]

    def _hold(self, free: Sequence[Item], day: str, room: int, report: DispatchReport) -> None:
        reason = (
            f"the daily cap of {self._policy.max_records_per_day} records retried (maxRecordsPerDay) is reached for "
            f"{day} ({max(room, 0)} left, {len(free)} waiting): these records stay pooled until the next UTC day"
        )
        report.held_by_cap = reason
        logger.warning("Retries held by the daily cap", extra={"reason": reason})
        for domain_id, job_id in sorted({(member["DomainId"], member["JobId"]) for member in free}):
            self._store.set_summary_note(domain_id, job_id, HELD_NOTE, reason)

    def _start_batch(
        self, config: PoolConfig, pool_key: str, *, mode: str, take: Sequence[Item], day: str, report: DispatchReport
    ) -> bool:
        digest = hashlib.sha256(
            "\n".join([pool_key, mode, *(member[schema.SORT_KEY] for member in take)]).encode()
        ).hexdigest()
        batch_id = digest[:24]
        batch: Item = {
            "BatchId": batch_id,
            "PoolKey": pool_key,
            "Mode": mode,
            "BatchState": BATCH_OPEN,
            "ModelId": config.model_id,
            "DomainId": take[0]["DomainId"],
            "RecordCount": len(take),
            "Day": day,
            "Digest": digest,
            # Whose records it holds, as DomainId#JobId: their summaries are counted again once it settles.
            "SourceJobs": sorted({f"{member['DomainId']}#{member['JobId']}" for member in take}),
            "CreatedAt": _iso(self._clock()),
            **config.to_item(),
        }
        now = self._clock()
        batch["LeaseUntil"] = _iso(now + BATCH_LEASE)
        if not self._store.open_batch(batch, day, self._policy.max_records_per_day):
            existing = self._store.batch(batch_id)
            if existing is None:  # the cap was reached in between
                self._hold(take, day, 0, report)
                return False
            if not self._lease(batch_id):
                return False  # another run opened it and runs it
            batch = existing
        for member in take:
            self._store.claim(member, batch_id)
        for domain_id, job_id in sorted({(member["DomainId"], member["JobId"]) for member in take}):
            self._store.set_summary_note(domain_id, job_id, HELD_NOTE, None)
        self._run_batch(batch, report)
        return True

    def _lease(self, batch_id: str) -> bool:
        now = self._clock()
        return self._store.take_lease(batch_id, _iso(now), _iso(now + BATCH_LEASE))

    def _batch_members(self, batch: Item, report: DispatchReport) -> list[Item]:
        """The batch's records, but for those erased since they were pooled (dropped: never sent to Bedrock again,
        nor written back as failures)."""
        members = [
            member for member in self._store.members(batch["PoolKey"]) if member.get("BatchId") == batch["BatchId"]
        ]
        return sorted(self._without_erased(members, report), key=lambda member: str(member[schema.SORT_KEY]))

    def _erased(self) -> ErasedSubjects:
        """The erasure register of the records' subject (the kind's `subject_attribute`), read afresh."""
        return self._store.erased_subjects(BEDROCK_BATCH_INFERENCE.subject_attribute)

    def _without_erased(self, members: Sequence[Item], report: DispatchReport) -> list[Item]:
        """`members` but for the records `erase` erased, whose pooled item and lineage are deleted (forgotten)."""
        erased = self._erased()
        if not erased:
            return list(members)
        kept: list[Item] = []
        for member in members:
            if erased.erases(member.get(BEDROCK_BATCH_INFERENCE.failure_id_attribute), str(member["JobId"])):
                self._store.forget(member)
                report.erased += 1
                logger.info("Dropped an erased record from the retries", extra={"job_id": member["JobId"]})
            else:
                kept.append(member)
        return kept

    def _lines(self, members: Sequence[Item]) -> list[bytes]:
        """The members' retry lines, read back from their original jobs' input (or output) files."""
        by_input: dict[str, list[Item]] = {}
        for member in members:
            by_input.setdefault(str(member.get("InputUri") or ""), []).append(member)
        picked: dict[str, bytes] = {}

        def open_file(uri: str) -> Iterable[bytes]:
            return self._reader.chunks(S3Location.parse(uri))

        for input_uri, group in by_input.items():
            files = (
                [location.uri for location in input_files(S3Location.parse(input_uri), self._reader)]
                if input_uri
                else []
            )
            sources = [RecordSource.of_fields(member["RecordId"], member) for member in group]
            for member, line in zip(group, pick_lines(open_file, files, sources), strict=True):
                picked[member[schema.SORT_KEY]] = line
        return [picked[member[schema.SORT_KEY]] for member in members]

    def _run_batch(self, batch: Item, report: DispatchReport) -> None:
        members = self._batch_members(batch, report)
        if not members:
            self._store.delete_batch(batch["BatchId"])
            return
        try:
            if batch["Mode"] == MODE_JOB:
                self._submit_job(batch, members, report)
            else:
                self._run_on_demand(batch, members, report)
        except Exception:
            # Stopped on an error it raises (Bedrock refusing the job, S3 failing): the next run resumes the batch
            # at once, its same records, file and token. A run killed outright is resumed once its lease is past.
            logger.exception("The retry batch stopped; the next run resumes it", extra={"batch_id": batch["BatchId"]})
            self._store.release_lease(batch["BatchId"])
            raise

    def _submit_job(self, batch: Item, members: Sequence[Item], report: DispatchReport) -> None:
        config = PoolConfig.of_item(batch)
        lines = self._lines(members)
        location = S3Location(
            self._settings.auto_folder.bucket, f"{self._settings.auto_folder.key}{batch['BatchId']}.jsonl"
        )
        source_jobs = ",".join(sorted({str(member["JobId"]) for member in members}))
        self._writer.put(location, b"\n".join(lines) + b"\n", {"tracker-source-job-id": source_jobs[:1024]}, None)
        output: dict[str, Any] = {"s3Uri": config.output_s3_uri}
        if config.output_kms_key_id:
            output["s3EncryptionKeyId"] = config.output_kms_key_id
        request: dict[str, Any] = {
            "jobName": retry_job_name(
                members[0].get("JobName"), str(members[0]["JobId"]), batch["Digest"], self._settings.job_name_prefixes
            ),
            "clientRequestToken": client_request_token(batch["Digest"]),
            "roleArn": config.role_arn,
            "modelId": config.model_id,
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": location.uri, "s3InputFormat": "JSONL"}},
            "outputDataConfig": {"s3OutputDataConfig": output},
            "modelInvocationType": config.invocation_type,
        }
        if config.timeout_hours:
            request["timeoutDurationInHours"] = config.timeout_hours
        if config.vpc_config:
            request["vpcConfig"] = config.vpc_config
        job_id = posixpath.basename(self._jobs.create(request))
        self._store.update_batch(batch["BatchId"], BatchState=BATCH_SUBMITTED, RetryJobId=job_id, InputUri=location.uri)
        for member in members:
            self._store.mark_submitted(member, batch["BatchId"], job_id)
        report.jobs_submitted.append(job_id)
        logger.info(
            "Started a retry job", extra={"retry_job_id": job_id, "records": len(members), "batch_id": batch["BatchId"]}
        )
        for domain_id, job_id_ in sorted({(member["DomainId"], member["JobId"]) for member in members}):
            self._refresh_summary(domain_id, job_id_, report)

    def _run_on_demand(self, batch: Item, members: Sequence[Item], report: DispatchReport) -> None:
        config = PoolConfig.of_item(batch)
        for member in members:
            self._store.mark_submitted(member, batch["BatchId"], ON_DEMAND)
        interval = 1.0 / self._policy.on_demand_per_second
        out_lines: list[bytes] = []
        for member, line in zip(members, self._lines(members), strict=True):
            record = json.loads(line)
            model_input = record.get("modelInput")
            answer: dict[str, Any] = {"recordId": member["RecordId"], "modelInput": model_input}
            try:
                answer["modelOutput"] = self._invoke(config, model_input, member["RecordId"])
            except RuntimeRecordError as error:
                answer["error"] = {"errorCode": error.code, "errorMessage": error.message}
            out_lines.append(json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode())
            self._sleep(interval)
        folder = bedrock_output_folder(config.output_s3_uri, f"{ON_DEMAND}-{batch['BatchId']}")
        location = S3Location(folder.bucket, f"{folder.key}{batch['BatchId']}{OUTPUT_SUFFIX}")
        self._writer.put(location, b"\n".join(out_lines) + b"\n", {}, config.output_kms_key_id)
        report.on_demand_records += len(members)
        self._settle(batch, self._outcomes([location]), ON_DEMAND, report)

    def _invoke(self, config: PoolConfig, model_input: Any, record_id: str) -> Any:
        """One record through bedrock-runtime, backing off on ThrottlingException (then a 429 like a batch's)."""
        if not isinstance(model_input, dict):
            raise RuntimeRecordError(400, "the record's line holds no modelInput object")
        delay = THROTTLE_BASE_SECONDS
        for attempt in range(THROTTLE_RETRIES + 1):
            try:
                return self._runtime.run(config.model_id, config.invocation_type, model_input, record_id)
            except RuntimeThrottled:
                if attempt == THROTTLE_RETRIES:
                    raise
                self._sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    # --- outcomes back to their originals ------------------------------------------------------------------
    def _outcomes(self, files: Iterable[S3Location]) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        tally = OutputFileTally()
        for location in files:
            uri = location.uri

            def failed(failure: FailedRequest, uri: str = uri) -> None:
                outcomes[failure.request_id] = Outcome(
                    uri, failure.details.get("LineNumber"), failure.error_code, failure.error_message
                )

            def succeeded(record_id: str, number: int, uri: str = uri) -> None:
                outcomes[record_id] = Outcome(uri, number)

            read_jsonl_out(self._reader.chunks(location), uri, tally, failed, succeeded)
        return outcomes

    def _settle_job_batch(self, batch: Item, job_id: str, report: DispatchReport) -> None:
        folder = bedrock_output_folder(str(batch["OutputS3Uri"]), job_id)
        files = [S3Location(folder.bucket, key) for key in self._reader.keys(folder) if key.endswith(OUTPUT_SUFFIX)]
        self._settle(batch, self._outcomes(files), job_id, report)

    def _settle(self, batch: Item, outcomes: Mapping[str, Outcome], retried_by: str, report: DispatchReport) -> None:
        now = _iso(self._clock())
        for member in self._batch_members(batch, report):
            outcome = outcomes.get(member["RecordId"]) or Outcome(
                None, None, "UNPROCESSED", f"the retry ({retried_by}) gave no output line for this record"
            )
            attempt = int(member["Attempt"]) + 1
            record: Item = {"Attempt": attempt, "RunBy": retried_by, "At": now}
            record.update({"OutputFile": outcome.output_file, "LineNumber": outcome.line_number})
            update: Item = {"Attempt": attempt, "RetriedBy": retried_by}
            back: Item | None = None
            if outcome.succeeded:
                update.update(
                    RetryState=SUCCEEDED,
                    SucceededOutputFile=outcome.output_file,
                    SucceededLineNumber=outcome.line_number,
                )
            else:
                record.update(ErrorCode=outcome.error_code, ErrorMessage=outcome.error_message)
                update.update(ErrorCode=outcome.error_code, ErrorMessage=outcome.error_message)
                if self._policy.is_retryable(outcome.error_code) and attempt < self._policy.max_attempts:
                    update["RetryState"] = POOLED
                    back = {name: value for name, value in member.items() if name not in ("BatchId", "RecordType")}
                    back.update(Attempt=attempt, PooledAt=now)
                else:
                    update.update(
                        RetryState=FINAL, FinalReason=_final_reason(outcome.error_code, attempt, self._policy)
                    )
            update["AttemptRecord"] = {name: value for name, value in record.items() if value is not None}
            update = {name: value for name, value in update.items() if value is not None}
            if self._store.settle(member, batch["BatchId"], update, back):
                report.settled += 1
        self._store.delete_batch(batch["BatchId"])
        for source_job in batch.get("SourceJobs", []):
            domain_id, _, job_id = str(source_job).partition("#")
            self._refresh_summary(domain_id, job_id, report)
