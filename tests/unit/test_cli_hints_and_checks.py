"""The CLI as a newcomer meets it (issue 26): every command it prints runs as printed (each is parsed and run
here, against moto with Voice ID and Bedrock stubbed against botocore's models); `track` describes a job before
it starts a tracker and refuses an unknown job or a wrong kind; `watch` on an unknown job says so itself;
`--local` after a command is put where it goes; `jobs` reads at 80 columns and at 200; help and usage lines."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.stub import ANY, Stubber
from moto import mock_aws
from moto.core.botocore_stubber import MockRawResponse
from typer.testing import CliRunner

from batch_job_tracker_cli.app import Options, app
from batch_job_tracker_cli.target import Target
from tests.unit.test_cli_commands import create_table, put, summary, tracker_state_machine

REGION = "us-east-1"
ACCOUNT = "123456789012"
DOMAIN = "DomainAAAAAAAAAAAAAAAA"
TABLE = "failures"
INPUT = "voiceid-input"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/VoiceIdBatchDataAccess"
RECORDED = "RecordedJobAAAAAAAAAAA"  # a fraudster registration job with failures
FRESH = "FreshJobAAAAAAAAAAAAAA"  # a job Voice ID has and nothing tracks yet
BEDROCK_JOB = "abcdef123456"
wide = CliRunner(env={"COLUMNS": "250"})


class StubbedTarget(Target):
    """The local cloud as the CLI names it (`--local`): moto for the table, S3 and Step Functions, Voice ID and
    Bedrock stubbed."""

    def __init__(self, voice_id: Any, bedrock: Any, **kwargs: Any) -> None:
        super().__init__(global_options=("--local",), **kwargs)
        self._voice_id, self._bedrock = voice_id, bedrock

    def voice_id(self) -> Any:
        return self._voice_id

    def bedrock(self) -> Any:
        return self._bedrock


def voice_id_job(job_id: str, status: str = "COMPLETED_WITH_ERRORS") -> dict[str, Any]:
    """Describe/StartFraudsterRegistrationJob's Job."""
    return {
        "Job": {
            "JobId": job_id,
            "DomainId": DOMAIN,
            "JobName": "nightly-fraudsters",
            "JobStatus": status,
            "DataAccessRoleArn": ROLE,
            "InputDataConfig": {"S3Uri": f"s3://{INPUT}/batch/fraudsters.json"},
            "OutputDataConfig": {"S3Uri": "s3://out/voiceid-output/"},
        }
    }


@pytest.fixture
def cloud() -> Iterator[dict[str, Any]]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        dynamodb = session.client("dynamodb")
        create_table(dynamodb)
        s3 = session.client("s3")
        s3.create_bucket(Bucket=INPUT)
        requests = [{"RequestId": rid, "AudioSpecifications": [{"S3Uri": f"s3://a/{rid}.wav"}]} for rid in "abc"]
        manifest = {"Version": "1.0", "FraudsterRegistrationRequests": requests}
        s3.put_object(Bucket=INPUT, Key="batch/fraudsters.json", Body=json.dumps(manifest).encode())
        put(
            dynamodb,
            summary(
                DOMAIN,
                RECORDED,
                "2026-11-25T10:00:00+00:00",
                FailedRequestCount=2,
                RegisteredRequestCount=1,
                DuplicateSkippedRequestCount=0,
                InputUri=f"s3://{INPUT}/batch/fraudsters.json",
            ),
        )
        for request_id, code in (("a", 400), ("b", 500)):
            put(
                dynamodb,
                {
                    "pk": f"JOB#{DOMAIN}#{RECORDED}",
                    "sk": f"FAILURE#{request_id}",
                    "RecordType": "FAILED_REQUEST",
                    "JobKind": "FRAUDSTER_REGISTRATION",
                    "RequestId": request_id,
                    "ErrorCode": code,
                    "ErrorMessage": "bad audio",
                },
            )
        voice_id = boto3.client("voice-id", region_name=REGION)
        bedrock = boto3.client("bedrock", region_name=REGION)
        target = StubbedTarget(
            voice_id,
            bedrock,
            description="local stack VoiceIdJobTracker (outputs.json)",
            outputs={
                "FailuresTableName": TABLE,
                "StateMachineArn": tracker_state_machine(session.client("stepfunctions")),
                "VoiceIdDomainIds": DOMAIN,
                "BedrockAccountId": ACCOUNT,
            },
            session=session,
        )
        with Stubber(voice_id) as voice_id_stub, Stubber(bedrock) as bedrock_stub:
            yield {"target": target, "dynamodb": dynamodb, "voice_id": voice_id_stub, "bedrock": bedrock_stub}


