"""S3 Batch Operations in the template: the CloudTrail rule, the grants scoped to the configuration (jobs of the
account, the report prefixes), the functions' environment, and the stack with S3 Batch Operations alone or with
the other services."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Annotations, Match, Template

from tests.infra.conftest import cdk_json_context, definition, synth
from tests.infra.test_resources import actions_of, statements

CONTEXT = cdk_json_context()
S3BATCH_ALONE: dict[str, Any] = {
    "voiceIdDomainIds": [],
    "outputLocations": None,
    "outputKmsKeyArns": None,
    "bedrockJobNamePrefixes": None,
    "bedrockRetryPolicy": None,
}


def _rules(template_json: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in template_json["Resources"].values() if r["Type"] == "AWS::Events::Rule"]


def _synth_json(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    _, stack = synth(tmp_path, **overrides)
    return dict(Template.from_stack(stack).to_json())


def test_the_rule_matches_cloudtrail_job_events_and_passes_the_job_arn(template_json: dict[str, Any]) -> None:
    (rule,) = [r for r in _rules(template_json) if r["Properties"]["EventPattern"]["source"] == ["aws.s3"]]
    # The events carry no description or report (docs/s3batch-facts.md §6): every job of the account matches,
    # and validate-input refuses those outside the configuration.
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["AWS Service Event via CloudTrail"],
        "detail": {
            "eventSource": ["s3.amazonaws.com"],
            "eventName": ["JobCreated", "JobStatusChanged"],
            "serviceEventDetails": {"jobArn": [{"exists": True}]},
        },
    }
    (target,) = rule["Properties"]["Targets"]
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"] == {"detail-serviceEventDetails-jobArn": "$.detail.serviceEventDetails.jobArn"}
    assert transformer["InputTemplate"] == (
        '{"JobArn":<detail-serviceEventDetails-jobArn>,"JobKind":"S3_BATCH_OPERATIONS","StartedBy":"event"}'
    )
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumEventAgeInSeconds"] == 86400


def test_an_event_s_job_the_configuration_does_not_name_ends_the_execution_succeeded(
    template_json: dict[str, Any],
) -> None:
    states = definition(template_json)["States"]
    catches = states["Validate input"]["Catch"]
    assert {"ErrorEquals": ["JobNotFollowed"], "ResultPath": "$", "Next": "Explain not followed"} in catches
    assert catches[-1]["ErrorEquals"] == ["States.ALL"]
    assert states["Explain not followed"]["Parameters"] == {"Cause.$": "States.StringToJson($.Cause)"}
    assert states["Explain not followed"]["Next"] == "Job not followed"
    assert states["Job not followed"]["Type"] == "Succeed"
    assert states["Job not followed"]["OutputPath"] == "$.Cause.errorMessage"


def _s3batch_statements(template_json: dict[str, Any], role: str, action: str) -> list[dict[str, Any]]:
    return [s for s in statements(template_json, role) if action in actions_of(s)]


def test_describe_and_validate_may_describe_the_accounts_jobs_only(template_json: dict[str, Any]) -> None:
    jobs = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":s3:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":job/*",
            ],
        ]
    }
    for role in ("DescribeJobRole", "ValidateInputRole"):
        (describe,) = _s3batch_statements(template_json, role, "s3:DescribeJob")
        assert actions_of(describe) == ["s3:DescribeJob"] and describe["Resource"] == jobs
        assert not _s3batch_statements(template_json, role, "s3:ListJobs")
    for role in ("RecordFailuresRole", "WakeTrackerRole"):
        assert "s3:DescribeJob" not in json.dumps(statements(template_json, role))


def test_the_sweep_may_list_jobs_and_nothing_else_of_s3_control(template_json: dict[str, Any]) -> None:
    sweep = statements(template_json, "SweepRole")
    (listing,) = [s for s in sweep if "s3:ListJobs" in actions_of(s)]
    # ListJobs has no resource type in IAM: "*" is the only resource it is granted on (CDK merges it with the
    # other actions granted on "*": Bedrock's listing, X-Ray's).
    assert listing["Resource"] == "*"
    assert {action for action in actions_of(listing) if action.startswith("s3:")} == {"s3:ListJobs"}
    assert "s3:DescribeJob" not in json.dumps(sweep) and "s3:GetObject" not in json.dumps(sweep)


def test_the_record_step_reads_the_configured_report_prefixes(template_json: dict[str, Any]) -> None:
    (s3_read,) = _s3batch_statements(template_json, "RecordFailuresRole", "s3:GetObject")
    for uri in CONTEXT["tracker:s3BatchReportLocations"]:
        expected = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":s3:::{uri.removeprefix('s3://')}*"]]}
        assert expected in s3_read["Resource"]


def test_validate_input_and_the_sweep_get_the_scope_in_their_environment(template_json: dict[str, Any]) -> None:
    functions = {
        resource["Properties"]["Handler"].split(".", 1)[0]: resource["Properties"]["Environment"]["Variables"]
        for resource in template_json["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function" and "Handler" in resource["Properties"]
    }
    for function in ("validate_input", "sweep"):
        environment = functions[function]
        assert environment["S3BATCH_JOB_DESCRIPTION_PREFIXES"] == ",".join(
            CONTEXT["tracker:s3BatchJobDescriptionPrefixes"]
        )
        assert environment["S3BATCH_REPORT_LOCATIONS"] == ",".join(CONTEXT["tracker:s3BatchReportLocations"])
        assert environment["S3BATCH_ACCOUNT_ID"] == {"Ref": "AWS::AccountId"}
    assert functions["describe_job"]["TRACKED_SERVICES"] == "voiceid,bedrock,s3"


def test_s3_batch_operations_alone_has_no_voice_id_or_bedrock_rule_or_grant(tmp_path: Path) -> None:
    _, stack = synth(tmp_path, **S3BATCH_ALONE)
    template_json = dict(Template.from_stack(stack).to_json())
    # cdk-nag finds nothing unsuppressed in this variant either (test_template_checks.py checks all three).
    annotations = Annotations.from_stack(stack)
    nagged = [
        *annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*")),
        *annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*")),
    ]
    assert nagged == [], [finding.entry.data for finding in nagged]
    assert [rule["Properties"]["EventPattern"]["source"] for rule in _rules(template_json)] == [["aws.s3"]]
    text = json.dumps(template_json)
    assert "voiceid:" not in text and "bedrock:" not in text and "aws.bedrock" not in text
    assert template_json["Outputs"]["TrackedServices"]["Value"] == "s3"
    assert template_json["Outputs"]["S3BatchReportLocations"]["Value"] == ",".join(
        CONTEXT["tracker:s3BatchReportLocations"]
    )


def test_without_s3_batch_operations_nothing_of_it_is_in_the_template(tmp_path: Path) -> None:
    template_json = _synth_json(tmp_path, s3BatchJobDescriptionPrefixes=None)
    text = json.dumps(template_json)
    assert "aws.s3" not in text and "s3:DescribeJob" not in text and "s3:ListJobs" not in text
    assert "S3BATCH_" not in text and "S3BatchReportLocations" not in template_json["Outputs"]
    assert template_json["Outputs"]["TrackedServices"]["Value"] == "voiceid,bedrock"
