"""The loop, its retries and its failure paths, read back from the synthesized definition."""

from __future__ import annotations

import random
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from infra.config import EVENTS_PER_POLL, EVENTS_PER_RETRY, MAX_POLL_CAP
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
    assert states["Validate input"]["Next"] == "Acquire job lock"
    assert states["Validate input"]["Parameters"] == {"Input.$": "$"}
    assert states["Validate input"]["ResultPath"] == "$"
    assert states["Describe job"]["Parameters"]["JobKind.$"] == "$.JobKind"
    assert states["Acquire job lock"]["Next"] == "Handed over?"
    assert states["Handed over?"]["Default"] == "Start polling"
    assert states["Start polling"]["Next"] == "Describe job"
    assert states["Describe job"]["Next"] == "Job status?"
    assert states["Poll cap reached?"]["Default"] == "Wait for job or wake-up"
    assert states["Wait for job or wake-up"]["Next"] == "Describe job"
    assert states["Wait for job"]["SecondsPath"] == "$.Job.WaitSeconds"
    assert states["Wait for job"]["Next"] == "Describe job"
    assert set(STATES_IN_ORDER) <= set(states)


def test_execution_times_out_after_the_longest_possible_polling(asl: dict[str, Any]) -> None:
    context = cdk_json_context()
    assert asl["TimeoutSeconds"] == context["tracker:pollCap"] * context["tracker:pollMaxSeconds"] + 3600


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
    assert states["Mark job recorded"]["Next"] == "Name the outcome event"
    for named in ("Announce as Voice ID Job Recorded", "Announce as Batch Job Recorded"):
        assert states[named]["Next"] == "Announce job recorded"
    assert states["Announce job recorded"]["Next"] == "Job recorded"
    assert states["Job recorded"] == {
        "Type": "Succeed",
        "OutputPath": "$.Record",
        **_comment(states["Job recorded"]),
    }


def _comment(state: dict[str, Any]) -> dict[str, Any]:
    return {"Comment": state["Comment"]} if "Comment" in state else {}


def test_poll_cap_comes_from_config_and_fits_the_history_limit(states: dict[str, Any]) -> None:
    cap = cdk_json_context()["tracker:pollCap"]
    cap_rule = {"Variable": "$.Job.PollCount", "NumericGreaterThanEquals": cap}
    outlived, reached = states["Poll cap reached?"]["Choices"]
    # At the cap the job is handed over, unless it has been followed longer than its kind allows.
    assert outlived == {
        "And": [
            cap_rule,
            {"Variable": "$.Job.WithinLongestJob", "IsPresent": True},
            {"Variable": "$.Job.WithinLongestJob", "BooleanEquals": False},
        ],
        "Next": "Explain poll cap",
    }
    assert reached == {**cap_rule, "Next": "Prepare hand-over"}
    # The loop is exactly a token-wait Task -> the describe Task -> two Choices, which is what
    # EVENTS_PER_POLL counts (a token wait writes one more event than a plain task: TaskSubmitted).
    loop = ["Wait for job or wake-up", "Describe job", "Job status?", "Poll cap reached?"]
    assert [states[name]["Type"] for name in loop] == ["Task", "Task", "Choice", "Choice"]
    assert EVENTS_PER_POLL == 6 + 5 + 2 + 2
    assert cap <= MAX_POLL_CAP
    # One describe retry and one fallback to the plain Wait state per poll, at the cap, still fit.
    assert MAX_POLL_CAP * (EVENTS_PER_POLL + EVENTS_PER_RETRY + 2) + 1_000 <= 25_000


@pytest.mark.parametrize("state", ["Describe job", "Record failed requests", "Record completed job"])
def test_lambda_service_errors_and_throttling_are_retried_with_jitter(states: dict[str, Any], state: str) -> None:
    retries = states[state]["Retry"]
    lambda_retry = retries[0]
    assert "Lambda.TooManyRequestsException" in lambda_retry["ErrorEquals"]
    assert "Lambda.ServiceException" in lambda_retry["ErrorEquals"]
    assert lambda_retry["JitterStrategy"] == "FULL"
    assert lambda_retry["BackoffRate"] == 2
    assert lambda_retry["MaxDelaySeconds"] <= 60