def invoke(target: Target, *args: str, runner: CliRunner = wide) -> Any:
    return runner.invoke(app, list(args), obj=Options(target=target))


def printed_commands(result: Any) -> list[str]:
    """The command lines the CLI told the operator to run (between backticks), in its output and errors."""
    output = result.stdout + result.stderr
    return re.findall(r"`(batch-job-tracker [^`]+)`", output)


def run_printed(target: Target, command: str) -> Any:
    """`command` run as printed: its words through the CLI's own parser, against the same target."""
    words = shlex.split(command)
    assert words[:2] == ["batch-job-tracker", "--local"], command  # names the target the operator used
    return invoke(target, *words[1:])


def started_executions(target: Target) -> list[dict[str, Any]]:
    sfn = target.stepfunctions()
    listed = sfn.list_executions(stateMachineArn=target.state_machine_arn)["executions"]
    return [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in listed]


def test_every_command_the_cli_prints_runs_as_printed(cloud: dict[str, Any]) -> None:
    target, voice_id = cloud["target"], cloud["voice_id"]
    ran: list[str] = []

    def follow(result: Any, expect: int) -> None:
        assert result.exit_code == expect, result.output
        for command in printed_commands(result):
            ran.append(command)
            outcome = run_printed(target, command)
            assert outcome.exit_code == 0, (command, outcome.output)
            follow(outcome, 0)

    # show of a job nothing tracks: the hint starts its tracker (Voice ID is asked which kind it is).
    voice_id.add_response("describe_fraudster_registration_job", voice_id_job(FRESH, "IN_PROGRESS"))
    follow(invoke(target, "show", FRESH), 1)
    # retry without --start: the command that starts it; that one's: the command that watches the new job.
    new_job = "RetryJobAAAAAAAAAAAAAA"
    put(cloud["dynamodb"], summary(DOMAIN, new_job, "2026-11-26T10:00:00+00:00", FailedRequestCount=0))
    voice_id.add_response("describe_fraudster_registration_job", voice_id_job(RECORDED))
    voice_id.add_response("start_fraudster_registration_job", voice_id_job(new_job, "SUBMITTED"), ANY_START)
    follow(invoke(target, "retry", RECORDED, "--code", "400"), 0)
    # watch of a job that ended, its lock released without a record: `show` it, and `track` records it.
    abandoned = "AbandonedJobAAAAAAAAAA"
    released = {"LockState": "RELEASED", "ReleasedAt": "2026-11-26T10:00:00+00:00", "JobKind": "FRAUDSTER_REGISTRATION"}
    put(cloud["dynamodb"], {"pk": f"JOB#{DOMAIN}#{abandoned}", "sk": "LOCK", "RecordType": "JOB_LOCK", **released})
    voice_id.add_response("describe_fraudster_registration_job", voice_id_job(abandoned, "COMPLETED"))
    voice_id.add_response("describe_fraudster_registration_job", voice_id_job(abandoned, "COMPLETED"))
    follow(invoke(target, "watch", abandoned, "--interval", "1"), 1)
    # --local after the command: the command line with it in its place.
    follow(invoke(target, "jobs", "--local", "--since", "7d"), 2)

    voice_id.assert_no_pending_responses()
    assert ran == [
        f"batch-job-tracker --local track {FRESH}",
        f"batch-job-tracker --local retry {RECORDED} --code 400 --start",
        f"batch-job-tracker --local watch {new_job} --domain {DOMAIN} --kind FRAUDSTER_REGISTRATION",
        f"batch-job-tracker --local show {abandoned}",
        f"batch-job-tracker --local track {abandoned} --domain {DOMAIN} --kind FRAUDSTER_REGISTRATION",
        "batch-job-tracker --local jobs --since 7d",
    ]
    assert sorted(execution["JobId"] for execution in started_executions(target)) == [abandoned, FRESH]


