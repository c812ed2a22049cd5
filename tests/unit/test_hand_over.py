"""The hand-over at the poll cap, Lambda side: the new execution's input is checked and kept, and describe-job
says whether the job is still within the longest its kind's jobs can last (then the tracker hands over at
its cap; beyond, it stops and pages)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from job_tracker.errors import InvalidJobRequest
from job_tracker.execution_input import normalize_execution_input
from job_tracker.kinds import JOB_KINDS
from job_tracker.models import JobDescription, JobRef, JobStatus
from job_tracker.polling import PollBounds
from job_tracker.tracking import describe_job
from tests.unit.conftest import DOMAIN_ID, JOB_ID
from tests.unit.test_bedrock_kind import ACCOUNT, FakeDescriber, described
from tests.unit.test_bedrock_kind import JOB_ID as BEDROCK_JOB_ID
from tests.unit.test_job_kinds import CONFIGURED

HOLDER = f"arn:aws:states:us-east-1:123456789012:execution:VoiceIdJobTracker-Tracker:handover-{JOB_ID}-0a1b"
POLLING = {"FirstDescribedAt": 1_000.0, "Samples": [[0.0, 0], [600.0, 12]]}
BEDROCK = JOB_KINDS["BEDROCK_BATCH_INFERENCE"]


def test_a_handed_over_input_keeps_who_handed_over_and_their_progress_samples() -> None:
    raw = {"DomainId": DOMAIN_ID, "JobId": JOB_ID, "HandOver": {"From": HOLDER, "Polling": POLLING}}
    assert normalize_execution_input(raw, CONFIGURED) == {
        "DomainId": DOMAIN_ID,
        "JobId": JOB_ID,
        "JobKind": "FRAUDSTER_REGISTRATION",
        "Rerecord": False,
        "HandOver": {"From": HOLDER, "Polling": POLLING},
    }


@pytest.mark.parametrize(
    ("hand_over", "problem"),
    [
        ("yes", "HandOver must be"),
        ({"From": HOLDER}, "HandOver must be"),
        ({"From": HOLDER, "Polling": POLLING, "Lock": "mine"}, "HandOver must be"),
        ({"From": "arn:aws:lambda:us-east-1:123456789012:function:x", "Polling": {}}, "HandOver.From must be"),
        ({"From": HOLDER, "Polling": [1, 2]}, "HandOver.Polling must be an object"),
    ],
)
def test_a_malformed_hand_over_is_rejected_before_anything_is_written(hand_over: Any, problem: str) -> None:
    with pytest.raises(InvalidJobRequest, match=problem):
        normalize_execution_input({"DomainId": DOMAIN_ID, "JobId": JOB_ID, "HandOver": hand_over}, CONFIGURED)


def describe_after(described_job: JobDescription, followed: timedelta) -> dict[str, Any]:
    """describe-job's answer when the job has been followed for `followed` (by the executions handing over)."""
    first = 1_000.0
    request = {
        "DomainId": described_job.ref.domain_id,
        "JobId": described_job.ref.job_id,
        "JobKind": described_job.kind.name,
        "PollCount": 3,
        "Polling": {"FirstDescribedAt": first, "Samples": [[0.0, 0]]},
    }
    return describe_job(
        request,
        FakeDescriber(described_job),
        PollBounds(30, 300),
        random.Random(1),
        clock=lambda: first + followed.total_seconds(),
    )


def test_a_bedrock_job_is_followed_for_as_long_as_its_longest_job_and_no_longer() -> None:
    job = described("InProgress")
    assert job.ref == JobRef(ACCOUNT, BEDROCK_JOB_ID)
    # Queued for its longest timeout (168 h), then run for another from its start, and a day more: 15 days.
    assert BEDROCK.longest_job == timedelta(days=15)
    assert describe_after(job, timedelta(hours=2 * 168))["WithinLongestJob"] is True
    assert describe_after(job, timedelta(days=14, hours=23))["WithinLongestJob"] is True
    assert describe_after(job, timedelta(days=15, seconds=1))["WithinLongestJob"] is False


def test_a_kind_with_no_documented_longest_job_is_always_handed_over() -> None:
    job = JobDescription(
        ref=JobRef(DOMAIN_ID, JOB_ID),
        kind=JOB_KINDS["FRAUDSTER_REGISTRATION"],
        status=JobStatus.IN_PROGRESS,
        percent_complete=40,
        job_name=None,
        created_at=None,
        ended_at=None,
        failure_details=None,
        output=None,
    )
    assert describe_after(job, timedelta(days=365))["WithinLongestJob"] is True
