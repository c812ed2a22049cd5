"""The stack with `tracker:bedrockRetryPolicy` set: the retry dispatcher, its event rule, schedule and least-
privilege role, checked by cdk-nag, cfn-lint and checkov as the default template is (the checks are imported from
test_template_checks and test_client_budgets and run here on this template)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.constructs.state_machine import OUTCOME_EVENT_SOURCE
from tests.infra.conftest import synth
from tests.infra.test_assets import (  # noqa: F401
    assets,
    test_each_function_imports_its_handler_from_its_code_and_layers_alone,
)
from tests.infra.test_client_budgets import (  # noqa: F401 (collected here, on this template)
    test_every_function_of_the_template_has_its_clients_listed,
    test_the_worst_sdk_call_ends_well_within_the_function_timeout,
)
from tests.infra.test_template_checks import (  # noqa: F401
    test_cdk_nag_aws_solutions_reports_nothing_unsuppressed,
    test_cfn_lint_finds_no_problems,
    test_checkov_fails_nothing_and_every_skip_says_why,
    test_every_nag_suppression_carries_a_reason,
)

POLICY = {
    "retryCodes": [429, 500, 503, "UNPROCESSED"],
    "maxAttempts": 3,
    "poolWaitSeconds": 300,
    "maxJobsInFlightPerModel": 5,
    "maxRecordsPerDay": 10_000,
}


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[cdk.App, cdk.Stack, Path]:
    outdir = tmp_path_factory.mktemp("retries-cdk.out")
    app, stack = synth(outdir, bedrockRetryPolicy=POLICY)
    app.synth()
    return app, stack, outdir


@pytest.fixture(scope="module")
def template_json(synthesized: tuple[cdk.App, cdk.Stack, Path]) -> dict[str, Any]:
    return dict(Template.from_stack(synthesized[1]).to_json())


def _of_type(template_json: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in template_json["Resources"].items() if value["Type"] == resource_type}


def _dispatcher(template_json: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (key, value)
        for key, value in _of_type(template_json, "AWS::Lambda::Function").items()
        if value["Properties"].get("Handler") == "retry_dispatcher.handler.lambda_handler"
    ]
    return found


def test_the_dispatcher_reads_the_policy_validated_at_synth(template_json: dict[str, Any]) -> None:
    _, function = _dispatcher(template_json)
    environment = function["Properties"]["Environment"]["Variables"]
    assert json.loads(environment["BEDROCK_RETRY_POLICY"])["poolWaitSeconds"] == 300
    assert environment["BEDROCK_RETRY_INPUT_LOCATION"].endswith("/retries/")
    assert environment["SETTLED_EVENT_SOURCE"] == OUTCOME_EVENT_SOURCE


def test_bedrock_jobs_recorded_invoke_it_and_a_schedule_as_often_as_records_may_wait(
    template_json: dict[str, Any],
) -> None:
    key, _ = _dispatcher(template_json)
    rules = [
        rule
        for rule in _of_type(template_json, "AWS::Events::Rule").values()
        if rule["Properties"]["EventPattern"].get("source") == [OUTCOME_EVENT_SOURCE]
    ]
    (rule,) = rules
    assert rule["Properties"]["EventPattern"]["detail"] == {"JobKind": ["BEDROCK_BATCH_INFERENCE"]}
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [key, "Arn"]}
    schedules = [
        schedule
        for schedule in _of_type(template_json, "AWS::Scheduler::Schedule").values()
        if schedule["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": [key, "Arn"]}
    ]
    (schedule,) = schedules
    assert schedule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"


def test_its_role_is_scoped(template_json: dict[str, Any]) -> None:
    key, function = _dispatcher(template_json)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        statement
        for policy in _of_type(template_json, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {
        action
        for statement in statements
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert {"bedrock:CreateModelInvocationJob", "bedrock:InvokeModel", "iam:PassRole", "events:PutEvents"} <= actions
    assert not any(action.endswith("*") and not action.startswith(("kms:", "xray:")) for action in actions), actions
    (pass_role,) = [statement for statement in statements if statement["Action"] == "iam:PassRole"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}
    assert all(statement["Resource"] != "*" for statement in statements if "xray" not in str(statement["Action"]))
    (put,) = [statement for statement in statements if statement["Action"] == "s3:PutObject"]
    assert any("retries/auto/*" in json.dumps(resource) for resource in put["Resource"])
    assert key


def test_off_the_stack_has_no_dispatcher(tmp_path: Path) -> None:
    _, stack = synth(tmp_path, bedrockRetryPolicy=None)
    functions = Template.from_stack(stack).find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "retry_dispatcher.handler.lambda_handler"}}
    )
    assert functions == {}


def test_records_pending_too_long_alarm_and_are_charted(template_json: dict[str, Any]) -> None:
    alarms = [
        alarm["Properties"]
        for alarm in _of_type(template_json, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "RetryRecordsOverdue"
    ]
    (alarm,) = alarms
    assert (alarm["Statistic"], alarm["Threshold"]) == ("Maximum", 1)
    assert "docs/runbook.md, section RetryRecordsOverdue." in alarm["AlarmDescription"]
    runbook = (Path(__file__).parents[2] / "docs" / "runbook.md").read_text()
    assert "## Alarm `RetryRecordsOverdue`" in runbook
    (dashboard,) = _of_type(template_json, "AWS::CloudWatch::Dashboard").values()
    assert "Automatic retries" in json.dumps(dashboard["Properties"]["DashboardBody"])


# The runbook's commands: its fenced code, and the inline commands of its prose.
RUNBOOK_COMMANDS = re.compile(r"```bash\n(.*?)```|`((?:batch-job-tracker|aws) [^`]*)`", re.DOTALL)
PLACEHOLDER = re.compile(r"<([^<>\s][^<>\n]*)>")  # <schedule group> too, which named nothing to look up


def test_every_placeholder_of_the_runbook_is_a_stack_output_or_says_which_command_fills_it(
    template_json: dict[str, Any],
) -> None:
    # This template has every output (the retry dispatcher's too); an operator fills an output's placeholder
    # from describe-stacks or, locally, outputs.json, and any other from the command the runbook's table names.
    runbook = (Path(__file__).parents[2] / "docs" / "runbook.md").read_text()
    commands = "\n".join(block or inline for block, inline in RUNBOOK_COMMANDS.findall(runbook))
    used = set(PLACEHOLDER.findall(commands))
    filled_by_a_command = {
        name
        for row in re.findall(r"^\| (`<.*?) \| (.*`.*`.*) \|$", runbook, flags=re.MULTILINE)
        for name in PLACEHOLDER.findall(row[0])
    }
    outputs = set(template_json["Outputs"])
    assert {"JobId", "SweepScheduleGroupName"} <= used
    assert sorted(used - outputs - filled_by_a_command) == []
    # And the other way: what the table claims a command fills is no output (an output is read, not searched).
    assert sorted(filled_by_a_command & outputs) == []