ANY_START = {
    "ClientToken": ANY,
    "JobName": ANY,
    "DomainId": DOMAIN,
    "DataAccessRoleArn": ROLE,
    "InputDataConfig": ANY,
    "OutputDataConfig": ANY,
}


def test_track_refuses_a_job_its_service_does_not_have_and_starts_nothing(cloud: dict[str, Any]) -> None:
    target, voice_id, bedrock = cloud["target"], cloud["voice_id"], cloud["bedrock"]
    for _ in range(2):  # either Voice ID kind
        voice_id.add_client_error("describe_fraudster_registration_job", "ResourceNotFoundException", "no", 404)
        voice_id.add_client_error("describe_speaker_enrollment_job", "ResourceNotFoundException", "no", 404)
    refused = invoke(target, "track", FRESH)
    assert refused.exit_code == 1
    assert refused.stderr == (
        f"error: job {FRESH} is not known to the tracker, and Voice ID has no fraudster registration or speaker "
        f"enrollment job {FRESH} in Voice ID domain {DOMAIN}: check the JobId (and --domain); nothing was started\n"
    )
    # watch, without --kind, says the same in its own words (not botocore's, not "is the local cloud running?").
    watched = invoke(target, "watch", FRESH)
    assert watched.exit_code == 1 and watched.stderr == refused.stderr
    bedrock.add_client_error("get_model_invocation_job", "ResourceNotFoundException", "no such job", 404)
    unknown_bedrock = invoke(target, "track", BEDROCK_JOB)
    assert unknown_bedrock.exit_code == 1
    assert unknown_bedrock.stderr.startswith(f"error: job {BEDROCK_JOB} is not known to the tracker, and Amazon ")
    assert started_executions(target) == []


def test_track_checks_the_given_kind_against_what_voice_id_says(cloud: dict[str, Any]) -> None:
    target, voice_id = cloud["target"], cloud["voice_id"]
    voice_id.add_client_error("describe_speaker_enrollment_job", "ResourceNotFoundException", "no", 404)
    voice_id.add_response("describe_fraudster_registration_job", voice_id_job(FRESH, "IN_PROGRESS"))
    refused = invoke(target, "track", FRESH, "--kind", "SPEAKER_ENROLLMENT")
    assert refused.exit_code == 1
    assert refused.stderr == (
        f"error: job {FRESH} is a fraudster registration job, not a speaker enrollment one: say --kind "
        "FRAUDSTER_REGISTRATION, or leave --kind out\n"
    )
    # Without --kind, the kind Voice ID has it as (an enrollment here) is the one tracked.
    voice_id.add_client_error("describe_fraudster_registration_job", "ResourceNotFoundException", "no", 404)
    voice_id.add_response("describe_speaker_enrollment_job", voice_id_job(FRESH, "IN_PROGRESS"))
    started = invoke(target, "track", FRESH)
    assert started.exit_code == 0, started.stderr
    assert started_executions(target) == [{"DomainId": DOMAIN, "JobId": FRESH, "JobKind": "SPEAKER_ENROLLMENT"}]


def test_a_throttled_describe_is_retried_before_track_starts(cloud: dict[str, Any]) -> None:
    """Voice ID's describe through the target's own client (its retry configuration), answered by the HTTP layer:
    a ThrottlingException first, then the job."""
    target = cloud["target"]
    answers = [
        (400, {"__type": "ThrottlingException", "message": "Rate exceeded"}),
        (200, voice_id_job(FRESH, "IN_PROGRESS")),
    ]
    calls: list[str] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        status, body = answers[min(len(calls), len(answers) - 1)]
        calls.append(request.url)
        payload = json.dumps(body).encode()
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.0"
        return AWSResponse(request.url, status, headers, MockRawResponse(payload))

    client = Target._client(target, "voice-id", None)  # the real client, as Target.voice_id() configures it
    client.meta.events.register_first("before-send.voice-id", answer)
    target._voice_id = client
    result = invoke(target, "track", FRESH)
    assert result.exit_code == 0, result.stderr
    assert len(calls) == 2
    assert started_executions(target) == [{"DomainId": DOMAIN, "JobId": FRESH}]


