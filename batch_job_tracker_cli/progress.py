"""`watch`: follow a job until the tracker has recorded it, from the table and the job's service.

Each round reads the job's summary and lock (one BatchGetItem) and, while the job runs, describes it once
through its service (Voice ID, Bedrock, S3 Batch Operations); a job that ended and was recorded between two
rounds is described once more, for its last reading. Voice ID allows 2 TPS per account, shared with every
tracker and the sweep, so rounds are seconds apart (`--interval`, at least 1 s) and a finished job is not
described again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from batch_job_tracker_cli.errors import CliError
from batch_job_tracker_cli.executions import tracker_status
from batch_job_tracker_cli.records import JobRecord, lookup_job
from batch_job_tracker_cli.render import counts_text
from batch_job_tracker_cli.shared import DEFAULT_JOB_KIND, JOB_KINDS, JobKind, schema
from job_tracker.adapters.s3control import S3BatchJobDescriber
from job_tracker.errors import JobNotFound, TrackerError
from job_tracker.models import JobRef

if TYPE_CHECKING:
    from batch_job_tracker_cli.target import Target

DEFAULT_TIMEOUT_SECONDS = 4 * 3600
"""`watch` gives up after this long unless told otherwise: longer than a large job takes to run and record."""
TERMINAL_JOB_STATUSES = frozenset().union(*(kind.terminal_statuses for kind in JOB_KINDS.values()))


class ServiceHasNoJob(CliError):
    """The job's service has no job of that id, of that kind, in that scope."""


