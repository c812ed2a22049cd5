"""`watch`: follow a job until the tracker has recorded it, from the table and Voice ID.

Each round reads the job's summary and lock (one BatchGetItem) and, while the job runs, describes it once
through Voice ID. Voice ID allows 2 TPS per account, shared with every tracker and the sweep, so rounds are
seconds apart (`--interval`, at least 1 s) and a finished job is not described again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from voiceid_tracker_cli.errors import CliError
from voiceid_tracker_cli.records import JobRecord, lookup_job
from voiceid_tracker_cli.render import counts_text
from voiceid_tracker_cli.shared import JobKind, schema

if TYPE_CHECKING:
    from voiceid_tracker_cli.target import Target

TERMINAL_JOB_STATUSES = frozenset({"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED"})
RECORDED_STATES = frozenset({schema.RECORD_STATE_COMPLETE, schema.RECORD_STATE_FAILED})


@dataclass(frozen=True)
class Snapshot:
    job_id: str
    domain_id: str
    kind: JobKind
    job_status: str | None
    percent_complete: int
    record: JobRecord | None

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
        """The job ended, its lock was released and nothing recorded it: no tracker is following it."""
        return (
            self.job_status in TERMINAL_JOB_STATUSES
            and self.lock.get("LockState") == "RELEASED"
            and not self.recorded
            and self.record_state != schema.RECORD_STATE_RECORDING
        )

    def view(self) -> RenderableType:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column()
        bar = ProgressBar(total=100, completed=self.percent_complete, width=30)
        table.add_row("Voice ID", Text(self.job_status or "?"), Group(bar, Text(f"{self.percent_complete}%")))
        lock = self.lock
        holder = str(lock.get("ExecutionArn", "")).rsplit(":", 1)[-1]
        tracker = lock.get("LockState") or "no tracker yet"
        if lock.get("LockState") == "TRACKING" and lock.get("WaitingSince"):
            tracker = f"{tracker}, waiting since {lock['WaitingSince']}"
        table.add_row("Tracker", Text(str(tracker)), Text(holder))
        table.add_row("Record", Text(self.record_state or "not started"), Text(""))
        title = Text(f"Job {self.job_id} ({self.kind.noun}, domain {self.domain_id})", style="bold")
        return Group(title, table)

    def final_line(self) -> str:
        summary = (self.record.summary if self.record else None) or {}
        counts = counts_text(summary)
        return (
            f"Job {self.job_id} recorded: {summary.get('JobStatus')}, "
            f"{summary.get('FailedRequestCount', 0)} failed request(s)" + (f", {counts}" if counts else "")
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
        timeout: float | None,
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
        describe = getattr(self.target.voice_id(), self.kind.describe_method)
        try:
            job = describe(DomainId=self.domain_id, JobId=self.job_id)["Job"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise CliError(
                    f"Voice ID has no {self.kind.noun} job {self.job_id} in domain {self.domain_id}"
                ) from error
            raise
        self._job_status = str(job.get("JobStatus"))
        progress = job.get("JobProgress") or {}
        finished = self._job_status in TERMINAL_JOB_STATUSES
        self._percent = int(progress.get("PercentComplete") or (100 if finished else 0))

    def snapshot(self) -> Snapshot:
        record = lookup_job(self.target.dynamodb(), self.target.table_name, self.job_id, [self.domain_id])
        if not (record and record.record_state in RECORDED_STATES):
            self._describe()
        elif self._job_status is None and record.summary:
            self._job_status, self._percent = str(record.summary.get("JobStatus")), 100
        return Snapshot(self.job_id, self.domain_id, self.kind, self._job_status, self._percent, record)

    def run(self, console: Console) -> Snapshot:
        deadline = None if self.timeout is None else self.clock() + self.timeout
        snapshot = self.snapshot()
        with Live(snapshot.view(), console=console, refresh_per_second=4, auto_refresh=False) as live:
            while not snapshot.recorded and not snapshot.abandoned:
                if deadline is not None and self.clock() >= deadline:
                    break
                self.sleep(self.interval)
                snapshot = self.snapshot()
                live.update(snapshot.view(), refresh=True)
        if snapshot.record_state == schema.RECORD_STATE_FAILED:
            problem = (snapshot.record.summary if snapshot.record else None) or {}
            raise CliError(f"recording job {self.job_id} failed: {problem.get('RecordProblem', 'no reason given')}")
        if snapshot.abandoned:
            raise CliError(
                f"no tracker is following job {self.job_id}: it ended {snapshot.job_status} and its lock was released "
                f"at {snapshot.lock.get('ReleasedAt')} without a record; see `voiceid-tracker show {self.job_id}`"
            )
        if not snapshot.recorded:
            raise CliError(f"job {self.job_id} was not recorded within {self.timeout:g} s")
        return snapshot