def test_global_options_after_the_command_are_put_before_it(cloud: dict[str, Any]) -> None:
    result = invoke(
        cloud["target"], "jobs", "--local", "--status", "COMPLETED", runner=CliRunner(env={"COLUMNS": "80"})
    )
    assert result.exit_code == 2
    # One line even at 80 columns (no box around it), so the command in it can be pasted as it stands.
    assert result.stderr == (
        "error: --local is an option of batch-job-tracker itself, not of jobs: put it before the command, as in "
        "`batch-job-tracker --local jobs --status COMPLETED`\n"
    )


def test_usage_lines_name_arguments_as_typed_and_flags_have_no_type(cloud: dict[str, Any]) -> None:
    for command in ("show", "track", "retry", "watch", "lineage", "jobs", "failures", ""):
        shown = invoke(cloud["target"], *([command] if command else []), "--help")
        assert shown.exit_code == 0, shown.output
        assert "{JOB}" not in shown.output, command
        assert "<bool>" not in shown.output, command
    assert (
        "Usage: batch-job-tracker lineage [OPTIONS] JOB [RECORD]" in invoke(cloud["target"], "lineage", "--help").output
    )


def test_track_help_says_what_domain_is_for_each_service(cloud: dict[str, Any]) -> None:
    text = " ".join(invoke(cloud["target"], "track", "--help").output.replace("│", " ").split())
    assert "Voice ID: the job's domain id" in text
    assert "Amazon Bedrock and S3 Batch Operations: the AWS account id" in text and "not needed" in text


def test_the_deprecated_codes_spelling_still_works_and_says_so(cloud: dict[str, Any]) -> None:
    old = invoke(cloud["target"], "retry", RECORDED, "--codes", "400,500")
    new = invoke(cloud["target"], "retry", RECORDED, "--code", "400", "--code", "500")
    assert old.exit_code == new.exit_code == 0, old.output
    assert old.stdout == new.stdout
    assert "note: --codes is deprecated and will go: repeat --code instead" in old.stderr
    assert "--codes" not in invoke(cloud["target"], "retry", "--help").output


JOBS = [
    summary(DOMAIN, "EnrollJobAAAAAAAAAAAAA", "2026-11-25T10:00:00+00:00", kind="SPEAKER_ENROLLMENT",
            FailedRequestCount=3, NewEnrollmentCount=4, OverwrittenEnrollmentCount=2, DuplicateSkippedRequestCount=1),
    summary(DOMAIN, "FraudJobAAAAAAAAAAAAAA", "2026-11-24T10:00:00+00:00", status="COMPLETED",
            FailedRequestCount=0, RegisteredRequestCount=5, DuplicateSkippedRequestCount=0),
]  # fmt: skip


