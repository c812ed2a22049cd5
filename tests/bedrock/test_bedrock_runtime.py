"""bedrock-runtime's InvokeModel and Converse on the Bedrock emulator, through boto3: answers identical to a batch
record of the same input, requests and responses checked against botocore's `bedrock-runtime` model, every
modelled error that applies raised as botocore raises it, the per-model invocation rate, and the admin API's
forced record errors failing a record N times (in a batch job and on demand) before it succeeds."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.loaders import create_loader
from botocore.model import ServiceModel

from bedrock_emulator.protocol import RUNTIME_OPERATIONS
from bedrock_emulator.runtime import RECORD_ID_METADATA_KEY
from bedrock_emulator.testing import CLAUDE_MODEL_ID, NOVA_MODEL_ID, Env, claude_input, nova_input, runtime_client
from emulator_core import model
from emulator_core.testing import FAKE_CREDENTIALS

RUNTIME = ServiceModel(create_loader().load_service_model("bedrock-runtime", "service-2"), "bedrock-runtime")
CONVERSE_MESSAGES = [{"role": "user", "content": [{"text": "Where is my refund?"}]}]
# A rate no test can exceed by waiting (one request per ~17 minutes): the first call is admitted, the next refused.
TRICKLE = 0.001


def _runtime(env: Env) -> Any:
    return runtime_client(env.emulator.endpoint_url)


def _batch_output(env: Env, lines: list[dict[str, Any]], **job: Any) -> dict[str, dict[str, Any]]:
    arn = env.create(env.put_input("in/batch.jsonl", lines), **job)
    env.emulator.run_until_done(arn)
    return {line["recordId"]: line for line in env.read_output(arn, "batch.jsonl.out")}


def _invoke(env: Env, model_input: Any, model_id: str = CLAUDE_MODEL_ID, record_id: str | None = None) -> Any:
    extra = {"requestMetadata": json.dumps({RECORD_ID_METADATA_KEY: record_id})} if record_id else {}
    response = _runtime(env).invoke_model(
        modelId=model_id,
        body=json.dumps(model_input),
        contentType="application/json",
        accept="application/json",
        **extra,
    )
    assert response["contentType"] == "application/json"
    return json.loads(response["body"].read())


def _error(call: Callable[[], object]) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    response: dict[str, Any] = dict(raised.value.response)
    return response


# --- answers ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model_id", "make"), [(CLAUDE_MODEL_ID, claude_input), (NOVA_MODEL_ID, nova_input)])
def test_invoke_model_answers_as_a_batch_record_of_the_same_input(env: Env, model_id: str, make: Any) -> None:
    lines = [
        {"recordId": "good", "modelInput": make("Summarise my order.", 12)},
        {"recordId": "empty", "modelInput": make("   ")},
    ]
    batch = _batch_output(env, lines, model_id=model_id)
    assert _invoke(env, lines[0]["modelInput"], model_id) == batch["good"]["modelOutput"]
    assert _invoke(env, lines[0]["modelInput"], model_id) == batch["good"]["modelOutput"]  # and on every call
    refused = _error(lambda: _invoke(env, lines[1]["modelInput"], model_id))
    assert (refused["Error"]["Code"], refused["ResponseMetadata"]["HTTPStatusCode"]) == ("ValidationException", 400)
    assert refused["Error"]["Message"] == batch["empty"]["error"]["errorMessage"]  # the batch line's own words
    assert "text content blocks must be non-empty" in refused["Error"]["Message"]


def test_invoke_model_without_content_type_or_accept_is_json(env: Env) -> None:
    body = json.dumps(claude_input("Hello"))
    response = _runtime(env).invoke_model(modelId=CLAUDE_MODEL_ID, body=body)
    assert json.loads(response["body"].read())["type"] == "message"


def test_converse_answers_as_a_converse_batch_record(env: Env) -> None:
    model_input = {"messages": CONVERSE_MESSAGES, "inferenceConfig": {"maxTokens": 9, "temperature": 0.2}}
    batch = _batch_output(env, [{"recordId": "c1", "modelInput": model_input}], modelInvocationType="Converse")
    answer = dict(_runtime(env).converse(modelId=CLAUDE_MODEL_ID, **model_input))
    answer.pop("ResponseMetadata")
    assert answer == batch["c1"]["modelOutput"]
    assert answer["usage"]["outputTokens"] <= 9
    system = _runtime(env).converse(
        modelId=NOVA_MODEL_ID, messages=CONVERSE_MESSAGES, system=[{"text": "Be brief."}], requestMetadata={"k": "v"}
    )
    assert system["output"]["message"]["role"] == "assistant" and system["stopReason"] in {"end_turn", "max_tokens"}


def test_the_runtime_accepts_foundation_model_arns_and_inference_profiles(env: Env) -> None:
    arn = f"arn:aws:bedrock:us-east-1::foundation-model/{CLAUDE_MODEL_ID}"
    batch = _batch_output(env, [{"recordId": "a1", "modelInput": claude_input("Hi")}], model_id=arn)
    assert _invoke(env, claude_input("Hi"), arn) == batch["a1"]["modelOutput"]  # the same model id, the same answer
    assert _invoke(env, claude_input("Hi"), "us." + CLAUDE_MODEL_ID)["type"] == "message"


# --- the model's checks and errors ------------------------------------------------------------------------------


def test_requests_are_checked_against_the_model(env: Env) -> None:
    make_client: Any = boto3.client
    no_validation = make_client(
        "bedrock-runtime",
        endpoint_url=env.emulator.endpoint_url,
        region_name="us-east-1",
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
        **FAKE_CREDENTIALS,
    )
    two_kinds = _error(
        lambda: no_validation.converse(
            modelId=CLAUDE_MODEL_ID,
            messages=[
                {"role": "user", "content": [{"text": "a", "image": {"format": "png", "source": {"bytes": b"x"}}}]}
            ],
        )
    )
    assert two_kinds["Error"]["Code"] == "ValidationException"
    assert "messages.1.content.1" in two_kinds["Error"]["Message"]
    too_many = _error(
        lambda: no_validation.converse(
            modelId=CLAUDE_MODEL_ID, messages=CONVERSE_MESSAGES, additionalModelResponseFieldPaths=["/a"] * 11
        )
    )
    assert "additionalModelResponseFieldPaths" in too_many["Error"]["Message"]
    assert "less than or equal to 10" in too_many["Error"]["Message"]


def test_converse_refuses_what_the_format_refuses(env: Env) -> None:
    refused = _error(
        lambda: _runtime(env).converse(
            modelId=CLAUDE_MODEL_ID, messages=[{"role": "assistant", "content": [{"text": "I start"}]}]
        )
    )
    assert refused["Error"]["Code"] == "ValidationException"
    assert "messages.0.role: the first message must use the user role" in refused["Error"]["Message"]


# bedrock-runtime's modelled errors of the two operations, each with how the emulator raises it, or why it cannot.
def _forced(code: int) -> Callable[[Env], None]:
    return lambda env: env.emulator.admin.add_record_error_rules([{"errorCode": code, "times": 1}])


def _spend_the_rate(env: Env) -> None:
    """The only request the rate admits now for the model the error cases call (both operations share it)."""
    env.emulator.admin.set_invocation_rate(TRICKLE)
    _invoke(env, claude_input("first"))


ERROR_SETUPS: dict[str, Callable[[Env], None]] = {
    "AccessDeniedException": lambda env: env.emulator.admin.deny_operations(list(RUNTIME_OPERATIONS)),
    "ThrottlingException": _spend_the_rate,
    "InternalServerException": lambda env: env.emulator.admin.inject_internal_errors(1),
    "ModelErrorException": _forced(502),
    "ModelTimeoutException": _forced(408),
    "ServiceUnavailableException": _forced(503),
    "ValidationException": _forced(400),
}
# Raised by the request itself rather than by a fault: what both calls change in their request.
ERROR_REQUESTS: dict[str, dict[str, Any]] = {
    "ResourceNotFoundException": {"modelId": "arn:aws:bedrock:us-east-1:123456789012:custom-model/a.b/abcdefabcdef"},
}
NOT_APPLICABLE = {
    "ModelNotReadyException": "only a model not yet deployed (an imported model) answers it; the emulator has none",
    "ServiceQuotaExceededException": "InvokeModel's account-level token quotas, which the per-model rate stands for",
}


CALLS: dict[str, Callable[[Env, dict[str, Any]], object]] = {
    "InvokeModel": lambda env, extra: _runtime(env).invoke_model(
        **{"modelId": CLAUDE_MODEL_ID, "body": json.dumps(claude_input("Hi")), **extra}
    ),
    "Converse": lambda env, extra: _runtime(env).converse(
        **{"modelId": CLAUDE_MODEL_ID, "messages": CONVERSE_MESSAGES, **extra}
    ),
}
CASES = [(op, error.name) for op in RUNTIME_OPERATIONS for error in RUNTIME.operation_model(op).error_shapes]


def test_every_modelled_error_is_raised_or_said_not_to_apply() -> None:
    listed = {error for _, error in CASES}
    assert listed == set(ERROR_SETUPS) | set(ERROR_REQUESTS) | set(NOT_APPLICABLE)


@pytest.mark.parametrize(("operation", "error"), [case for case in CASES if case[1] not in NOT_APPLICABLE])
def test_every_modelled_error(env: Env, operation: str, error: str) -> None:
    if error in ERROR_SETUPS:
        ERROR_SETUPS[error](env)
    response = _error(lambda: CALLS[operation](env, ERROR_REQUESTS.get(error, {})))
    assert response["Error"]["Code"] == error
    if error == "AccessDeniedException":
        assert "bedrock:InvokeModel" in response["Error"]["Message"]  # Converse's action too
    status = RUNTIME.shape_for(error).metadata["error"]["httpStatusCode"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert response["Error"]["Message"]


def test_a_model_error_carries_the_original_status_and_the_model(env: Env) -> None:
    env.emulator.admin.add_record_error_rules([{"errorCode": 502, "errorMessage": "upstream broke"}])
    response = _error(lambda: _invoke(env, claude_input("Hi")))
    assert response["Error"] == {"Code": "ModelErrorException", "Message": "upstream broke"}
    assert (response["originalStatusCode"], response["resourceName"]) == (502, CLAUDE_MODEL_ID)


def test_requests_the_emulator_cannot_answer_say_why(env: Env) -> None:
    unknown = _error(lambda: _invoke(env, {"prompt": "x"}, "meta.llama3-8b-instruct-v1:0"))
    assert (
        unknown["Error"]["Code"] == "ValidationException"
        and "model identifier is invalid" in unknown["Error"]["Message"]
    )
    not_json = _error(lambda: _runtime(env).invoke_model(modelId=CLAUDE_MODEL_ID, body=b"{not json"))
    assert "the body is not JSON" in not_json["Error"]["Message"]
    text = _error(lambda: _runtime(env).invoke_model(modelId=CLAUDE_MODEL_ID, body=b"{}", contentType="text/plain"))
    assert "contentType 'text/plain' is not supported" in text["Error"]["Message"]
    guarded = _error(
        lambda: _runtime(env).converse(
            modelId=CLAUDE_MODEL_ID,
            messages=CONVERSE_MESSAGES,
            guardrailConfig={"guardrailIdentifier": "abc123", "guardrailVersion": "1"},
        )
    )
    assert guarded["Error"]["Code"] == "ResourceNotFoundException" and "abc123" in guarded["Error"]["Message"]
    metadata = _error(
        lambda: _runtime(env).invoke_model(modelId=CLAUDE_MODEL_ID, body=b"{}", requestMetadata="not json")
    )
    assert "requestMetadata must be a JSON object" in metadata["Error"]["Message"]


# --- throttling -------------------------------------------------------------------------------------------------


def test_the_invocation_rate_throttles_each_model_on_its_own(env: Env) -> None:
    env.emulator.admin.set_invocation_rate(TRICKLE)
    assert _invoke(env, claude_input("first"))["type"] == "message"
    throttled = _error(lambda: _invoke(env, claude_input("second")))
    assert (throttled["Error"]["Code"], throttled["ResponseMetadata"]["HTTPStatusCode"]) == ("ThrottlingException", 429)
    assert "output" in _runtime(env).converse(modelId=NOVA_MODEL_ID, messages=CONVERSE_MESSAGES)  # its own bucket
    assert env.emulator.admin.state()["invocationThrottling"]["throttledRequests"] == 1
    # Batch jobs are not on-demand calls: the rate leaves them alone, and so does the control plane.
    batch = _batch_output(env, [{"recordId": "b1", "modelInput": claude_input("second")}])
    assert "modelOutput" in batch["b1"]
    env.emulator.admin.set_invocation_rate(None)
    assert _invoke(env, claude_input("second"))["type"] == "message"


def test_a_model_can_have_its_own_rate_over_http(env: Env) -> None:
    url = f"{env.emulator.endpoint_url}/_bedrock/admin/invocation-throttling"
    set_rate = requests.post(url, json={"requestsPerSecond": TRICKLE, "modelId": NOVA_MODEL_ID}, timeout=10)
    assert set_rate.status_code == 200
    assert set_rate.json()["invocationThrottling"]["rates"] == [
        {"modelId": NOVA_MODEL_ID, "requestsPerSecond": TRICKLE}
    ]
    _runtime(env).converse(modelId=NOVA_MODEL_ID, messages=CONVERSE_MESSAGES)
    nova = _error(lambda: _runtime(env).converse(modelId=NOVA_MODEL_ID, messages=CONVERSE_MESSAGES))
    assert nova["Error"]["Code"] == "ThrottlingException"
    for _ in range(3):
        _invoke(env, claude_input("unthrottled"))  # another model has no rate
    bad = requests.post(url, json={"requestsPerSecond": 0}, timeout=10)
    assert bad.status_code == 400 and "requestsPerSecond" in bad.json()["message"]
    assert requests.post(url, json={}, timeout=10).status_code == 400


# --- forced record errors: N failures, then success --------------------------------------------------------------


def test_a_record_refused_once_in_its_batch_job_succeeds_on_demand(env: Env) -> None:
    lines = [{"recordId": f"r{index}", "modelInput": claude_input(f"Question {index}")} for index in range(3)]
    clean = _batch_output(env, lines)
    env.emulator.admin.set_record_errors({"r1": {"errorCode": 429, "times": 1}})
    first = _batch_output(env, lines)
    assert first["r1"]["error"] == {
        "errorCode": 429,
        "errorMessage": "Too many requests, please wait before trying again.",
    }
    assert "modelOutput" in first["r0"] and "modelOutput" in first["r2"]
    retried = _invoke(env, lines[1]["modelInput"], record_id="r1")
    assert retried == clean["r1"]["modelOutput"]  # the answer the record would have had
    assert env.emulator.admin.state()["recordErrors"][0]["remaining"] == 0


def test_a_record_fails_on_demand_as_many_times_as_asked_then_succeeds(env: Env) -> None:
    env.emulator.admin.set_record_errors({"r7": {"errorCode": 500, "times": 2}})
    model_input = claude_input("Retry me")
    codes = []
    for _ in range(2):
        codes.append(_error(lambda: _invoke(env, model_input, record_id="r7"))["Error"]["Code"])
    assert codes == ["InternalServerException", "InternalServerException"]
    assert _invoke(env, model_input, record_id="r7")["type"] == "message"
    assert _invoke(env, model_input)["type"] == "message"  # another request (no recordId) was never matched
    converse = _runtime(env).converse(
        modelId=CLAUDE_MODEL_ID, messages=CONVERSE_MESSAGES, requestMetadata={RECORD_ID_METADATA_KEY: "r7"}
    )
    assert "output" in converse


def test_the_admin_state_counts_each_records_on_demand_calls(env: Env) -> None:
    env.emulator.admin.set_record_errors({"r3": {"errorCode": 503, "times": 1}})
    env.emulator.admin.set_invocation_rate(TRICKLE)
    model_input = claude_input("Count me")
    _error(lambda: _invoke(env, model_input, record_id="r3"))  # refused by the forced error: the model ran
    assert _error(lambda: _invoke(env, model_input, record_id="r3"))["Error"]["Code"] == "ThrottlingException"
    env.emulator.admin.set_invocation_rate(None)
    _invoke(env, model_input, record_id="r3")
    _invoke(env, model_input, record_id="r4")
    _invoke(env, model_input)  # names no record
    _batch_output(env, [{"recordId": "r4", "modelInput": model_input}])  # a batch record is no on-demand call
    # The throttled call never reached the model; the others did, once each.
    assert env.emulator.admin.state()["recordInvocations"] == {"r3": 2, "r4": 1}


def test_rules_match_by_prompt_text_and_model_in_jobs_and_on_demand(env: Env) -> None:
    env.emulator.admin.add_record_error_rules(
        [
            {"promptContains": "refund", "modelId": NOVA_MODEL_ID, "errorCode": 503, "times": 1},
            {"promptContains": "refund", "errorCode": 400, "errorMessage": "refused"},
        ]
    )
    lines = [
        {"recordId": "n1", "modelInput": nova_input("A refund please")},
        {"recordId": "n2", "modelInput": nova_input("Another refund")},
        {"recordId": "n3", "modelInput": nova_input("Hello")},
    ]
    nova = _batch_output(env, lines, model_id=NOVA_MODEL_ID)
    assert [nova[record]["error"]["errorCode"] for record in ("n1", "n2")] == [503, 400]  # the first rule is spent
    assert "modelOutput" in nova["n3"]
    claude = _error(lambda: _runtime(env).converse(modelId=CLAUDE_MODEL_ID, messages=CONVERSE_MESSAGES))
    assert claude["Error"] == {"Code": "ValidationException", "Message": "refused"}  # every time, any model
    state = env.emulator.admin.state()["recordErrors"]
    assert [(rule["remaining"], rule["applied"]) for rule in state] == [(0, 1), (None, 2)]


def test_rules_over_http_are_checked(env: Env) -> None:
    url = f"{env.emulator.endpoint_url}/_bedrock/admin/record-error-rules"
    good = requests.post(url, json={"rules": [{"recordId": "x", "errorCode": 503, "times": 3}]}, timeout=10)
    assert good.status_code == 200
    assert good.json()["recordErrors"][0]["remaining"] == 3
    for bad, named in (
        ({"rules": [{"errorCode": 503, "times": 0}]}, "times"),
        ({"rules": [{"errorCode": 99}]}, "errorCode"),
        ({"rules": [{"errorCode": 500, "prompt": "x"}]}, "unknown members ['prompt']"),
        ({"rules": []}, "non-empty list"),
        ({}, "rules is required"),
    ):
        response = requests.post(url, json=bad, timeout=10)
        assert response.status_code == 400 and named in response.json()["message"], bad
    assert len(env.emulator.admin.state()["recordErrors"]) == 1  # nothing added by a refused call


def test_responses_match_the_output_shapes(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, dict[str, Any]]] = []
    handle = env.emulator.runtime.handle

    def recording(name: str, params: dict[str, Any]) -> dict[str, Any]:
        response = handle(name, params)
        sent.append((name, response))
        return response

    monkeypatch.setattr(env.emulator.runtime, "handle", recording)
    for operation in RUNTIME_OPERATIONS:
        CALLS[operation](env, {})
        name, raw = sent[-1]
        assert name == operation
        assert model.response_errors(RUNTIME.operation_model(operation), raw) == []
