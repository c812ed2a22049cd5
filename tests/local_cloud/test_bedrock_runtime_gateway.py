"""bedrock-runtime through the local cloud's gateway: its calls sign as `bedrock`, so they reach the Bedrock
emulator by signing name like the batch API, and the caller is held to `bedrock:InvokeModel` on the model (for
InvokeModel and Converse alike), refused as AWS refuses before the emulator sees the call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bedrock_emulator import BedrockEmulator, Pacing
from bedrock_emulator.testing import CLAUDE_MODEL_ID, NOVA_MODEL_ID, claude_input
from local_cloud.cloud import LocalCloud
from local_cloud.iam_requests import AwsRequest, Scope, requirements
from local_cloud.identity import RoleSession
from tests.local_cloud.iam_roles import Roles, allow

pytestmark = pytest.mark.xdist_group("local_cloud")

MESSAGES = [{"role": "user", "content": [{"text": "Where is my refund?"}]}]
ONE_ATTEMPT = Config(retries={"total_max_attempts": 1})


@pytest.fixture
def bedrock(cloud: LocalCloud) -> Iterator[BedrockEmulator]:
    with BedrockEmulator(region=cloud.region, account_id=cloud.account_id, pacing=Pacing.manual_steps()) as emulator:
        cloud.gateway.route_signed_service("bedrock", emulator.endpoint_url)
        yield emulator


def _error(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    response: dict[str, Any] = dict(raised.value.response)
    return response


def test_a_callers_runtime_calls_need_invoke_model_on_the_model(
    cloud: LocalCloud, roles: Roles, bedrock: BedrockEmulator
) -> None:
    claude = f"arn:aws:bedrock:{cloud.region}::foundation-model/{CLAUDE_MODEL_ID}"
    caller = roles.add(allow("bedrock:InvokeModel", claude))
    client = roles.client("bedrock-runtime", caller, config=ONE_ATTEMPT)
    answered = json.loads(
        client.invoke_model(modelId=CLAUDE_MODEL_ID, body=json.dumps(claude_input("Hi")))["body"].read()
    )
    direct = json.loads(
        cloud.client("bedrock-runtime")
        .invoke_model(modelId=CLAUDE_MODEL_ID, body=json.dumps(claude_input("Hi")))["body"]
        .read()
    )
    assert answered == direct and answered["type"] == "message"
    assert "output" in client.converse(modelId=CLAUDE_MODEL_ID, messages=MESSAGES)  # Converse is InvokeModel too

    bedrock.admin.add_record_error_rules([{"errorCode": 500}])  # would fail any call that reached the emulator
    for call in (
        lambda: client.converse(modelId=NOVA_MODEL_ID, messages=MESSAGES),
        lambda: client.invoke_model(modelId=NOVA_MODEL_ID, body=b"{}"),
    ):
        denied = _error(call)
        assert (denied["Error"]["Code"], denied["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDeniedException", 403)
        assert (
            f"bedrock:InvokeModel on resource: arn:aws:bedrock:{cloud.region}::foundation-model/{NOVA_MODEL_ID}"
            in (denied["Error"]["Message"])
        )
    assert bedrock.admin.state()["recordErrors"][0]["applied"] == 0  # the refused calls never reached the service


def test_the_emulators_runtime_errors_reach_the_caller_through_the_gateway(
    cloud: LocalCloud, bedrock: BedrockEmulator
) -> None:
    bedrock.admin.set_record_errors({"r1": {"errorCode": 429, "times": 1}})
    client = cloud.client("bedrock-runtime", config=ONE_ATTEMPT)
    request = {"modelId": CLAUDE_MODEL_ID, "messages": MESSAGES, "requestMetadata": {"recordId": "r1"}}
    throttled = _error(lambda: client.converse(**request))
    assert (throttled["Error"]["Code"], throttled["ResponseMetadata"]["HTTPStatusCode"]) == ("ThrottlingException", 429)
    assert "output" in client.converse(**request)  # once, then it succeeds


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        (f"/model/{CLAUDE_MODEL_ID.replace(':', '%3A')}/invoke", f"::foundation-model/{CLAUDE_MODEL_ID}"),
        (f"/model/{NOVA_MODEL_ID}/converse", f"::foundation-model/{NOVA_MODEL_ID}"),
        (
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Famazon.nova-micro-v1%3A0/invoke",
            f"::foundation-model/{NOVA_MODEL_ID}",
        ),
        (f"/model/us.{CLAUDE_MODEL_ID}/converse", f":123456789012:inference-profile/us.{CLAUDE_MODEL_ID}"),
    ],
)
def test_what_each_runtime_call_needs(path: str, resource: str) -> None:
    headers = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request, Signature=x"}
    session = RoleSession("arn:aws:iam::123456789012:role/caller", "s")
    scope = Scope("us-east-1", "123456789012")
    found = requirements(AwsRequest.create("POST", path, headers, b"{}"), session, scope, lambda *_: None)
    assert isinstance(found, list)
    assert [(item.action, item.resource) for item in found] == [
        ("bedrock:InvokeModel", f"arn:aws:bedrock:us-east-1{resource}")
    ]
    other = requirements(AwsRequest.create("GET", path, headers), session, scope, lambda *_: None)
    assert not isinstance(other, list)  # not an operation: not attributed, so denied
