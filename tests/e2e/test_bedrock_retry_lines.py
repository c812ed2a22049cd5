"""The CLI's Bedrock retry on the local cloud, for the records a retry used to miss or get wrong (issue 22):
records without `recordId` (Bedrock gives them generated ids, so no input line holds them) are retried with
their own `modelInput`, and a job whose input URI is a bare prefix (`…/in`, beside `…/in-old/` and
`…/in2.jsonl`) gives retry lines from its own folder only. The local Bedrock runs the jobs, the deployed
tracker records them, and the retry runs as an operator runs it (`batch-job-tracker --local retry`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from bedrock_emulator.store import generated_record_id
from bedrock_emulator.testing import claude_input
from local_cloud.driver import TrackerDriver
from tests.e2e.test_bedrock_end_to_end import name, rows, settle
from tests.e2e.test_cli import cli


@pytest.fixture(autouse=True)
def _small_jobs(driver: TrackerDriver) -> Iterator[None]:
    """Jobs of a few records (the local Bedrock's default minimum is 100, as Bedrock's can be)."""
    admin = driver.local.bedrock.admin
    admin.set_quota(min_records_per_job=1)
    yield
    admin.reset_faults()
    admin.reset_quotas()
    admin.reset_pacing()


def retry_lines(driver: TrackerDriver, job_id: str) -> tuple[list[bytes], str]:
    """`retry JOB`'s JSONL lines, and what it told the operator on stderr."""
    result = cli(driver.local.outputs_path, "retry", job_id)
    assert result.exit_code == 0, result.output
    bucket, _, key = result.stdout.strip().removeprefix("s3://").partition("/")
    return driver.s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines(), str(result.stderr)


def test_records_without_record_id_are_retried_with_their_own_model_input(driver: TrackerDriver) -> None:
    # Ten records without recordId; the first two have empty prompts (each its own max_tokens), which the model
    # refuses with a 400. The job ends PartiallyCompleted after four, leaving six unprocessed and unnamed.
    inputs = [
        {"modelInput": claude_input("" if n < 2 else f"Summarise item {n}.", max_tokens=10 + n)} for n in range(10)
    ]
    folder = driver.upload_bedrock_input({"in.jsonl": inputs}, label="no-ids")
    job = driver.start_bedrock_job(name("no-ids"), folder, outcome=("PartiallyCompleted", 4))
    summary = settle(driver, job)
    failures = driver.failures(job)
    assert [item["ErrorCode"] for item in failures.values()] == [400, 400]
    assert (summary["UnprocessedRecordCount"], summary["UnprocessedNamedCount"]) == (6, 0)

    # Which input line each generated id stands for: the local Bedrock derives it from the job, file and line.
    input_key = f"{folder.removeprefix('s3://').partition('/')[2]}in.jsonl"
    line_of = {generated_record_id(job.job_id, input_key, n + 1): n for n in range(len(inputs))}

    lines, told = retry_lines(driver, job.job_id)
    retried = [json.loads(line) for line in lines]
    # Each retry line is the failed record's own modelInput, under the id Bedrock generated for it.
    assert {record["recordId"]: record["modelInput"] for record in retried} == {
        record_id: inputs[line_of[record_id]]["modelInput"] for record_id in failures
    }
    assert sorted(record["modelInput"]["max_tokens"] for record in retried) == [10, 11]
    assert "6 unprocessed record(s) left out: the record could not name them" in told
    assert "without recordId" in told  # and why


def test_a_bare_input_prefix_beside_a_sibling_folder_gives_no_sibling_retry_line(driver: TrackerDriver) -> None:
    bucket, _, location = driver.local.bedrock_input_s3_uri.removeprefix("s3://").partition("/")
    base = f"{location}bare-{uuid.uuid4().hex[:8]}/in"
    records = rows("p", 8, frozenset({1}))
    # Siblings sharing the prefix, listed before (`in-old/`) and after (`in2.jsonl`) the folder: the same ids
    # with other prompts, and ids of their own. Neither is the job's input.
    sibling_same_ids = [{**row, "modelInput": claude_input(f"Old prompt for {row['recordId']}.")} for row in records]
    uploads = {f"{base}/a.jsonl": records, f"{base}-old/a.jsonl": sibling_same_ids, f"{base}2.jsonl": rows("q", 3)}
    for key, body in uploads.items():
        driver.s3.put_object(Bucket=bucket, Key=key, Body="".join(json.dumps(row) + "\n" for row in body).encode())
    job = driver.start_bedrock_job(name("bare"), f"s3://{bucket}/{base}", outcome=("PartiallyCompleted", 4))
    settle(driver, job)
    failures = driver.failures(job)
    processed = driver.bedrock_output_ids(job)
    unprocessed = {row["recordId"] for row in records} - processed
    assert set(failures) == unprocessed | ({"p00001"} & processed)  # nothing of in2.jsonl
    assert {item["InputFile"] for item in failures.values() if "InputFile" in item} == {f"s3://{bucket}/{base}/a.jsonl"}

    lines, _ = retry_lines(driver, job.job_id)
    assert sorted(lines) == sorted(json.dumps(row).encode() for row in records if row["recordId"] in failures)