def test_service_throttling_and_internal_errors_are_retried(states: dict[str, Any]) -> None:
    retry = states["Describe job"]["Retry"][1]
    assert retry["ErrorEquals"] == [
        "VoiceIdThrottled",
        "VoiceIdUnavailable",
        "BedrockThrottled",
        "BedrockUnavailable",
        "S3BatchThrottled",
        "S3BatchUnavailable",
        "Sandbox.Timedout",
    ]
    # validate-input reads a Bedrock or S3 Batch Operations job to check it against the configuration.
    assert states["Validate input"]["Retry"][1]["ErrorEquals"] == retry["ErrorEquals"]
    assert retry["JitterStrategy"] == "FULL"
    assert retry["MaxAttempts"] >= 5


@pytest.mark.parametrize("state", ["Record failed requests", "Record completed job", "Record failed job"])
def test_transient_record_failures_are_retried_and_a_failed_record_is_never_left_recording(
    states: dict[str, Any], state: str
) -> None:
    retry = states[state]["Retry"][1]
    assert retry["ErrorEquals"] == ["RecordingIncomplete", "TransientServiceError", "Sandbox.Timedout"]
    assert [(c["ErrorEquals"][-1], c["Next"]) for c in states[state]["Catch"]] == [
        ("UnexpectedJobStatus", "Mark record failed"),
        ("States.ALL", "Mark record failed after error"),
    ]
    for name, then in [
        ("Mark record failed", "Release job lock"),
        ("Mark record failed after error", "Release job lock after error"),
    ]:
        mark = states[name]
        assert mark["Parameters"]["Key"]["sk"] == {"S": "SUMMARY"}
        assert mark["Parameters"]["ConditionExpression"] == "RecordState = :recording"
        assert mark["Parameters"]["ExpressionAttributeValues"][":problem"] == {
            "S.$": "States.Format('{}: {}', $.Error.Error, $.Error.Cause)"
        }
        assert mark["Next"] == then and mark["Catch"][0]["Next"] == then


def _retry_delays(retry: dict[str, Any], rng: random.Random) -> float:
    """One draw of the total time a retrier waits over all its attempts (full jitter: uniform below each)."""
    total = 0.0
    for attempt in range(retry["MaxAttempts"]):
        ceiling = min(retry["IntervalSeconds"] * retry["BackoffRate"] ** attempt, retry["MaxDelaySeconds"])
        total += rng.uniform(0, ceiling)
    return total


@pytest.mark.parametrize(
    ("state", "index"),
    [("Describe job", 1), ("Record failed requests", 1), ("Acquire job lock", 0), ("Read job lock", 0)],
)
def test_the_transient_retry_budget_outlasts_ten_minutes_of_faults(
    states: dict[str, Any], state: str, index: int
) -> None:
    retry = states[state]["Retry"][index]
    assert retry["JitterStrategy"] == "FULL"
    draws = sorted(_retry_delays(retry, random.Random(seed)) for seed in range(2_000))
    # Even the shortest of 2,000 draws of the jittered delays waits out 10 minutes; a typical one, ~18.
    assert draws[0] > 600
    # And after the fault clears, the next attempt comes within a minute.
    assert retry["MaxDelaySeconds"] <= 60


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
    validate_catches = states["Validate input"]["Catch"]
    assert validate_catches[0] == {
        "ErrorEquals": ["InvalidJobRequest", "JobNotFound", "AccessDenied"],
        "ResultPath": "$",
        "Next": "Explain rejection",
    }
    assert states["Explain rejection"]["Next"] == "Input rejected"
    assert (states["Input rejected"]["ErrorPath"], states["Input rejected"]["CausePath"]) == (
        "$.Error",
        "$.Cause.errorMessage",
    )


