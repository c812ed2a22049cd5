"""The CLI on moto (DynamoDB, Step Functions) with Bedrock stubbed against botocore's model: a job's kind told
from its id (`track`, `watch`), `failures --code UNPROCESSED`, `watch` naming the job's own service and its
last reading, `retry --output`'s Bedrock default in its help, and CSV cells a spreadsheet would run as formulas."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from rich.console import Console

from batch_job_tracker_cli.app import kind_of_job_id
from batch_job_tracker_cli.progress import Watcher
from batch_job_tracker_cli.records import service_statuses_for
from batch_job_tracker_cli.render import csv_cell
from batch_job_tracker_cli.shared import JOB_KINDS
from batch_job_tracker_cli.target import Target
from tests.unit.test_cli_commands import TABLE, create_table, invoke, put, summary, tracker_state_machine

REGION = "us-east-1"
ACCOUNT = "123456789012"
BEDROCK_JOB = "abcdef123456"
DOMAIN = "DomainAAAAAAAAAAAAAAAA"
VOICE_JOB = "EnrollJobAAAAAAAAAAAAA"
BEDROCK = JOB_KINDS["BEDROCK_BATCH_INFERENCE"]


class StubbedBedrockTarget(Target):
    """moto for everything but Bedrock and Voice ID, whose clients are stubbed (moto has neither)."""

    def __init__(self, bedrock: Any, voice_id: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._bedrock = bedrock
        self._voice_id = voice_id

    def bedrock(self) -> Any:
        return self._bedrock

    def voice_id(self) -> Any:
        return self._voice_id


def bedrock_failure(record_id: str, code: int | str, message: str) -> dict[str, Any]:
    return {
        "pk": f"JOB#{ACCOUNT}#{BEDROCK_JOB}",
        "sk": f"FAILURE#{record_id}",
        "RecordType": "FAILED_REQUEST",
        "JobKind": BEDROCK.name,
        "DomainId": ACCOUNT,
        "JobId": BEDROCK_JOB,
        "RequestId": record_id,
        "RecordId": record_id,
        "ErrorCode": code,
        "ErrorMessage": message,
    }


@pytest.fixture
def cloud() -> Iterator[dict[str, Any]]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        dynamodb = session.client("dynamodb")
        create_table(dynamodb)
        bedrock = boto3.client("bedrock", region_name=REGION)
        voice_id = boto3.client("voice-id", region_name=REGION)
        target = StubbedBedrockTarget(
            bedrock,
            voice_id,
            description="stack Test (us-east-1)",
            outputs={
                "FailuresTableName": TABLE,
                "StateMachineArn": tracker_state_machine(session.client("stepfunctions")),
                "VoiceIdDomainIds": f"{DOMAIN},DomainCCCCCCCCCCCCCCCC",
                "BedrockAccountId": ACCOUNT,
            },
            session=session,
        )
        with Stubber(bedrock) as stubber, Stubber(voice_id) as voice_id_stubber:
            yield {"target": target, "dynamodb": dynamodb, "stubber": stubber, "voice_id": voice_id_stubber}


def started_input(target: Target, result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    arn = result.stdout.strip()
    return dict(json.loads(target.stepfunctions().describe_execution(executionArn=arn)["input"]))


def voice_id_job(job_id: str, domain: str = DOMAIN) -> dict[str, Any]:
    """Describe<Kind>Job's answer for a Voice ID job."""
    return {"Job": {"JobId": job_id, "DomainId": domain, "JobStatus": "IN_PROGRESS"}}


def test_track_tells_a_bedrock_job_from_its_id_and_finds_its_account(cloud: dict[str, Any]) -> None:
    target = cloud["target"]
    cloud["stubber"].add_response("get_model_invocation_job", bedrock_job("InProgress"), {"jobIdentifier": BEDROCK_JOB})
    assert started_input(target, invoke(target, "track", BEDROCK_JOB)) == {
        "DomainId": ACCOUNT,
        "JobId": BEDROCK_JOB,
        "JobKind": "BEDROCK_BATCH_INFERENCE",
    }
    refused = invoke(target, "track", BEDROCK_JOB, "--kind", "SPEAKER_ENROLLMENT")
    assert refused.exit_code == 1
    assert "job abcdef123456 is not a speaker enrollment job: its JobId must be 22 letters or digits" in refused.stderr