def _describe_voice_id(target: Target, kind: JobKind, domain_id: str, job_id: str) -> tuple[str, int | None]:
    """The job's status and PercentComplete (None when it reports none)."""
    describe = getattr(target.voice_id(), kind.describe_method)
    try:
        job = describe(DomainId=domain_id, JobId=job_id)["Job"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise ServiceHasNoJob(
                f"job {job_id} is not known to the tracker yet and Voice ID has no {kind.noun} job "
                f"{job_id} in domain {domain_id} (another kind? say --kind)"
            ) from error
        raise
    progress = job.get("JobProgress") or {}
    return str(job.get("JobStatus")), progress.get("PercentComplete")


def _describe_bedrock(target: Target, kind: JobKind, domain_id: str, job_id: str) -> tuple[str, int | None]:
    """Bedrock's status and processedRecordCount / totalRecordCount (None without the counts)."""
    try:
        job: Any = target.bedrock().get_model_invocation_job(jobIdentifier=job_id)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise ServiceHasNoJob(f"Bedrock has no {kind.noun} job {job_id}") from error
        raise
    total, processed = job.get("totalRecordCount"), job.get("processedRecordCount")
    percent = processed * 100 // total if isinstance(total, int) and total and isinstance(processed, int) else None
    return str(job.get("status")), percent


def _describe_s3_batch(target: Target, kind: JobKind, domain_id: str, job_id: str) -> tuple[str, int | None]:
    """S3 Batch Operations' status and its ProgressSummary's (succeeded + failed) / total tasks, read by the
    tracker's own describe adapter (DescribeJob in the job's account)."""
    try:
        job = S3BatchJobDescriber(target.s3control()).describe(JobRef(domain_id, job_id), kind)
    except JobNotFound as error:
        raise ServiceHasNoJob(f"S3 Batch Operations has no {kind.noun} job {job_id} in account {domain_id}") from error
    except TrackerError as error:  # refused, denied, throttled after the SDK's retries: one line
        raise CliError(str(error)) from error
    percent = job.percent_complete if job.record_counts else None
    return job.reported_status, percent


# How each service's job is described, by JobService.key.
DESCRIBERS = {"voiceid": _describe_voice_id, "bedrock": _describe_bedrock, "s3": _describe_s3_batch}


def kinds_of_job_id(job_id: str) -> list[JobKind]:
    """The kinds whose service's job ids look like `job_id`, the default kind first (a Voice ID id may be a
    fraudster registration or a speaker enrollment; a Bedrock or S3 Batch Operations id is of its one kind)."""
    kinds = [kind for kind in JOB_KINDS.values() if kind.service.job_id.fullmatch(job_id)]
    return sorted(kinds, key=lambda kind: kind is not DEFAULT_JOB_KIND)


def _found_in(target: Target, job_id: str, kind: JobKind, scopes: Sequence[str]) -> list[str]:
    """The scopes among `scopes` in which the kind's service describes the job as one of `kind`."""
    found = []
    for scope in scopes:
        try:
            DESCRIBERS[kind.service.key](target, kind, scope, job_id)
        except ServiceHasNoJob:
            continue
        found.append(scope)
    return found


def confirm_job(
    target: Target, job_id: str, scopes: Sequence[str], kind: JobKind | None, *, tracked: bool = False
) -> tuple[JobKind, str]:
    """The kind and scope of a job as its own service describes it, before anything is started for it: `kind`
    (when the operator or the job's items name one) is checked, else each kind its id may be is tried, in each
    of `scopes` the kind's service may use. An unknown job, a wrong kind or a scope of another service is a
    CliError naming what is wrong (`tracked`: the tracker has items of the job, so a job its service no longer
    has was deleted there). Describes are the tracker's own reads, retried on throttling by the SDK."""
    kinds = [kind] if kind is not None else kinds_of_job_id(job_id)
    if not kinds:
        raise CliError(f"which kind of job {job_id} is cannot be told from its id: say --kind ({', '.join(JOB_KINDS)})")
    for candidate in kinds:
        service = candidate.service
        if not service.job_id.fullmatch(job_id):
            raise CliError(f"job {job_id} is not a {candidate.noun} job: its JobId must be {service.job_id_shape}")
        usable = [scope for scope in scopes if service.scope_id.fullmatch(scope)]
        if not usable:
            raise CliError(
                f"{target.description} follows no {service.scope_noun} for {candidate.noun} job {job_id} "
                f"({', '.join(scopes)} is not one: it must be {service.scope_id_shape}); say --domain"
            )
        found = _found_in(target, job_id, candidate, usable)
        if len(found) > 1:
            raise CliError(f"job {job_id} is in several {service.scope_noun}s ({', '.join(found)}): say --domain")
        if found:
            return candidate, found[0]
    service = kinds[0].service
    usable = [scope for scope in scopes if service.scope_id.fullmatch(scope)]
    if kind is not None:
        for other in kinds_of_job_id(job_id):
            if other is not kind and _found_in(target, job_id, other, usable):
                raise CliError(
                    f"job {job_id} is a {other.noun} job, not a {kind.noun} one: say --kind {other.name}, or "
                    "leave --kind out"
                )
    nouns = " or ".join(candidate.noun for candidate in kinds)
    where = f"{service.name} has no {nouns} job {job_id} in {service.scope_noun} {', '.join(usable)}"
    if tracked:
        raise CliError(
            f"the tracker has job {job_id}'s items, but {where} any more (a job the service deleted, or one past "
            f"its retention, cannot be described or recorded again); `{target.command('show', job_id)}` shows "
            "what was recorded; nothing was started"
        )
    raise CliError(
        f"job {job_id} is not known to the tracker, and {where}: check the JobId (and --domain); nothing was started"
    )


RECORDED_STATES = frozenset({schema.RECORD_STATE_COMPLETE, schema.RECORD_STATE_FAILED})


@dataclass(frozen=True)
class Snapshot:
    job_id: str
    domain_id: str
    kind: JobKind
    job_status: str | None
    percent_complete: int
    record: JobRecord | None
    holder_status: str | None = None
    """The lock holder's execution status while the lock is TRACKING (EXPIRED: it no longer exists)."""

    @property
    def record_state(self) -> str | None:
        return self.record.record_state if self.record else None

    @property
    def lock(self) -> dict[str, Any]:
        return (self.record.lock if self.record else None) or {}

    @property
    def recorded(self) -> bool:
        return self.record_state in RECORDED_STATES

    @property
    def abandoned(self) -> bool:
        """The job ended, its lock was released and nothing recorded it: no tracker is following it (a
        RECORDING summary under a released lock is a record step that died part-way)."""
        return (
            self.job_status in TERMINAL_JOB_STATUSES
            and self.lock.get("LockState") == schema.LOCK_RELEASED
            and not self.recorded
        )

    @property
    def dead_holder(self) -> bool:
        """The lock says TRACKING but its holder stopped (failed, timed out, aborted, or expired) without
        recording or releasing it: nothing follows the job until a new start takes the stale lock over."""
        return (
            self.lock.get("LockState") == schema.LOCK_TRACKING
            and self.holder_status not in (None, "RUNNING")
            and not self.recorded
        )

    def view(self) -> RenderableType:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column()
        bar = ProgressBar(total=100, completed=self.percent_complete, width=30)
        table.add_row(
            self.kind.service.name, Text(self.job_status or "?"), Group(bar, Text(f"{self.percent_complete}%"))
        )
        lock = self.lock
        holder = str(lock.get("ExecutionArn", "")).rsplit(":", 1)[-1]
        tracker = lock.get("LockState") or "no tracker yet"
        if lock.get("LockState") == schema.LOCK_TRACKING and lock.get("WaitingSince"):
            tracker = f"{tracker}, waiting since {lock['WaitingSince']}"
        if self.holder_status not in (None, "RUNNING"):
            tracker = f"{tracker}, but its holder is {self.holder_status}"
        table.add_row("Tracker", Text(str(tracker)), Text(holder))
        table.add_row("Record", Text(self.record_state or "not started"), Text(""))
        title = Text(f"Job {self.job_id} ({self.kind.noun}, domain {self.domain_id})", style="bold")
        return Group(title, table)

    def final_line(self) -> str:
        summary = (self.record.summary if self.record else None) or {}
        counts = counts_text(summary)
        return (
            f"Job {self.job_id} recorded: {summary.get('JobStatus')}, "
            f"{summary.get(self.kind.failed_count_attribute, 0)} failed {self.kind.failure_noun}(s)"
            + (f", {counts}" if counts else "")
        )


class Watcher:
    def __init__(
        self,
        target: Target,
        job_id: str,
        domain_id: str,
        kind: JobKind,
        *,
        interval: float,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.target = target
        self.job_id = job_id
        self.domain_id = domain_id
        self.kind = kind
        self.interval = interval
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep
        self._job_status: str | None = None
        self._percent = 0

    def _describe(self) -> None:
        if self._job_status in TERMINAL_JOB_STATUSES:
            return  # a finished job does not change: spend none of Voice ID's 2 TPS on it
        status, percent = DESCRIBERS[self.kind.service.key](self.target, self.kind, self.domain_id, self.job_id)
        self._job_status = status
        finished = self._job_status in TERMINAL_JOB_STATUSES
        self._percent = int(percent or (100 if finished else 0))

    def _holder_status(self, record: JobRecord | None) -> str | None:
        """The status of the execution holding a TRACKING lock (one DescribeExecution; EXPIRED when Step
        Functions no longer has it), else None."""
        lock = (record.lock if record else None) or {}
        if lock.get("LockState") != schema.LOCK_TRACKING:
            return None
        return tracker_status(self.target.stepfunctions(), lock.get("ExecutionArn"))

    def _last_reading(self, summary: dict[str, Any]) -> None:
        """Once the job is recorded, its row shows the job's last reading: a reading from before it ended
        (`Validating 0%`, the job having run and been recorded between two rounds) is replaced by one more
        describe; a job recorded before watch began shows its summary's status (the service's own word)."""
        if self._job_status in TERMINAL_JOB_STATUSES:
            return  # the describe that saw the end is the last reading
        if self._job_status is None:
            self._job_status, self._percent = str(summary.get("JobStatus")), 100
            return
        self._describe()

    def snapshot(self) -> Snapshot:
        record = lookup_job(self.target.dynamodb(), self.target.table_name, self.job_id, [self.domain_id])
        if not (record and record.record_state in RECORDED_STATES):
            self._describe()
        elif record.summary:
            self._last_reading(record.summary)
        recorded = bool(record and record.record_state in RECORDED_STATES)
        holder = None if recorded else self._holder_status(record)
        if holder not in (None, "RUNNING"):
            # The holder may have recorded the job and released its lock between the read above and its
            # describe. Its status is final, so a second read says what it left: a lock still TRACKING then
            # is a dead holder's, not a race.
            record = lookup_job(self.target.dynamodb(), self.target.table_name, self.job_id, [self.domain_id])
            recorded = bool(record and record.record_state in RECORDED_STATES)
            holder = None if recorded else self._holder_status(record)
        return Snapshot(self.job_id, self.domain_id, self.kind, self._job_status, self._percent, record, holder)

    def run(self, console: Console) -> Snapshot:
        deadline = self.clock() + self.timeout
        snapshot = self.snapshot()
        with Live(snapshot.view(), console=console, refresh_per_second=4, auto_refresh=False) as live:
            while not (snapshot.recorded or snapshot.abandoned or snapshot.dead_holder):
                if self.clock() >= deadline:
                    break
                self.sleep(self.interval)
                snapshot = self.snapshot()
                live.update(snapshot.view(), refresh=True)
        if snapshot.record_state == schema.RECORD_STATE_FAILED:
            problem = (snapshot.record.summary if snapshot.record else None) or {}
            raise CliError(f"recording job {self.job_id} failed: {problem.get('RecordProblem', 'no reason given')}")
        if snapshot.recorded:
            return snapshot
        if not (snapshot.abandoned or snapshot.dead_holder):
            raise CliError(f"job {self.job_id} was not recorded within {self.timeout:g} s")
        retrack = f"`{self.target.command('track', self.job_id, '--domain', self.domain_id, '--kind', self.kind.name)}`"
        if snapshot.abandoned:
            stuck = (
                " (its summary was left RECORDING)" if snapshot.record_state == schema.RECORD_STATE_RECORDING else ""
            )
            raise CliError(
                f"no tracker is following job {self.job_id}: it ended {snapshot.job_status} and its lock was released "
                f"at {snapshot.lock.get('ReleasedAt')} without a record{stuck}; see "
                f"`{self.target.command('show', self.job_id)}`, and {retrack} records it again"
            )
        if snapshot.dead_holder:
            holder = str(snapshot.lock.get("ExecutionArn", "")).rsplit(":", 1)[-1]
            raise CliError(
                f"no tracker is following job {self.job_id}: the execution holding its lock ({holder}) is "
                f"{snapshot.holder_status} and left the lock TRACKING; {retrack} takes the lock over (the sweep "
                "also does at its next run)"
            )
        return snapshot