def test_duplicate_starts_stop_at_the_conditional_job_lock(states: dict[str, Any]) -> None:
    lock = states["Acquire job lock"]
    assert lock["Resource"].endswith(":states:::dynamodb:putItem")
    # Only a new lock is put; an existing one (RELEASED included) is read and taken over, which keeps the
    # list of executions that held it.
    assert lock["Parameters"]["ConditionExpression"] == "attribute_not_exists(#pk)"
    assert lock["Parameters"]["Item"]["pk"] == {"S.$": "States.Format('JOB#{}#{}', $.DomainId, $.JobId)"}
    assert lock["Parameters"]["Item"]["sk"] == {"S": "LOCK"}
    assert lock["Parameters"]["Item"]["ExecutionArns"] == {"L": [{"S.$": "$$.Execution.Id"}]}
    # Listed by `jobs --all` (JobsByDomain) before any record exists.
    assert lock["Parameters"]["Item"]["gsi2pk"] == {"S.$": "States.Format('DOMAIN#{}', $.DomainId)"}
    assert lock["Parameters"]["Item"]["gsi2sk"] == {"S.$": "States.Format('{}#{}', $$.State.EnteredTime, $.JobId)"}
    assert lock["Catch"][0] == {
        "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
        "ResultPath": "$.LockError",
        "Next": "Read job lock",
    }
    assert states["Read job lock"]["Parameters"]["ConsistentRead"] is True
    assert states["Read job lock"]["Next"] == "Lock state?"
    # The first rule, a hand-over at the poll cap, has its own test.
    _, tracking, released = states["Lock state?"]["Choices"]
    assert tracking == {"Variable": "$.Lock.LockState", "StringEquals": "TRACKING", "Next": "Check lock holder"}
    # Released by a failed tracker (before or after this execution's PutItem failed): taken over.
    assert released == {"Variable": "$.Lock.LockState", "StringEquals": "RELEASED", "Next": "Take over job lock"}
    assert states["Lock state?"]["Default"] == "Re-record requested?"
    assert states["Re-record requested?"]["Default"] == "Job already tracked"
    assert states["Re-record requested?"]["Choices"][0]["Next"] == "Take over job lock"


def test_a_lock_whose_holder_stopped_is_taken_over(states: dict[str, Any]) -> None:
    check = states["Check lock holder"]
    assert check["Resource"].endswith(":states:::aws-sdk:sfn:describeExecution")
    assert check["Parameters"] == {"ExecutionArn.$": "$.Lock.ExecutionArn"}
    assert check["Catch"][0]["ErrorEquals"] == ["Sfn.ExecutionDoesNotExistException"]
    assert check["Catch"][0]["Next"] == "Take over job lock"
    (running,) = states["Lock holder still running?"]["Choices"]
    assert running == {"Variable": "$.Lock.Holder.Status", "StringEquals": "RUNNING", "Next": "Wake lock holder"}
    assert "Sfn.ThrottlingException" in check["Retry"][0]["ErrorEquals"]
    assert states["Lock holder still running?"]["Default"] == "Take over job lock"
    take_over = states["Take over job lock"]
    assert take_over["Parameters"]["ConditionExpression"] == "ExecutionArn = :holder AND LockState = :seen"
    assert (
        "ExecutionArns = list_append(if_not_exists(ExecutionArns, :none), :mine)"
        in (take_over["Parameters"]["UpdateExpression"])
    )
    assert take_over["Parameters"]["ExpressionAttributeValues"][":mine"] == {"L": [{"S.$": "$$.Execution.Id"}]}
    assert take_over["Catch"][0]["Next"] == "Job already tracked"
    assert states["Release job lock"]["Parameters"]["ConditionExpression"] == "ExecutionArn = :me"
    assert states["Mark job recorded"]["Parameters"]["ConditionExpression"] == "ExecutionArn = :me"


@pytest.mark.parametrize(
    "state",
    [
        "Acquire job lock",
        "Read job lock",
        "Take over job lock",
        "Mark job recorded",
        "Release job lock",
        "Mark record failed",
        "Take wake request",
    ],
)
def test_dynamodb_steps_retry_throttling_and_internal_errors(states: dict[str, Any], state: str) -> None:
    (retry,) = states[state]["Retry"]
    assert "DynamoDB.ProvisionedThroughputExceededException" in retry["ErrorEquals"]
    assert "DynamoDB.InternalServerErrorException" in retry["ErrorEquals"]
    assert "DynamoDB.InternalServerError" in retry["ErrorEquals"]
    assert retry["JitterStrategy"] == "FULL"


