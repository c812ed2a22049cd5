"""The event wake-up: a later execution for a job cuts its tracker's wait short, so it describes at once.

While a tracker waits between polls it parks on a task token stored on the job's lock item. An execution
started by a later event (typically the job's end event) finds the lock held by that running tracker and,
before it stops as "Job already tracked", asks this Lambda to wake the holder:

* if the lock carries a token the holder still waits on, sending it ends the wait (`Woken`);
* otherwise the holder is describing, or between a describe and its next wait, and the token (if any) is
  stale: a wake request is left on the lock instead (`WakeRequested`), and the holder's next wait finds it
  and describes at once. Leaving it is conditional on the lock still carrying the token just found stale,
  so a wait that stored a new token meanwhile is woken through that token on the next round.

No wake-up is lost and no stale token is mistaken for a delivered one; the planned poll stays the fallback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from job_tracker import table_schema as schema
from job_tracker.errors import InvalidJobRequest
from job_tracker.models import JobRef

logger = logging.getLogger(__name__)

# Each round reads the lock once; the token only changes when the holder starts a new wait, which it does
# at most once per describe, so a few rounds always settle it.
MAX_ROUNDS = 5


@dataclass(frozen=True)
class HolderWait:
    """What the job's lock says of its holder: who it is, and the token of its latest wait (if any)."""

    lock_state: str
    execution_arn: str | None
    wake_token: str | None


class TaskWaker(Protocol):
    def wake(self, task_token: str, output: dict[str, str]) -> str | None: ...


class WakeRequests(Protocol):
    def read(self, ref: JobRef) -> HolderWait | None: ...
    def request(self, ref: JobRef, holder: str, seen_token: str | None, requested_by: str) -> bool:
        """Leave a wake request for `holder` if the lock still carries `seen_token` (None: no token); False
        when the lock changed since it was read."""
        ...


def wake_tracker(request: dict[str, Any], waker: TaskWaker, requests: WakeRequests) -> dict[str, Any]:
    """Wake `request["Holder"]`, the execution holding the job's lock; `WokenBy` names the execution that asks."""
    ref = JobRef.parse(request)  # its JobKind (default: Voice ID's) says which id formats to expect
    holder = request.get("Holder")
    if not isinstance(holder, str) or not holder.startswith("arn:"):
        raise InvalidJobRequest(f"Holder must be the lock holder's execution ARN, got {holder!r}")
    woken_by = str(request.get("WokenBy") or "unknown")
    for _ in range(MAX_ROUNDS):
        lock = requests.read(ref)
        if lock is None or lock.lock_state != schema.LOCK_TRACKING or lock.execution_arn != holder:
            logger.info("The lock has another holder or none now; nothing to wake", extra={"holder": holder})
            return {"Woken": False, "Reason": "NOT_HOLDER"}
        if lock.wake_token is not None:
            stale = waker.wake(lock.wake_token, {"DomainId": ref.domain_id, "JobId": ref.job_id, "WokenBy": woken_by})
            if stale is None:
                logger.info("Woke the job's tracker", extra={"woken_by": woken_by})
                return {"Woken": True}
        if requests.request(ref, holder, lock.wake_token, woken_by):
            logger.info(
                "The tracker was not waiting; left a wake request its next wait finds",
                extra={"woken_by": woken_by},
            )
            return {"Woken": False, "WakeRequested": True}
    logger.warning("The lock kept changing; the tracker's planned poll is the fallback", extra={"rounds": MAX_ROUNDS})
    return {"Woken": False, "Reason": "LOCK_KEPT_CHANGING"}
