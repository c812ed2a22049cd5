"""Running one task: the job's operation on one object, really, against S3 (or the Lambda function), with the
job's role's clients, so that the role's policies decide as on AWS (a missing grant: `AccessDenied`).

Each operation is a small function from (operation parameters, task, clients) to a `TaskOutcome`; the report
row is made from it (s3batch-facts §4: `TaskStatus, HTTPStatusCode, ErrorCode, ResultMessage`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from s3batch_emulator.store import Task

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client

SUCCEEDED = "Succeeded"
TEMPORARY_FAILURE = "TemporaryFailure"
PERMANENT_FAILURE = "PermanentFailure"


@dataclass(frozen=True)
class TaskOutcome:
    succeeded: bool
    http_status: int
    error_code: str = ""
    message: str = ""
    retry: bool = False
    """A Lambda answered TemporaryFailure: the task is redriven later (s3batch-facts §5)."""


@dataclass(frozen=True)
class RoleClients:
    """The clients a job's tasks use, signed as its role."""

    s3: S3Client
    lambda_client: LambdaClient | None


def _failure(exc: Exception) -> TaskOutcome:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500)
        code = str(error.get("Code") or status)
        # HEAD answers carry no body: botocore only knows the status.
        code = {"404": "NoSuchKey", "403": "AccessDenied"}.get(code, code)
        message = str(error.get("Message") or {"NoSuchKey": "The specified key does not exist."}.get(code, code))
        return TaskOutcome(False, status, code, message)
    return TaskOutcome(False, 500, "InternalError", f"{type(exc).__name__}: {exc}")


def _version(task: Task) -> dict[str, Any]:
    return {"VersionId": task.version_id} if task.version_id else {}


def _tag_set(tags: list[dict[str, str]] | None) -> list[dict[str, str]]:
    return [{"Key": tag["Key"], "Value": tag.get("Value", "")} for tag in tags or []]


def put_object_tagging(params: dict[str, Any], task: Task, clients: RoleClients, context: TaskContext) -> TaskOutcome:
    tagging: Any = {"TagSet": _tag_set(params.get("TagSet"))}
    response = clients.s3.put_object_tagging(Bucket=task.bucket, Key=task.key, Tagging=tagging, **_version(task))
    return TaskOutcome(True, 200, message=_result({"VersionId": response.get("VersionId")}))


def delete_object_tagging(
    params: dict[str, Any], task: Task, clients: RoleClients, context: TaskContext
) -> TaskOutcome:
    response = clients.s3.delete_object_tagging(Bucket=task.bucket, Key=task.key, **_version(task))
    return TaskOutcome(True, 204, message=_result({"VersionId": response.get("VersionId")}))


def put_object_copy(params: dict[str, Any], task: Task, clients: RoleClients, context: TaskContext) -> TaskOutcome:
    """CopyObject to `TargetResource` at `TargetKeyPrefix` + the key (the prefix as given)."""
    target_bucket = str(params["TargetResource"]).split(":::", 1)[-1].split(":", 1)[-1]
    target_bucket = target_bucket.removeprefix("bucket/")
    source: dict[str, str] = {"Bucket": task.bucket, "Key": task.key, **_version(task)}
    extra: dict[str, Any] = {}
    if params.get("StorageClass"):
        extra["StorageClass"] = params["StorageClass"]
    if params.get("CannedAccessControlList"):
        extra["ACL"] = params["CannedAccessControlList"]
    metadata = params.get("NewObjectMetadata") or {}
    if params.get("MetadataDirective") == "REPLACE":
        extra["MetadataDirective"] = "REPLACE"
        extra["Metadata"] = dict(metadata.get("UserMetadata") or {})
        if metadata.get("ContentType"):
            extra["ContentType"] = metadata["ContentType"]
    if params.get("NewObjectTagging"):
        extra["TaggingDirective"] = "REPLACE"
        extra["Tagging"] = "&".join(
            f"{tag['Key']}={tag.get('Value', '')}" for tag in _tag_set(params["NewObjectTagging"])
        )
    if params.get("SSEAwsKmsKeyId"):
        extra["ServerSideEncryption"] = "aws:kms"
        extra["SSEKMSKeyId"] = params["SSEAwsKmsKeyId"]
    response = clients.s3.copy_object(
        Bucket=target_bucket,
        Key=f"{params.get('TargetKeyPrefix', '')}{task.key}",
        CopySource=source,  # type: ignore[arg-type]
        **extra,
    )
    copied = response.get("CopyObjectResult", {})
    return TaskOutcome(
        True,
        200,
        message=_result(
            {
                "CopySourceVersionId": response.get("CopySourceVersionId"),
                "VersionId": response.get("VersionId"),
                "ETag": copied.get("ETag"),
            }
        ),
    )


