"""Classification at the boundaries: what is left of a transient DynamoDB, S3, KMS or Step Functions failure
after the SDK's retries becomes TransientServiceError (retried by the state machine); access, validation and
missing-object errors stay what they were (terminal)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from job_tracker.adapters.dynamodb import BatchWriter, DynamoDbFailureStore, DynamoDbLockReader
from job_tracker.adapters.s3 import S3ObjectReader
from job_tracker.adapters.stepfunctions import StepFunctionsTaskWaker, StepFunctionsTrackers
from job_tracker.adapters.transient import is_transient
from job_tracker.errors import AccessDenied, OutputFileMissing, TransientServiceError
from job_tracker.models import JobRef, S3Location
from tests.unit.conftest import DOMAIN_ID, JOB_ID, REGION, TABLE

REF = JobRef(domain_id=DOMAIN_ID, job_id=JOB_ID)
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})

TRANSIENT = [
    ("ProvisionedThroughputExceededException", 400),
    ("ThrottlingException", 400),
    ("RequestLimitExceeded", 400),
    ("InternalServerError", 500),
    ("ServiceUnavailable", 503),
    ("SlowDown", 503),
    ("RequestTimeout", 400),
    ("KMS.KMSInternalException", 500),
    ("SomethingNew", 502),
]
TERMINAL = [("ValidationException", 400), ("ResourceNotFoundException", 400), ("ConditionalCheckFailedException", 400)]


def client(service: str) -> Any:
    make_client: Any = boto3.client
    return make_client(service, region_name=REGION, config=NO_RETRIES)


def fail_with(stubbed: Any, operation: str, code: str, status: int) -> Stubber:
    stubber = Stubber(stubbed)
    stubber.add_client_error(operation, service_error_code=code, service_message="injected", http_status_code=status)
    stubber.activate()
    return stubber


def _write(dynamodb: Any) -> None:
    writer = BatchWriter(dynamodb, TABLE)
    writer.put({"pk": "JOB#d#j", "sk": "FAILURE#1"})
    writer.flush()


def _read_lock(dynamodb: Any) -> None:
    DynamoDbLockReader(dynamodb, TABLE).read_lock(REF)


def _query(dynamodb: Any) -> None:
    DynamoDbFailureStore(dynamodb, TABLE).failure_sort_keys(REF)


DYNAMODB_CALLS: list[tuple[str, Callable[[Any], None]]] = [
    ("batch_write_item", _write),
    ("get_item", _read_lock),
    ("query", _query),
]


@pytest.mark.parametrize(("code", "status"), TRANSIENT)
@pytest.mark.parametrize(("operation", "call"), DYNAMODB_CALLS)
def test_transient_dynamodb_failures_are_retryable(
    operation: str, call: Callable[[Any], None], code: str, status: int
) -> None:
    dynamodb = client("dynamodb")
    fail_with(dynamodb, operation, code, status)
    with pytest.raises(TransientServiceError, match=f"DynamoDB .* on table {TABLE} kept failing .*{code}"):
        call(dynamodb)


@pytest.mark.parametrize(("code", "status"), TERMINAL)
def test_other_dynamodb_errors_stay_terminal(code: str, status: int) -> None:
    dynamodb = client("dynamodb")
    fail_with(dynamodb, "batch_write_item", code, status)
    with pytest.raises(ClientError) as raised:
        _write(dynamodb)
    assert not isinstance(raised.value, TransientServiceError)
    assert raised.value.response["Error"]["Code"] == code


def test_a_dynamodb_denial_stays_access_denied() -> None:
    dynamodb = client("dynamodb")
    fail_with(dynamodb, "get_item", "AccessDeniedException", 400)
    with pytest.raises(AccessDenied, match="denied dynamodb:GetItem"):
        _read_lock(dynamodb)


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
    ],
)
def test_connection_and_read_errors_are_retryable(error: Exception) -> None:
    class Unreachable:
        def batch_write_item(self, **_: Any) -> dict[str, Any]:
            raise error

    with pytest.raises(TransientServiceError, match="could not reach DynamoDB for BatchWriteItem"):
        _write(Unreachable())


LOCATION = S3Location.parse("s3://bucket/out/job.out")


@pytest.mark.parametrize(("code", "status"), [("SlowDown", 503), ("InternalError", 500), ("RequestTimeout", 400)])
def test_transient_s3_failures_are_retryable(code: str, status: int) -> None:
    s3 = client("s3")
    fail_with(s3, "get_object", code, status)
    with pytest.raises(TransientServiceError, match=f"S3 GetObject on {LOCATION.uri} kept failing .*{code}"):
        list(S3ObjectReader(s3).chunks(LOCATION))


@pytest.mark.parametrize(("code", "status"), [("SlowDown", 503), ("InternalError", 500)])
def test_transient_s3_listing_failures_are_retryable(code: str, status: int) -> None:
    """Bedrock's output and input files are found by listing their folder."""
    s3 = client("s3")
    fail_with(s3, "list_objects_v2", code, status)
    folder = S3Location.parse("s3://bucket/out/")
    with pytest.raises(TransientServiceError, match=f"S3 ListObjectsV2 on {folder.uri} kept failing .*{code}"):
        list(S3ObjectReader(s3).keys(folder))


def test_a_denied_s3_listing_stays_access_denied() -> None:
    s3 = client("s3")
    fail_with(s3, "list_objects_v2", "AccessDenied", 403)
    with pytest.raises(AccessDenied, match="could not list s3://bucket/out/"):
        list(S3ObjectReader(s3).keys(S3Location.parse("s3://bucket/out/")))


@pytest.mark.parametrize(
    ("code", "status", "raised"),
    [
        ("NoSuchKey", 404, OutputFileMissing),
        ("AccessDenied", 403, AccessDenied),
        ("KMS.DisabledException", 400, AccessDenied),
    ],
)
def test_missing_and_denied_objects_stay_terminal(code: str, status: int, raised: type[Exception]) -> None:
    s3 = client("s3")
    fail_with(s3, "get_object", code, status)
    with pytest.raises(raised):
        list(S3ObjectReader(s3).chunks(LOCATION))


def test_step_functions_calls_of_the_sweep_and_the_waker_are_classified() -> None:
    sfn = client("stepfunctions")
    stubber = Stubber(sfn)
    stubber.add_client_error("describe_execution", "ThrottlingException", "slow down", 400)
    stubber.add_client_error("send_task_success", "InternalFailure", "oops", 500)
    stubber.add_client_error("send_task_success", "TaskTimedOut", "gone", 400)
    stubber.activate()
    trackers = StepFunctionsTrackers(sfn, "arn:aws:states:us-east-1:123456789012:stateMachine:t")
    with pytest.raises(TransientServiceError, match="DescribeExecution"):
        trackers.is_running("arn:aws:states:us-east-1:123456789012:execution:t:e")
    waker = StepFunctionsTaskWaker(sfn)
    with pytest.raises(TransientServiceError, match="SendTaskSuccess"):
        waker.wake("token", {})
    assert waker.wake("token", {}) == "TaskTimedOut"


def test_is_transient_reads_code_and_status() -> None:
    def error(code: str, status: int) -> ClientError:
        response: Any = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return ClientError(response, "Op")

    assert is_transient(error("SlowDown", 503))
    assert is_transient(error("", 429))
    assert not is_transient(error("ValidationException", 400))
    assert not is_transient(error("AccessDenied", 403))
