"""The automatic retries' bedrock-runtime adapter against botocore's bedrock-runtime model (Stubber): a record's
answer, and each refusal as the errorCode a batch output line would carry."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from job_tracker.adapters.retry_services import BedrockModelRuntime
from job_tracker.bedrock_retries import RuntimeRecordError, RuntimeThrottled

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
INPUT = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def runtime() -> tuple[Any, Stubber]:
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    return client, Stubber(client)


def test_invoke_model_sends_the_record_s_model_input_and_names_the_record() -> None:
    client, stub = runtime()
    body = json.dumps({"content": [{"type": "text", "text": "hello"}]}).encode()
    stub.add_response(
        "invoke_model",
        {"body": StreamingBody(io.BytesIO(body), len(body)), "contentType": "application/json"},
        {
            "modelId": MODEL,
            "body": json.dumps(INPUT).encode(),
            "contentType": "application/json",
            "accept": "application/json",
            "requestMetadata": json.dumps({"recordId": "r1"}),
        },
    )
    with stub:
        assert BedrockModelRuntime(client).run(MODEL, "InvokeModel", INPUT, "r1") == json.loads(body)


def test_converse_takes_the_model_input_s_members() -> None:
    client, stub = runtime()
    converse_input = {"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"maxTokens": 8}}
    answer = {
        "output": {"message": {"role": "assistant", "content": [{"text": "hello"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
        "metrics": {"latencyMs": 1},
    }
    stub.add_response("converse", answer, {"modelId": MODEL, "requestMetadata": {"recordId": "r2"}, **converse_input})
    with stub:
        assert BedrockModelRuntime(client).run(MODEL, "Converse", converse_input, "r2") == answer


@pytest.mark.parametrize(
    ("code", "status", "extra", "expected"),
    [
        ("ValidationException", 400, {}, 400),
        ("ServiceUnavailableException", 503, {}, 503),
        ("InternalServerException", 500, {}, 500),
        ("ModelErrorException", 424, {"originalStatusCode": 500}, 500),
        ("ModelErrorException", 424, {}, 424),
    ],
)
def test_a_refusal_is_the_record_s_error_code(code: str, status: int, extra: dict[str, Any], expected: int) -> None:
    client, stub = runtime()
    stub.add_client_error(
        "invoke_model",
        service_error_code=code,
        service_message="no",
        http_status_code=status,
        response_meta=None,
        modeled_fields=extra or None,
    )
    with stub, pytest.raises(RuntimeRecordError) as raised:
        BedrockModelRuntime(client).run(MODEL, "InvokeModel", INPUT, "r1")
    assert raised.value.code == expected and not isinstance(raised.value, RuntimeThrottled)
    assert code in raised.value.message


def test_throttling_is_told_apart_for_the_dispatcher_s_backoff() -> None:
    client, stub = runtime()
    stub.add_client_error("invoke_model", service_error_code="ThrottlingException", http_status_code=429)
    with stub, pytest.raises(RuntimeThrottled) as raised:
        BedrockModelRuntime(client).run(MODEL, "InvokeModel", INPUT, "r1")
    assert raised.value.code == 429
