"""The job lifecycle (s3batch-facts §2), one step at a time:

    New -> Preparing -> (Suspended, until confirmed) -> Ready -> Active -> Completing -> Complete
    Active -> Pausing -> Paused -> Active           (a higher-priority job needs the slot: `max_active_jobs`)
    Active -> Failing -> Failed                    (>= 1,000 tasks run and more than 50 % failed; forced)
    Preparing -> Failed                            (the manifest cannot be read, its ETag differs, bad rows)
    Active/Paused/Pausing -> Cancelling -> Cancelled;  New/Preparing/Suspended/Ready -> Cancelled

Each step is one status change, or one batch of tasks while Active, in an order other than the manifest's
(`run_order`), as AWS runs them. Tasks really run (tasks.py) with the job's
role's clients, unless the pacing simulates them (`simulate_tasks`, for scale runs: each task then ends as the
forced task failures say, succeeded otherwise, without touching the object). A completion report is written
when the job ends after at least one task ran (reports.py).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator_core.clock import Clock
from emulator_core.events import EventPublisher
from emulator_core.jobs import SteppingEngine
from s3batch_emulator import events, manifest, reports, tasks
from s3batch_emulator.faults import S3BatchFaults
from s3batch_emulator.store import (
    ACTIVE,
    CANCELLED,
    CANCELLING,
    COMPLETE,
    COMPLETING,
    FAILED,
    FAILING,
    NEW,
    PAUSED,
    PAUSING,
    PREPARING,
    READY,
    SUSPENDED,
    TERMINAL_STATUSES,
    AccountState,
    Job,
    Quotas,
    Task,
    TaskResult,
)

LOG = logging.getLogger(__name__)

# With no task pacing, a background step runs this many tasks, so progress moves while a big job runs and other
# jobs (and UpdateJobStatus, which waits for the step under way) get the lock between steps: real tasks are S3 or
# Lambda calls, so few; simulated ones cost microseconds.
TASKS_PER_FAST_STEP = 50
SIMULATED_TASKS_PER_FAST_STEP = 100_000
# Tasks of a job bigger than this run in shuffled runs of this many manifest rows (run_order).
SHUFFLED_RUN = 1_024
# The task-failure threshold (s3batch-facts §2): once at least this many tasks ran, more than half failed.
THRESHOLD_MIN_TASKS = 1_000
# FailureReasons when a job fails: AWS's strings are not published [unconfirmed], so these name the cause.
THRESHOLD_FAILURE = {
    "FailureCode": "TaskFailureThresholdExceeded",
    "FailureReason": "More than 50% of the job's tasks failed after at least 1,000 tasks ran",
}
SUSPENDED_CAUSE = "The job is awaiting confirmation: UpdateJobStatus with RequestedJobStatus Ready to run it"


@dataclass(frozen=True)
class Pacing:
    """How jobs move. `manual`: only `step_job`/`advance`/`run_until_done` move them, one status or
    `tasks_per_step` tasks a step. Otherwise a background worker moves them on the clock: each status before
    and after the tasks lasts `stage_seconds`, and tasks run at `tasks_per_second` (0: as fast as possible).
    `simulate_tasks`: tasks end as the forced task failures say without touching S3 or Lambda (scale runs)."""

    stage_seconds: float = 0.0
    tasks_per_second: float = 0.0
    manual: bool = False
    tasks_per_step: int = 1
    simulate_tasks: bool = False

    def __post_init__(self) -> None:
        if self.stage_seconds < 0 or self.tasks_per_second < 0:
            raise ValueError("pacing values must be >= 0")
        if self.tasks_per_step < 1:
            raise ValueError("tasks_per_step must be >= 1")

    @classmethod
    def instant(cls, *, simulate_tasks: bool = False) -> Pacing:
        return cls(simulate_tasks=simulate_tasks)

    @classmethod
    def manual_steps(cls, tasks_per_step: int = 1) -> Pacing:
        return cls(manual=True, tasks_per_step=tasks_per_step)

    @classmethod
    def real_time(cls, stage_seconds: float, tasks_per_second: float, *, simulate_tasks: bool = False) -> Pacing:
        return cls(stage_seconds=stage_seconds, tasks_per_second=tasks_per_second, simulate_tasks=simulate_tasks)

    def to_api(self) -> dict[str, Any]:
        return {
            "manual": self.manual,
            "stageSeconds": self.stage_seconds,
            "tasksPerSecond": self.tasks_per_second,
            "simulateTasks": self.simulate_tasks,
        }


def run_order(job_id: str, found: list[Task]) -> list[Task]:
    """The order a job's tasks run (and its report lists them) in: not the manifest's, as AWS promises none
    (s3batch-facts §2: tasks run asynchronously), but fixed for a job id so that a test can repeat it.

    A small job is shuffled whole; a big one by runs of `SHUFFLED_RUN` rows (the runs shuffled, each kept in
    order), which keeps a million-task job's rows near each other in memory (a whole shuffle doubles its time)."""
    generator = random.Random(job_id)
    if len(found) <= SHUFFLED_RUN:
        ordered = list(found)
        generator.shuffle(ordered)
    else:
        runs = [found[start : start + SHUFFLED_RUN] for start in range(0, len(found), SHUFFLED_RUN)]
        generator.shuffle(runs)
        ordered = [task for run in runs for task in run]
    if len(ordered) > 1 and ordered == found:
        ordered = ordered[1:] + ordered[:1]
    return ordered


