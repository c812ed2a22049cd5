"""The event wake-up's Lambda logic, against moto's DynamoDB and a stubbed Step Functions: a live token
completes the holder's wait; when the holder is not waiting, a wake request is left for its next wait. Each
interleaving of the waker with the holder's own steps is forced here, one lock write at a time."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from job_tracker import table_schema as schema
from job_tracker.adapters.dynamodb import DynamoDbWakeRequests
from job_tracker.adapters.stepfunctions import StepFunctionsTaskWaker
from job_tracker.errors import InvalidJobRequest
from job_tracker.models import JobRef
from job_tracker.waking import HolderWait, wake_tracker
from tests.unit.conftest import DOMAIN_ID, JOB_ID, REGION, TABLE

HOLDER = "arn:aws:states:us-east-1:123456789012:execution:Tracker:holder"
SECOND = "arn:aws:states:us-east-1:123456789012:execution:Tracker:second"
REQUEST = {"DomainId": DOMAIN_ID, "JobId": JOB_ID, "Holder": HOLDER, "WokenBy": SECOND}
KEY = {"pk": {"S": f"JOB#{DOMAIN_ID}#{JOB_ID}"}, "sk": {"S": "LOCK"}}


class Lock:
    """The job's LOCK item, written as the state machine writes it."""

    def __init__(self, dynamodb: Any) -> None:
        self.dynamodb = dynamodb

    def put(self, state: str = "TRACKING", holder: str = HOLDER, token: str | None = None) -> None:
        item = {**KEY, "LockState": {"S": state}, "ExecutionArn": {"S": holder}}
        if token:
            item["WakeToken"] = {"S": token}
        self.dynamodb.put_item(TableName=TABLE, Item=item)

    def store_token(self, token: str) -> None:
        """The holder's "Wait for job or wake-up" step: refused while a wake request is pending."""
        self.dynamodb.update_item(
            TableName=TABLE,
            Key=KEY,
            UpdateExpression="SET WakeToken = :token",
            ConditionExpression=schema.WAIT_FOR_WAKE_CONDITION,  # the state machine's own
            ExpressionAttributeValues={":token": {"S": token}, ":me": {"S": HOLDER}, ":tracking": {"S": "TRACKING"}},
        )

    def item(self) -> dict[str, Any]:
        found: dict[str, Any] = self.dynamodb.get_item(TableName=TABLE, Key=KEY, ConsistentRead=True)["Item"]
        return found


@pytest.fixture
def lock(dynamodb: Any) -> Lock:
    return Lock(dynamodb)


@pytest.fixture
def sfn() -> Any:
    client = boto3.client("stepfunctions", region_name=REGION)
    with Stubber(client) as stubber:
        yield StepFunctionsTaskWaker(client), stubber
        stubber.assert_no_pending_responses()


def _sent(token: str) -> dict[str, str]:
    output = json.dumps({"DomainId": DOMAIN_ID, "JobId": JOB_ID, "WokenBy": SECOND})
    return {"taskToken": token, "output": output}


def test_a_waiting_holder_is_woken_through_its_token(lock: Lock, dynamodb: Any, sfn: Any) -> None:
    waker, stubber = sfn
    lock.put(token="token-1")
    stubber.add_response("send_task_success", {}, _sent("token-1"))
    assert wake_tracker(dict(REQUEST), waker, DynamoDbWakeRequests(dynamodb, TABLE)) == {"Woken": True}
    assert "WakeRequestedBy" not in lock.item()


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_a_holder_describing_gets_a_wake_request_its_next_wait_finds(
    lock: Lock, dynamodb: Any, sfn: Any, code: str
) -> None:
    waker, stubber = sfn
    # The token of the wait that already ended is still on the lock while the holder describes.
    lock.put(token="token-1")
    stubber.add_client_error("send_task_success", code, "stale")
    result = wake_tracker(dict(REQUEST), waker, DynamoDbWakeRequests(dynamodb, TABLE))
    assert result == {"Woken": False, "WakeRequested": True}
    assert lock.item()["WakeRequestedBy"] == {"S": SECOND}
    # The holder's next wait does not start: it describes again at once.
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        lock.store_token("token-2")


