"""A property-based sweep of Converse and InvokeModel requests: whatever the emulator answers on demand is what
`formats` answers a batch record of the same model id and input, or the same refusal as a ValidationException,
never an emulator fault (a response outside the model would come back as an InternalServerException)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bedrock_emulator import BedrockEmulator, formats
from bedrock_emulator.testing import CLAUDE_MODEL_ID, NOVA_MODEL_ID, runtime_client

MODELS = st.sampled_from([CLAUDE_MODEL_ID, NOVA_MODEL_ID])
TEXTS = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
ROLE_ORDER = ("user", "assistant")
ROLES = st.sampled_from(ROLE_ORDER)
ANY_MESSAGES = st.lists(
    st.fixed_dictionaries({"role": ROLES, "content": st.lists(st.fixed_dictionaries({"text": TEXTS}), max_size=2)}),
    max_size=3,
)
# Conversations a model takes (user first, roles alternating, text in every block), so that answers are swept too.
CONVERSATIONS = st.lists(
    st.lists(st.fixed_dictionaries({"text": TEXTS.filter(str.strip)}), min_size=1, max_size=2), min_size=1, max_size=3
).map(lambda turns: [{"role": ROLE_ORDER[index % 2], "content": blocks} for index, blocks in enumerate(turns)])
MESSAGES = st.one_of(CONVERSATIONS, ANY_MESSAGES)
INFERENCE = st.fixed_dictionaries(
    {},
    optional={
        "maxTokens": st.integers(min_value=1, max_value=80),
        "temperature": st.floats(min_value=0, max_value=1),
        "topP": st.floats(min_value=0, max_value=1),
        "stopSequences": st.lists(TEXTS.filter(bool), max_size=2),
    },
)


@pytest.fixture(scope="module")
def runtime() -> Iterator[Any]:
    with BedrockEmulator() as emulator:
        yield runtime_client(emulator.endpoint_url)


def _expected(model_id: str, family: formats.Family, model_input: Any) -> tuple[str, Any]:
    """What a batch record of this input gets: ("answer", modelOutput) or ("refused", errorMessage)."""
    try:
        return "answer", formats.process(family, model_id, model_input)[0]
    except formats.InvalidModelInput as refused:
        return "refused", str(refused)


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "answer", call()
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ValidationException", error.response
        return "refused", error.response["Error"]["Message"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model_id=MODELS, messages=MESSAGES, inference=INFERENCE)
def test_converse_answers_or_refuses_as_a_converse_record(
    runtime: Any, model_id: str, messages: list[Any], inference: dict[str, Any]
) -> None:
    model_input: dict[str, Any] = {"messages": messages, **({"inferenceConfig": inference} if inference else {})}

    def call() -> Any:
        response = dict(runtime.converse(modelId=model_id, **model_input))
        response.pop("ResponseMetadata")
        return response

    kind, found = _outcome(call)
    expected_kind, expected = _expected(model_id, formats.CONVERSE, model_input)
    if kind == "refused" and expected_kind == "answer":
        # botocore's model refuses before the format does (e.g. an empty message list): named by its member.
        assert "validation error" in found
        return
    assert (kind, found) == (expected_kind, expected)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=MESSAGES, max_tokens=st.one_of(st.integers(min_value=-1, max_value=80), st.just("8")))
def test_invoke_model_answers_or_refuses_as_a_claude_record(runtime: Any, messages: list[Any], max_tokens: Any) -> None:
    model_input = {
        "anthropic_version": formats.CLAUDE_VERSION,
        "max_tokens": max_tokens,
        "messages": [
            {"role": message["role"], "content": [{"type": "text", **block} for block in message["content"]]}
            for message in messages
        ],
    }

    def call() -> Any:
        response = runtime.invoke_model(modelId=CLAUDE_MODEL_ID, body=json.dumps(model_input))
        return json.loads(response["body"].read())

    assert _outcome(call) == _expected(CLAUDE_MODEL_ID, formats.CLAUDE, model_input)
