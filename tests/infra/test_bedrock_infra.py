"""Bedrock in the template: the rule, the grants scoped to the configuration, Voice ID alone, Bedrock alone
and both, and a stack deployed before Bedrock upgrading in place (same stack, same table)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Template

from infra.config import STACK_NAME
from tests.infra.conftest import cdk_json_context, synth
from tests.infra.test_resources import actions_of, statements

CONTEXT = cdk_json_context()

# The stack's resources as the last release before Bedrock synthesized them (main at 8296906, cdk.json's
# context). CloudFormation replaces a resource whose logical id changes; the table above all must not be.
PRE_BEDROCK_LOGICAL_IDS = {
    "FailuresTable83A0A723": "AWS::DynamoDB::Table",
    "FunctionsValidateInput5BC12B16": "AWS::Lambda::Function",
    "FunctionsDescribeJobD3B65A97": "AWS::Lambda::Function",
    "FunctionsRecordFailures79516EA9": "AWS::Lambda::Function",
    "FunctionsWakeTracker81869768": "AWS::Lambda::Function",
    "FunctionsSweepE321ADB6": "AWS::Lambda::Function",
    "TrackerStateMachineE6261FB4": "AWS::StepFunctions::StateMachine",
    "DeadLetterKey972EF902": "AWS::KMS::Key",
    "SweepDeadLetterQueue067F6B57": "AWS::SQS::Queue",
    "SweepSchedule5ECAB4A7": "AWS::Scheduler::Schedule",
    "TriggerDeadLetterQueueE7CE1E11": "AWS::SQS::Queue",
    "TriggerRule9B777F7D": "AWS::Events::Rule",
    "TriggerSpeakerEnrollmentJobRuleA1C5D908": "AWS::Events::Rule",
}


def test_a_stack_deployed_before_bedrock_upgrades_in_place(template_json: dict[str, Any]) -> None:
    assert STACK_NAME == "VoiceIdJobTracker"
    resources = template_json["Resources"]
    for logical_id, resource_type in PRE_BEDROCK_LOGICAL_IDS.items():
        assert logical_id in resources, f"{logical_id} would be replaced"
        assert resources[logical_id]["Type"] == resource_type
    table = resources["FailuresTable83A0A723"]
    assert table["DeletionPolicy"] == "Retain"
    assert "Bedrock batch inference" in template_json["Description"]


def bedrock_rule(template_json: dict[str, Any]) -> dict[str, Any]:
    (rule,) = [
        r
        for r in template_json["Resources"].values()
        if r["Type"] == "AWS::Events::Rule" and r["Properties"]["EventPattern"]["source"] == ["aws.bedrock"]
    ]
    return dict(rule)


def test_the_bedrock_rule_matches_the_configured_name_prefixes_and_passes_the_job_arn(
    template_json: dict[str, Any],
) -> None:
    rule = bedrock_rule(template_json)
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.bedrock"],
        "detail-type": ["Batch Inference Job State Change"],
        "detail": {
            "batchJobName": [{"prefix": prefix} for prefix in CONTEXT["tracker:bedrockJobNamePrefixes"]],
            "batchJobArn": [{"exists": True}],
        },
    }
    (target,) = rule["Properties"]["Targets"]
    transformer = target["InputTransformer"]
    # creationTime (non-ISO in AWS's sample event) is neither matched nor passed on.
    assert transformer["InputPathsMap"] == {"detail-batchJobArn": "$.detail.batchJobArn"}
    assert transformer["InputTemplate"] == '{"JobArn":<detail-batchJobArn>,"JobKind":"BEDROCK_BATCH_INFERENCE"}'
    assert "DeadLetterConfig" in target


def _bedrock_statements(template_json: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [s for s in statements(template_json, role) if "bedrock:" in str(s["Action"])]


def test_bedrock_grants_are_scoped_to_model_invocation_jobs_and_the_configured_files(
    template_json: dict[str, Any],
) -> None:
    for role in ("DescribeJobRole", "ValidateInputRole"):
        (describe,) = _bedrock_statements(template_json, role)
        assert actions_of(describe) == ["bedrock:GetModelInvocationJob"]
        assert ":model-invocation-job/*" in json.dumps(describe["Resource"])
    # ListModelInvocationJobs has no resource type: "*", merged with X-Ray's statement by minimizePolicies.
    (listing,) = _bedrock_statements(template_json, "SweepRole")
    assert "bedrock:ListModelInvocationJobs" in actions_of(listing) and listing["Resource"] == "*"
    assert [a for a in actions_of(listing) if a.startswith("bedrock:")] == ["bedrock:ListModelInvocationJobs"]
    assert not _bedrock_statements(template_json, "RecordFailuresRole")
    record = statements(template_json, "RecordFailuresRole")
    lists = [s for s in record if actions_of(s) == ["s3:ListBucket"]]
    buckets = {
        uri.removeprefix("s3://").split("/")[0]: uri.removeprefix("s3://").split("/", 1)[1]
        for uri in (*CONTEXT["tracker:bedrockOutputLocations"], *CONTEXT["tracker:bedrockInputLocations"])
    }
    assert len(lists) == len(buckets)
    for statement in lists:
        bucket = json.dumps(statement["Resource"]).split(":s3:::")[1].split('"')[0]
        prefixes = statement["Condition"]["StringLike"]["s3:prefix"]
        assert (prefixes if isinstance(prefixes, list) else [prefixes]) == [f"{buckets[bucket]}*"]


def _synth_json(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    _, stack = synth(tmp_path, **overrides)
    return dict(Template.from_stack(stack).to_json())


def test_bedrock_alone_has_no_voice_id_rule_or_grant(tmp_path: Path) -> None:
    template_json = _synth_json(
        tmp_path, voiceIdDomainIds=[], outputLocations=None, outputKmsKeyArns=None, s3BatchJobDescriptionPrefixes=None
    )
    rules = [r for r in template_json["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    assert [rule["Properties"]["EventPattern"]["source"] for rule in rules] == [["aws.bedrock"]]
    assert "voiceid:" not in json.dumps(template_json)
    describe = template_json["Outputs"]["TrackedServices"]["Value"]
    assert describe == "bedrock"


def test_voice_id_alone_has_no_bedrock_rule_or_grant(tmp_path: Path) -> None:
    template_json = _synth_json(tmp_path, bedrockJobNamePrefixes=None, s3BatchJobDescriptionPrefixes=None)
    assert "bedrock:" not in json.dumps(template_json)
    assert "aws.bedrock" not in json.dumps(template_json)
    assert template_json["Outputs"]["TrackedServices"]["Value"] == "voiceid"
