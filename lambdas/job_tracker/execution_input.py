"""The tracker's execution input, checked before anything is written.

Executions start from an event (`{"DomainId", "JobId", "JobKind"}`; Bedrock's `{"JobArn", "JobKind"}`, S3 Batch
Operations' the same plus `"StartedBy": "event"`), the
sweep (the same plus `StartedBy`), an operator in the console (`{"DomainId", "JobId"}`, and optionally
`JobKind` and `Rerecord`) or a tracker at its poll cap handing the job over (the same plus `HandOver`: the
execution that hands over, and its progress samples). Step Functions cannot match patterns, so this step
rejects malformed ids, unknown kinds, services and domains the stack does not track, Bedrock jobs outside
its configured name prefixes and output locations (which takes one GetModelInvocationJob), and S3 Batch
Operations jobs outside its description prefixes and report locations (one DescribeJob), before the job lock
is written: a bad input leaves no item behind, and its Cause says what to send instead. An event's S3 Batch
Operations job whose description no prefix names raises JobNotFollowed, which ends the execution quietly.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from job_tracker.errors import InvalidJobRequest
from job_tracker.ids import shown
from job_tracker.kinds import DEFAULT_JOB_KIND, JOB_KINDS, job_kind
from job_tracker.scopes import TrackedJobs

if TYPE_CHECKING:
    from job_tracker.tracking import JobDescriber

EXPECTED_INPUT = (
    'Start the execution with {"DomainId": "<22 letters or digits>", "JobId": "<22 letters or digits>"}, '
    f'adding "JobKind": one of {", ".join(JOB_KINDS)} (default {DEFAULT_JOB_KIND.name}) and '
    '"Rerecord": true to record a recorded job again. For a Bedrock batch inference job: '
    '{"JobKind": "BEDROCK_BATCH_INFERENCE", "JobArn": "arn:aws:bedrock:<region>:<account>:model-invocation-job/<id>"}.'
)
MAX_STARTED_BY_LENGTH = 64
# What an EventBridge rule passes as StartedBy when its events cannot be filtered to the configured jobs (S3 Batch
# Operations' CloudTrail events carry no description): a job the configuration does not name ends quietly.
STARTED_BY_EVENT = "event"
# A tracker's execution ARN (botocore's Arn shape for Step Functions allows up to 256 characters).
_EXECUTION_ARN = re.compile(r"arn:aws[a-z-]*:states:[a-z0-9-]+:[0-9]{12}:execution:[\w.-]{1,80}:[\w.-]{1,80}")


class JobNotFollowed(InvalidJobRequest):
    """An event's job that the configuration does not name (an S3 Batch Operations job of the account with
    another description): the execution ends as `Job not followed`, succeeded, with nothing written, instead of
    failing (and alarming) for every other job of the account."""


def _rejected(problem: str) -> InvalidJobRequest:
    return InvalidJobRequest(f"{problem}. {EXPECTED_INPUT}")


def normalize_execution_input(
    raw: object, tracked: TrackedJobs, describer: JobDescriber | None = None
) -> dict[str, Any]:
    """The input as the rest of the state machine reads it, or InvalidJobRequest naming what is wrong.

    `describer` reads the job for services whose configuration is checked on the job itself (Bedrock's name
    prefixes and output locations); its own errors (throttling, access) are raised as they are.
    """
    if not isinstance(raw, dict):
        raise _rejected(f"The execution input must be a JSON object, got {shown(raw)}")
    try:
        kind = job_kind(raw.get("JobKind"))
        scope = tracked.scope_of(kind)
        ref = scope.ref_from_input(raw, kind)
    except InvalidJobRequest as error:
        raise _rejected(str(error)) from None
    problem = scope.problem_with_ref(ref)
    if problem is not None:
        raise _rejected(problem)
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
    if "HandOver" in raw:
        normalized["HandOver"] = _hand_over(raw["HandOver"])
    if scope.needs_description:
        if describer is None:
            raise InvalidJobRequest(f"no describer to check {kind.service.name} jobs against the configuration")
        job = describer.describe(ref, kind)
        problem = scope.problem_with_job(job)
        if problem is not None:
            if started_by == STARTED_BY_EVENT and not scope.names(job):
                raise JobNotFollowed(problem)
            raise _rejected(problem)
    return normalized


def _hand_over(value: object) -> dict[str, Any]:
    """`{"From": <the execution handing over>, "Polling": <its progress samples>}`: the new execution takes
    the lock from `From` (the lock's holder) and plans its polls from the samples (describe-job checks them)."""
    if not isinstance(value, dict) or set(value) != {"From", "Polling"}:
        raise _rejected(f'HandOver must be {{"From": <execution ARN>, "Polling": {{...}}}}, got {shown(value)}')
    source, polling = value["From"], value["Polling"]
    if not isinstance(source, str) or not _EXECUTION_ARN.fullmatch(source):
        raise _rejected(f"HandOver.From must be a tracker execution's ARN, got {shown(source)}")
    if not isinstance(polling, dict):
        raise _rejected(f"HandOver.Polling must be an object, got {shown(polling)}")
    return {"From": source, "Polling": polling}