class JobEngine(SteppingEngine[Job, Pacing]):
    worker_name = "s3batch-job-worker"
    max_steps = 100_000_000

    def __init__(
        self,
        *,
        state: AccountState,
        clients_for_role: Callable[[str], tasks.RoleClients],
        publisher: EventPublisher,
        faults: S3BatchFaults,
        clock: Clock,
        quotas: Callable[[], Quotas],
        pacing: Pacing,
        region: str,
        account_id: str,
    ) -> None:
        super().__init__(state=state, pacing=pacing)
        self.state: AccountState = state
        self._clients_for_role = clients_for_role
        self.publisher = publisher
        self.faults = faults
        self.clock = clock
        self.quotas = quotas
        self.region = region
        self.account_id = account_id

    # --- status changes ----------------------------------------------------------------------------------

    def _set_status(self, job: Job, status: str, event_name: str = events.JOB_STATUS_CHANGED) -> None:
        with self.state.lock:
            now = self.clock.now()
            if job.status == ACTIVE and job.active_since is not None:
                job.active_seconds += now - job.active_since
                job.active_since = None
            job.status = status
            if status == ACTIVE:
                job.active_since = now
            if status in TERMINAL_STATUSES:
                job.termination_date = now
            job.paced_from = now
            job.next_due = now + self._interval(job)
            detail = events.detail(job, event_name, self.region, self.account_id, now)
        LOG.info("S3 Batch Operations job %s is %s", job.job_id, status)
        self.publisher.publish(events.DETAIL_TYPE, [], detail)
        if status in TERMINAL_STATUSES:
            with self.state.lock:
                job.end_event_handed_over = True

    def _interval(self, job: Job) -> float:
        if job.status == ACTIVE:
            rate = self.pacing.tasks_per_second
            return 1.0 / rate if rate > 0 else 0.0
        return self.pacing.stage_seconds

    def created(self, job: Job) -> None:
        """A new job: its JobCreated event (status New), and the worker woken."""
        with self.state.lock:
            job.paced_from = self.clock.now()
            job.next_due = job.paced_from + self.pacing.stage_seconds
            detail = events.detail(job, events.JOB_CREATED, self.region, self.account_id, job.paced_from)
        self.publisher.publish(events.DETAIL_TYPE, [], detail)
        self.wake()

    def confirm(self, job: Job, reason: str | None) -> None:
        """UpdateJobStatus Ready: a Suspended job is Ready (and never Suspended again). Taken between steps;
        ValueError when the job is not Suspended."""
        with self._step_lock:
            if job.status != SUSPENDED:
                raise ValueError(job.status)
            job.status_update_reason = reason
            self._set_status(job, READY)
        self.wake()

    def request_cancel(self, job: Job, reason: str | None) -> str:
        """UpdateJobStatus Cancelled: a job that has not started is Cancelled at once, a running one is
        Cancelling (Cancelled at its next step, with a report of the tasks that ran). Taken between steps.
        Raises ValueError naming the status when the job can no longer be cancelled."""
        with self._step_lock:
            if job.status in (NEW, PREPARING, SUSPENDED, READY):
                job.status_update_reason = reason
                self._set_status(job, CANCELLED)
            elif job.status in (ACTIVE, PAUSING, PAUSED):
                job.status_update_reason = reason
                self._set_status(job, CANCELLING)
            else:
                raise ValueError(job.status)
            status = job.status
        self.wake()
        return status

    def set_pacing(self, pacing: Pacing) -> None:
        with self._step_lock, self.state.lock:
            self._switch_pacing(pacing)
            for job in self.state.active_jobs():
                job.next_due = job.paced_from + self._interval(job)
        self.wake()

    # --- stepping ----------------------------------------------------------------------------------------

    def step(self, job_id: str) -> bool:
        """One step of a job; False when it is unknown, has ended, or cannot move now (Suspended until
        confirmed, Ready or Paused with no free slot), so `run_until_done` stops there."""
        with self._step_lock:
            return self._step(job_id, self.pacing.tasks_per_step if self.pacing.manual else self._fast_batch())

    def _fast_batch(self) -> int:
        return SIMULATED_TASKS_PER_FAST_STEP if self.pacing.simulate_tasks else TASKS_PER_FAST_STEP

    def _step(self, job_id: str, batch: int) -> bool:
        with self.state.lock:
            job = self.state.find_job(job_id)
            if job is None or not job.active:
                return False
            status = job.status
            before = (job.status, job.next_task, len(job.retry_queue), job.tasks_run)
        try:
            if status == NEW:
                self._set_status(job, PREPARING)
            elif status == PREPARING:
                self._prepare(job)
            elif status == SUSPENDED:
                self._check_suspension(job)
            elif status in (READY, PAUSED):
                self._schedule(job)
            elif status == PAUSING:
                self._set_status(job, PAUSED)
            elif status == ACTIVE:
                self._run_tasks(job, batch)
            elif status == COMPLETING:
                self._finish(job, COMPLETE)
            elif status == FAILING:
                self._finish(job, FAILED)
            elif status == CANCELLING:
                self._finish(job, CANCELLED)
        except Exception as exc:
            LOG.exception("Unexpected error in S3 Batch Operations job %s", job_id)
            with self.state.lock:
                job.failure_reasons.append({"FailureCode": "InternalError", "FailureReason": str(exc)[:256]})
            self._set_status(job, FAILED)
        with self.state.lock:
            return before != (job.status, job.next_task, len(job.retry_queue), job.tasks_run)

    def _prepare(self, job: Job) -> None:
        quotas = self.quotas()
        try:
            found = manifest.read_manifest(
                self._clients_for_role(job.role_arn).s3, job.params["Manifest"], quotas.max_tasks_per_job
            )
        except manifest.ManifestError as error:
            with self.state.lock:
                job.failure_reasons.append({"FailureCode": error.code[:64], "FailureReason": error.reason})
            self._set_status(job, FAILED)  # before any task: TotalNumberOfTasks 0 and no report
            return
        with self.state.lock:
            job.tasks = run_order(job.job_id, found)
            job.total = len(found)
            if job.confirmation_required:
                job.suspended_date = self.clock.now()
                job.suspended_cause = SUSPENDED_CAUSE
        self._set_status(job, SUSPENDED if job.confirmation_required else READY)

    def _check_suspension(self, job: Job) -> None:
        limit = self.quotas().suspended_days_before_failure * 86_400
        if job.suspended_date is not None and self.clock.now() - job.suspended_date > limit:
            with self.state.lock:
                job.failure_reasons.append(
                    {"FailureCode": "SuspendedTooLong", "FailureReason": "The job was suspended for over 30 days"}
                )
            self._set_status(job, FAILED)

    def _schedule(self, job: Job) -> None:
        """Ready or Paused -> Active when a slot is free; with every slot taken, a lower-priority Active job is
        paused to make room (s3batch-facts §2, best effort as AWS says)."""
        limit = self.quotas().max_active_jobs
        with self.state.lock:
            running = [other for other in self.state.jobs.values() if other.status in (ACTIVE, PAUSING)]
            waiting = [other for other in self.state.jobs.values() if other.status in (READY, PAUSED)]
            first = max(waiting, key=lambda other: (other.priority, -other.creation_time))
            if first is not job:
                return
            free = limit == 0 or len(running) < limit
            lower = [other for other in running if other.status == ACTIVE and other.priority < job.priority]
            victim = min(lower, key=lambda other: other.priority) if lower and not free else None
        if free:
            self._set_status(job, ACTIVE)
        elif victim is not None:
            self._set_status(victim, PAUSING)

    def _run_tasks(self, job: Job, batch: int) -> None:  # noqa: PLR0912 - tasks, retries, threshold, forced end
        quotas = self.quotas()
        with self.state.lock:
            if self._forced_due(job):
                self._force(job)
                return
        if self.pacing.simulate_tasks:
            self._run_simulated(job, batch)
            return
        operation = job.operation_name
        params = job.params["Operation"][operation]
        clients = self._clients_for_role(job.role_arn)
        keep = bool(job.params["Report"].get("Enabled"))
        for _ in range(batch):
            with self.state.lock:
                if job.status != ACTIVE:
                    return  # cancelled while the batch ran
                if job.next_task < len(job.tasks):
                    task, attempt, last = job.tasks[job.next_task], 1, ""
                    job.next_task += 1
                elif job.retry_queue:
                    task, attempt, last = job.retry_queue.pop(0)
                    attempt += 1
                else:
                    break
            outcome = self._run_one(operation, params, job, task, attempt=attempt, clients=clients)
            if outcome.retry and attempt < quotas.lambda_attempts:
                with self.state.lock:
                    job.retry_queue.append((task, attempt, outcome.message))
                continue
            message = outcome.message or last
            result = TaskResult(task, outcome.succeeded, outcome.http_status, outcome.error_code, message)
            with self.state.lock:
                if outcome.succeeded:
                    job.succeeded += 1
                else:
                    job.failed += 1
                if keep:
                    job.results.append(result)
                job.paced_from = self.clock.now()
                job.next_due = job.paced_from + self._interval(job)
                over = job.tasks_run >= THRESHOLD_MIN_TASKS and job.failed * 2 > job.tasks_run
            if over:
                with self.state.lock:
                    job.failure_reasons.append(dict(THRESHOLD_FAILURE))
                self._set_status(job, FAILING)
                return
            if self._forced_due(job):
                return  # the next step ends it
        with self.state.lock:
            done = job.next_task >= len(job.tasks) and not job.retry_queue
        if done:
            self._set_status(job, COMPLETING)

    def _run_one(
        self, operation: str, params: dict[str, Any], job: Job, task: Task, *, attempt: int, clients: Any
    ) -> tasks.TaskOutcome:
        forced = self.faults.task_failure(task.key)
        if forced is not None:
            return tasks.TaskOutcome(False, forced.http_status, forced.error_code, forced.message)
        return tasks.run_task(operation, params, task, clients, tasks.TaskContext(job.job_id, attempt))

    def _run_simulated(self, job: Job, batch: int) -> None:
        """Scale runs: a batch of tasks decided by the forced task failures alone (succeeded otherwise), under
        one hold of the lock; the same counts, threshold, forced outcomes and report rows as real tasks."""
        keep = bool(job.params["Report"].get("Enabled"))
        over = False
        with self.state.lock:
            end = min(len(job.tasks), job.next_task + batch)
            while job.next_task < end:
                task = job.tasks[job.next_task]
                job.next_task += 1
                forced = self.faults.task_failure(task.key)
                if forced is None:
                    job.succeeded += 1
                    result = TaskResult(task, True, 200, "", "")
                else:
                    job.failed += 1
                    result = TaskResult(task, False, forced.http_status, forced.error_code, forced.message)
                if keep:
                    job.results.append(result)
                if job.failed * 2 > job.tasks_run >= THRESHOLD_MIN_TASKS:
                    over = True
                    break
                if self._forced_due(job):
                    break
            job.paced_from = self.clock.now()
            job.next_due = job.paced_from + self._interval(job)
            done = job.next_task >= len(job.tasks)
            if over:
                job.failure_reasons.append(dict(THRESHOLD_FAILURE))
        if over:
            self._set_status(job, FAILING)
        elif done and not self._forced_due(job):
            self._set_status(job, COMPLETING)

    def _forced_due(self, job: Job) -> bool:
        forced = job.forced
        return forced is not None and job.tasks_run >= min(forced.after_tasks, job.total)

    def _force(self, job: Job) -> None:
        """The admin API's forced outcome: Failed through Failing, Cancelled through Cancelling, Complete
        through Completing (the remaining tasks never run)."""
        assert job.forced is not None
        status = job.forced.status
        if status == FAILED:
            job.failure_reasons.append(
                {
                    "FailureCode": "ForcedFailure",
                    "FailureReason": job.forced.message
                    or "The job was failed on demand through the S3 Batch Operations emulator's admin API",
                }
            )
            self._set_status(job, FAILING)
        elif status == CANCELLED:
            job.status_update_reason = job.forced.message or "Cancelled through the emulator's admin API"
            self._set_status(job, CANCELLING)
        else:
            self._set_status(job, COMPLETING)

    def _finish(self, job: Job, status: str) -> None:
        """The end: the completion report (when a task ran), then the terminal status. A report that cannot be
        written does not fail the job (s3batch-facts §2: the Object Lock case)."""
        if reports.report_wanted(job):
            try:
                with self.state.lock:
                    results = list(job.results)
                reports.write_report(
                    self._clients_for_role(job.role_arn).s3,
                    job,
                    results,
                    self.quotas().report_rows_per_file,
                    self.clock.now(),
                )
                job.report_written = True
            except Exception as exc:
                LOG.warning("Job %s: the completion report could not be written: %s", job.job_id, exc)
                with self.state.lock:
                    job.status_update_reason = (
                        "The job report could not be written to your report bucket. Please check your permissions."
                    )
        with self.state.lock:
            # The report holds the rows now, and the counts stay: a million-task job is not kept in memory.
            job.results = []
            job.tasks = []
            job.retry_queue = []
        self._set_status(job, status)
        self.wake()

    # --- background worker -------------------------------------------------------------------------------

    def _run_due_steps(self) -> bool:
        moved = False
        with self._step_lock:
            with self.state.lock:
                now = self.clock.now()
                due = [job.job_id for job in self.state.active_jobs() if job.next_due <= now or job.forced]
            for job_id in due:
                with self.state.lock:
                    job = self.state.find_job(job_id)
                    if job is None:
                        continue
                    batch = self._due_tasks(job, now)
                if self._step(job_id, batch):
                    moved = True
        return moved

    def _due_tasks(self, job: Job, now: float) -> int:
        rate = self.pacing.tasks_per_second
        if job.status != ACTIVE or rate <= 0:
            return self._fast_batch()
        return max(1, min(TASKS_PER_FAST_STEP, int((now - job.paced_from) * rate)))
