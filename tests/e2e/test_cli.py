"""The `batch-job-tracker` CLI on the shared local cloud (`--local`, pointed at the session's outputs.json):
real jobs run by Voice ID's emulator and recorded by the deployed tracker, read, retried, tracked, watched
and swept through the CLI. Fraudster registration jobs only; the enrollment specifics are unit-tested
(tests/unit/test_cli_*.py)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from batch_job_tracker_cli.app import app
from batch_job_tracker_cli.target import LOCAL_OUTPUTS_ENV
from bedrock_emulator.testing import claude_input
from local_cloud.driver import AudioRequest, TrackedJob, TrackerDriver, recorded_by
from local_cloud.environment import LocalEnvironment

COMMANDS = ("jobs", "show", "failures", "retry", "track", "watch", "sweep")
CONSOLE_SCRIPT = Path(sys.executable).parent / "batch-job-tracker"
# The name before Bedrock, kept as an alias.
OLD_CONSOLE_SCRIPT = Path(sys.executable).parent / "voiceid-tracker"
_seeds = itertools.count(7000, 10)


def fresh_mixed() -> list[AudioRequest]:
    """Two good recordings never registered before, one with too little speech, one never uploaded."""
    seed = next(_seeds)
    return [
        AudioRequest("good-1", seed=seed),
        AudioRequest("short-3", seconds_speech=0.5, seconds_silence=3.0, seed=seed + 2),
        AudioRequest("good-2", seed=seed + 1),
        AudioRequest("missing-4", missing=True),
    ]


def cli(outputs: Path | str, *args: str) -> Any:
    """The CLI in-process (Typer's CliRunner), on the local cloud whose outputs.json is `outputs`."""
    runner = CliRunner(env={LOCAL_OUTPUTS_ENV: str(outputs), "COLUMNS": "250"})
    return runner.invoke(app, ["--local", *args])


def one_line_error(result: Any) -> str:
    """The error a command ended with: exit status 1, one line on stderr, no traceback, nothing on stdout."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return str(lines[0])


@pytest.fixture(scope="module")
def recorded(local: LocalEnvironment, domain_id: str) -> TrackedJob:
    """One fraudster registration job with two failed requests (400 each), recorded by the tracker."""
    driver = TrackerDriver(local)
    job = driver.start_job(domain_id, driver.upload_manifest(fresh_mixed(), name="cli-nightly"), job_name="cli-nightly")
    driver.wait_until_settled(job, expected_executions=2)
    assert driver.items(job)["SUMMARY"]["RecordState"] == "COMPLETE"
    return job


@pytest.fixture
def events_lost(driver: TrackerDriver) -> Iterator[TrackerDriver]:
    driver.local.voice_id.admin.set_event_loss(1.0)
    yield driver
    driver.local.voice_id.admin.set_event_loss(0.0)


def read_s3_json(driver: TrackerDriver, uri: str) -> Any:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return json.loads(driver.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


# -- help --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", COMMANDS)
def test_the_help_of_every_command_shows_its_example(command: str) -> None:
    result = CliRunner(env={"COLUMNS": "250"}).invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.stdout
    assert f"batch-job-tracker --local {command}" in result.stdout


@pytest.mark.parametrize("script", [CONSOLE_SCRIPT, OLD_CONSOLE_SCRIPT], ids=["batch-job-tracker", "voiceid-tracker"])
def test_the_console_script_is_installed_and_shows_every_command(script: Path) -> None:
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert f" {command} " in result.stdout


# -- reading -----------------------------------------------------------------------------------------------
def test_failures_as_json_and_csv_hold_exactly_the_recorded_failures(
    local: LocalEnvironment, recorded: TrackedJob
) -> None:
    driver = TrackerDriver(local)
    input_uri = driver.items(recorded)["SUMMARY"]["InputUri"]
    audio_folder = input_uri.rsplit("/", 1)[0] + "/audio"
    missing = f"Unable to read the audio file. Unable to read {audio_folder}/missing-4.wav: NoSuchKey (Not Found)"
    short = driver.failures(recorded)["short-3"]["ErrorMessage"]
    assert short.startswith("The audio does not have enough speech: ")

    result = cli(local.outputs_path, "failures", recorded.job_id, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"RequestId": "missing-4", "ErrorCode": 400, "ErrorMessage": missing},
        {"RequestId": "short-3", "ErrorCode": 400, "ErrorMessage": short},
    ]
    result = cli(local.outputs_path, "failures", recorded.job_id, "--format", "csv", "--code", "400")
    assert result.exit_code == 0, result.output
    assert "," in short  # so the CSV must quote it
    assert result.stdout == f'RequestId,ErrorCode,ErrorMessage\nmissing-4,400,{missing}\nshort-3,400,"{short}"\n'
    result = cli(local.outputs_path, "failures", recorded.job_id, "--format", "csv", "--code", "500")
    assert (result.exit_code, result.stdout) == (0, "RequestId,ErrorCode,ErrorMessage\n")
    result = cli(local.outputs_path, "failures", recorded.job_id)
    assert result.exit_code == 0, result.output
    assert f"2 failed request(s) of job {recorded.job_id}" in result.stdout
    assert missing in result.stdout


def test_jobs_lists_the_recorded_job_with_its_counts(local: LocalEnvironment, recorded: TrackedJob) -> None:
    created = TrackerDriver(local).items(recorded)["SUMMARY"]["JobCreatedAt"]
    result = cli(local.outputs_path, "jobs", "--format", "json", "--since", created[:19])
    assert result.exit_code == 0, result.output
    listed = {job["JobId"]: job for job in json.loads(result.stdout)}
    job = listed[recorded.job_id]
    assert {key: job[key] for key in ("JobStatus", "RecordState", "JobKind", "JobName")} == {
        "JobStatus": "COMPLETED_WITH_ERRORS",
        "RecordState": "COMPLETE",
        "JobKind": "FRAUDSTER_REGISTRATION",
        "JobName": "cli-nightly",
    }
    assert (job["FailedRequestCount"], job["RegisteredRequestCount"], job["DuplicateSkippedRequestCount"]) == (2, 2, 0)
    created_order = [entry["JobCreatedAt"] for entry in listed.values()]
    assert created_order == sorted(created_order, reverse=True)

    table = cli(local.outputs_path, "jobs", "--status", "completed_with_errors")
    assert table.exit_code == 0, table.output
    (row,) = [line for line in table.stdout.splitlines() if recorded.job_id in line]
    # Failed 2, Succeeded 2 (registered), the skipped ones apart, then the record's state.
    assert "cli-nightly" in row and "COMPLETED_WITH_ERRORS" in row
    assert "│ 2      │ 2         │ duplicate skipped 0 │ COMPLETE" in row

    later = cli(local.outputs_path, "jobs", "--format", "json", "--status", "COMPLETED")
    assert later.exit_code == 0, later.output
    assert recorded.job_id not in {job["JobId"] for job in json.loads(later.stdout)}


def test_show_gives_the_summary_the_lock_and_the_executions(local: LocalEnvironment, recorded: TrackedJob) -> None:
    result = cli(local.outputs_path, "show", recorded.job_id, "--format", "json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert (shown["DomainId"], shown["JobKind"]) == (recorded.domain_id, "FRAUDSTER_REGISTRATION")
    assert shown["Summary"]["FailedRequestCount"] == 2
    assert shown["Lock"]["LockState"] == "RECORDED"
    assert shown["Lock"]["RecordedAt"]
    # The executions that held the lock, from the lock's ExecutionArns: the one that recorded the job (the
    # other event's execution found the lock taken and did nothing).
    (execution,) = shown["Executions"]
    (holder,) = recorded_by(recorded.executions)
    assert (execution["Name"], execution["ExecutionArn"]) == (holder["name"], holder["executionArn"])
    assert execution["Name"].endswith("_Target0")
    assert execution["Outcome"] == "recorded the job (COMPLETED_WITH_ERRORS, 2 failed)"
    assert shown["Lock"]["ExecutionArns"] == [shown["Lock"]["ExecutionArn"]] == [holder["executionArn"]]

    table = cli(local.outputs_path, "show", recorded.job_id)
    assert table.exit_code == 0, table.output
    assert "RECORDED" in table.stdout
    assert "1 tracker execution(s) that held the job's lock, oldest first" in table.stdout
    assert "recorded the job (COMPLETED_WITH_ERRORS, 2 failed)" in table.stdout


# -- retry -------------------------------------------------------------------------------------------------
def test_retry_writes_exactly_the_chosen_requests_and_starts_one_job_however_often_it_runs(
    local: LocalEnvironment, recorded: TrackedJob, domain_id: str
) -> None:
    driver = TrackerDriver(local)
    input_uri = driver.items(recorded)["SUMMARY"]["InputUri"]
    original = read_s3_json(driver, input_uri)["FraudsterRegistrationRequests"]
    entries = {entry["RequestId"]: entry for entry in original}
    assert entries["short-3"]["AudioSpecifications"][0]["S3Uri"].endswith("/audio/short-3.wav")

    result = cli(local.outputs_path, "retry", recorded.job_id, "--code", "400")
    assert result.exit_code == 0, result.output
    (manifest_uri,) = result.stdout.splitlines()
    folder = input_uri.rsplit("/", 1)[0]
    assert manifest_uri.startswith(f"{folder}/cli-nightly-retry-") and manifest_uri.endswith(".json")
    assert read_s3_json(driver, manifest_uri) == {
        "Version": "1.0",
        "FraudsterRegistrationRequests": [entries["short-3"], entries["missing-4"]],  # the input's order
    }

    bucket = input_uri.removeprefix("s3://").split("/", 1)[0]
    elsewhere = cli(local.outputs_path, "retry", recorded.job_id, "--output", f"s3://{bucket}/cli-retries/")
    assert elsewhere.exit_code == 0, elsewhere.output
    assert elsewhere.stdout.startswith(f"s3://{bucket}/cli-retries/cli-nightly-retry-")
    assert read_s3_json(driver, elsewhere.stdout.strip()) == read_s3_json(driver, manifest_uri)

    started = [cli(local.outputs_path, "retry", recorded.job_id, "--start") for _ in range(2)]
    for run in started:
        assert run.exit_code == 0, run.output
    (first_uri, new_job_id), (second_uri, again_id) = (run.stdout.splitlines() for run in started)
    assert (first_uri, new_job_id) == (second_uri, again_id) == (manifest_uri, new_job_id)
    assert new_job_id != recorded.job_id
    new_job = driver.voice_id.describe_fraudster_registration_job(DomainId=domain_id, JobId=new_job_id)["Job"]
    source = driver.voice_id.describe_fraudster_registration_job(DomainId=domain_id, JobId=recorded.job_id)["Job"]
    assert new_job["InputDataConfig"]["S3Uri"] == manifest_uri
    assert new_job["RegistrationConfig"] == source["RegistrationConfig"]
    assert new_job["OutputDataConfig"] == source["OutputDataConfig"]
    assert new_job["DataAccessRoleArn"] == source["DataAccessRoleArn"]
    same_name = [
        summary
        for page in driver.voice_id.get_paginator("list_fraudster_registration_jobs").paginate(DomainId=domain_id)
        for summary in page["JobSummaries"]
        if summary.get("JobName") == new_job["JobName"]
    ]
    assert [summary["JobId"] for summary in same_name] == [new_job_id]
    assert new_job["JobName"].startswith("cli-nightly-retry-")

    # The tracker records the retry like any job: the same two requests fail again.
    retried = TrackedJob(domain_id=domain_id, job_id=new_job_id)
    driver.wait_until_settled(retried, expected_executions=2)
    assert sorted(driver.failures(retried)) == ["missing-4", "short-3"]


def test_retry_refuses_an_empty_selection(local: LocalEnvironment, recorded: TrackedJob) -> None:
    error = one_line_error(cli(local.outputs_path, "retry", recorded.job_id, "--code", "500", "--code", "402"))
    assert error == f"error: job {recorded.job_id} has no failed requests with code 402, 500: nothing to retry"


def test_retry_refuses_requests_the_input_manifest_no_longer_holds(driver: TrackerDriver, domain_id: str) -> None:
    seed = next(_seeds)
    requests = [AudioRequest("keep-1", seed=seed), AudioRequest("gone-2", missing=True)]
    job = driver.start_job(domain_id, driver.upload_manifest(requests, name="shrinking"), job_name="shrinking")
    driver.wait_until_settled(job, expected_executions=2)
    input_uri = driver.items(job)["SUMMARY"]["InputUri"]
    shrunk = read_s3_json(driver, input_uri)
    shrunk["FraudsterRegistrationRequests"] = [
        entry for entry in shrunk["FraudsterRegistrationRequests"] if entry["RequestId"] != "gone-2"
    ]
    bucket, _, key = input_uri.removeprefix("s3://").partition("/")
    driver.s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(shrunk).encode())
    error = one_line_error(cli(driver.local.outputs_path, "retry", job.job_id))
    assert error == f"error: the input manifest {input_uri} no longer holds request(s) gone-2; cannot copy them"


def test_retry_refuses_a_job_that_is_not_recorded(driver: TrackerDriver, domain_id: str) -> None:
    # A tracker for a job Voice ID does not have takes the lock, fails (JobNotFound) and records nothing. The
    # CLI's track refuses such a job (Voice ID is asked first), so it is started as from the console.
    job = TrackedJob(domain_id=domain_id, job_id=f"NoSuch{uuid.uuid4().hex[:16]}")
    refused = one_line_error(cli(driver.local.outputs_path, "track", job.job_id, "--domain", domain_id))
    assert refused.startswith(f"error: job {job.job_id} is not known to the tracker, and Voice ID has no "), refused
    assert driver.executions(job) == []  # nothing started
    started = driver.start_execution(job)
    (execution,) = driver.wait_until_settled(job)
    assert execution["executionArn"] == started
    assert json.loads(execution["input"]) == {"DomainId": domain_id, "JobId": job.job_id}
    assert execution["error"] == "JobNotFound"

    error = one_line_error(cli(driver.local.outputs_path, "retry", job.job_id))
    assert error == f"error: job {job.job_id} is not recorded yet: it has no summary item"
    shown = cli(driver.local.outputs_path, "show", job.job_id, "--format", "json")
    assert shown.exit_code == 0, shown.output
    details = json.loads(shown.stdout)
    assert details["Summary"] is None
    assert details["Lock"]["LockState"] == "RELEASED"
    assert [e["Outcome"] for e in details["Executions"]] == [f"JobNotFound: {execution['cause']}"]


def test_retry_refuses_more_requests_than_one_job_may_hold(local: LocalEnvironment, domain_id: str) -> None:
    # Voice ID never gives a fraudster job over 500 requests, so this record is written directly.
    driver = TrackerDriver(local)
    job_id = f"Quota{uuid.uuid4().hex[:17]}"
    pk = f"JOB#{domain_id}#{job_id}"
    items: list[dict[str, Any]] = [
        {"pk": {"S": pk}, "sk": {"S": f"FAILURE#r{n:04d}"}, "RequestId": {"S": f"r{n:04d}"}, "ErrorCode": {"N": "500"}}
        for n in range(501)
    ]
    items.append(
        {
            "pk": {"S": pk},
            "sk": {"S": "SUMMARY"},
            "RecordState": {"S": "COMPLETE"},
            "JobKind": {"S": "FRAUDSTER_REGISTRATION"},
            "InputUri": {"S": "s3://voiceid-local-input/never-read.json"},
        }
    )
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        response = driver.dynamodb.batch_write_item(RequestItems={local.table_name: batch})  # type: ignore[dict-item]
        assert not response.get("UnprocessedItems")
    error = one_line_error(cli(local.outputs_path, "retry", job_id))
    assert error == (
        "error: 501 requests would pass the fraudster registration quota of 500 per job; choose fewer with --code"
    )


# -- track, watch, sweep ------------------------------------------------------------------------------------
def test_track_with_the_console_script_then_watch_until_recorded(events_lost: TrackerDriver, domain_id: str) -> None:
    driver = events_lost
    job = driver.start_job(domain_id, driver.upload_manifest(fresh_mixed()))
    env = {**os.environ, LOCAL_OUTPUTS_ENV: str(driver.local.outputs_path)}
    tracked = subprocess.run(
        [str(CONSOLE_SCRIPT), "--local", "track", job.job_id, "--domain", domain_id],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert tracked.returncode == 0, tracked.stderr
    arn = tracked.stdout.strip()
    assert arn.startswith(driver.local.state_machine_arn.replace(":stateMachine:", ":execution:"))

    watched = cli(driver.local.outputs_path, "watch", job.job_id, "--domain", domain_id, "--interval", "1")
    # Read at once: watch returns only after the record is complete.
    summary = driver.items(job)["SUMMARY"]
    assert watched.exit_code == 0, watched.output
    assert summary["RecordState"] == "COMPLETE"
    assert f"Job {job.job_id} (fraudster registration, domain {domain_id})" in watched.stderr  # the live view
    assert "Record    COMPLETE" in watched.stderr
    assert watched.stdout == (
        f"Job {job.job_id} recorded: COMPLETED_WITH_ERRORS, 2 failed request(s), registered 2, duplicate skipped 0\n"
    )
    (execution,) = driver.wait_until_settled(job)
    assert execution["executionArn"] == arn
    assert json.loads(execution["input"]) == {"DomainId": domain_id, "JobId": job.job_id}
    assert len(recorded_by([execution])) == 1


def test_sweep_starts_a_tracker_for_a_job_nothing_follows(events_lost: TrackerDriver, domain_id: str) -> None:
    driver = events_lost
    job = driver.start_job(domain_id, driver.upload_manifest(fresh_mixed()))
    assert driver.local.voice_id.wait_for_job(job.job_id, timeout=60) == "COMPLETED_WITH_ERRORS"
    assert driver.executions(job) == []

    result = cli(driver.local.outputs_path, "sweep", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert job.job_id in report["Started"]
    assert report["TrackersStarted"] == len(report["Started"]) >= 1
    (execution,) = driver.wait_until_settled(job)
    assert execution["name"].startswith(f"sweep-{job.job_id}-")
    assert driver.items(job)["SUMMARY"]["RecordState"] == "COMPLETE"

    table = cli(driver.local.outputs_path, "sweep")
    assert table.exit_code == 0, table.output
    assert "JobsFound" in table.stdout and "TrackersStarted" in table.stdout


def test_a_bedrock_job_tracked_and_watched_by_its_id_alone_is_listed_by_either_status_word(
    driver: TrackerDriver,
) -> None:
    """An Expired Bedrock job nothing followed (its events lost): `track` and `watch` given its id alone follow
    it as a Bedrock job in the stack's account; its summary holds Bedrock's word and the tracker's beside it,
    `jobs --status` finds it by either, and `failures --code UNPROCESSED` lists the records it never processed."""
    admin = driver.local.bedrock.admin
    admin.set_quota(min_records_per_job=1)
    admin.set_event_loss(1.0)
    try:
        records = [
            {"recordId": f"x{n:03d}", "modelInput": claude_input("" if n == 0 else f"Summarise item {n}.")}
            for n in range(10)
        ]
        folder = driver.upload_bedrock_input({"in.jsonl": records}, label="cli-expired")
        job = driver.start_bedrock_job(f"tracked-cli-{uuid.uuid4().hex[:8]}", folder, outcome=("Expired", 4), wait=True)
    finally:
        admin.reset_faults()
        admin.reset_quotas()
    assert driver.executions(job) == []
    outputs = driver.local.outputs_path

    tracked = cli(outputs, "track", job.job_id)
    assert tracked.exit_code == 0, tracked.output
    watched = cli(outputs, "watch", job.job_id, "--interval", "1")
    assert watched.exit_code == 0, watched.output
    assert f"Job {job.job_id} (Bedrock batch inference, domain {job.domain_id})" in watched.stderr
    assert "Amazon Bedrock  Expired" in watched.stderr and "Voice ID" not in watched.stderr
    assert watched.stdout.startswith(f"Job {job.job_id} recorded: Expired, ")
    (execution,) = driver.wait_until_settled(job)
    assert json.loads(execution["input"]) == {
        "DomainId": job.domain_id,
        "JobId": job.job_id,
        "JobKind": "BEDROCK_BATCH_INFERENCE",
    }
    summary = driver.items(job)["SUMMARY"]
    assert (summary["JobStatus"], summary["TrackerJobStatus"]) == ("Expired", "COMPLETED_WITH_ERRORS")

    def listed(status: str) -> set[str]:
        result = cli(outputs, "jobs", "--status", status, "--since", "1d", "--format", "json")
        assert result.exit_code == 0, result.output
        return {entry["JobId"] for entry in json.loads(result.stdout)}

    assert job.job_id in listed("COMPLETED_WITH_ERRORS")
    assert job.job_id in listed("Expired")
    assert job.job_id not in listed("Completed") | listed("COMPLETED")

    unprocessed = {record["recordId"] for record in records} - driver.bedrock_output_ids(job)
    result = cli(outputs, "failures", job.job_id, "--code", "UNPROCESSED", "--format", "json")
    assert result.exit_code == 0, result.output
    assert unprocessed and {entry["RequestId"] for entry in json.loads(result.stdout)} == unprocessed


# -- the target and expected errors -------------------------------------------------------------------------
def test_an_unknown_job_is_one_line(local: LocalEnvironment, domain_id: str) -> None:
    for command in ("show", "failures", "retry", "watch", "track"):  # track: Voice ID has no such job either
        error = one_line_error(cli(local.outputs_path, command, "UnknownJob000000000000"))
        assert error.startswith("error: job UnknownJob000000000000 is not known to the tracker"), error
    error = one_line_error(cli(local.outputs_path, "show", "short"))
    assert error == (
        "error: JOB must be 22 letters or digits (^[a-zA-Z0-9]{22}$) or 12 lowercase letters or digits "
        "(^[a-z0-9]{12}$) or a UUID (8-4-4-4-12 hexadecimal digits), got 'short'"
    )
    unknown = "UnknownJob000000000000"
    error = one_line_error(cli(local.outputs_path, "track", unknown, "--domain", "Elsewhere0000000000000"))
    assert error.startswith("error: domain Elsewhere0000000000000 is not one local stack VoiceIdJobTracker")
    error = one_line_error(cli(local.outputs_path, "track", unknown, "--domain", domain_id, "--kind", "X"))
    assert error == (
        "error: unknown job kind 'X'; the kinds are FRAUDSTER_REGISTRATION, SPEAKER_ENROLLMENT, "
        "BEDROCK_BATCH_INFERENCE, S3_BATCH_OPERATIONS"
    )


def test_missing_or_stale_outputs_are_one_line(local: LocalEnvironment, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "outputs.json"
    error = one_line_error(cli(missing, "jobs"))
    assert error == (
        f"error: no local cloud outputs at {missing}: start the local cloud with `make local` (and run this "
        f"from its checkout), or set {LOCAL_OUTPUTS_ENV} to its outputs.json"
    )
    broken = tmp_path / "broken.json"
    broken.write_text('{"region": "us-east-1"}')
    error = one_line_error(cli(broken, "jobs"))
    assert error == f"error: {broken} is not a local cloud's outputs.json (no 'endpoints')"

    outputs = json.loads(local.outputs_path.read_text())
    outputs["endpoints"]["aws"] = "http://127.0.0.1:9"  # nothing listens there
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(outputs))
    error = one_line_error(cli(stale, "jobs"))
    assert error.startswith('error: cannot reach "http://127.0.0.1:9/"') or error.startswith(
        "error: cannot reach http://127.0.0.1:9"
    ), error
    assert error.endswith("(is the local cloud still running? its outputs.json may be from an earlier run)")

    del outputs["stack"]["outputs"]["SweepFunctionName"]
    outputs["endpoints"]["aws"] = json.loads(local.outputs_path.read_text())["endpoints"]["aws"]
    no_sweep = tmp_path / "no-sweep.json"
    no_sweep.write_text(json.dumps(outputs))
    error = one_line_error(cli(no_sweep, "sweep"))
    assert error == f"error: local stack VoiceIdJobTracker ({no_sweep}) has no sweep (no SweepFunctionName output)"


def test_stack_targets_come_from_cloudformation(
    local: LocalEnvironment, recorded: TrackedJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = json.loads(local.outputs_path.read_text())
    for name, value in {
        "AWS_ENDPOINT_URL": outputs["endpoints"]["aws"],
        "AWS_ENDPOINT_URL_VOICE_ID": outputs["endpoints"]["voiceId"],
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": outputs["region"],
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    runner = CliRunner(env={"COLUMNS": "250"})
    missing = runner.invoke(app, ["--stack", "NoSuchTrackerStack", "jobs"])
    assert one_line_error(missing) == (
        f"error: no stack named NoSuchTrackerStack in {outputs['region']}: pass --stack NAME "
        "(the default is VoiceIdJobTracker) or --local"
    )
    # The same outputs, published by a CloudFormation stack of the local cloud's moto.
    stack_name = f"CliTarget{uuid.uuid4().hex[:8]}"
    template = {
        "Resources": {"Handle": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs["stack"]["outputs"].items()},
    }
    local.cloud.client("cloudformation").create_stack(StackName=stack_name, TemplateBody=json.dumps(template))
    result = runner.invoke(app, ["--stack", stack_name, "failures", recorded.job_id, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert [failure["RequestId"] for failure in json.loads(result.stdout)] == ["missing-4", "short-3"]
    both = runner.invoke(app, ["--stack", stack_name, "--local", "jobs"])
    assert both.exit_code == 2
    assert "choose --stack NAME or --local, not both" in both.output
