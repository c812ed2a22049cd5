"""The two steps the state machine asks of Lambda: describe a job, and record a finished one."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from job_tracker.errors import InvalidJobRequest
from job_tracker.kinds import job_kind
from job_tracker.models import JobRef, job_from_payload, job_to_payload
from job_tracker.polling import MAX_POLL_SAMPLES, PollBounds, Sample, append_sample, plan_next_poll

if TYPE_CHECKING:
    from job_tracker.adapters.dynamodb import FailureStore
    from job_tracker.adapters.s3 import ObjectReader
    from job_tracker.kinds import JobKind
    from job_tracker.models import JobDescription
    from job_tracker.recording import Deadline, RecordResult

# Waits are shortened (never lengthened) by up to this fraction, so executions started by one burst of
# events do not describe in lockstep against Voice ID's shared 2 TPS; a shorter wait never delays seeing
# the job's end.
JITTER_FRACTION = 0.1

# A standard logger: handlers attach Powertools' JSON formatter (and the JobId correlation id) to it.
logger = logging.getLogger(__name__)


class JobDescriber(Protocol):
    """Reads one job of a kind from its service: an adapter per service (`adapters/voiceid.py`, `bedrock.py`,
    `s3control.py`), or `adapters/services.py`'s DescriberByService, which picks the kind's."""

    def describe(self, ref: JobRef, kind: JobKind) -> JobDescription: ...


def _polling_state(request: dict[str, Any]) -> tuple[float | None, list[Sample]]:
    """The previous describes' progress samples, as the execution carries them in `Polling`."""
    polling = request.get("Polling") or {}
    if not isinstance(polling, dict):
        raise InvalidJobRequest(f"Polling must be an object, got {polling!r}")
    first = polling.get("FirstDescribedAt")
    if first is not None and (isinstance(first, bool) or not isinstance(first, int | float)):
        raise InvalidJobRequest(f"Polling.FirstDescribedAt must be a number of seconds, got {first!r}")
    raw_samples = polling.get("Samples") or []
    if not isinstance(raw_samples, list) or len(raw_samples) > MAX_POLL_SAMPLES:
        raise InvalidJobRequest(f"Polling.Samples must be a list of at most {MAX_POLL_SAMPLES} samples")
    samples: list[Sample] = []
    for sample in raw_samples:
        if not (isinstance(sample, list) and len(sample) == 2 and all(isinstance(v, int | float) for v in sample)):
            raise InvalidJobRequest(f"Polling.Samples holds [elapsed seconds, percent] pairs, got {sample!r}")
        samples.append((float(sample[0]), int(sample[1])))
    return first, samples


def describes_per_job(request: dict[str, Any]) -> int | None:
    """How many describes this execution made of the job it records (the job's `PollCount`), or None when
    the request does not say (an operator's own record invocation)."""
    job = request.get("Job")
    count = job.get("PollCount") if isinstance(job, dict) else None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        return None
    return count


def how_the_wait_ended(wake: object) -> str | None:
    """How the wait before this describe ended, from what the wait task left: `WOKEN` by a later event,
    `TIMED_OUT` (the planned poll), or None (the first describe, or a fallback to the plain Wait)."""
    if not isinstance(wake, dict):
        return None
    if "WokenBy" in wake:
        return "WOKEN"
    if wake.get("Error") == "States.Timeout":
        return "TIMED_OUT"
    return None


def describe_job(
    request: dict[str, Any],
    describer: JobDescriber,
    bounds: PollBounds,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Describe the job named by `request` ({"DomainId", "JobId", "PollCount", "Polling"}) and plan the
    next wait from its progress.

    `PollCount` is how many describes this execution has made before; the answer carries it plus one,
    which the state machine compares with its poll cap. `Polling` carries the last few progress samples
    (elapsed seconds since this execution's first describe, PercentComplete), bounded so the execution's
    state stays small; the answer carries them back with this describe's sample added.
    """
    kind = job_kind(request.get("JobKind"))
    ref = JobRef.parse(request, kind)
    previous = request.get("PollCount", 0)
    if isinstance(previous, bool) or not isinstance(previous, int) or previous < 0:
        raise InvalidJobRequest(f"PollCount must be a whole number >= 0, got {previous!r}")
    first_described_at, samples = _polling_state(request)
    job = describer.describe(ref, kind)
    now = clock()
    first_described_at = now if first_described_at is None else first_described_at
    elapsed = now - first_described_at
    if samples:
        # Samples must increase, and the clocks of two Lambda hosts may disagree slightly.
        elapsed = max(elapsed, samples[-1][0] + 0.001)
    samples = append_sample(samples, (round(elapsed, 3), job.percent_complete))
    poll_count = previous + 1
    payload = job_to_payload(job)
    payload["PollCount"] = poll_count
    payload["Polling"] = {"FirstDescribedAt": first_described_at, "Samples": [list(sample) for sample in samples]}
    # At its poll cap an execution hands the job over to a new one, while the job has been followed (by this
    # execution and those that handed over to it: FirstDescribedAt is carried over) no longer than its kind's
    # jobs can last; beyond that it stops and pages.
    payload["WithinLongestJob"] = kind.longest_job is None or elapsed <= kind.longest_job.total_seconds()
    if job.status.is_terminal:
        payload["WaitSeconds"] = 0
    else:
        try:
            planned = plan_next_poll(samples, bounds)
        except ValueError as error:
            raise InvalidJobRequest(f"Polling.Samples cannot be planned from: {error}") from error
        shortened = planned * (1 - (rng or random).uniform(0, JITTER_FRACTION))
        payload["WaitSeconds"] = max(bounds.min_seconds, int(shortened))
    logger.info(
        f"Described {kind.noun} job",
        extra={
            "job_kind": kind.name,
            "job_status": job.status.value,
            "percent_complete": job.percent_complete,
            "poll_count": poll_count,
            "elapsed_seconds": samples[-1][0],
            "wait_seconds": payload["WaitSeconds"],
        },
    )
    return payload


def record_job(
    request: dict[str, Any], reader: ObjectReader, store: FailureStore, deadline: Deadline | None = None
) -> RecordResult:
    """Record the finished job carried in `request["Job"]` (the describe step's answer), stopping in good
    time before `deadline` (resumably)."""
    job_payload = request.get("Job")
    if not isinstance(job_payload, dict):
        raise InvalidJobRequest("the record step needs the describe step's answer under 'Job'")
    job = job_from_payload(job_payload)
    if JobRef.parse(request, job.kind) != job.ref:
        raise InvalidJobRequest("the execution's DomainId/JobId do not match the described job")
    # Imported here, not at the top: describe-job, which polls most and so cold-starts most, never records,
    # and the recording modules (the .out reader, the DynamoDB writer) add ~7 ms to its cold start.
    from job_tracker.recording import NO_DEADLINE, record_job_outcome

    return record_job_outcome(job, reader, store, deadline or NO_DEADLINE)
