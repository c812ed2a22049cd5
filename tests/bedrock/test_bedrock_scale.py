"""A 50,000-record job (the default maximum) runs to its end at pacing 0; counts are exact and the output whole."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bedrock_emulator import BedrockEmulator, Pacing
from bedrock_emulator.testing import Env, claude_input, make_env

RECORDS = 50_000


@pytest.fixture
def fast_env(moto_endpoint: str) -> Iterator[Env]:
    with BedrockEmulator(s3_endpoint_url=moto_endpoint, pacing=Pacing.instant()) as emulator:
        yield make_env(moto_endpoint, emulator)


def test_a_50000_record_job_at_pacing_0(fast_env: Env) -> None:
    env = fast_env
    lines = [
        {"recordId": f"r{index:05d}", "modelInput": claude_input(f"Item {index}", max_tokens=16)}
        for index in range(RECORDS)
    ]
    lines[123]["modelInput"] = {"messages": []}
    arn = env.create(env.put_input("big/batch.jsonl", lines))
    progress = set()
    status = "Submitted"
    while status not in {"Completed", "Failed"}:
        job = env.client.get_model_invocation_job(jobIdentifier=arn)
        status = job["status"]
        progress.add(job["processedRecordCount"])
    assert env.emulator.wait_for_job(arn, timeout=120) == "Completed"
    job = env.client.get_model_invocation_job(jobIdentifier=arn)
    assert (job["totalRecordCount"], job["processedRecordCount"]) == (RECORDS, RECORDS)
    assert (job["successRecordCount"], job["errorRecordCount"]) == (RECORDS - 1, 1)
    assert len(progress) > 2  # the counts moved while it ran: seen at more than the start and the end
    key = f"results/{arn.rsplit('/', 1)[1]}/batch.jsonl.out"
    body = env.s3.get_object(Bucket=env.output_bucket, Key=key)["Body"].read().decode().splitlines()
    ids = [json.loads(line)["recordId"] for line in body]
    assert sorted(ids) == [line["recordId"] for line in lines]
    assert ids != sorted(ids)


def test_one_record_over_the_default_maximum_fails_the_job(fast_env: Env) -> None:
    env = fast_env
    line = json.dumps({"modelInput": claude_input("x")}) + "\n"
    arn = env.create(env.put_input("big/over.jsonl", (line * (RECORDS + 1)).encode()))
    assert env.emulator.wait_for_job(arn, timeout=120) == "Failed"
    assert "at most 50000" in env.client.get_model_invocation_job(jobIdentifier=arn)["message"]
