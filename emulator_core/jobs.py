"""What both job engines share: stepping under one lock, and the background worker that takes due steps.

An engine moves its jobs one step at a time, either on the worker (background pacing: a step falls due on the
clock) or only when a test calls `step` / `advance` / `run_until_done` (manual pacing). What a step does, and
which steps are due, is each emulator's own (`voiceid_emulator.jobs`, `bedrock_emulator.jobs`).
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Generic, Protocol, TypeVar

LOG = logging.getLogger(__name__)


class SteppedJob(Protocol):
    """What the engine, the emulator and its admin API read of a job."""

    job_id: str
    status: str
    end_event_handed_over: bool

    @property
    def active(self) -> bool: ...


JobT = TypeVar("JobT", bound=SteppedJob)


class JobStore(Protocol[JobT]):
    """One emulated account's jobs, guarded by one re-entrant lock."""

    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    def find_job(self, identifier: str) -> JobT | None: ...

    def active_jobs(self) -> list[JobT]: ...


class Paced(Protocol):
    @property
    def manual(self) -> bool:
        """Jobs move only when a test steps them: no background worker."""
        ...

    def to_api(self) -> dict[str, Any]:
        """As the admin API shows it."""
        ...


PacingT = TypeVar("PacingT", bound=Paced)


class SteppingEngine(ABC, Generic[JobT, PacingT]):
    """Takes job steps one at a time under a re-entrant step lock, from explicit calls or a background worker.

    A subclass says what one step of a job is (`step`) and which steps the worker takes on a pass
    (`_run_due_steps`); `worker_name` and `max_steps` are its data.
    """

    worker_name: ClassVar[str]
    """The worker thread's name, also the subject of its log lines."""
    max_steps: ClassVar[int] = 1_000_000
    """How many steps `run_until_done` takes before it gives up on a job that does not end."""

    def __init__(self, *, state: JobStore[JobT], pacing: PacingT) -> None:
        self.state = state
        self.pacing = pacing
        # Re-entrant, so an event callback (run inside a step, on the same thread) may switch pacing or step.
        self._step_lock = threading.RLock()
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

    @abstractmethod
    def step(self, job_id: str) -> bool:
        """Take one step of a job; False when it is unknown or has already ended."""

    @abstractmethod
    def _run_due_steps(self) -> bool:
        """One pass of the worker over the steps that are due; whether any job moved."""

    # --- explicit stepping ---------------------------------------------------------------------------------

    def advance(self) -> int:
        """One step for every active job, oldest first; how many jobs moved."""
        with self._step_lock:
            with self.state.lock:
                ids = [job.job_id for job in self.state.active_jobs()]
            return sum(1 for job_id in ids if self.step(job_id))

    def run_until_done(self, job_id: str | None = None) -> None:
        """Step one job (or every active job) until it has ended."""
        for _ in range(self.max_steps):
            if job_id is None:
                if self.advance() == 0:
                    return
            elif not self.step(job_id):
                return
        raise RuntimeError("job did not finish within max_steps")

    def _switch_pacing(self, pacing: PacingT) -> None:
        """Take new background pacing; the caller holds the step lock and reschedules its active jobs."""
        if pacing.manual or self.pacing.manual:
            raise ValueError("pacing cannot be switched to or from manual stepping at run time")
        self.pacing = pacing

    # --- background worker ---------------------------------------------------------------------------------

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def start_worker(self) -> None:
        if self.pacing.manual or self._worker is not None:
            return
        self._stop.clear()
        self._worker = threading.Thread(target=self._run_worker, name=self.worker_name, daemon=True)
        self._worker.start()

    def stop_worker(self) -> None:
        self._stop.set()
        self.wake()
        if self._worker is not None:
            self._worker.join(timeout=10)
            self._worker = None

    def _run_worker(self) -> None:
        while not self._stop.is_set():
            try:
                moved = self._run_due_steps()
            except Exception:
                LOG.exception("%s: a step failed", self.worker_name)
                moved = False
            if not moved:
                # A ManualClock can be moved by a test at any time, so poll as well as waiting to be woken.
                with self._wake:
                    self._wake.wait(timeout=0.02)
