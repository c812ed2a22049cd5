"""The AWS calls of the automatic retries (bedrock_retries.py): Bedrock's job API, bedrock-runtime, S3 writes and
the settled event, each behind the small interface the domain module declares."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from job_tracker.adapters.bedrock import _translate
from job_tracker.bedrock_retries import RuntimeRecordError, RuntimeThrottled
from job_tracker.errors import BedrockUnavailable
from job_tracker.models import S3Location

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client

# bedrock-runtime's exceptions as a batch output line's errorCode (their HTTP status in botocore's model); a
# ModelErrorException carries the model's own status in originalStatusCode.
RUNTIME_ERROR_CODES = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelNotReadyException": 429,
    "ServiceQuotaExceededException": 400,
    "ModelErrorException": 424,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}
SETTLED_DETAIL_TYPE = "Bedrock Job Records Settled"


class BedrockRetryJobs:
    def __init__(self, client: BedrockClient) -> None:
        self._client = client

    def describe(self, job_id: str) -> dict[str, Any]:
        try:
            return dict(self._client.get_model_invocation_job(jobIdentifier=job_id))
        except ClientError as error:
            raise _translate(error, f"model invocation job {job_id}", "GetModelInvocationJob") from error
        except BotoCoreError as error:
            raise BedrockUnavailable(f"could not reach Bedrock describing job {job_id}: {error}") from error

    def create(self, request: dict[str, Any]) -> str:
        try:
            return str(self._client.create_model_invocation_job(**request)["jobArn"])
        except ClientError as error:
            raise _translate(
                error, f"a retry job named {request.get('jobName')}", "CreateModelInvocationJob"
            ) from error
        except BotoCoreError as error:
            raise BedrockUnavailable(f"could not reach Bedrock creating a retry job: {error}") from error


class BedrockModelRuntime:
    """One record through InvokeModel (its body the record's modelInput) or Converse (the modelInput's members
    as the request), naming the record in the request metadata as invocation logs do."""

    def __init__(self, client: BedrockRuntimeClient) -> None:
        self._client = client

    def run(self, model_id: str, invocation_type: str, model_input: dict[str, Any], record_id: str) -> Any:
        try:
            if invocation_type == "Converse":
                response: dict[str, Any] = dict(
                    self._client.converse(modelId=model_id, requestMetadata={"recordId": record_id}, **model_input)
                )
                response.pop("ResponseMetadata", None)
                return response
            answer = self._client.invoke_model(
                modelId=model_id,
                body=json.dumps(model_input).encode(),
                contentType="application/json",
                accept="application/json",
                requestMetadata=json.dumps({"recordId": record_id}),
            )
            return json.loads(answer["body"].read())
        except ClientError as error:
            details = error.response.get("Error", {})
            code, message = str(details.get("Code", "")), str(details.get("Message", ""))
            if code == "ThrottlingException":
                raise RuntimeThrottled(message) from error
            original = error.response.get("originalStatusCode")
            status = original if isinstance(original, int) else RUNTIME_ERROR_CODES.get(code)
            if status is None:
                status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
            raise RuntimeRecordError(status, f"{code}: {message}") from error
        except (BotoCoreError, ValueError) as error:
            raise RuntimeRecordError(500, f"bedrock-runtime gave no usable answer: {error}") from error


class S3ObjectWriter:
    def __init__(self, client: S3Client) -> None:
        self._client = client

    def put(self, location: S3Location, body: bytes, metadata: Mapping[str, str], kms_key_id: str | None) -> None:
        encryption: dict[str, Any] = (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id} if kms_key_id else {}
        )
        self._client.put_object(
            Bucket=location.bucket,
            Key=location.key,
            Body=body,
            ContentType="application/jsonl",
            Metadata=dict(metadata),
            **encryption,
        )


class EventBridgeSettledEvents:
    def __init__(self, client: EventBridgeClient, source: str) -> None:
        self._client = client
        self._source = source

    def settled(self, detail: Mapping[str, Any]) -> None:
        response = self._client.put_events(
            Entries=[{"Source": self._source, "DetailType": SETTLED_DETAIL_TYPE, "Detail": json.dumps(detail)}]
        )
        if response.get("FailedEntryCount"):
            raise BedrockUnavailable(f"EventBridge refused the settled event: {response.get('Entries')}")
