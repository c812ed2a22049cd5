"""S3 Batch Operations in the whole local cloud: outputs.json names it and its resources, a job made with them
through the gateway (the SDK unchanged, account-id host prefix and all) runs its tasks as the job's role under
the local cloud's IAM enforcement (a missing grant: AccessDenied in the report), invokes a function on the local
Lambda runtime, and sends CloudTrail-shaped events to the local EventBridge; a stack role's S3 Control calls
are held to the template's policies."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator_core.testing import run_js_client
from local_cloud.environment import LocalEnvironment
from local_cloud.identity import role_access_key
from local_cloud.lambda_runtime.config import LambdaFunctionConfig
from local_cloud.s3batch import role_policy
from s3batch_emulator.testing import csv_manifest, put_manifest, read_report

FUNCTION = "s3batch-e2e-function"
FUNCTION_CODE = Path(__file__).resolve().parents[1] / "s3batch" / "fixtures" / "batch_function"


def _outputs(local: LocalEnvironment) -> dict[str, Any]:
    section: dict[str, Any] = json.loads(local.outputs_path.read_text(encoding="utf-8"))["s3batch"]
    return section


def _client(section: dict[str, Any]) -> Any:
    """A user's S3 Control client built from outputs.json alone."""
    make_client: Any = boto3.client
    return make_client(
        "s3control",
        endpoint_url=section["endpointUrl"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(proxies={"http": section["proxyUrl"]}, retries={"total_max_attempts": 1}),
    )


def _job(local: LocalEnvironment, section: dict[str, Any], keys: list[str], operation: dict[str, Any]) -> str:
    s3 = local.cloud.client("s3")
    bucket = section["inputBucket"]
    manifest = put_manifest(
        s3,
        bucket,
        f"{section['manifestPrefix']}{uuid.uuid4().hex}.csv",
        csv_manifest((bucket, key) for key in keys),
    )
    job_id: str = _client(section).create_job(
        AccountId=section["accountId"],
        ConfirmationRequired=False,
        Operation=operation,
        Manifest=manifest,
        Report={
            "Bucket": section["reportBucketArn"],
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "Prefix": section["reportPrefix"],
            "ReportScope": "AllTasks",
        },
        Priority=10,
        RoleArn=section["roleArn"],
        ClientRequestToken=uuid.uuid4().hex,
    )["JobId"]
    assert local.s3batch.emulator.wait_for_job(job_id, timeout=60) == "Complete"
    return job_id


def _report_rows(local: LocalEnvironment, section: dict[str, Any], job_id: str) -> dict[str, list[str]]:
    bucket = section["reportBucketArn"].split(":::", 1)[1]
    report = read_report(local.cloud.client("s3"), bucket, section["reportPrefix"], job_id)
    assert report is not None
    return {urllib.parse.unquote(row[1]): row[3:] for row in report.rows()}


def test_outputs_name_a_working_s3batch_and_tasks_run_as_the_role_under_iam(local: LocalEnvironment) -> None:
    section = _outputs(local)
    assert json.loads(local.outputs_path.read_text())["endpoints"]["s3control"] == section["endpointUrl"]
    assert section["accountId"] == local.cloud.account_id
    s3 = local.cloud.client("s3")
    s3.head_bucket(Bucket=section["inputBucket"])
    s3.head_bucket(Bucket=section["reportBucketArn"].split(":::", 1)[1])
    objects = section["objectsPrefix"]
    s3.put_object(Bucket=section["inputBucket"], Key=f"{objects}granted.txt", Body=b"x")
    s3.put_object(Bucket=section["inputBucket"], Key="private/not-granted.txt", Body=b"x")
    job_id = _job(
        local,
        section,
        [f"{objects}granted.txt", "private/not-granted.txt", f"{objects}missing.txt"],
        {"S3PutObjectTagging": {"TagSet": [{"Key": "batch", "Value": "e2e"}]}},
    )
    rows = _report_rows(local, section, job_id)
    assert rows[f"{objects}granted.txt"][:3] == ["succeeded", "200", ""]
    assert rows["private/not-granted.txt"][:3] == ["failed", "403", "AccessDenied"]  # the role has no grant there
    assert rows[f"{objects}missing.txt"][:3] == ["failed", "404", "NoSuchKey"]
    assert s3.get_object_tagging(Bucket=section["inputBucket"], Key=f"{objects}granted.txt")["TagSet"] == [
        {"Key": "batch", "Value": "e2e"}
    ]
    assert s3.get_object_tagging(Bucket=section["inputBucket"], Key="private/not-granted.txt")["TagSet"] == []
    received = local.cloud.events.events_received(source="aws.s3", detail_type="AWS Service Event via CloudTrail")
    mine = [event["detail"] for event in received if event["detail"]["serviceEventDetails"]["jobId"] == job_id]
    assert (mine[0]["eventName"], mine[0]["serviceEventDetails"]["status"]) == ("JobCreated", "New")
    assert mine[-1]["serviceEventDetails"]["status"] == "Complete"


def test_lambda_invoke_runs_on_the_local_lambda_runtime_and_needs_its_grant(local: LocalEnvironment) -> None:
    local.cloud.lambdas.register(
        LambdaFunctionConfig(name=FUNCTION, handler="handler.handler", code_dir=FUNCTION_CODE, timeout_seconds=30)
    )
    # Through LocalEnvironment.s3batch's helpers, as the tracker's end-to-end tests would.
    s3batch = local.s3batch
    [key] = s3batch.put_objects(["invoke-me.txt"])
    arn = f"arn:aws:lambda:{local.cloud.region}:{local.cloud.account_id}:function:{FUNCTION}"
    operation = {"LambdaInvoke": {"FunctionArn": arn, "InvocationSchemaVersion": "2.0", "UserArguments": {"a": "b"}}}

    def run() -> list[str]:
        job_id = s3batch.create_job([key], operation)
        assert s3batch.emulator.wait_for_job(job_id, timeout=60) == "Complete"
        report = s3batch.report(job_id)
        assert report is not None
        [row] = report.rows()
        return row

    row = run()
    assert row[3] == "succeeded" and json.loads(row[6])["job"]["userArguments"] == {"a": "b"}

    without_invoke = role_policy(local.cloud.account_id, local.cloud.region)
    without_invoke["Statement"] = [s for s in without_invoke["Statement"] if s["Sid"] != "InvokeFunctions"]
    s3batch.set_role_policy(without_invoke)
    try:
        row = run()
    finally:
        s3batch.set_role_policy(role_policy(local.cloud.account_id, local.cloud.region))
    assert row[3:6] == ["failed", "403", "AccessDeniedException"]


def test_a_stack_roles_s3control_calls_are_held_to_its_policies(local: LocalEnvironment) -> None:
    section = _outputs(local)
    # A role of the stack that the template does not grant s3:ListJobs (the S3 Batch kind's roles may have it).
    stack_role = next(
        arn
        for arn in local.cloud.iam.roles
        if arn != section["roleArn"] and not local.cloud.iam.evaluate(arn, "s3:ListJobs", "*").allowed
    )
    make_client: Any = boto3.client
    as_role = make_client(
        "s3control",
        endpoint_url=section["endpointUrl"],
        region_name="us-east-1",
        aws_access_key_id=role_access_key(stack_role, "e2e"),
        aws_secret_access_key="local",
        config=Config(proxies={"http": section["proxyUrl"]}, retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError) as raised:
        as_role.list_jobs(AccountId=section["accountId"])
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "s3:ListJobs" in raised.value.response["Error"]["Message"]


def test_a_manifest_the_role_may_not_read_fails_the_job_before_any_task(local: LocalEnvironment) -> None:
    s3batch = local.s3batch
    keys = s3batch.put_objects(["behind-a-locked-manifest.txt"])
    # The role may only write to the report bucket: a manifest there cannot be read.
    manifest = put_manifest(
        local.cloud.client("s3"), "s3batch-local-reports", f"locked/{uuid.uuid4().hex}.csv", csv_manifest([("b", "k")])
    )
    job_id = s3batch.create_job(keys, {"S3DeleteObjectTagging": {}}, Manifest=manifest)
    assert s3batch.emulator.wait_for_job(job_id, timeout=60) == "Failed"
    job = s3batch.client().describe_job(AccountId=local.cloud.account_id, JobId=job_id)["Job"]
    assert job["FailureReasons"] == [
        {"FailureCode": "AccessDenied", "FailureReason": "Reading the manifest is forbidden: AccessDenied"}
    ]
    assert job["ProgressSummary"]["TotalNumberOfTasks"] == 0
    assert s3batch.report(job_id) is None


def test_the_js_sdk_reaches_s3_control_through_the_gateway(local: LocalEnvironment) -> None:
    section = _outputs(local)
    manifest = local.s3batch.manifest_of(local.s3batch.put_objects(["from-js.txt"]))
    # The script's job must still be New when it is confirmed (refused) and cancelled: a minute a status.
    local.s3batch.emulator.admin.set_pacing(60, 0)
    try:
        out = run_js_client(
            Path(__file__).resolve().parents[1] / "s3batch" / "js" / "s3control_client.mjs",
            "@aws-sdk/client-s3-control",
            {
                "S3CONTROL_ENDPOINT": section["endpointUrl"],
                "S3CONTROL_PROXY": section["proxyUrl"],
                "ACCOUNT_ID": section["accountId"],
                "MANIFEST_ARN": manifest["Location"]["ObjectArn"],
                "MANIFEST_ETAG": manifest["Location"]["ETag"],
                "REPORT_BUCKET_ARN": section["reportBucketArn"],
                "ROLE_ARN": section["roleArn"],
            },
        )
    finally:
        local.s3batch.emulator.admin.reset_pacing()
    job_id = out["create"]["JobId"]
    assert out["repeat"]["JobId"] == job_id
    assert out["describe"]["Job"]["RoleArn"] == section["roleArn"]
    assert out["notFound"]["name"] == "NotFoundException" and out["notFound"]["status"] == 404
    assert out["notSuspended"]["name"] == "JobStatusException"
    assert out["tooManyTags"]["name"] == "TooManyTagsException"
    assert out["cancel"] == {"JobId": job_id, "Status": "Cancelled", "StatusUpdateReason": "js"}
    gateway_port = section["proxyUrl"].rsplit(":", 1)[1]
    assert out["hosts"] == [f"{section['accountId']}.localhost:{gateway_port}"]


def test_a_functions_unchanged_boto3_reaches_s3_control(local: LocalEnvironment) -> None:
    local.cloud.lambdas.register(
        LambdaFunctionConfig(
            name="s3control-caller",
            handler="s3control_caller.handler",
            code_dir=FUNCTION_CODE,
            timeout_seconds=30,
        )
    )
    section = _outputs(local)
    keys = local.s3batch.put_objects(["seen-from-lambda.txt"])
    job_id = local.s3batch.create_job(keys, {"S3DeleteObjectTagging": {}})
    result = local.cloud.client("lambda").invoke(
        FunctionName="s3control-caller",
        Payload=json.dumps({"accountId": section["accountId"], "bucket": section["inputBucket"]}).encode(),
    )
    payload = json.loads(result["Payload"].read())
    assert "FunctionError" not in result, payload
    assert job_id in payload["jobIds"]