@pytest.mark.parametrize("columns", [80, 200])
def test_jobs_reads_at_80_and_at_200_columns(cloud: dict[str, Any], columns: int) -> None:
    for job in JOBS:
        put(cloud["dynamodb"], job)
    cloud["target"].outputs["VoiceIdDomainIds"] = DOMAIN
    result = invoke(cloud["target"], "jobs", runner=CliRunner(env={"COLUMNS": str(columns)}))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    header = next(line for line in lines if "JobStatus" in line)
    shown = [title.strip() for title in re.split(r"[┃│]| {2,}", header) if title.strip()]
    # Each shown column has its title, and each job its value under it (on the job's first line).
    values: dict[str, Callable[[dict[str, Any]], str]] = {
        "Created (UTC)": lambda job: job["JobCreatedAt"][:10],
        "Created": lambda job: job["JobCreatedAt"][:10],  # narrow: (UTC) in the title
        "JobId": lambda job: job["JobId"],
        "JobId, kind, name": lambda job: job["JobId"],
        "Kind": lambda job: job["JobKind"].lower().replace("_", " ").split()[0],
        "JobName": lambda job: job["JobName"],
        "JobStatus": lambda job: job["JobStatus"],
        "Failed": lambda job: str(job["FailedRequestCount"]),
        "Succeeded": lambda job: str(job.get("RegisteredRequestCount", 0) + job.get("NewEnrollmentCount", 0)
                                     + job.get("OverwrittenEnrollmentCount", 0)),
        "Other counts": lambda job: f"duplicate skipped {job['DuplicateSkippedRequestCount']}",
        "Record": lambda job: job["RecordState"],
    }  # fmt: skip
    assert shown and set(shown) <= set(values), shown
    for job in JOBS:
        row = next(line for line in lines if job["JobId"] in line)
        cells = [cell.strip() for cell in re.split(r"[┃│]| {2,}", row) if cell.strip()]
        assert len(cells) == len(shown), (shown, cells)
        for title, cell in zip(shown, cells, strict=True):
            assert cell.startswith(values[title](job)), (title, cell)
    if columns == 200:
        assert shown == [title for title in values if title not in ("Created", "JobId, kind, name")]  # all, whole
    else:
        assert shown == ["Created", "JobId, kind, name", "JobStatus", "Failed", "Record"]
        left_out = ["Succeeded", "Other counts"]
        assert f"Not shown at this width: {', '.join(left_out)}" in " ".join(result.stdout.split())
        # The enrollment's kind and name under its id.
        assert "speaker enrollment" in result.stdout and "name-Enro" in result.stdout


def test_show_lists_a_bedrock_job_s_output_files_and_repeated_record_ids(cloud: dict[str, Any]) -> None:
    counts: dict[str, Any] = {
        "FailedRecordCount": 1,
        "SucceededRecordCount": 120,
        "OutputFileCount": 2,
        "DuplicateRecordIdCount": 1,
    }
    put(cloud["dynamodb"], summary(ACCOUNT, BEDROCK_JOB, "2026-11-25T10:00:00+00:00", kind="BEDROCK_BATCH_INFERENCE",
                                   status="Completed", **counts))  # fmt: skip
    shown = invoke(cloud["target"], "show", BEDROCK_JOB)
    assert shown.exit_code == 0, shown.output
    rows = {line.split()[0]: line.split()[-1] for line in shown.stdout.splitlines() if line.strip()}
    assert (rows["OutputFileCount"], rows["DuplicateRecordIdCount"]) == ("2", "1")


def test_the_bedrock_refusal_advises_more_codes_only_when_they_would_help(cloud: dict[str, Any]) -> None:
    target = cloud["target"]
    target.outputs.update({"BedrockRetryInputLocation": f"s3://{INPUT}/retries/", "BedrockMinRecordsPerJob": "100"})
    target.s3().put_object(Bucket=INPUT, Key="in/a.jsonl", Body=b'{"recordId": "r1", "modelInput": {}}\n')
    put(cloud["dynamodb"], summary(ACCOUNT, BEDROCK_JOB, "2026-11-25T10:00:00+00:00", kind="BEDROCK_BATCH_INFERENCE",
                                   status="Completed", FailedRecordCount=1, InputUri=f"s3://{INPUT}/in/"))  # fmt: skip
    put(
        cloud["dynamodb"],
        {
            "pk": f"JOB#{ACCOUNT}#{BEDROCK_JOB}",
            "sk": "FAILURE#r1",
            "RecordType": "FAILED_REQUEST",
            "JobKind": "BEDROCK_BATCH_INFERENCE",
            "RequestId": "r1",
            "RecordId": "r1",
            "ErrorCode": 400,
            "ErrorMessage": "bad",
            "OutputFile": f"s3://out/{BEDROCK_JOB}/a.jsonl.out",
            "LineNumber": 1,
        },
    )
    for selection in ((), ("--code", "400")):  # the job's one code, chosen or not
        refused = invoke(target, "retry", BEDROCK_JOB, *selection, "--start")
        assert refused.exit_code == 1
        assert refused.stderr.strip().endswith("Add these records to your next job's input instead")
        assert "code" not in refused.stderr.split("minimum")[-1]


