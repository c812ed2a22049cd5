"""The local cloud's services, started for real on free 127.0.0.1 ports, talking through the gateway."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_cloud.cloud import LocalCloud
from local_cloud.eventbridge import EventRule, EventTarget, InputTransformer, execution_name
from local_cloud.lambda_runtime import LambdaFunctionConfig
from local_cloud.testing import create_state_machine, wait_for_execution

FunctionFactory = Callable[..., LambdaFunctionConfig]

pytestmark = pytest.mark.xdist_group("local_cloud")


def _table(cloud: LocalCloud) -> str:
    name = f"table-{uuid.uuid4().hex[:8]}"
    cloud.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def _invoke(cloud: LocalCloud, function_name: str, event: dict[str, Any]) -> tuple[str | None, Any]:
    response = cloud.client("lambda").invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
    return response.get("FunctionError"), json.loads(response["Payload"].read())


def test_dynamodb_calls_through_the_gateway_are_answered_by_dynamodb_local(cloud: LocalCloud) -> None:
    table = _table(cloud)
    requests = [{"PutRequest": {"Item": {"pk": {"S": f"item-{i}"}}}} for i in range(26)]
    # DynamoDB (and DynamoDB Local) cap BatchWriteItem at 25 requests; moto accepts 26.
    with pytest.raises(ClientError) as rejected:
        cloud.client("dynamodb").batch_write_item(RequestItems={table: requests})
    assert rejected.value.response["Error"]["Code"] == "ValidationException"

    # -sharedDb: a client with other credentials talking to DynamoDB Local directly sees the same table.
    import boto3

    direct = boto3.client(
        "dynamodb",
        endpoint_url=cloud.dynamodb.endpoint_url,
        region_name="eu-west-1",
        aws_access_key_id="other",
        aws_secret_access_key="other",
    )
    assert table in direct.list_tables()["TableNames"]


def test_state_machine_lambda_task_runs_the_handler_from_its_asset(
    cloud: LocalCloud, make_function: FunctionFactory
) -> None:
    function = make_function(
        """
        def handler(event, context):
            return {"doubled": event["n"] * 2, "function": context.function_name}
        """
    )
    machine = create_state_machine(
        cloud,
        {
            "StartAt": "Double",
            "States": {
                "Double": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": function.arn, "Payload.$": "$"},
                    "OutputPath": "$.Payload",
                    "End": True,
                }
            },
        },
    )
    sfn = cloud.client("stepfunctions")
    started = sfn.start_execution(stateMachineArn=machine, name="double-21", input=json.dumps({"n": 21}))
    execution = wait_for_execution(sfn, started["executionArn"])
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {"doubled": 42, "function": function.name}


def test_state_machine_sees_the_handlers_error_type_as_the_task_error(
    cloud: LocalCloud, make_function: FunctionFactory
) -> None:
    function = make_function(
        """
        class JobNotFound(Exception):
            pass

        def handler(event, context):
            raise JobNotFound("no such job")
        """
    )
    machine = create_state_machine(
        cloud,
        {
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": function.name, "Payload.$": "$"},
                    "Catch": [{"ErrorEquals": ["JobNotFound"], "ResultPath": "$.caught", "Next": "Handled"}],
                    "End": True,
                },
                "Handled": {"Type": "Pass", "End": True},
            },
        },
    )
    sfn = cloud.client("stepfunctions")
    started = sfn.start_execution(stateMachineArn=machine, name="catch-it", input="{}")
    execution = wait_for_execution(sfn, started["executionArn"])
    assert execution["status"] == "SUCCEEDED"
    caught = json.loads(execution["output"])["caught"]
    assert caught["Error"] == "JobNotFound"
    assert json.loads(caught["Cause"])["errorMessage"] == "no such job"


def test_state_machine_dynamodb_task_writes_to_dynamodb_local(cloud: LocalCloud) -> None:
    table = _table(cloud)
    machine = create_state_machine(
        cloud,
        {
            "StartAt": "Put",
            "States": {
                "Put": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::dynamodb:putItem",
                    "Parameters": {"TableName": table, "Item": {"pk": {"S.$": "$.id"}}},
                    "End": True,
                }
            },
        },
    )
    sfn = cloud.client("stepfunctions")
    started = sfn.start_execution(stateMachineArn=machine, name="put-one", input=json.dumps({"id": "job-1"}))
    assert wait_for_execution(sfn, started["executionArn"])["status"] == "SUCCEEDED"
    import boto3

    direct = boto3.client(
        "dynamodb",
        endpoint_url=cloud.dynamodb.endpoint_url,
        region_name=cloud.region,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    assert direct.get_item(TableName=table, Key={"pk": {"S": "job-1"}})["Item"] == {"pk": {"S": "job-1"}}


def test_a_module_missing_from_the_asset_fails_like_in_aws(cloud: LocalCloud, make_function: FunctionFactory) -> None:
    # aws_lambda_powertools IS installed in the venv running the tests; the asset does not bundle it.
    function = make_function(
        """
        import aws_lambda_powertools

        def handler(event, context):
            return "unreachable"
        """
    )
    error, payload = _invoke(cloud, function.name, {})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert "aws_lambda_powertools" in payload["errorMessage"]


def test_handler_gets_the_lambda_runtime_packages_and_reaches_the_local_cloud(
    cloud: LocalCloud, make_function: FunctionFactory
) -> None:
    table = _table(cloud)
    function = make_function(
        """
        import boto3
        import helpers.names

        def handler(event, context):
            tables = boto3.client("dynamodb").list_tables()["TableNames"]
            return {"tables": tables, "greeting": helpers.names.greet(context.function_name),
                    "memory": context.memory_limit_in_mb, "remaining": context.get_remaining_time_in_millis()}
        """,
        extra_files={
            "helpers/__init__.py": "",
            "helpers/names.py": "def greet(name):\n    return 'hi ' + name\n",
        },
    )
    error, payload = _invoke(cloud, function.name, {})
    assert error is None, payload
    assert table in payload["tables"]
    assert payload["greeting"] == f"hi {function.name}"
    assert payload["memory"] == "128"
    assert 0 < payload["remaining"] <= 10_000


def test_unhandled_exception_returns_lambdas_error_payload(cloud: LocalCloud, make_function: FunctionFactory) -> None:
    function = make_function(
        """
        def handler(event, context):
            raise KeyError("jobId")
        """
    )
    error, payload = _invoke(cloud, function.name, {})
    assert error == "Unhandled"
    assert payload["errorType"] == "KeyError"
    assert payload["errorMessage"] == "'jobId'"
    assert payload["requestId"]
    assert any("app.py" in frame for frame in payload["stackTrace"])


def test_timeout_is_enforced_and_the_sandbox_recycled(cloud: LocalCloud, make_function: FunctionFactory) -> None:
    function = make_function(
        """
        import time
        invocations = 0

        def handler(event, context):
            global invocations
            invocations += 1
            if event.get("hang"):
                time.sleep(600)
            return invocations
        """,
        timeout_seconds=1,
    )
    error, payload = _invoke(cloud, function.name, {"hang": True})
    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in payload["errorMessage"]
    # The timed-out sandbox was discarded: the next invocation starts from fresh module state.
    assert _invoke(cloud, function.name, {}) == (None, 1)


def test_module_state_persists_across_warm_invocations(cloud: LocalCloud, make_function: FunctionFactory) -> None:
    function = make_function(
        """
        import os
        invocations = 0

        def handler(event, context):
            global invocations
            invocations += 1
            return {"count": invocations, "pid": os.getpid()}
        """
    )
    _, first = _invoke(cloud, function.name, {})
    _, second = _invoke(cloud, function.name, {})
    assert (first["count"], second["count"]) == (1, 2)
    assert first["pid"] == second["pid"]


def test_unknown_function_is_resource_not_found(cloud: LocalCloud) -> None:
    with pytest.raises(ClientError) as missing:
        cloud.client("lambda").invoke(FunctionName="no-such-function", Payload=b"{}")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_put_events_starts_an_execution_through_a_rule_with_an_input_transformer(cloud: LocalCloud) -> None:
    machine = create_state_machine(cloud, {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    rule_name = f"rule-{uuid.uuid4().hex[:8]}"
    cloud.events.add_rules(
        [
            EventRule(
                name=rule_name,
                arn=f"arn:aws:events:{cloud.region}:{cloud.account_id}:rule/{rule_name}",
                event_pattern={
                    "source": ["aws.voiceid"],
                    "detail": {"data": {"jobId": [{"exists": True}]}, "rule": [rule_name]},
                },
                targets=(
                    EventTarget(
                        id="Target0",
                        arn=machine,
                        input_transformer=InputTransformer(
                            input_paths_map={"job": "$.detail.data.jobId", "status": "$.detail.data.status"},
                            input_template='{"jobId": <job>, "summary": "job <job> is <status>"}',
                        ),
                    ),
                ),
            )
        ]
    )
    detail = {"rule": rule_name, "data": {"jobId": "job-42", "status": "COMPLETED"}}
    response = cloud.client("events").put_events(
        Entries=[
            {
                "Source": "aws.voiceid",
                "DetailType": "VoiceId Batch Fraudster Registration Action",
                "Detail": json.dumps(detail),
            }
        ]
    )
    assert response["FailedEntryCount"] == 0
    event_id = response["Entries"][0]["EventId"]

    sfn = cloud.client("stepfunctions")
    execution_arn = f"{machine.replace(':stateMachine:', ':execution:')}:{execution_name(event_id, 'Target0')}"
    execution = wait_for_execution(sfn, execution_arn)
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["input"]) == {"jobId": "job-42", "summary": "job job-42 is COMPLETED"}
    delivered = [d for d in cloud.events.delivery_log() if d.event_id == event_id]
    assert [(d.rule_name, d.ok, d.result) for d in delivered] == [(rule_name, True, execution_arn)]


def test_s3_objects_stream_through_the_gateway(cloud: LocalCloud) -> None:
    s3 = cloud.client("s3")
    bucket = f"bucket-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    body = bytes(range(256)) * (4 * 4096)  # 4 MiB, every byte value
    put = s3.put_object(Bucket=bucket, Key="small/object.bin", Body=body, Metadata={"job": "42"})
    got = s3.get_object(Bucket=bucket, Key="small/object.bin")
    assert got["Body"].read() == body
    assert got["ETag"] == put["ETag"]
    assert got["Metadata"] == {"job": "42"}
    assert s3.head_object(Bucket=bucket, Key="small/object.bin")["ContentLength"] == len(body)

    # Multipart upload (s3transfer), as boto3 does for large files.
    from boto3.s3.transfer import TransferConfig

    big = body * 3
    s3.upload_fileobj(io.BytesIO(big), bucket, "big/object.bin", Config=TransferConfig(multipart_threshold=5 * 2**20))
    downloaded = io.BytesIO()
    s3.download_fileobj(bucket, "big/object.bin", downloaded)
    assert downloaded.getvalue() == big


def test_function_output_is_relayed_with_the_function_name(cloud: LocalCloud, make_function: FunctionFactory) -> None:
    function = make_function(
        """
        import json

        def handler(event, context):
            print(json.dumps({"level": "INFO", "message": "describing job", "jobId": event["jobId"]}))
            return None
        """
    )
    assert _invoke(cloud, function.name, {"jobId": "job-7"}) == (None, None)
    expected = f'[{function.name}] {{"level": "INFO", "message": "describing job", "jobId": "job-7"}}'
    log_file = cloud.state_dir / "logs" / "lambda.log"
    deadline = time.monotonic() + 30  # the relay thread writes asynchronously
    while expected not in log_file.read_text(encoding="utf-8") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert expected in log_file.read_text(encoding="utf-8")


def test_aws_sdk_tasks_take_pascal_case_parameters_and_name_service_errors_like_aws(cloud: LocalCloud) -> None:
    sfn = cloud.client("stepfunctions")
    target = create_state_machine(cloud, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    finished = sfn.start_execution(stateMachineArn=target, name="finished", input="{}")["executionArn"]
    wait_for_execution(sfn, finished)
    checker = create_state_machine(
        cloud,
        {
            "StartAt": "Describe",
            "States": {
                "Describe": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:sfn:describeExecution",
                    "Parameters": {"ExecutionArn.$": "$.arn"},
                    "ResultSelector": {"Status.$": "$.Status"},
                    "Catch": [{"ErrorEquals": ["Sfn.ExecutionDoesNotExistException"], "Next": "Gone"}],
                    "End": True,
                },
                "Gone": {"Type": "Pass", "Result": {"Holder": "gone"}, "End": True},
            },
        },
    )
    outputs = []
    for name, arn in [("known", finished), ("unknown", finished.replace(":finished", ":never-started"))]:
        started = sfn.start_execution(stateMachineArn=checker, name=name, input=json.dumps({"arn": arn}))
        described = wait_for_execution(sfn, started["executionArn"])
        assert described["status"] == "SUCCEEDED", described
        outputs.append(json.loads(described["output"]))
    assert outputs == [{"Status": "SUCCEEDED"}, {"Holder": "gone"}]


def test_a_task_token_is_spent_once_its_task_has_ended(cloud: LocalCloud) -> None:
    """As on AWS, SendTaskSuccess for a task that already ended is TaskTimedOut, not a second success."""
    sfn = cloud.client("stepfunctions")
    table = f"tokens-{uuid.uuid4().hex[:8]}"
    cloud.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    machine = create_state_machine(
        cloud,
        {
            "StartAt": "Park",
            "States": {
                "Park": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:dynamodb:putItem.waitForTaskToken",
                    "Parameters": {"TableName": table, "Item": {"pk": {"S": "t"}, "token": {"S.$": "$$.Task.Token"}}},
                    "TimeoutSeconds": 60,
                    "Next": "Linger",
                },
                # Still running after the task ended, as a tracker describing after its wait was woken.
                "Linger": {"Type": "Wait", "Seconds": 3, "End": True},
            },
        },
    )
    execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    deadline = time.monotonic() + 30
    while not (item := cloud.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "t"}}).get("Item")):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    token = item["token"]["S"]
    sfn.send_task_success(taskToken=token, output='{"first": true}')
    with pytest.raises(ClientError) as again:
        sfn.send_task_success(taskToken=token, output='{"second": true}')
    assert again.value.response["Error"]["Code"] == "TaskTimedOut"
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    assert wait_for_execution(sfn, execution)["status"] == "SUCCEEDED"


def test_a_lambda_tasks_invoke_errors_are_named_like_aws(cloud: LocalCloud) -> None:
    """Lambda's own error for a task whose Resource is a function ARN is `Lambda.<Code>`, which Retry and
    Catch blocks name (moto called every such error `Exception`)."""
    sfn = cloud.client("stepfunctions")
    missing = f"arn:aws:lambda:{cloud.region}:{cloud.account_id}:function:never-deployed"
    machine = create_state_machine(
        cloud,
        {
            "StartAt": "Invoke",
            "States": {
                "Invoke": {
                    "Type": "Task",
                    "Resource": missing,
                    "Catch": [{"ErrorEquals": ["Lambda.ResourceNotFoundException"], "Next": "Named"}],
                    "End": True,
                },
                "Named": {"Type": "Pass", "Result": "named like AWS", "End": True},
            },
        },
    )
    described = wait_for_execution(sfn, sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    assert "named like AWS" in described["output"]