def test_a_holder_on_its_first_describe_has_no_token_and_still_gets_the_request(
    lock: Lock, dynamodb: Any, sfn: Any
) -> None:
    waker, _ = sfn
    lock.put(token=None)
    result = wake_tracker(dict(REQUEST), waker, DynamoDbWakeRequests(dynamodb, TABLE))
    assert result == {"Woken": False, "WakeRequested": True}
    assert lock.item()["WakeRequestedBy"] == {"S": SECOND}


class HolderStartsWaitingAfterTheRead(DynamoDbWakeRequests):
    """Forces the race: right after the waker reads the lock, the holder stores its next wait's token."""

    def __init__(self, dynamodb: Any, lock: Lock, new_token: str) -> None:
        super().__init__(dynamodb, TABLE)
        self.lock = lock
        self.new_token = new_token
        self.reads = 0

    def read(self, ref: JobRef) -> HolderWait | None:
        seen = super().read(ref)
        self.reads += 1
        if self.reads == 1:
            self.lock.store_token(self.new_token)
        return seen


def test_a_wait_stored_between_the_read_and_the_request_is_woken_through_its_new_token(
    lock: Lock, dynamodb: Any, sfn: Any
) -> None:
    waker, stubber = sfn
    lock.put(token="token-1")
    requests = HolderStartsWaitingAfterTheRead(dynamodb, lock, "token-2")
    stubber.add_client_error("send_task_success", "TaskTimedOut", "stale")  # token-1: that wait ended
    stubber.add_response("send_task_success", {}, _sent("token-2"))
    assert wake_tracker(dict(REQUEST), waker, requests) == {"Woken": True}
    # No request was left behind to cut a later wait short for nothing.
    assert "WakeRequestedBy" not in lock.item()
    assert requests.reads == 2


def test_the_same_race_before_the_first_wait(lock: Lock, dynamodb: Any, sfn: Any) -> None:
    waker, stubber = sfn
    lock.put(token=None)
    requests = HolderStartsWaitingAfterTheRead(dynamodb, lock, "token-1")
    stubber.add_response("send_task_success", {}, _sent("token-1"))
    assert wake_tracker(dict(REQUEST), waker, requests) == {"Woken": True}
    assert "WakeRequestedBy" not in lock.item()


@pytest.mark.parametrize(("state", "holder"), [("RECORDED", HOLDER), ("RELEASED", HOLDER), ("TRACKING", SECOND)])
def test_a_lock_that_changed_hands_wakes_nobody(lock: Lock, dynamodb: Any, sfn: Any, state: str, holder: str) -> None:
    waker, _ = sfn
    lock.put(state=state, holder=holder, token="token-1")
    result = wake_tracker(dict(REQUEST), waker, DynamoDbWakeRequests(dynamodb, TABLE))
    assert result == {"Woken": False, "Reason": "NOT_HOLDER"}
    assert "WakeRequestedBy" not in lock.item()


def test_other_step_functions_errors_are_raised(lock: Lock, dynamodb: Any, sfn: Any) -> None:
    waker, stubber = sfn
    lock.put(token="token-1")
    stubber.add_client_error("send_task_success", "AccessDeniedException", "no", http_status_code=400)
    with pytest.raises(ClientError, match="AccessDenied"):
        wake_tracker(dict(REQUEST), waker, DynamoDbWakeRequests(dynamodb, TABLE))


@pytest.mark.parametrize(
    ("change", "text"),
    [({"Holder": ""}, "Holder"), ({"Holder": 7}, "Holder"), ({"JobId": "../x"}, "JobId")],
)
def test_bad_requests_are_rejected_before_any_call(dynamodb: Any, sfn: Any, change: dict[str, Any], text: str) -> None:
    waker, _ = sfn
    with pytest.raises(InvalidJobRequest, match=text):
        wake_tracker({**REQUEST, **change}, waker, DynamoDbWakeRequests(dynamodb, TABLE))