def test_a_stack_other_than_the_default_is_named_in_printed_commands() -> None:
    stack = Target(description="stack Other", outputs={}, session=boto3.Session(region_name=REGION),
                   global_options=("--stack", "Other Stack"))  # fmt: skip
    assert stack.command("watch", FRESH) == f"batch-job-tracker --stack 'Other Stack' watch {FRESH}"


def test_retry_start_run_again_says_voice_id_returned_the_job_it_started_before(cloud: dict[str, Any]) -> None:
    target, voice_id = cloud["target"], cloud["voice_id"]
    new_job = "RetryJobAAAAAAAAAAAAAA"
    earlier = voice_id_job(new_job, "IN_PROGRESS")
    earlier["Job"]["CreatedAt"] = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)  # an earlier run's job
    voice_id.add_response("describe_fraudster_registration_job", voice_id_job(RECORDED))
    voice_id.add_response("start_fraudster_registration_job", earlier, ANY_START)
    again = invoke(target, "retry", RECORDED, "--code", "400", "--start")
    assert again.exit_code == 0, again.output
    said = again.stderr.splitlines()[-1]
    assert said.startswith(f"Voice ID returned fraudster registration job {new_job} (")
    assert "which an earlier `retry --start` of this selection started at 2026-11-26 09:30:00+00:00" in said
    assert "Started" not in again.stderr and again.stdout.splitlines()[-1] == new_job


def test_an_aws_command_the_cli_prints_carries_the_local_cloud_s_endpoint_and_credentials() -> None:
    session = boto3.Session(region_name=REGION)
    local = Target(description="local", outputs={}, session=session, aws_endpoint="http://127.0.0.1:4566", local=True)
    deployed = Target(description="stack", outputs={}, session=session)
    assert local.aws_command("s3", "rm", "s3://b/k 1") == (
        "env AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1 "
        "aws --endpoint-url http://127.0.0.1:4566 s3 rm 's3://b/k 1'"
    )
    assert deployed.aws_command("s3", "rm", "s3://b/k") == "aws s3 rm s3://b/k"


def test_track_of_a_recorded_job_its_service_no_longer_has_says_so(cloud: dict[str, Any]) -> None:
    """`track --rerecord` of a job the tracker recorded but Voice ID has deleted: refused, in words that do not
    say the tracker never heard of it."""
    target, voice_id = cloud["target"], cloud["voice_id"]
    voice_id.add_client_error("describe_fraudster_registration_job", "ResourceNotFoundException", "no", 404)
    voice_id.add_client_error("describe_speaker_enrollment_job", "ResourceNotFoundException", "no", 404)
    refused = invoke(target, "track", RECORDED, "--rerecord")
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"error: the tracker has job {RECORDED}'s items, but Voice ID has no ")
    assert f"job {RECORDED} in Voice ID domain {DOMAIN} any more" in refused.stderr
    assert f"`{target.command('show', RECORDED)}` shows what was recorded" in refused.stderr
    assert started_executions(target) == []


def test_a_command_s_help_wraps_its_paragraphs_at_the_terminal_not_at_the_docstring_s_line_ends(
    cloud: dict[str, Any],
) -> None:
    """typer's rich help kept the docstring's line breaks, so `track --help` broke "does not have, or" from "not
    of the given --kind" whatever the width."""
    for command, sentence in (
        ("track", "a job the service does not have, or not of the given --kind, is refused and nothing is started"),
        ("watch", "Exits 1 if recording failed, if no tracker follows the job any more"),
    ):
        lines = [" ".join(line.split()) for line in invoke(cloud["target"], command, "--help").output.splitlines()]
        assert any(sentence in line for line in lines), (command, lines[:12])
