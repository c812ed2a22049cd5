"""The reconciliation sweep: start a tracker for every recent job that nothing is following.

The services' job events are best effort (Voice ID's and Bedrock's EventBridge events, S3 Batch Operations'
CloudTrail ones), so a job whose events were all lost (or that ended before the stack was deployed) would
never be recorded. The sweep lists each configured domain's (or account's) jobs and starts a
tracker for every one created within the lookback that is neither recorded nor followed by a running
tracker. It reads the job lock first so that it never starts a second tracker for a tracked job; the
state machine's own conditional lock still settles the race with an event that arrives meanwhile.

One job's error (a throttled lock read, a refused StartExecution) is that job's verdict, FAILED, and the
sweep goes on. It keeps a time budget (`TimeBudget`): before it fetches a page of jobs it makes sure the
page and the reconcile of its first job both fit in the time left, and before each job that its reconcile
does, with the report's own time kept aside either way; otherwise it stops and reports the domains and
kinds it did not reach. A kind's lookback covers at least its longest job (`lookback_for`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from job_tracker import table_schema as schema
from job_tracker.kinds import JobKind
from job_tracker.models import JobRef

logger = logging.getLogger(__name__)

# Says in the execution's input (and so in the console) who started it; events start executions without it.
STARTED_BY_SWEEP = "RECONCILIATION_SWEEP"


@dataclass(frozen=True)
class ListedJob:
    """One entry of a List*Jobs page: enough to decide whether the job needs a tracker."""

    ref: JobRef
    kind: JobKind
    status: str
    created_at: datetime


@dataclass(frozen=True)
class JobLock:
    """The job's LOCK item as the state machine wrote it."""

    state: str
    execution_arn: str | None
    released_at: str | None = None
    """When a failed tracker released the lock (ISO 8601, the state machine's clock)."""


class JobLister(Protocol):
    def list_job_pages(self, domain_id: str, kind: JobKind) -> Iterator[list[ListedJob]]:
        """The jobs one List*Jobs page at a time: each page is fetched only when the iterator is advanced,
        so the sweep can check its time before every fetch."""
        ...


class LockReader(Protocol):
    def read_lock(self, ref: JobRef) -> JobLock | None: ...


class TrackerStarter(Protocol):
    def is_running(self, execution_arn: str) -> bool: ...
    def start(self, ref: JobRef, kind: JobKind, *, execution_name: str, started_by: str) -> bool:
        """Start a tracker; False when an execution of that name already exists (a retried sweep)."""
        ...


class Verdict(StrEnum):
    STARTED = "STARTED"
    ALREADY_RECORDED = "ALREADY_RECORDED"
    ALREADY_TRACKED = "ALREADY_TRACKED"
    ALREADY_STARTED = "ALREADY_STARTED"
    OUTSIDE_LOOKBACK = "OUTSIDE_LOOKBACK"
    RECENTLY_FAILED = "RECENTLY_FAILED"
    """Its tracker failed (lock RELEASED) less than `retry_failed_after` ago; tried again later."""
    FAILED = "FAILED"
    """Reconciling it raised an error (in `SweepReport.job_failures`); the next sweep tries again."""


@dataclass
class SweepReport:
    jobs_found: int = 0
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    """JobId -> what the sweep did about it (jobs outside the lookback included)."""
    listing_failures: list[str] = field(default_factory=list)
    """Domains and kinds that could not be listed, with why; the others were still reconciled."""
    job_failures: dict[str, str] = field(default_factory=dict)
    """JobId -> the error that kept the sweep from reconciling it."""
    not_reached: list[str] = field(default_factory=list)
    """Domains and kinds the sweep had no time left for (a kind in a domain it stopped part-way says so)."""

    @property
    def complete(self) -> bool:
        return not (self.listing_failures or self.job_failures or self.not_reached)

    def count(self, verdict: Verdict) -> int:
        return sum(1 for value in self.verdicts.values() if value is verdict)

    def to_output(self) -> dict[str, object]:
        return {
            "JobsFound": self.jobs_found,
            "TrackersStarted": self.count(Verdict.STARTED),
            "JobsAlreadyRecorded": self.count(Verdict.ALREADY_RECORDED),
            "JobsAlreadyTracked": self.count(Verdict.ALREADY_TRACKED) + self.count(Verdict.ALREADY_STARTED),
            "JobsOutsideLookback": self.count(Verdict.OUTSIDE_LOOKBACK),
            "JobsRecentlyFailed": self.count(Verdict.RECENTLY_FAILED),
            "Started": sorted(job for job, verdict in self.verdicts.items() if verdict is Verdict.STARTED),
            "ListingFailures": list(self.listing_failures),
            "JobsFailed": self.count(Verdict.FAILED),
            "JobFailures": dict(self.job_failures),
            "NotReached": list(self.not_reached),
        }


