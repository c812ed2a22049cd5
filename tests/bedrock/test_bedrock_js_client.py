"""The AWS SDK for JavaScript v3 as a second, independent client (tests/bedrock/js/bedrock_client.mjs, and
bedrock_runtime_client.mjs for bedrock-runtime's InvokeModel and Converse)."""

from __future__ import annotations

import json
from pathlib import Path

from bedrock_emulator.testing import CLAUDE_MODEL_ID, ROLE_ARN, Env, claude_input, records
from emulator_core.testing import run_js_client

SCRIPT = Path(__file__).parent / "js" / "bedrock_client.mjs"


def test_js_sdk_create_get_list_stop_and_errors(env: Env) -> None:
    input_uri = env.put_input("js/batch.jsonl", records(2))
    out = run_js_client(
        SCRIPT,
        "@aws-sdk/client-bedrock",
        {
            "BEDROCK_ENDPOINT": env.emulator.endpoint_url,
            "INPUT_S3_URI": input_uri,
            "OUTPUT_S3_URI": f"s3://{env.output_bucket}/results/",
            "KMS_KEY_ID": env.kms_key_id,
            "ROLE_ARN": ROLE_ARN,
            "MODEL_ID": CLAUDE_MODEL_ID,
        },
    )
    arn = out["create"]["jobArn"]
    assert out["get"]["jobArn"] == arn and out["get"]["status"] == "Submitted"
    assert out["get"]["outputDataConfig"]["s3OutputDataConfig"]["s3EncryptionKeyId"] == env.kms_key_id
    assert out["get"]["totalRecordCount"] == 0  # the counts reach the JS SDK too
    assert out["submitTimeIsDate"] is True
    assert [summary["jobArn"] for summary in out["list"]["invocationJobSummaries"]] == [arn]
    assert out["repeat"]["jobArn"] == arn  # the same clientRequestToken: the same job
    assert out["notFound"]["name"] == "ResourceNotFoundException" and out["notFound"]["status"] == 404
    assert out["badName"]["name"] == "ValidationException" and out["badName"]["status"] == 400
    assert "jobName" in out["badName"]["message"]
    assert (
        out["badTimeout"]["name"] == "ValidationException" and "timeoutDurationInHours" in out["badTimeout"]["message"]
    )
    assert out["afterStop"]["status"] == "Stopping"
    env.emulator.run_until_done(arn)
    assert env.client.get_model_invocation_job(jobIdentifier=arn)["status"] == "Stopped"
    assert len(env.emulator.state.jobs) == 1


RUNTIME_SCRIPT = Path(__file__).parent / "js" / "bedrock_runtime_client.mjs"


def test_js_sdk_invoke_model_and_converse(env: Env) -> None:
    model_input = claude_input("Summarise my order.", 12)
    batch_arn = env.create(
        env.put_input("js/runtime.jsonl", [{"recordId": "js1", "modelInput": model_input}]), name="js-runtime"
    )
    env.emulator.run_until_done(batch_arn)
    batch = env.read_output(batch_arn, "runtime.jsonl.out")[0]
    env.emulator.admin.set_record_errors({"js1": {"errorCode": 429, "times": 1}})
    env.emulator.admin.add_record_error_rules([{"promptContains": "upstream", "errorCode": 502}])
    out = run_js_client(
        RUNTIME_SCRIPT,
        "@aws-sdk/client-bedrock-runtime",
        {
            "BEDROCK_ENDPOINT": env.emulator.endpoint_url,
            "MODEL_ID": CLAUDE_MODEL_ID,
            "MODEL_INPUT": json.dumps(model_input),
            "RECORD_ID": "js1",
        },
    )
    assert out["invoke"] == {"contentType": "application/json", "body": batch["modelOutput"]}
    assert out["converse"]["output"]["message"]["role"] == "assistant"
    assert out["converse"]["usage"]["outputTokens"] <= 9 and out["converse"]["metrics"]["latencyMs"] > 0
    assert (out["forced"]["name"], out["forced"]["status"]) == ("ThrottlingException", 429)
    assert out["afterForced"] == batch["modelOutput"]  # refused once, then the record's answer
    assert out["invalid"]["name"] == "ValidationException" and "messages.0.role" in out["invalid"]["message"]
    assert out["unknownModel"]["name"] == "ValidationException"
    assert (out["modelError"]["name"], out["modelError"]["status"]) == ("ModelErrorException", 424)
