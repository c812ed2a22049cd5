"""The loop, its retries and its failure paths, read back from the synthesized definition."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import cdk_json_context, definition

STATES_IN_ORDER = [
    "Validate input",
    "Acquire job lock",
    "Start polling",
    "Describe job",
    "Job status?",
    "Poll cap reached?",
    "Wait for job",
]


@pytest.fixture(scope="module")
def asl(template_json: dict[str, Any]) -> dict[str, Any]:
    return definition(template_json)


@pytest.fixture(scope="module")
def states(asl: dict[str, Any]) -> dict[str, Any]:
    return dict(asl["States"])


def test_the_happy_path_loops_describe_choice_wait(asl: dict[str, Any], states: dict[str, Any]) -> None:
    assert asl["StartAt"] == "Validate input"
    assert "QueryLanguage" not in asl or asl["QueryLanguage"] == "JSONPath"
    assert states["Validate input"]["Choices"][0]["Next"] == "Acquire job lock"
    assert states["Acquire job lock"]["Next"] == "Start polling"
    assert states["Start polling"]["Next"] == "Describe job"
    assert states["Describe job"]["Next"] == "Job status?"
    assert states["Poll cap reached?"]["Default"] == "Wait for job"
    assert states["Wait for job"]["SecondsPath"] == "$.Job.WaitSeconds"
    assert states["Wait for job"]["Next"] == "Describe job"
    assert set(STATES_IN_ORDER) <= set(states)


def test_job_status_choice_routes_every_status(states: dict[str, Any]) -> None:
    choice = states["Job status?"]
    routes = {}
    for rule in choice["Choices"]:
        if "Or" in rule:
            for inner in rule["Or"]:
                routes[inner["StringEquals"]] = rule["Next"]
        else:
            routes[rule["StringEquals"]] = rule["Next"]
    assert routes == {
        "COMPLETED_WITH_ERRORS": "Record failed requests",
        "COMPLETED": "Record completed job",
        "FAILED": "Record failed job",
        "SUBMITTED": "Poll cap reached?",
        "IN_PROGRESS": "Poll cap reached?",
    }
    assert choice["Default"] == "Unexpected job status"
    for record_state in ("Record failed requests", "Record completed job", "Record failed job"):
        assert states[record_state]["Next"] == "Mark job recorded"
    assert states["Mark job recorded"]["Next"] == "Job recorded"
    assert states["Job recorded"] == {
        "Type": "Succeed",
        "OutputPath": "$.Record",
        **_comment(states["Job recorded"]),
    }


def _comment(state: dict[str, Any]) -> dict[str, Any]:
    return {"Comment": state["Comment"]} if "Comment" in state else {}


def test_poll_cap_comes_from_config_and_fits_the_history_limit(states: dict[str, Any]) -> None:
    cap = cdk_json_context()["tracker:pollCap"]
    rule = states["Poll cap reached?"]["Choices"][0]
    assert rule == {
        "Variable": "$.Job.PollCount",
        "NumericGreaterThanEquals": cap,
        "Next": "Poll cap reached",
    }
    # About 9 history events per poll, up to 12 with retries: the cap keeps below Standard's 25,000.
    assert cap * 12 < 25_000


@pytest.mark.parametrize("state", ["Describe job", "Record failed requests", "Record completed job"])
def test_lambda_service_errors_and_throttling_are_retried_with_jitter(states: dict[str, Any], state: str) -> None:
    retries = states[state]["Retry"]
    lambda_retry = retries[0]
    assert "Lambda.TooManyRequestsException" in lambda_retry["ErrorEquals"]
    assert "Lambda.ServiceException" in lambda_retry["ErrorEquals"]
    assert lambda_retry["JitterStrategy"] == "FULL"
    assert lambda_retry["BackoffRate"] == 2
    assert lambda_retry["MaxDelaySeconds"] <= 60


def test_voice_id_throttling_and_internal_errors_are_retried(states: dict[str, Any]) -> None:
    retry = states["Describe job"]["Retry"][1]
    assert retry["ErrorEquals"] == ["VoiceIdThrottled", "VoiceIdUnavailable"]
    assert retry["JitterStrategy"] == "FULL"
    assert retry["MaxAttempts"] >= 5


def test_permanent_errors_end_in_a_fail_state_with_error_and_cause(states: dict[str, Any]) -> None:
    catches = states["Describe job"]["Catch"]
    assert {"JobNotFound", "InvalidJobRequest", "AccessDenied"} <= set(catches[0]["ErrorEquals"])
    assert catches[0]["Next"] == "Release job lock"
    assert catches[-1]["ErrorEquals"] == ["States.ALL"]
    assert states["Release job lock"]["Next"] == "Explain failure"
    assert states["Explain failure"]["Parameters"]["Cause.$"] == "States.StringToJson($.Error.Cause)"
    assert states["Tracking failed"] == {
        "Type": "Fail",
        "ErrorPath": "$.Error",
        "CausePath": "$.Cause.errorMessage",
        **_comment(states["Tracking failed"]),
    }
    assert states["Input rejected"]["Error"] == "InvalidJobRequest"
    assert "DomainId" in states["Input rejected"]["Cause"]


def test_duplicate_starts_stop_at_the_conditional_job_lock(states: dict[str, Any]) -> None:
    lock = states["Acquire job lock"]
    assert lock["Resource"].endswith(":states:::dynamodb:putItem")
    assert lock["Parameters"]["ConditionExpression"] == "attribute_not_exists(#pk) OR LockState = :released"
    assert lock["Parameters"]["Item"]["pk"] == {"S.$": "States.Format('JOB#{}#{}', $.DomainId, $.JobId)"}
    assert lock["Parameters"]["Item"]["sk"] == {"S": "LOCK"}
    assert lock["Catch"][0] == {
        "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
        "ResultPath": "$.LockError",
        "Next": "Re-record requested?",
    }
    assert states["Re-record requested?"]["Default"] == "Job already tracked"
    assert states["Re-record requested?"]["Choices"][0]["Next"] == "Take over job lock"
    release = states["Release job lock"]
    assert release["Parameters"]["ConditionExpression"] == "ExecutionArn = :me"


def test_uses_no_jsonata(asl: dict[str, Any], states: dict[str, Any]) -> None:
    assert asl.get("QueryLanguage", "JSONPath") == "JSONPath"
    for name, state in states.items():
        assert state.get("QueryLanguage", "JSONPath") == "JSONPath", name
        assert "Assign" not in state, name