# A job that ended as late as its kind allows may still need its tracker started: its end event lost, or its
# tracker failed and retried hourly (`Sweep.retry_failed_after`) for a while.
LOOKBACK_BEYOND_LONGEST_JOB = timedelta(days=1)


def lookback_for(kind: JobKind, configured: timedelta) -> timedelta:
    """How far back the sweep lists `kind`'s jobs: the configured lookback, or longer for a kind whose jobs
    may run longer (a Bedrock job runs for up to a week), so that a job is still listed when it ends."""
    if kind.longest_job is None:
        return configured
    return max(configured, kind.longest_job + LOOKBACK_BEYOND_LONGEST_JOB)


@dataclass(frozen=True)
class TimeBudget:
    """The longest each of the sweep's next steps can take, so that it stops while its report still fits in
    the function's time (a sweep killed at its timeout reports nothing, not even what it did)."""

    page_seconds: float = 0.0
    """One List*Jobs page, retries included."""
    reconcile_seconds: float = 0.0
    """One job's reconcile: its lock read, holder check and StartExecution."""
    report_seconds: float = 0.0
    """The report itself: metrics, the log line, the answer."""

    @property
    def before_page(self) -> float:
        """Time needed to fetch a page: the page, then at least its first job, then the report."""
        return self.page_seconds + self.reconcile_seconds + self.report_seconds

    @property
    def before_job(self) -> float:
        """Time needed to reconcile a job of a page already fetched, then report."""
        return self.reconcile_seconds + self.report_seconds


def execution_name(ref: JobRef, now: datetime) -> str:
    """One name per job and minute: a sweep retried by the scheduler (or run twice within a minute) asks
    Step Functions for the same execution, which it refuses to start twice."""
    return f"sweep-{ref.job_id}-{now.strftime('%Y%m%dT%H%M')}"


