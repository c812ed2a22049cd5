"""Records: each answered from its content in its model family's format, errors naming the field, generated
recordIds, the output files, their order, the manifest and SSE-KMS."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bedrock_emulator.testing import CLAUDE_MODEL_ID, NOVA_MODEL_ID, Env, claude_input, nova_input, records


def run(env: Env, lines: list[dict[str, Any]], **job: Any) -> tuple[str, dict[str, dict[str, Any]]]:
    arn = env.create(env.put_input("in/batch.jsonl", lines), **job)
    env.emulator.run_until_done(arn)
    output = env.read_output(arn, "batch.jsonl.out")
    return arn, {line["recordId"]: line for line in output}


def test_claude_records_get_a_messages_response_with_usage(env: Env) -> None:
    _arn, out = run(env, records(2))
    answer = out["rec00000"]["modelOutput"]
    assert answer["type"] == "message" and answer["role"] == "assistant"
    assert answer["content"][0]["type"] == "text" and answer["content"][0]["text"]
    assert answer["stop_reason"] in {"end_turn", "max_tokens"}
    assert answer["usage"]["input_tokens"] > 0 and 0 < answer["usage"]["output_tokens"] <= 64
    assert out["rec00000"]["modelInput"] == records(1)[0]["modelInput"]  # the input is copied into the output
    assert answer != out["rec00001"]["modelOutput"]  # the answer comes from the content


def test_the_answer_is_deterministic(env: Env) -> None:
    _, first = run(env, records(3))
    _, second = run(env, records(3))
    assert {rid: line["modelOutput"] for rid, line in first.items()} == {
        rid: line["modelOutput"] for rid, line in second.items()
    }


def test_max_tokens_caps_the_output(env: Env) -> None:
    _, out = run(env, [{"recordId": "short", "modelInput": claude_input("Tell me everything.", max_tokens=1)}])
    answer = out["short"]["modelOutput"]
    assert answer["usage"]["output_tokens"] == 1
    assert answer["stop_reason"] == "max_tokens"


def test_nova_records_get_a_nova_response(env: Env) -> None:
    _, out = run(env, records(2, nova_input), model_id=NOVA_MODEL_ID)
    answer = out["rec00001"]["modelOutput"]
    assert answer["output"]["message"]["role"] == "assistant"
    assert answer["output"]["message"]["content"][0]["text"]
    usage = answer["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert answer["stopReason"] in {"end_turn", "max_tokens"}


def test_converse_jobs_take_the_converse_format(env: Env) -> None:
    converse = {"messages": [{"role": "user", "content": [{"text": "Hi"}]}], "inferenceConfig": {"maxTokens": 5}}
    _, out = run(
        env,
        [{"recordId": "c", "modelInput": converse}, {"recordId": "claude-style", "modelInput": claude_input("x")}],
        modelInvocationType="Converse",
    )
    assert out["c"]["modelOutput"]["usage"]["outputTokens"] <= 5
    assert "metrics" in out["c"]["modelOutput"]
    assert "extraneous key [anthropic_version]" in out["claude-style"]["error"]["errorMessage"]


@pytest.mark.parametrize(
    ("model_input", "field"),
    [
        ({**claude_input("x"), "max_tokens": "ten"}, "max_tokens"),
        ({**claude_input("x"), "anthropic_version": "2023-01-01"}, "anthropic_version"),
        ({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5}, "[messages]"),
        ({**claude_input("x"), "messages": [{"role": "bot", "content": "hi"}]}, "messages.0.role"),
        ({**claude_input("x"), "messages": [{"role": "assistant", "content": "hi"}]}, "messages.0.role"),
        (
            {**claude_input("x"), "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]},
            "messages.0.content.0.text",
        ),
        ({**claude_input("x"), "temperature": 3}, "temperature"),
        ({**claude_input("x"), "prompt": "Human: hi"}, "[prompt]"),
    ],
)
def test_invalid_claude_input_is_a_record_error_naming_the_field(env: Env, model_input: Any, field: str) -> None:
    arn, out = run(env, [{"recordId": "bad", "modelInput": model_input}, *records(1)])
    error = out["bad"]["error"]
    assert error["errorCode"] == 400
    assert field in error["errorMessage"]
    assert "modelOutput" not in out["bad"]
    assert "modelOutput" in out["rec00000"]  # one bad record does not fail the others
    job = env.client.get_model_invocation_job(jobIdentifier=arn)
    assert (job["status"], job["successRecordCount"], job["errorRecordCount"]) == ("Completed", 1, 1)


@pytest.mark.parametrize(
    ("model_input", "field"),
    [
        ({"messages": [{"role": "user", "content": "plain string"}]}, "messages.0.content"),
        ({**nova_input("x"), "inferenceConfig": {"max_new_tokens": 0}}, "inferenceConfig.max_new_tokens"),
        ({**nova_input("x"), "inferenceConfig": {"maxTokens": 10}}, "[maxTokens]"),
        ({**nova_input("x"), "system": [{"text": 5}]}, "system.0.text"),
        ({**nova_input("x"), "schemaVersion": "messages-v2"}, "schemaVersion"),
    ],
)
def test_invalid_nova_input_is_a_record_error_naming_the_field(env: Env, model_input: Any, field: str) -> None:
    _, out = run(env, [{"recordId": "bad", "modelInput": model_input}], model_id=NOVA_MODEL_ID)
    assert out["bad"]["error"]["errorCode"] == 400
    assert field in out["bad"]["error"]["errorMessage"]


def test_a_record_without_record_id_gets_an_11_character_one(env: Env) -> None:
    lines = [{"modelInput": claude_input(f"p{index}")} for index in range(3)]
    _, out = run(env, lines)
    assert len(out) == 3
    for record_id in out:
        assert re.fullmatch(r"[A-Z0-9]{11}", record_id)


def test_output_lines_come_in_another_order_than_the_input(env: Env) -> None:
    lines = records(20)
    arn = env.create(env.put_input("in/batch.jsonl", lines))
    env.emulator.run_until_done(arn)
    output = env.read_output(arn, "batch.jsonl.out")
    assert sorted(line["recordId"] for line in output) == [line["recordId"] for line in lines]
    assert [line["recordId"] for line in output] != [line["recordId"] for line in lines]


def test_one_output_file_per_input_file_and_a_manifest(env: Env) -> None:
    env.put_input("in/part-1.jsonl", records(2, prefix="a"))
    env.put_input("in/nested/part-2.jsonl", records(3, prefix="b"))
    env.s3.put_object(Bucket=env.input_bucket, Key="in/notes.txt", Body=b"ignored: not .jsonl")
    arn = env.create(f"s3://{env.input_bucket}/in/")
    env.emulator.run_until_done(arn)
    assert env.output_keys(arn) == ["manifest.json.out", "nested/part-2.jsonl.out", "part-1.jsonl.out"]
    assert {line["recordId"] for line in env.read_output(arn, "part-1.jsonl.out")} == {"a00000", "a00001"}
    manifest = env.read_output(arn, "manifest.json.out")[0]
    lines = env.read_output(arn, "part-1.jsonl.out") + env.read_output(arn, "nested/part-2.jsonl.out")
    assert manifest == {
        "totalRecordCount": 5,
        "processedRecordCount": 5,
        "successRecordCount": 5,
        "errorRecordCount": 0,
        "inputTokenCount": sum(line["modelOutput"]["usage"]["input_tokens"] for line in lines),
        "outputTokenCount": sum(line["modelOutput"]["usage"]["output_tokens"] for line in lines),
    }


def test_a_prefix_without_a_slash_and_a_single_file(env: Env) -> None:
    env.put_input("data/one.jsonl", records(1, prefix="one"))
    env.put_input("data/two.jsonl", records(1, prefix="two"))
    folder = env.create(f"s3://{env.input_bucket}/data")
    single = env.create(f"s3://{env.input_bucket}/data/two.jsonl")
    env.emulator.run_until_done()
    assert env.output_keys(folder) == ["manifest.json.out", "one.jsonl.out", "two.jsonl.out"]
    assert env.output_keys(single) == ["manifest.json.out", "two.jsonl.out"]


def test_output_is_encrypted_with_the_given_kms_key(env: Env) -> None:
    uri = env.put_input("in/batch.jsonl", records(1))
    args = env.job_args(uri)
    args["outputDataConfig"]["s3OutputDataConfig"]["s3EncryptionKeyId"] = env.kms_key_id
    arn = env.client.create_model_invocation_job(**args)["jobArn"]
    env.emulator.run_until_done(arn)
    for name in ("batch.jsonl.out", "manifest.json.out"):
        head = env.head_output(arn, name)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"].endswith(env.kms_key_id)
    plain = env.create(uri)
    env.emulator.run_until_done(plain)
    assert env.head_output(plain, "batch.jsonl.out").get("ServerSideEncryption") != "aws:kms"


def test_forced_record_errors(env: Env) -> None:
    env.emulator.admin.set_record_errors({"rec00001": {"errorCode": 429, "errorMessage": "Too many tokens"}})
    arn, out = run(env, records(3))
    assert out["rec00001"]["error"] == {"errorCode": 429, "errorMessage": "Too many tokens"}
    assert "modelOutput" in out["rec00000"] and "modelOutput" in out["rec00002"]
    assert env.client.get_model_invocation_job(jobIdentifier=arn)["errorRecordCount"] == 1


def test_an_unwritable_output_location_fails_the_job(env: Env) -> None:
    args = env.job_args(env.put_input("in/batch.jsonl", records(1)))
    args["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"] = "s3://no-such-output-bucket-x/results/"
    arn = env.client.create_model_invocation_job(**args)["jobArn"]
    env.emulator.run_until_done(arn)
    job = env.client.get_model_invocation_job(jobIdentifier=arn)
    assert job["status"] == "Failed"
    assert "Unable to write the job output" in job["message"] and "NoSuchBucket" in job["message"]


def test_claude_inference_profile_ids_are_claude(env: Env) -> None:
    _, out = run(env, records(1), model_id="us." + CLAUDE_MODEL_ID)
    assert out["rec00000"]["modelOutput"]["type"] == "message"
