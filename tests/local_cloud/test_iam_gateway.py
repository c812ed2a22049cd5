"""The gateway holds a role's calls to its policies, through real SDK clients, and the state machine's own
calls run as its role. The shared cloud enforces only while a test's policies are loaded."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local_cloud.cloud import LocalCloud
from local_cloud.identity import role_access_key
from local_cloud.lambda_runtime import LambdaFunctionConfig
from local_cloud.testing import wait_for_execution
from tests.local_cloud.iam_roles import Roles, allow

pytestmark = pytest.mark.xdist_group("local_cloud")

FunctionFactory = Callable[..., LambdaFunctionConfig]


def _table(cloud: LocalCloud) -> tuple[str, str]:
    name = f"iam-{uuid.uuid4().hex[:8]}"
    cloud.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name, f"arn:aws:dynamodb:{cloud.region}:{cloud.account_id}:table/{name}"


def _denied(call: Callable[[], object]) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    response: Any = raised.value.response
    return dict(response)


def test_dynamodb_calls_of_a_role_are_held_to_its_table(cloud: LocalCloud, roles: Roles) -> None:
    allowed, allowed_arn = _table(cloud)
    other, other_arn = _table(cloud)
    role = roles.add(allow(["dynamodb:PutItem", "dynamodb:GetItem"], allowed_arn))
    dynamodb = roles.client("dynamodb", role)
    dynamodb.put_item(TableName=allowed, Item={"pk": {"S": "a"}})
    assert dynamodb.get_item(TableName=allowed, Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}

    response = _denied(lambda: dynamodb.put_item(TableName=other, Item={"pk": {"S": "a"}}))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "AccessDeniedException"
    role_name = role.rsplit("/", 1)[-1]
    assert response["Error"]["Message"] == (
        f"User: arn:aws:sts::{cloud.account_id}:assumed-role/{role_name}/test-session is not authorized to perform: "
        f"dynamodb:PutItem on resource: {other_arn} because no identity-based policy allows the dynamodb:PutItem action"
    )
    batch = _denied(
        lambda: dynamodb.batch_write_item(RequestItems={allowed: [{"PutRequest": {"Item": {"pk": {"S": "b"}}}}]})
    )
    assert "dynamodb:BatchWriteItem" in batch["Error"]["Message"]
    # A user's calls are not restricted, and the refused write never happened.
    assert "Item" not in cloud.client("dynamodb").get_item(TableName=other, Key={"pk": {"S": "a"}})
    assert [(d.action, d.resource) for d in cloud.authorizer.denials()] == [
        ("dynamodb:PutItem", other_arn),
        ("dynamodb:BatchWriteItem", allowed_arn),
    ]


def test_reading_an_sse_kms_object_needs_the_roles_decrypt_via_s3(cloud: LocalCloud, roles: Roles) -> None:
    kms, s3 = cloud.client("kms"), cloud.client("s3")
    granted, other = (kms.create_key()["KeyMetadata"]["Arn"] for _ in range(2))
    bucket = f"iam-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    for key, kms_key in [("out/granted.out", granted), ("out/other-key.out", other), ("elsewhere/x.out", granted)]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"{}", ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key)
    s3.put_object(Bucket=bucket, Key="out/plain.out", Body=b"plain")
    role = roles.add(
        allow("s3:GetObject", f"arn:aws:s3:::{bucket}/out/*"),
        allow(
            "kms:Decrypt",
            granted,
            Condition={"StringEquals": {"kms:ViaService": f"s3.{cloud.region}.amazonaws.com"}},
        ),
    )
    reader = roles.client("s3", role, config=Config(retries={"max_attempts": 1}))
    assert reader.get_object(Bucket=bucket, Key="out/granted.out")["Body"].read() == b"{}"
    assert reader.get_object(Bucket=bucket, Key="out/plain.out")["Body"].read() == b"plain"

    response = _denied(lambda: reader.get_object(Bucket=bucket, Key="out/other-key.out"))
    assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == (403, "AccessDenied")
    assert f"kms:Decrypt on resource: {other}" in response["Error"]["Message"]
    # HeadObject is authorized as s3:GetObject and reads no data, so it needs no kms:Decrypt.
    assert reader.head_object(Bucket=bucket, Key="out/other-key.out")["SSEKMSKeyId"] == other

    outside = _denied(lambda: reader.get_object(Bucket=bucket, Key="elsewhere/x.out"))
    assert f"s3:GetObject on resource: arn:aws:s3:::{bucket}/elsewhere/x.out" in outside["Error"]["Message"]
    assert _denied(lambda: reader.head_object(Bucket=bucket, Key="elsewhere/x.out"))["Error"]["Code"] == "403"
    # A refused upload's body is read off the connection, which the client keeps using.
    assert _denied(lambda: reader.put_object(Bucket=bucket, Key="out/new", Body=b"x" * 300_000))["Error"][
        "Message"
    ].startswith("User: ")
    assert reader.get_object(Bucket=bucket, Key="out/granted.out")["Body"].read() == b"{}"


def test_lambda_invoke_of_a_role_is_held_to_its_functions(
    cloud: LocalCloud, roles: Roles, make_function: FunctionFactory
) -> None:
    source = "def handler(event, context):\n    return 'ran'\n"
    granted, other = make_function(source), make_function(source)
    role = roles.add(allow("lambda:InvokeFunction", [granted.arn, f"{granted.arn}:*"]))
    client = roles.client("lambda", role)
    assert json.loads(client.invoke(FunctionName=granted.name)["Payload"].read()) == "ran"
    response = _denied(lambda: client.invoke(FunctionName=other.arn))
    assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == (403, "AccessDeniedException")
    assert f"lambda:InvokeFunction on resource: {other.arn} because" in response["Error"]["Message"]


def test_the_state_machines_own_calls_run_as_its_role(
    cloud: LocalCloud, roles: Roles, make_function: FunctionFactory
) -> None:
    table, table_arn = _table(cloud)
    granted = make_function("def handler(event, context):\n    return {'ok': True}\n")
    other = make_function("def handler(event, context):\n    return {'ok': True}\n")
    role = roles.add(
        allow("lambda:InvokeFunction", granted.arn),
        allow(["dynamodb:PutItem", "dynamodb:UpdateItem"], table_arn),
    )
    sfn = cloud.client("stepfunctions")

    def run(states: dict[str, Any]) -> dict[str, Any]:
        definition = {"StartAt": next(iter(states)), "States": states}
        machine = sfn.create_state_machine(
            name=f"iam-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=role
        )["stateMachineArn"]
        started = sfn.start_execution(stateMachineArn=machine, name="run", input="{}")
        return wait_for_execution(sfn, started["executionArn"])

    def task(resource: str, parameters: dict[str, Any], **rest: Any) -> dict[str, Any]:
        return {"Type": "Task", "Resource": resource, "Parameters": parameters, **rest}

    put = task("arn:aws:states:::dynamodb:putItem", {"TableName": table, "Item": {"pk": {"S": "x"}}}, Next="Call")
    fine = run({"Put": put, "Call": task(granted.arn, {"n": 1}, End=True)})
    assert fine["status"] == "SUCCEEDED", fine

    refused = run({"Put": put, "Call": task(other.arn, {"n": 1}, End=True)})
    assert refused["status"] == "FAILED"
    role_name = role.rsplit("/", 1)[-1]
    assert f"assumed-role/{role_name}/StepFunctions is not authorized" in refused["cause"]
    assert f"lambda:InvokeFunction on resource: {other.arn}" in refused["cause"]

    read = run(
        {"Get": task("arn:aws:states:::dynamodb:getItem", {"TableName": table, "Key": {"pk": {"S": "x"}}}, End=True)}
    )
    assert (read["status"], read["error"]) == ("FAILED", "DynamoDB.AccessDeniedException")
    assert f"dynamodb:GetItem on resource: {table_arn}" in read["cause"]


def test_with_nothing_loaded_a_roles_calls_are_not_restricted(cloud: LocalCloud) -> None:
    table, _ = _table(cloud)
    assert not cloud.iam.enforced
    key = role_access_key(f"arn:aws:iam::{cloud.account_id}:role/no-policies", "s")
    make_client: Any = boto3.client
    dynamodb = make_client(
        "dynamodb",
        endpoint_url=cloud.endpoint_url,
        region_name=cloud.region,
        aws_access_key_id=key,
        aws_secret_access_key="local",
    )
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}})