@dataclass(frozen=True)
class Sweep:
    lister: JobLister
    locks: LockReader
    trackers: TrackerStarter
    lookback: timedelta
    """The configured lookback; a kind whose jobs run longer is looked back further (`lookback_for`)."""
    retry_failed_after: timedelta = timedelta(hours=1)
    """A job whose tracker failed is started again at most this often: a permanent failure (an output key
    policy, say) would otherwise fail once per sweep for the whole lookback, paging each time."""
    budget: TimeBudget = TimeBudget()
    """Stop before a page or a job that might not finish, with the report, in the time left."""

    def run(
        self,
        domain_ids: Iterable[str],
        kinds: Iterable[JobKind],
        now: datetime,
        remaining_seconds: Callable[[], float] = lambda: float("inf"),
        report: SweepReport | None = None,
    ) -> SweepReport:
        """Reconcile every job of every kind in every domain, within `remaining_seconds`. A domain or kind
        that cannot be listed is reported in `listing_failures`, a job that could not be reconciled in
        `job_failures`, what there was no time for in `not_reached`, and the rest are still reconciled; the
        caller decides whether that fails the sweep. Given a `report`, adds to it: one report for the kinds of
        several services, each with its own domains."""
        report = report if report is not None else SweepReport()
        pairs = [(kind, domain_id) for kind in kinds for domain_id in domain_ids]
        for index, (kind, domain_id) in enumerate(pairs):
            if remaining_seconds() < self.budget.before_page:
                report.not_reached += [f"{k.name} in {d}" for k, d in pairs[index:]]
                break
            try:
                finished = self._sweep_domain(domain_id, kind, now, report, remaining_seconds)
            except Exception as error:  # whatever it is, the other domains are still swept
                report.listing_failures.append(f"{kind.name} in {domain_id}: {type(error).__name__}: {error}")
                logger.error(
                    "Could not list a domain's jobs; the others are still swept",
                    extra={"domain_id": domain_id, "job_kind": kind.name, "error": str(error)},
                )
                continue
            if not finished:
                report.not_reached.append(f"{kind.name} in {domain_id} (part-way)")
                report.not_reached += [f"{k.name} in {d}" for k, d in pairs[index + 1 :]]
                break
        if report.not_reached:
            logger.warning("The sweep ran out of time", extra={"not_reached": report.not_reached})
        return report

    def _sweep_domain(
        self,
        domain_id: str,
        kind: JobKind,
        now: datetime,
        report: SweepReport,
        remaining_seconds: Callable[[], float],
    ) -> bool:
        """Reconcile the domain's jobs of `kind`; False when time ran out before the last one."""
        oldest = now - lookback_for(kind, self.lookback)
        pages = self.lister.list_job_pages(domain_id, kind)
        while True:
            # Checked before each fetch (the page is fetched by next()): a page with no time left to
            # reconcile even one of its jobs would only be thrown away.
            if remaining_seconds() < self.budget.before_page:
                return False
            page = next(pages, None)
            if page is None:
                return True
            for job in page:
                if remaining_seconds() < self.budget.before_job:
                    return False
                self._sweep_job(job, oldest, now, report)

    def _sweep_job(self, job: ListedJob, oldest: datetime, now: datetime, report: SweepReport) -> None:
        report.jobs_found += 1
        verdict = Verdict.OUTSIDE_LOOKBACK if job.created_at < oldest else self._reconcile_one(job, now, report)
        report.verdicts[job.ref.job_id] = verdict
        logger.info(
            "Swept job",
            extra={
                "domain_id": job.ref.domain_id,
                "job_kind": job.kind.name,
                "job_id": job.ref.job_id,
                "job_status": job.status,
                "created_at": job.created_at.isoformat(),
                "verdict": verdict.value,
            },
        )

    def _reconcile_one(self, job: ListedJob, now: datetime, report: SweepReport) -> Verdict:
        try:
            return self._reconcile(job, now)
        except Exception as error:  # one job's error is its verdict; the sweep goes on
            report.job_failures[job.ref.job_id] = f"{type(error).__name__}: {error}"
            logger.error(
                "Could not reconcile a job; the others are still swept",
                extra={"job_id": job.ref.job_id, "error": f"{type(error).__name__}: {error}"},
            )
            return Verdict.FAILED

    def _reconcile(self, job: ListedJob, now: datetime) -> Verdict:
        lock = self.locks.read_lock(job.ref)
        if lock is not None and lock.state == schema.LOCK_RECORDED:
            return Verdict.ALREADY_RECORDED
        holder = lock.execution_arn if lock is not None and lock.state == schema.LOCK_TRACKING else None
        if holder and self.trackers.is_running(holder):
            return Verdict.ALREADY_TRACKED
        if lock is not None and lock.state == schema.LOCK_RELEASED and self._released_recently(lock, now):
            return Verdict.RECENTLY_FAILED
        # No lock, a released lock (its tracker failed) or a stale one (its tracker stopped or timed out):
        # the state machine takes such a lock, or over, itself.
        started = self.trackers.start(
            job.ref, job.kind, execution_name=execution_name(job.ref, now), started_by=STARTED_BY_SWEEP
        )
        return Verdict.STARTED if started else Verdict.ALREADY_STARTED

    def _released_recently(self, lock: JobLock, now: datetime) -> bool:
        if not lock.released_at:
            return False
        try:
            released = datetime.fromisoformat(lock.released_at.replace("Z", "+00:00"))
        except ValueError:
            return False
        return now - released < self.retry_failed_after
