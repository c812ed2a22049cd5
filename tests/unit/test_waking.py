"""The event wake-up's Lambda logic: a live token completes the tracker's wait; a stale one is no error."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from job_tracker.adapters.stepfunctions import StepFunctionsTaskWaker
from job_tracker.errors import InvalidJobRequest
from job_tracker.waking import wake_tracker
from tests.unit.conftest import DOMAIN_ID, JOB_ID, REGION

REQUEST = {"DomainId": DOMAIN_ID, "JobId": JOB_ID, "TaskToken": "token-1", "WokenBy": "arn:execution:second"}


@pytest.fixture
def stubbed() -> Any:
    client = boto3.client("stepfunctions", region_name=REGION)
    with Stubber(client) as stubber:
        yield StepFunctionsTaskWaker(client), stubber
        stubber.assert_no_pending_responses()


def test_a_live_token_is_sent_with_who_woke_the_tracker(stubbed: Any) -> None:
    waker, stubber = stubbed
    output = json.dumps({"DomainId": DOMAIN_ID, "JobId": JOB_ID, "WokenBy": "arn:execution:second"})
    stubber.add_response("send_task_success", {}, {"taskToken": "token-1", "output": output})
    assert wake_tracker(dict(REQUEST), waker) == {"Woken": True}


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_a_token_nobody_waits_on_wakes_nothing_and_is_not_an_error(stubbed: Any, code: str) -> None:
    waker, stubber = stubbed
    stubber.add_client_error("send_task_success", code, "stale")
    assert wake_tracker(dict(REQUEST), waker) == {"Woken": False, "Reason": code}


def test_other_step_functions_errors_are_raised(stubbed: Any) -> None:
    waker, stubber = stubbed
    stubber.add_client_error("send_task_success", "AccessDeniedException", "no", http_status_code=400)
    with pytest.raises(Exception, match="AccessDenied"):
        wake_tracker(dict(REQUEST), waker)


@pytest.mark.parametrize(
    ("change", "text"),
    [({"TaskToken": ""}, "TaskToken"), ({"TaskToken": 7}, "TaskToken"), ({"JobId": "../x"}, "JobId")],
)
def test_bad_requests_are_rejected_before_any_call(stubbed: Any, change: dict[str, Any], text: str) -> None:
    waker, _ = stubbed
    with pytest.raises(InvalidJobRequest, match=text):
        wake_tracker({**REQUEST, **change}, waker)