@dataclass(frozen=True)
class TaskContext:
    """What a task knows of its job besides its own row."""

    job_id: str
    attempt: int


def lambda_event(params: dict[str, Any], task: Task, context: TaskContext) -> dict[str, Any]:
    """The invocation event (s3batch-facts §5): schema 1.0 names the bucket by ARN, 2.0 by name and adds the
    job's UserArguments; the key stays URL-encoded as in the manifest."""
    schema = str(params.get("InvocationSchemaVersion") or "1.0")
    if schema == "2.0":
        job: dict[str, Any] = {"id": context.job_id, "userArguments": dict(params.get("UserArguments") or {})}
        entry: dict[str, Any] = {"taskId": _task_id(), "s3Bucket": task.bucket, "s3Key": task.raw_key}
        entry["s3VersionId"] = task.version_id
    else:
        job = {"id": context.job_id}
        entry = {"taskId": _task_id(), "s3Key": task.raw_key, "s3VersionId": task.version_id}
        entry["s3BucketArn"] = f"arn:aws:s3:::{task.bucket}"
    return {"invocationSchemaVersion": schema, "invocationId": _invocation_id(), "job": job, "tasks": [entry]}


def _task_id() -> str:
    return uuid.uuid4().hex[:22]


def _invocation_id() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


def invoke_lambda(  # noqa: PLR0911 - one return per result code
    params: dict[str, Any], task: Task, clients: RoleClients, context: TaskContext
) -> TaskOutcome:
    if clients.lambda_client is None:
        return TaskOutcome(False, 500, "InternalError", "This emulator has no Lambda endpoint configured")
    event = lambda_event(params, task, context)
    response = clients.lambda_client.invoke(
        FunctionName=params["FunctionArn"], InvocationType="RequestResponse", Payload=json.dumps(event).encode()
    )
    payload = response["Payload"].read().decode("utf-8", errors="replace")
    if response.get("FunctionError"):
        # s3batch-facts §4: "Lambda returned function error: {...}" with HTTP 200 and PermanentFailure.
        return TaskOutcome(False, 200, PERMANENT_FAILURE, f"Lambda returned function error: {payload}")
    try:
        document = json.loads(payload)
        result = document["results"][0]
        code, text = result["resultCode"], result.get("resultString")
    except (ValueError, KeyError, IndexError, TypeError):
        return TaskOutcome(False, 200, PERMANENT_FAILURE, "Invalid JSON returned in Lambda payload")
    text = "" if text is None else str(text)
    if code == SUCCEEDED:
        return TaskOutcome(True, 200, "", text)
    if code == TEMPORARY_FAILURE:
        return TaskOutcome(False, 200, TEMPORARY_FAILURE, text, retry=True)
    if code == PERMANENT_FAILURE:
        return TaskOutcome(False, 200, PERMANENT_FAILURE, text)
    return TaskOutcome(False, 200, PERMANENT_FAILURE, f"Invalid resultCode returned in Lambda payload: {code}")


Runner = Callable[[dict[str, Any], Task, RoleClients, TaskContext], TaskOutcome]

RUNNERS: dict[str, Runner] = {
    "S3PutObjectTagging": put_object_tagging,
    "S3DeleteObjectTagging": delete_object_tagging,
    "S3PutObjectCopy": put_object_copy,
    "LambdaInvoke": invoke_lambda,
}


def run_task(
    operation: str, params: dict[str, Any], task: Task, clients: RoleClients, context: TaskContext
) -> TaskOutcome:
    """One task, its failures as outcomes (never raising)."""
    if task.version_id == "":
        # A null version in an all-versions inventory (s3batch-facts §3).
        return TaskOutcome(False, 400, "InvalidRequest", "Task failed due to missing VersionId")
    try:
        return RUNNERS[operation](params, task, clients, context)
    except (ClientError, BotoCoreError) as exc:
        return _failure(exc)


def _result(values: dict[str, Any]) -> str:
    present = {key: value for key, value in values.items() if value is not None}
    return json.dumps(present, separators=(",", ":")) if present else ""