def test_uses_no_jsonata(asl: dict[str, Any], states: dict[str, Any]) -> None:
    assert asl.get("QueryLanguage", "JSONPath") == "JSONPath"
    for name, state in states.items():
        assert state.get("QueryLanguage", "JSONPath") == "JSONPath", name
        assert "Assign" not in state, name


def test_the_wait_stores_a_token_on_the_own_lock_and_times_out_into_a_poll(states: dict[str, Any]) -> None:
    wait = states["Wait for job or wake-up"]
    assert wait["Resource"].endswith(":states:::aws-sdk:dynamodb:updateItem.waitForTaskToken")
    assert wait["TimeoutSecondsPath"] == "$.Job.WaitSeconds"
    parameters = wait["Parameters"]
    assert parameters["ExpressionAttributeValues"][":token"] == {"S.$": "$$.Task.Token"}
    assert parameters["ExpressionAttributeValues"][":me"] == {"S.$": "$$.Execution.Id"}
    assert parameters["ConditionExpression"] == (
        "ExecutionArn = :me AND LockState = :tracking AND attribute_not_exists(WakeRequestedBy)"
    )
    assert parameters["Key"]["sk"] == {"S": "LOCK"}
    assert [(c["ErrorEquals"], c["Next"]) for c in wait["Catch"]] == [
        (["States.Timeout"], "Describe job"),
        (["DynamoDb.ConditionalCheckFailedException"], "Take wake request"),
        (["States.ALL"], "Wait for job"),
    ]
    take = states["Take wake request"]
    assert take["Parameters"]["UpdateExpression"] == "REMOVE WakeRequestedBy"
    assert take["Parameters"]["ConditionExpression"] == "ExecutionArn = :me AND attribute_exists(WakeRequestedBy)"
    assert (take["Next"], take["ResultPath"]) == ("Describe job", "$.Job.Wake")
    assert take["Catch"][0]["Next"] == "Wait for job"


def test_a_later_execution_wakes_a_running_holder_then_stops(states: dict[str, Any]) -> None:
    wake = states["Wake lock holder"]
    assert wake["Parameters"]["Holder.$"] == "$.Lock.ExecutionArn"
    assert wake["Next"] == "Job already tracked"
    assert [(c["ErrorEquals"], c["Next"]) for c in wake["Catch"]] == [(["States.ALL"], "Job already tracked")]


