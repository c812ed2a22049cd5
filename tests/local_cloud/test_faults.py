"""Fault rules at /_local/faults: each service's error in its own wire format, so botocore raises what AWS
makes it raise; rules chosen by service, operation, role, fraction and time window."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from local_cloud.cloud import LocalCloud
from local_cloud.faults import FaultInjector, FaultRule, FaultRuleError, FaultsAdmin, operation_name
from local_cloud.iam_requests import AwsRequest
from local_cloud.identity import role_access_key

pytestmark = pytest.mark.xdist_group("local_cloud")

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture
def faults(cloud: LocalCloud) -> Iterator[FaultsAdmin]:
    admin = cloud.faults_admin
    admin.clear()
    yield admin
    admin.clear()


def _code(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response: Any = error.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _table(cloud: LocalCloud) -> str:
    name = f"faults-{uuid.uuid4().hex[:8]}"
    cloud.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


# -- through the gateway, with real SDK clients -------------------------------------------------------------------
def test_dynamodb_throttling_of_one_operation_is_the_sdks_own_exception(cloud: LocalCloud, faults: FaultsAdmin) -> None:
    table = _table(cloud)
    dynamodb = cloud.client("dynamodb", config=NO_RETRIES)
    rule = faults.add(
        service="dynamodb", operation="BatchWriteItem", error="ProvisionedThroughputExceededException", status=400
    )
    with pytest.raises(dynamodb.exceptions.ProvisionedThroughputExceededException) as raised:
        dynamodb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"pk": {"S": "a"}}}}]})
    assert _code(raised) == ("ProvisionedThroughputExceededException", 400)
    # Other operations of the service go on.
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "b"}})
    assert faults.rule(rule)["injected"] == 1
    faults.remove(rule)
    dynamodb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"pk": {"S": "a"}}}}]})
    assert faults.rules() == []


def test_the_sdks_retries_see_every_injected_error(cloud: LocalCloud, faults: FaultsAdmin) -> None:
    table = _table(cloud)
    dynamodb = cloud.client("dynamodb", config=Config(retries={"mode": "standard", "total_max_attempts": 3}))
    rule = faults.add(service="dynamodb", operation="GetItem", status=500)
    with pytest.raises(ClientError) as raised:
        dynamodb.get_item(TableName=table, Key={"pk": {"S": "a"}})
    assert _code(raised) == ("InternalServerError", 500)
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert faults.rule(rule)["injected"] == 3


def test_s3_slowdown_is_s3s_xml_error(cloud: LocalCloud, faults: FaultsAdmin) -> None:
    s3 = cloud.client("s3", config=NO_RETRIES)
    bucket = f"faults-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a.out", Body=b"{}")
    faults.add(service="s3", operation="GetObject", error="SlowDown", status=503)
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket=bucket, Key="a.out")
    assert _code(raised) == ("SlowDown", 503)
    assert s3.head_object(Bucket=bucket, Key="a.out")["ContentLength"] == 2


@pytest.mark.parametrize(
    "case",
    [
        ("kms", lambda c: c.list_keys(), "KMSInternalException", 500),
        ("states", lambda c: c.list_state_machines(), "ThrottlingException", 400),
        ("events", lambda c: c.list_rules(), "InternalException", 500),
        ("lambda", lambda c: c.invoke(FunctionName="nothing"), "TooManyRequestsException", 429),
    ],
)
def test_each_service_answers_in_its_own_protocol(
    cloud: LocalCloud, faults: FaultsAdmin, case: tuple[Any, ...]
) -> None:
    service, call, error, status = case
    client = cloud.client({"states": "stepfunctions"}.get(service, service), config=NO_RETRIES)
    faults.add(service=service, error=error, status=status)
    with pytest.raises(ClientError) as raised:
        call(client)
    assert _code(raised) == (error, status)
    assert type(raised.value) is client.exceptions.from_code(error)  # the modeled class, where there is one


def test_a_status_alone_sends_the_services_internal_error(cloud: LocalCloud, faults: FaultsAdmin) -> None:
    faults.add(service="states", status=500)
    with pytest.raises(ClientError) as raised:
        cloud.client("stepfunctions", config=NO_RETRIES).list_state_machines()
    assert _code(raised) == ("InternalFailure", 500)


def test_a_connection_reset_is_a_botocore_connection_error(cloud: LocalCloud, faults: FaultsAdmin) -> None:
    faults.add(service="sts", error="ConnectionReset")
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        cloud.client("sts", config=NO_RETRIES).get_caller_identity()


def test_a_rule_for_one_role_spares_every_other_caller(cloud: LocalCloud, faults: FaultsAdmin) -> None:
    role = f"arn:aws:iam::{cloud.account_id}:role/faulty-{uuid.uuid4().hex[:6]}"
    other = f"arn:aws:iam::{cloud.account_id}:role/healthy-{uuid.uuid4().hex[:6]}"

    def as_role(role_arn: str) -> Any:
        make_client: Any = boto3.client
        return make_client(
            "stepfunctions",
            endpoint_url=cloud.endpoint_url,
            region_name=cloud.region,
            aws_access_key_id=role_access_key(role_arn, "test"),
            aws_secret_access_key="local",
            config=NO_RETRIES,
        )

    faults.add(service="states", error="ThrottlingException", status=400, role=role.rsplit("/", 1)[-1])
    with pytest.raises(ClientError):
        as_role(role).list_state_machines()
    as_role(other).list_state_machines()
    cloud.client("stepfunctions", config=NO_RETRIES).list_state_machines()
    faults.clear()
    faults.add(service="states", error="ThrottlingException", status=400, role="*")
    with pytest.raises(ClientError):
        as_role(other).list_state_machines()
    cloud.client("stepfunctions", config=NO_RETRIES).list_state_machines()  # a user's key is no role's


def test_a_latency_only_rule_delays_the_call_and_lets_it_through(cloud: LocalCloud, faults: FaultsAdmin) -> None:
    rule = faults.add(service="states", latencySeconds=0.2)
    assert "stateMachines" in cloud.client("stepfunctions", config=NO_RETRIES).list_state_machines()
    assert faults.rule(rule)["injected"] == 1


def test_the_admin_api_names_what_is_wrong_with_a_rule(faults: FaultsAdmin) -> None:
    with pytest.raises(FaultRuleError, match="service must be one of"):
        faults.add(service="dynamo", status=500)
    with pytest.raises(FaultRuleError, match="fraction must be a number from 0 to 1"):
        faults.add(service="s3", status=500, fraction=2)
    with pytest.raises(FaultRuleError, match=r"unknown member\(s\) \['errorCode'\]"):
        faults.add(service="s3", errorCode="SlowDown")
    with pytest.raises(FaultRuleError, match="no fault rule"):
        faults.remove("no-such-rule")
    assert faults.rules() == []


# -- the rules themselves ---------------------------------------------------------------------------------------
def _request(target: str = "DynamoDB_20120810.BatchWriteItem", role: str | None = None) -> AwsRequest:
    key = role_access_key(role, "s") if role else "local"
    auth = f"AWS4-HMAC-SHA256 Credential={key}/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=x, Signature=y"
    return AwsRequest.create("POST", "/", {"X-Amz-Target": target, "Authorization": auth})


def test_a_rule_stops_after_its_seconds() -> None:
    now = [100.0]
    injector = FaultInjector(clock=lambda: now[0])
    injector.add(FaultRule.parse({"service": "dynamodb", "status": 500, "seconds": 60}))
    assert injector.decide(_request()) is not None
    now[0] += 59.9
    assert injector.decide(_request()) is not None
    now[0] += 0.1
    assert injector.decide(_request()) is None
    assert injector.rules()[0]["remainingSeconds"] == 0.0


def test_a_fraction_fails_that_share_of_calls() -> None:
    injector = FaultInjector(rng=random.Random(7))
    injector.add(FaultRule.parse({"service": "dynamodb", "status": 500, "fraction": 0.3}))
    failed = sum(injector.decide(_request()) is not None for _ in range(2000))
    assert 500 < failed < 700
    assert injector.rules()[0]["injected"] == failed


def test_an_operation_rule_matches_that_operation_only() -> None:
    injector = FaultInjector()
    injector.add(FaultRule.parse({"service": "dynamodb", "operation": "Query", "status": 500}))
    assert injector.decide(_request("DynamoDB_20120810.BatchWriteItem")) is None
    fault = injector.decide(_request("DynamoDB_20120810.Query"))
    assert fault is not None and fault.error is not None and fault.error.status == 500


@pytest.mark.parametrize(
    ("method", "path", "headers", "operation"),
    [
        ("GET", "/bucket/a/b.out", {}, "GetObject"),
        ("GET", "/bucket/a/b.out?x-id=GetObject", {}, "GetObject"),
        ("HEAD", "/bucket/key", {}, "HeadObject"),
        ("PUT", "/bucket/key", {}, "PutObject"),
        ("PUT", "/bucket/key", {"x-amz-copy-source": "/b/k"}, "CopyObject"),
        ("GET", "/bucket?list-type=2&prefix=a", {}, "ListObjectsV2"),
        ("PUT", "/bucket", {}, "CreateBucket"),
        ("GET", "/bucket?policy", {}, None),
    ],
)
def test_s3_operations_are_told_from_method_and_path(
    method: str, path: str, headers: dict[str, str], operation: str | None
) -> None:
    auth = "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/s3/aws4_request, SignedHeaders=x, Signature=y"
    request = AwsRequest.create(method, path, {"Authorization": auth, **headers})
    assert operation_name(request) == operation


def test_a_held_call_is_released_when_its_rule_is_deleted() -> None:
    now = [0.0]
    injector = FaultInjector(clock=lambda: now[0])
    rule_id = injector.add(FaultRule.parse({"service": "dynamodb", "latencySeconds": 60}))
    fault = injector.decide(_request())
    assert fault is not None and fault.error is None and fault.latency_seconds == 60

    def sleep(seconds: float) -> None:
        now[0] += seconds
        if now[0] >= 5:
            injector.remove(rule_id)

    injector.delay(fault, sleep)
    assert 5 <= now[0] < 5.1
    now[0] = 0
    injector.add(FaultRule.parse({"service": "dynamodb", "latencySeconds": 2}))
    held = injector.decide(_request())
    assert held is not None
    injector.delay(held, lambda seconds: now.__setitem__(0, now[0] + seconds))
    assert now[0] >= 2
