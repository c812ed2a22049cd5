"""Step Functions: start and inspect tracker executions (the sweep), and wake a waiting tracker."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from job_tracker.adapters.transient import transient_as_retryable
from job_tracker.kinds import JobKind
from job_tracker.models import JobRef

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

# A token that Step Functions no longer waits on: the wait timed out and the tracker polled, or it ended.
_STALE_TOKEN_ERRORS = {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}


class StepFunctionsTrackers:
    """The tracker state machine, as the sweep sees it."""

    def __init__(self, client: SFNClient, state_machine_arn: str) -> None:
        self._client = client
        self._state_machine_arn = state_machine_arn

    def is_running(self, execution_arn: str) -> bool:
        try:
            with transient_as_retryable("Step Functions", "DescribeExecution", execution_arn):
                return self._client.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return False
            raise

    def start(self, ref: JobRef, kind: JobKind, *, execution_name: str, started_by: str) -> bool:
        # The same input an event's execution gets, plus who started it.
        execution_input = {
            "DomainId": ref.domain_id,
            "JobId": ref.job_id,
            "JobKind": kind.name,
            "StartedBy": started_by,
        }
        try:
            with transient_as_retryable("Step Functions", "StartExecution", self._state_machine_arn):
                self._client.start_execution(
                    stateMachineArn=self._state_machine_arn, name=execution_name, input=json.dumps(execution_input)
                )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return False
            raise
        return True


class StepFunctionsTaskWaker:
    """Completes a tracker's wait-for-wake-up task, so it describes its job at once."""

    def __init__(self, client: SFNClient) -> None:
        self._client = client

    def wake(self, task_token: str, output: dict[str, str]) -> str | None:
        """Send the token; None when it was delivered, else why nothing was woken (not an error)."""
        try:
            with transient_as_retryable("Step Functions", "SendTaskSuccess", "the tracker's wait"):
                self._client.send_task_success(taskToken=task_token, output=json.dumps(output))
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in _STALE_TOKEN_ERRORS:
                return code
            raise
        return None
