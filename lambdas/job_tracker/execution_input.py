"""The tracker's execution input, checked before anything is written.

Executions start from an event (`{"DomainId", "JobId", "JobKind"}`), the sweep (the same plus `StartedBy`)
or an operator in the console (`{"DomainId", "JobId"}`, and optionally `JobKind` and `Rerecord`). Step
Functions cannot match patterns, so this step rejects malformed ids, unknown kinds and domains the stack
does not track before the job lock is written: a bad input leaves no item behind, and its Cause says what
to send instead.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from job_tracker.errors import InvalidJobRequest
from job_tracker.ids import shown
from job_tracker.kinds import DEFAULT_JOB_KIND, JOB_KINDS, job_kind
from job_tracker.models import JobRef

EXPECTED_INPUT = (
    'Start the execution with {"DomainId": "<22 letters or digits>", "JobId": "<22 letters or digits>"}, '
    f'adding "JobKind": one of {", ".join(JOB_KINDS)} (default {DEFAULT_JOB_KIND.name}) and '
    '"Rerecord": true to record a recorded job again.'
)
MAX_STARTED_BY_LENGTH = 64


def _rejected(problem: str) -> InvalidJobRequest:
    return InvalidJobRequest(f"{problem}. {EXPECTED_INPUT}")


def normalize_execution_input(raw: object, configured_domain_ids: Collection[str]) -> dict[str, Any]:
    """The input as the rest of the state machine reads it, or InvalidJobRequest naming what is wrong."""
    if not isinstance(raw, dict):
        raise _rejected(f"The execution input must be a JSON object, got {shown(raw)}")
    try:
        ref = JobRef.parse(raw)
        kind = job_kind(raw.get("JobKind"))
    except InvalidJobRequest as error:
        raise _rejected(str(error)) from None
    if ref.domain_id not in configured_domain_ids:
        raise _rejected(
            f"DomainId {ref.domain_id} is not a domain this stack tracks ({', '.join(sorted(configured_domain_ids))}); "
            "add it to tracker:voiceIdDomainIds and deploy to track its jobs"
        )
    rerecord = raw.get("Rerecord", False)
    if not isinstance(rerecord, bool):
        raise _rejected(f"Rerecord must be true or false, got {shown(rerecord)}")
    normalized: dict[str, Any] = {
        "DomainId": ref.domain_id,
        "JobId": ref.job_id,
        "JobKind": kind.name,
        "Rerecord": rerecord,
    }
    started_by = raw.get("StartedBy")
    if started_by is not None:
        if not isinstance(started_by, str) or not 0 < len(started_by) <= MAX_STARTED_BY_LENGTH:
            raise _rejected(f"StartedBy must be a string of 1 to {MAX_STARTED_BY_LENGTH} characters")
        normalized["StartedBy"] = started_by
    return normalized
