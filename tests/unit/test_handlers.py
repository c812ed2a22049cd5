"""The thin handlers: cold-start config validation, one call into domain logic, JobId as correlation id."""

from __future__ import annotations

import importlib
import json
import sys
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from job_tracker.adapters.bedrock import BedrockJobDescriber
from job_tracker.adapters.voiceid import VoiceIdJobDescriber
from job_tracker.errors import BedrockThrottled, ConfigurationError, SweepIncomplete, VoiceIdThrottled
from job_tracker.models import JobStatus, job_to_payload
from job_tracker.sweep import SweepReport
from tests.unit.conftest import DOMAIN_ID, JOB_ID, REGION, TABLE, job, output_document, put_output


@dataclass
class FakeContext:
    function_name: str = "describe-job"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:describe-job"
    aws_request_id: str = "req-1"
    remaining_seconds: float = 900.0

    def get_remaining_time_in_millis(self) -> int:
        return int(self.remaining_seconds * 1000)


def fresh_import(name: str) -> ModuleType:
    """Import a handler as a cold start would, with the current environment."""
    sys.modules.pop(name, None)
    return importlib.import_module(name)


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "voiceid-job-tracker")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "VoiceIdJobTracker")


def log_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"level"' in line]


def test_describe_handler_refuses_to_start_without_poll_bounds(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MIN_POLL_SECONDS", raising=False)
    monkeypatch.setenv("MAX_POLL_SECONDS", "60")
    with pytest.raises(ConfigurationError, match="MIN_POLL_SECONDS"):
        fresh_import("describe_job.handler")


def _describe_handler(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """describe-job's handler, freshly imported with poll bounds, and the Voice ID client it describes with."""
    monkeypatch.setenv("MIN_POLL_SECONDS", "5")
    monkeypatch.setenv("MAX_POLL_SECONDS", "60")
    handler = fresh_import("describe_job.handler")
    client = boto3.client("voice-id", region_name=REGION)
    monkeypatch.setattr(handler, "describer", VoiceIdJobDescriber(client))
    return handler, client


def test_describe_handler_returns_the_job_and_logs_with_the_job_id(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler, client = _describe_handler(monkeypatch)
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_fraudster_registration_job",
            {
                "Job": {
                    "DomainId": DOMAIN_ID,
                    "JobId": JOB_ID,
                    "JobStatus": "IN_PROGRESS",
                    "JobProgress": {"PercentComplete": 10},
                }
            },
            {"DomainId": DOMAIN_ID, "JobId": JOB_ID},
        )
        result = handler.lambda_handler({"DomainId": DOMAIN_ID, "JobId": JOB_ID, "PollCount": 0}, FakeContext())
    assert result["JobStatus"] == "IN_PROGRESS"
    assert 5 <= result["WaitSeconds"] <= 60
    logs = log_lines(capsys.readouterr().out)
    described = [line for line in logs if line["message"] == "Described fraudster registration job"]
    assert described and described[0]["correlation_id"] == JOB_ID
    assert described[0]["percent_complete"] == 10


def test_record_handler_writes_failures_and_returns_a_short_summary(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch, s3: Any, dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAILURES_TABLE_NAME", TABLE)
    monkeypatch.setenv("RETENTION_DAYS", "30")
    handler = fresh_import("record_failures.handler")
    described = job(JobStatus.COMPLETED_WITH_ERRORS)
    assert described.output is not None
    put_output(s3, described.output.key, output_document(errors=[("r1", 400, "Not enough speech")], registered=2))
    before = time.time()
    result = handler.lambda_handler(
        {"DomainId": DOMAIN_ID, "JobId": JOB_ID, "Job": {**job_to_payload(described), "PollCount": 7}},
        FakeContext(function_name="record-failures"),
    )
    after = time.time()
    assert result == {
        "DomainId": DOMAIN_ID,
        "JobId": JOB_ID,
        "JobKind": "FRAUDSTER_REGISTRATION",
        "JobStatus": "COMPLETED_WITH_ERRORS",
        "TrackerJobStatus": "COMPLETED_WITH_ERRORS",
        "FailedRequests": 1,
        "RegisteredRequests": 2,
        "DuplicateSkippedRequests": 0,
        "OutputUri": described.output.uri,
        "FailureDetails": None,
        "Items": {"TableName": TABLE, "pk": f"JOB#{DOMAIN_ID}#{JOB_ID}"},
    }
    stored = dynamodb.get_item(
        TableName=TABLE, Key={"pk": {"S": f"JOB#{DOMAIN_ID}#{JOB_ID}"}, "sk": {"S": "FAILURE#r1"}}
    )
    assert stored["Item"]["ErrorMessage"] == {"S": "Not enough speech"}
    # Both the failure and the summary expire RETENTION_DAYS after the record was written.
    summary = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": f"JOB#{DOMAIN_ID}#{JOB_ID}"}, "sk": {"S": "SUMMARY"}})
    for item in (stored["Item"], summary["Item"]):
        assert int(before) + 30 * 86400 <= int(item["ExpiresAt"]["N"]) <= int(after) + 30 * 86400
    # The describes this execution made, one datapoint per recorded job (the dashboard's average and p90).
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [metric.get("DescribesPerJob") for metric in emitted] == [[7.0]]


def test_a_voice_id_throttle_is_counted_on_its_own_and_still_raised_for_the_state_machine(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler, client = _describe_handler(monkeypatch)
    with Stubber(client) as stubber:
        stubber.add_client_error("describe_fraudster_registration_job", "ThrottlingException", "Rate exceeded", 400)
        with pytest.raises(VoiceIdThrottled):
            handler.lambda_handler({"DomainId": DOMAIN_ID, "JobId": JOB_ID, "PollCount": 0}, FakeContext())
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [metric.get("VoiceIdThrottles") for metric in emitted] == [[1.0]]
    assert "JobPolls" not in emitted[0]


def test_a_bedrock_throttle_is_counted_as_bedrock_s_and_still_raised_for_the_state_machine(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler, _ = _describe_handler(monkeypatch)
    client = boto3.client("bedrock", region_name=REGION)
    monkeypatch.setattr(handler, "describer", BedrockJobDescriber(client))
    request = {"DomainId": "123456789012", "JobId": "abcdef123456", "JobKind": "BEDROCK_BATCH_INFERENCE"}
    with Stubber(client) as stubber:
        stubber.add_client_error("get_model_invocation_job", "ThrottlingException", "Rate exceeded", 429)
        with pytest.raises(BedrockThrottled):
            handler.lambda_handler({**request, "PollCount": 0}, FakeContext())
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [metric.get("BedrockThrottles") for metric in emitted] == [[1.0]]
    assert "VoiceIdThrottles" not in emitted[0] and "JobPolls" not in emitted[0]


def test_only_a_complete_sweep_emits_the_heartbeat(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VOICE_ID_DOMAIN_IDS", DOMAIN_ID)
    monkeypatch.setenv("SWEEP_LOOKBACK_DAYS", "7")
    monkeypatch.setenv("FAILURES_TABLE_NAME", TABLE)
    monkeypatch.setenv("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:tracker")
    handler = fresh_import("sweep.handler")
    complete, incomplete = SweepReport(), SweepReport(listing_failures=["SPEAKER_ENROLLMENT in D: throttled"])
    for report in (complete, incomplete):
        monkeypatch.setattr(handler, "sweep", type("FakeSweep", (), {"run": lambda self, *a, r=report, **_: r})())
        if report is incomplete:
            with pytest.raises(SweepIncomplete):
                handler.lambda_handler({}, FakeContext(function_name="sweep"))
        else:
            handler.lambda_handler({}, FakeContext(function_name="sweep"))
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [metric.get("SweepsCompleted") for metric in emitted] == [[1.0], None]
