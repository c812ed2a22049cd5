"""The event wake-up: a later execution for a job completes its tracker's wait, so it describes at once.

While a tracker waits between polls it parks on a task token stored on the job's lock item. An execution
started by a later event (typically the job's end event) finds the lock held by that running tracker and,
before it stops as "Job already tracked", sends the token here. A token the tracker no longer waits on
(its wait timed out and it is describing, or it ended) wakes nothing and is not an error: the tracker's
planned poll is the fallback either way.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from job_tracker.errors import InvalidJobRequest
from job_tracker.models import JobRef

logger = logging.getLogger(__name__)

# SendTaskSuccess takes task tokens of up to 2,048 characters (botocore's service model).
MAX_TASK_TOKEN_LENGTH = 2048


class TaskWaker(Protocol):
    def wake(self, task_token: str, output: dict[str, str]) -> str | None: ...


def wake_tracker(request: dict[str, Any], waker: TaskWaker) -> dict[str, Any]:
    """Wake the tracker whose token `request["TaskToken"]` is; `WokenBy` names the execution that asks."""
    ref = JobRef.parse(request)  # its JobKind (default: Voice ID's) says which id formats to expect
    token = request.get("TaskToken")
    if not isinstance(token, str) or not 1 <= len(token) <= MAX_TASK_TOKEN_LENGTH:
        raise InvalidJobRequest(f"TaskToken must be a string of 1 to {MAX_TASK_TOKEN_LENGTH} characters")
    woken_by = str(request.get("WokenBy") or "unknown")
    stale = waker.wake(token, {"DomainId": ref.domain_id, "JobId": ref.job_id, "WokenBy": woken_by})
    if stale is None:
        logger.info("Woke the job's tracker", extra={"woken_by": woken_by})
        return {"Woken": True}
    logger.info("The tracker was not waiting on this token; nothing to wake", extra={"reason": stale})
    return {"Woken": False, "Reason": stale}
