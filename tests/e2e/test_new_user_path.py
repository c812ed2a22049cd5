"""The new user's path: `make local` runs in one terminal; `make demo` in another runs its jobs on that
cloud (never a second one, never rewriting its outputs.json); then the CLI explores the demo's jobs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from local_cloud.demo import EXPECTED, bedrock_input
from local_cloud.driver import BEDROCK_BATCH_INFERENCE
from local_cloud.environment import LocalEnvironment
from tests.e2e.test_cli import cli

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_runs_on_the_running_cloud_and_the_cli_explores_its_jobs(
    local: LocalEnvironment, tmp_path: Path
) -> None:
    outputs = local.outputs_path
    before = (outputs.read_bytes(), outputs.stat().st_mtime_ns)
    demo = subprocess.run(
        # The state folder of the running cloud, as `make demo` passes .local-cloud; no template is needed.
        [
            sys.executable,
            "-m",
            "local_cloud.demo",
            "--state-dir",
            str(local.state_dir),
            "--template",
            str(tmp_path / "none"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "A local cloud is already running" in demo.stdout
    assert "Starting the local cloud" not in demo.stdout
    assert (outputs.read_bytes(), outputs.stat().st_mtime_ns) == before  # its outputs.json, untouched
    started = re.search(r"jobs (\w{22}), (\w{22}), (\w{12}), ([0-9a-f-]{36});", demo.stdout)
    assert started, demo.stdout
    fraudsters, speakers, inference, photo_copy = started.groups()
    # The CLI steps the demo ran as an operator, on the same cloud.
    for step in (
        "$ batch-job-tracker --local jobs",
        f"$ batch-job-tracker --local show {fraudsters}",
        f"$ batch-job-tracker --local failures {inference}",
        f"$ batch-job-tracker --local retry {inference}",
        f"$ batch-job-tracker --local failures {photo_copy}",
    ):
        assert step in demo.stdout
    # The S3 Batch Operations job's retry manifest: its two missing photos, keys URL-encoded.
    manifest_uri = re.search(rf"retry {photo_copy} --code NoSuchKey\n.*? to:\n\s+(s3://\S+)", demo.stdout, re.DOTALL)
    assert manifest_uri, demo.stdout
    bucket, _, key = manifest_uri.group(1).removeprefix("s3://").partition("/")
    rows = local.cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    assert sorted(row.rsplit("/", 1)[1] for row in rows) == [
        "photo%200007%20%28missing%29.jpg",
        "photo-0006-missing.jpg",
    ]
    # The Bedrock job's retry JSONL: its seven refused prompts, each line as the demo's input held it.
    retry_uri = re.search(rf"retry {inference} --code 400\n.*? to:\n\s+(s3://\S+)", demo.stdout, re.DOTALL)
    assert retry_uri, demo.stdout
    bucket, _, key = retry_uri.group(1).removeprefix("s3://").partition("/")
    lines = local.cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
    refused = EXPECTED[BEDROCK_BATCH_INFERENCE].failed
    expected = [
        json.dumps(row).encode() for rows in bedrock_input().values() for row in rows if row["recordId"] in refused
    ]
    assert len(expected) == 7 and sorted(lines) == sorted(expected)
    # The session's cloud has no tracker:bedrockRetryPolicy: the demo injects no fault and says so (the automatic
    # retries' own e2e tests run on a cloud of their own: tests/e2e/test_automatic_retries.py).
    assert "no tracker:bedrockRetryPolicy: no automatic retries, no fault injected" in demo.stdout
    assert "FAULT INJECTION" not in demo.stdout

    listed = cli(outputs, "jobs", "--format", "json")
    assert listed.exit_code == 0, listed.output
    by_id = {job["JobId"]: job for job in json.loads(listed.stdout)}
    assert by_id[fraudsters]["RecordState"] == by_id[speakers]["RecordState"] == "COMPLETE"
    assert by_id[speakers]["JobKind"] == "SPEAKER_ENROLLMENT"
    shown = cli(outputs, "show", speakers, "--format", "json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["Summary"]["FailedRequestCount"] == 3
    failed = cli(outputs, "failures", speakers, "--format", "json")
    assert failed.exit_code == 0, failed.output
    opted_out = [f for f in json.loads(failed.stdout) if f["RequestId"] == "enroll-0004-opted-out"]
    assert opted_out[0]["ErrorCode"] == 409
    speaker = opted_out[0]["CustomerSpeakerId"]
    assert speaker.startswith("customer-7731-")  # this run's own speaker

    # `jobs --all` lists the same jobs (each once, as its summary), on DynamoDB Local's index.
    every = cli(outputs, "jobs", "--all", "--format", "json")
    assert every.exit_code == 0, every.output
    assert [job["JobId"] for job in json.loads(every.stdout)].count(speakers) == 1
    # The customer asks to be forgotten: through the FailuresBySubject index of the running cloud.
    erased = cli(outputs, "erase", "--customer-speaker-id", speaker, "--format", "json")
    assert erased.exit_code == 0, erased.output
    assert [(item["JobId"], item["Item"]) for item in json.loads(erased.stdout)["Deleted"]] == [
        (speakers, "FAILURE#enroll-0004-opted-out")
    ]
    after = json.loads(cli(outputs, "failures", speakers, "--format", "json").stdout)
    assert speaker not in {failure["CustomerSpeakerId"] for failure in after}
    assert len(after) == 2


def test_the_demo_refuses_clearly_without_a_cloud_or_a_template(tmp_path: Path) -> None:
    demo = subprocess.run(
        [sys.executable, "-m", "local_cloud.demo", "--state-dir", str(tmp_path), "--template", str(tmp_path / "none")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert demo.returncode == 1
    assert "No local cloud is running and there is no synthesized template" in demo.stdout