def test_track_refuses_a_bedrock_job_on_a_stack_that_follows_no_bedrock_account(cloud: dict[str, Any]) -> None:
    voice_id_alone = Target(
        description="stack VoiceOnly (us-east-1)",
        outputs={key: value for key, value in cloud["target"].outputs.items() if key != "BedrockAccountId"},
        session=cloud["target"].session,
    )
    voice_id_alone.outputs["VoiceIdDomainIds"] = DOMAIN
    refused = invoke(voice_id_alone, "track", BEDROCK_JOB)
    assert refused.exit_code == 1
    assert refused.stderr == (
        "error: stack VoiceOnly (us-east-1) follows no AWS account for Bedrock batch inference job abcdef123456 "
        f"({DOMAIN} is not one: it must be an AWS account id of 12 digits); say --domain\n"
    )


def test_track_takes_a_recorded_job_s_kind_and_domain_from_its_items(cloud: dict[str, Any]) -> None:
    target, voice_id = cloud["target"], cloud["voice_id"]
    put(cloud["dynamodb"], summary(DOMAIN, VOICE_JOB, "2026-11-25T10:00:00+00:00", kind="SPEAKER_ENROLLMENT"))
    known = {"DomainId": DOMAIN, "JobId": VOICE_JOB}
    voice_id.add_response("describe_speaker_enrollment_job", voice_id_job(VOICE_JOB), known)
    assert started_input(target, invoke(target, "track", VOICE_JOB, "--rerecord")) == {
        "DomainId": DOMAIN,
        "JobId": VOICE_JOB,
        "JobKind": "SPEAKER_ENROLLMENT",
        "Rerecord": True,
    }
    # A Voice ID job nothing recorded, with two domains followed: Voice ID is asked in each, not guessed.
    fresh, other_domain = "FreshJobAAAAAAAAAAAAAA", "DomainCCCCCCCCCCCCCCCC"
    voice_id.add_client_error("describe_fraudster_registration_job", "ResourceNotFoundException", "no job", 404)
    voice_id.add_response(
        "describe_fraudster_registration_job",
        voice_id_job(fresh, other_domain),
        {"DomainId": other_domain, "JobId": fresh},
    )
    assert started_input(target, invoke(target, "track", fresh)) == {"DomainId": other_domain, "JobId": fresh}
    voice_id.assert_no_pending_responses()


def test_the_index_is_asked_for_every_service_word_a_tracker_word_may_stand_for() -> None:
    assert service_statuses_for(["COMPLETED_WITH_ERRORS"]) == {
        "COMPLETED_WITH_ERRORS",
        "PartiallyCompleted",
        "Stopped",
        "Expired",
        "Completed",
        # S3 Batch Operations: a Cancelled job, and a Complete one whose tasks failed.
        "Cancelled",
        "Complete",
    }
    assert service_statuses_for(["COMPLETED"]) == {"COMPLETED", "Completed", "Complete"}
    assert service_statuses_for(["SUBMITTED"]) == {
        "SUBMITTED",
        "Submitted",
        "Validating",
        "Scheduled",
        *("New", "Preparing", "Suspended", "Ready"),
    }


def test_a_job_id_alone_names_bedrock_or_voice_id_s_default_kind() -> None:
    assert kind_of_job_id(BEDROCK_JOB) is BEDROCK
    assert kind_of_job_id(VOICE_JOB) is JOB_KINDS["FRAUDSTER_REGISTRATION"]


def test_failures_take_unprocessed_as_a_code_as_failures_by_code_and_retry_do(cloud: dict[str, Any]) -> None:
    target, dynamodb = cloud["target"], cloud["dynamodb"]
    put(dynamodb, summary(ACCOUNT, BEDROCK_JOB, "2026-11-25T10:00:00+00:00", kind=BEDROCK.name, status="Stopped"))
    put(dynamodb, bedrock_failure("r1", 400, "bad"))
    put(dynamodb, bedrock_failure("r2", "UNPROCESSED", "never processed"))
    put(dynamodb, bedrock_failure("r3", "UNPROCESSED", "never processed"))

    def listed(*codes: str) -> list[str]:
        result = invoke(target, "failures", BEDROCK_JOB, *codes, "--format", "json")
        assert result.exit_code == 0, result.output
        return [failure["RequestId"] for failure in json.loads(result.stdout)]

    assert listed("--code", "UNPROCESSED") == ["r2", "r3"]
    assert listed("--code", "unprocessed", "--code", "400") == ["r1", "r2", "r3"]
    assert listed("--code", "400") == ["r1"]
    refused = invoke(target, "failures", BEDROCK_JOB, "--code", "4xx")
    assert refused.exit_code == 1
    assert (
        refused.stderr
        == "error: --code takes HTTP status codes, a service's error codes (NoSuchKey) or UNPROCESSED, got '4xx'\n"
    )