def _resolved(values: dict[str, Any], state_input: dict[str, Any]) -> dict[str, Any]:
    """The state's ExpressionAttributeValues with its JsonPaths read from `state_input` (and `$$.…` context)."""
    context = {"$$.Execution.Id": "arn:aws:states:us-east-1:123456789012:execution:t:B", "$$.State.EnteredTime": "t"}

    def read(path: str) -> Any:
        if path in context:
            return context[path]
        found: Any = state_input
        for part in path.removeprefix("$.").split("."):
            found = found[part]
        return found

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            return {k.removesuffix(".$"): read(v) if k.endswith(".$") else resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    return {name: resolve(value) for name, value in values.items()}


@pytest.mark.parametrize(("state_now", "taken"), [("TRACKING", True), ("RECORDED", False)])
def test_a_take_over_fails_when_the_holder_recorded_the_job_after_the_lock_was_read(
    states: dict[str, Any], state_now: str, taken: bool
) -> None:
    """The race: B reads the lock TRACKING under A, A records the job and ends, B finds A not running and
    takes over. The synthesized update, run on DynamoDB, must refuse once the lock is RECORDED."""
    holder = "arn:aws:states:us-east-1:123456789012:execution:t:A"
    parameters = states["Take over job lock"]["Parameters"]
    key = {"pk": {"S": "JOB#d#j"}, "sk": {"S": "LOCK"}}
    state_input = {"Lock": {"ExecutionArn": holder, "LockState": "TRACKING"}, "JobKind": "FRAUDSTER_REGISTRATION"}
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="locks",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(
            TableName="locks",
            Item={**key, "ExecutionArn": {"S": holder}, "LockState": {"S": state_now}},
        )
        try:
            dynamodb.update_item(
                TableName="locks",
                Key=key,
                UpdateExpression=parameters["UpdateExpression"],
                ConditionExpression=parameters["ConditionExpression"],
                ExpressionAttributeValues=_resolved(parameters["ExpressionAttributeValues"], state_input),
            )
            refused = False
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
            refused = True
        lock = dynamodb.get_item(TableName="locks", Key=key)["Item"]
    assert refused is not taken
    assert lock["LockState"]["S"] == ("TRACKING" if taken else "RECORDED")
    assert lock["ExecutionArn"]["S"].endswith(":B" if taken else ":A")


def test_at_the_cap_a_running_job_is_handed_over_to_a_new_execution_of_this_machine(
    states: dict[str, Any],
) -> None:
    prepare = states["Prepare hand-over"]
    assert prepare["Parameters"] == {
        # One name per handing-over execution: a retried start asks for the same successor.
        "Name.$": "States.Format('handover-{}-{}', $.JobId, States.Hash($$.Execution.Id, 'SHA-1'))",
        "Input": {
            "DomainId.$": "$.DomainId",
            "JobId.$": "$.JobId",
            "JobKind.$": "$.JobKind",
            "HandOver": {"From.$": "$$.Execution.Id", "Polling.$": "$.Job.Polling"},
        },
    }
    assert prepare["Next"] == "Hand over to a new execution"
    # Step Functions names are at most 80 characters: the longest job id (Voice ID's 22) and a SHA-1 fit.
    assert len(f"handover-{'J' * 22}-{'0' * 40}") <= 80
    start = states["Hand over to a new execution"]
    assert start["Resource"].endswith(":states:::aws-sdk:sfn:startExecution")
    assert start["Parameters"] == {
        "StateMachineArn.$": "$$.StateMachine.Id",
        "Name.$": "$.Successor.Name",
        "Input.$": "States.JsonToString($.Successor.Input)",
    }
    assert "Sfn.ThrottlingException" in start["Retry"][0]["ErrorEquals"]
    assert [(c["ErrorEquals"], c["Next"]) for c in start["Catch"]] == [
        (["Sfn.ExecutionAlreadyExistsException"], "Explain hand-over"),
        (["States.ALL"], "Release job lock after error"),
    ]
    # The lock is not released: the successor takes it from this execution, so nothing else starts between.
    assert start["Next"] == "Explain hand-over"
    assert states["Explain hand-over"]["Parameters"]["Outcome"] == "HANDED_OVER"
    assert states["Explain hand-over"]["Next"] == "Handed over"
    assert states["Handed over"]["Type"] == "Succeed"


def test_the_new_execution_takes_the_lock_from_the_one_that_handed_over_and_resumes_its_samples(
    states: dict[str, Any],
) -> None:
    handed_over = states["Lock state?"]["Choices"][0]
    assert handed_over == {
        "And": [
            {"Variable": "$.HandOver.From", "IsPresent": True},
            {"Variable": "$.Lock.LockState", "StringEquals": "TRACKING"},
            {"Variable": "$.Lock.ExecutionArn", "StringEqualsPath": "$.HandOver.From"},
        ],
        # Without asking whether it still runs: it is ending, and it handed the job over.
        "Next": "Take over job lock",
    }
    (resume,) = states["Handed over?"]["Choices"]
    assert resume == {"Variable": "$.HandOver.Polling", "IsPresent": True, "Next": "Resume polling"}
    assert states["Resume polling"]["Parameters"] == {"PollCount": 0, "Polling.$": "$.HandOver.Polling", "Wake": {}}
    assert states["Resume polling"]["ResultPath"] == "$.Job"
    assert states["Resume polling"]["Next"] == "Describe job"
    assert states["Take over job lock"]["Next"] == "Handed over?"