def test_csv_cells_a_spreadsheet_would_run_as_formulas_start_with_a_quote(cloud: dict[str, Any]) -> None:
    target, dynamodb = cloud["target"], cloud["dynamodb"]
    put(dynamodb, summary(ACCOUNT, BEDROCK_JOB, "2026-11-25T10:00:00+00:00", kind=BEDROCK.name, status="Stopped"))
    for record_id, message in (
        ('=HYPERLINK("http://x")', "+1 is not a prompt"),
        ("-2+3", "@SUM(A1:A2)"),
        ("plain", "a - b = c"),
    ):
        put(dynamodb, bedrock_failure(record_id, 400, message))
    result = invoke(target, "failures", BEDROCK_JOB, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))[1:]
    assert [row[:3] for row in rows] == [
        ["'-2+3", "400", "'@SUM(A1:A2)"],
        ['\'=HYPERLINK("http://x")', "400", "'+1 is not a prompt"],
        ["plain", "400", "a - b = c"],
    ]
    assert [csv_cell(value) for value in ("\tcmd", "\rcmd", -1, None, "a=b")] == ["'\tcmd", "'\rcmd", -1, "", "a=b"]


def test_retry_s_help_gives_the_bedrock_default_for_output(cloud: dict[str, Any]) -> None:
    result = invoke(cloud["target"], "retry", "--help")
    assert result.exit_code == 0
    help_text = " ".join(result.stdout.replace("│", " ").split())
    assert "Bedrock, the stack's BedrockRetryInputLocation" in help_text


def bedrock_job(status: str, processed: int | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "jobArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/{BEDROCK_JOB}",
        "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/BedrockBatch",
        "status": status,
        "submitTime": datetime(2026, 11, 25, tzinfo=UTC),
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://in/batch/"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://out/batch/"}},
    }
    if processed is not None:
        answer.update(totalRecordCount=10, processedRecordCount=processed)
    return answer


def rendered(view: Any) -> str:
    console = Console(file=io.StringIO(), width=150, force_terminal=False)
    console.print(view)
    return str(console.file.getvalue())  # type: ignore[attr-defined]


def test_watch_names_the_job_s_service_and_its_last_reading_once_recorded(cloud: dict[str, Any]) -> None:
    """A Bedrock job read while Validating, then run and recorded between two rounds: the row shows Amazon
    Bedrock and the job's last reading (one more describe), not Voice ID beside `Validating 0%`."""
    target, dynamodb, stubber = cloud["target"], cloud["dynamodb"], cloud["stubber"]
    stubber.add_response("get_model_invocation_job", bedrock_job("Validating"), {"jobIdentifier": BEDROCK_JOB})
    stubber.add_response("get_model_invocation_job", bedrock_job("Stopped", 6), {"jobIdentifier": BEDROCK_JOB})

    watcher = Watcher(target, BEDROCK_JOB, ACCOUNT, BEDROCK, interval=1.0, timeout=60)
    first = rendered(watcher.snapshot().view())
    assert "Amazon Bedrock  Validating" in first and "Voice ID" not in first
    recorded = summary(ACCOUNT, BEDROCK_JOB, "2026-11-25T10:00:00+00:00", kind=BEDROCK.name, status="Stopped")
    put(dynamodb, recorded)
    put(dynamodb, {"pk": f"JOB#{ACCOUNT}#{BEDROCK_JOB}", "sk": "LOCK", "LockState": "RECORDED"})
    final = watcher.snapshot()
    assert final.recorded
    shown = rendered(final.view())
    assert "Amazon Bedrock  Stopped" in shown and "60%" in shown
    assert "Validating" not in shown and "Voice ID" not in shown
    assert final.final_line() == f"Job {BEDROCK_JOB} recorded: Stopped, 0 failed record(s)"
    stubber.assert_no_pending_responses()
    # Recorded: no more describes (the stubber would refuse one).
    assert "Stopped" in rendered(watcher.snapshot().view())


def test_jobs_status_finds_a_job_by_the_service_s_word_or_the_tracker_s(cloud: dict[str, Any]) -> None:
    """Bedrock's words on JobStatus, the tracker's on TrackerJobStatus; and summaries written before that
    attribute existed (deployed data), RECORDING ones holding the tracker's word in JobStatus."""
    dynamodb, target = cloud["dynamodb"], cloud["target"]
    jobs: list[tuple[str, str, str, dict[str, Any]]] = [
        (DOMAIN, "VoiceErrorsAAAAAAAAAAAA", "COMPLETED_WITH_ERRORS", {"TrackerJobStatus": "COMPLETED_WITH_ERRORS"}),
        (DOMAIN, "VoiceCleanAAAAAAAAAAAAA", "COMPLETED", {"TrackerJobStatus": "COMPLETED"}),
        (ACCOUNT, "stopped00001", "Stopped", {"TrackerJobStatus": "COMPLETED_WITH_ERRORS"}),
        (ACCOUNT, "witherrors01", "Completed", {"TrackerJobStatus": "COMPLETED_WITH_ERRORS", "FailedRecordCount": 2}),
        (ACCOUNT, "clean0000001", "Completed", {"TrackerJobStatus": "COMPLETED", "FailedRecordCount": 0}),
        (ACCOUNT, "oldrecording", "COMPLETED_WITH_ERRORS", {"RecordState": "RECORDING"}),
        (ACCOUNT, "oldexpired01", "Expired", {"FailedRecordCount": 0}),
        (ACCOUNT, "oldcomplete1", "Completed", {"FailedRecordCount": 3}),
    ]
    for day, (scope, job, status, extra) in enumerate(jobs, start=1):
        kind = "SPEAKER_ENROLLMENT" if scope == DOMAIN else BEDROCK.name
        state = str(extra.pop("RecordState", "COMPLETE"))
        put(
            dynamodb,
            summary(
                scope, job, f"2026-11-{day:02d}T08:00:00+00:00", kind=kind, status=status, record_state=state, **extra
            ),
        )

    def listed(status: str, *options: str) -> list[str]:
        result = invoke(target, "jobs", "--status", status, *options, "--format", "json")
        assert result.exit_code == 0, result.output
        return [job["JobId"] for job in json.loads(result.stdout)]

    assert listed("COMPLETED_WITH_ERRORS") == [
        "oldcomplete1",
        "oldexpired01",
        "oldrecording",
        "witherrors01",
        "stopped00001",
        "VoiceErrorsAAAAAAAAAAAA",
    ]
    assert listed("COMPLETED_WITH_ERRORS", "--limit", "2") == ["oldcomplete1", "oldexpired01"]
    assert listed("Stopped") == ["stopped00001"]
    assert listed("Completed") == ["oldcomplete1", "clean0000001", "witherrors01"]
    assert listed("COMPLETED") == ["clean0000001", "VoiceCleanAAAAAAAAAAAAA"]
    assert listed("completed") == ["oldcomplete1", "clean0000001", "witherrors01", "VoiceCleanAAAAAAAAAAAAA"]
    every = invoke(target, "jobs", "--format", "json")
    words = {job["JobId"]: (job["JobStatus"], job["TrackerJobStatus"]) for job in json.loads(every.stdout)}
    assert words["stopped00001"] == ("Stopped", "COMPLETED_WITH_ERRORS")
    assert words["oldexpired01"] == ("Expired", "COMPLETED_WITH_ERRORS")
    assert words["VoiceCleanAAAAAAAAAAAAA"] == ("COMPLETED", "COMPLETED")
    shown = invoke(target, "show", "stopped00001")
    assert shown.exit_code == 0, shown.output
    assert re.search(r"\bJobStatus +Stopped", shown.stdout)
    assert re.search(r"TrackerJobStatus +COMPLETED_WITH_ERRORS", shown.stdout)
