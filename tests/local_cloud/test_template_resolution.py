"""Template loading and intrinsic resolution against small hand-written templates."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from local_cloud.eventbridge import EventRule
from local_cloud.stack_functions import lambda_function_configs
from local_cloud.template import StackTemplate, TemplateError, UnsupportedResourceError

FIXTURES = Path(__file__).parent / "fixtures"
REGION, ACCOUNT = "eu-west-2", "111122223333"


@pytest.fixture
def stack() -> StackTemplate:
    return StackTemplate.load(FIXTURES / "tracker.template.json", region=REGION, account_id=ACCOUNT)


def test_stack_name_defaults_to_the_template_file_stem(stack: StackTemplate) -> None:
    assert stack.stack_name == "tracker"


def test_generated_names_are_deterministic_and_cloudformation_shaped(stack: StackTemplate) -> None:
    table = stack.ref("JobsTable")
    assert table.startswith("tracker-JobsTable-")
    assert StackTemplate.load(FIXTURES / "tracker.template.json").ref("JobsTable") == table


def test_environment_variables_resolve_refs_getatts_and_functions(stack: StackTemplate) -> None:
    variables = stack.resolved_properties("DescribeJobFn")["Environment"]["Variables"]
    table = stack.ref("JobsTable")
    assert variables["TABLE_NAME"] == table
    assert variables["TABLE_ARN"] == f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
    assert variables["BUCKET"] == f"voiceid-data-{ACCOUNT}-{REGION}"  # explicit BucketName via Fn::Sub
    assert variables["LOG_LEVEL"] == "DEBUG"  # Fn::FindInMap with the parameter's default
    assert "PROD_ONLY" not in variables  # Fn::If -> AWS::NoValue removes the key
    assert variables["REGION_PART"] == "west"  # Fn::Select over Fn::Split
    assert variables["LITERAL"] == "${NotAVariable}-aws"  # ${!...} escape and the variable-map form


def test_kms_key_ref_is_a_key_id_and_its_arn_contains_it(stack: StackTemplate) -> None:
    key_id = stack.ref("DataKey")
    assert len(key_id) == 36
    assert stack.get_att("DataKey", "Arn") == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"
    assert stack.get_att("DataKey", "KeyId") == key_id


def test_state_machine_ref_is_its_arn_and_the_definition_is_substituted(stack: StackTemplate) -> None:
    assert stack.ref("TrackerMachine") == f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:voiceid-tracker"
    definition = stack.state_machine_definition("TrackerMachine")
    describe = definition["States"]["Describe"]
    assert describe["Parameters"]["FunctionName"] == stack.get_att("DescribeJobFn", "Arn")
    assert definition["States"]["Put"]["Parameters"]["TableName"] == stack.ref("JobsTable")


def test_parameters_can_be_overridden_and_conditions_follow(stack: StackTemplate) -> None:
    prod = StackTemplate.load(FIXTURES / "tracker.template.json", parameters={"Stage": "prod"})
    variables = prod.resolved_properties("DescribeJobFn")["Environment"]["Variables"]
    assert (variables["LOG_LEVEL"], variables["PROD_ONLY"]) == ("INFO", "yes")
    assert prod.is_created("ProdAlarm")
    assert not stack.is_created("ProdAlarm")


def test_resource_report_classifies_every_resource(stack: StackTemplate) -> None:
    report = stack.resource_report()
    assert sorted(logical_id for logical_id, _ in report.local) == [
        "DataBucket",
        "DataKey",
        "DescribeJobFn",
        "JobEventsRule",
        "JobsTable",
        "TrackerMachine",
    ]
    assert {logical_id for logical_id, _, _ in report.no_local_effect} == {
        "DescribeJobRole",
        "ProdAlarm",
        "CDKMetadata",
    }
    assert report.unknown == []
    report.raise_for_unknown()


def test_unknown_resource_types_are_reported_by_logical_id_and_type() -> None:
    template = {
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
            "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
            "Custom": {"Type": "Custom::Thing", "Properties": {}},
        }
    }
    report = StackTemplate(template, stack_name="s").resource_report()
    with pytest.raises(UnsupportedResourceError) as raised:
        report.raise_for_unknown()
    assert raised.value.unknown == [("Topic", "AWS::SNS::Topic"), ("Custom", "Custom::Thing")]
    assert "Topic (AWS::SNS::Topic)" in str(raised.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Fn::ImportValue": "Other-Export"}, "Fn::ImportValue"),
        ({"Fn::GetAtt": ["JobsTable", "NoSuchAttribute"]}, "JobsTable.NoSuchAttribute"),
        ({"Ref": "NoSuchResource"}, "NoSuchResource"),
    ],
)
def test_unresolvable_intrinsics_raise_with_a_useful_message(
    stack: StackTemplate, value: dict[str, Any], message: str
) -> None:
    with pytest.raises(TemplateError, match=message):
        stack.resolve(value)


def test_pseudo_parameters(stack: StackTemplate) -> None:
    resolved = stack.resolve(
        {"Fn::Join": [":", [{"Ref": "AWS::Partition"}, {"Ref": "AWS::URLSuffix"}, {"Ref": "AWS::StackName"}]]}
    )
    assert resolved == "aws:amazonaws.com:tracker"
    assert stack.resolve({"Fn::Sub": "${AWS::Region}/${JobsTable.Arn}"}) == (
        f"{REGION}/{stack.get_att('JobsTable', 'Arn')}"
    )


def test_events_rule_loads_from_resolved_properties(stack: StackTemplate) -> None:
    rule = EventRule.from_cloudformation(
        stack.physical_name("JobEventsRule"),
        stack.resolved_properties("JobEventsRule"),
        region=REGION,
        account_id=ACCOUNT,
    )
    assert rule.arn == stack.get_att("JobEventsRule", "Arn")
    (target,) = rule.targets
    assert target.arn == stack.ref("TrackerMachine")
    assert target.input_transformer is not None
    assert json.loads(target.input_transformer.input_template.replace("<job>", '"x"')) == {"jobId": "x"}


def test_lambda_function_configs_come_from_the_template_and_cdk_out(stack: StackTemplate, tmp_path: Path) -> None:
    (config,) = lambda_function_configs(stack, tmp_path)
    assert config.name == stack.ref("DescribeJobFn")
    assert config.arn == stack.get_att("DescribeJobFn", "Arn")
    assert config.code_dir == tmp_path / "asset.abc123"
    assert (config.handler, config.runtime, config.timeout_seconds, config.memory_mb) == (
        "describe_job.handler.handler",
        "python3.12",
        30,
        256,
    )
    assert config.environment["TABLE_NAME"] == stack.ref("JobsTable")


def test_functions_the_local_runtime_cannot_run_are_named() -> None:
    template = {
        "Resources": {
            "NodeFn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Runtime": "nodejs20.x", "Handler": "index.handler"},
                "Metadata": {"aws:asset:path": "asset.x"},
            }
        }
    }
    with pytest.raises(TemplateError, match=re.escape("NodeFn: runtime 'nodejs20.x'")):
        lambda_function_configs(StackTemplate(template, stack_name="s"), Path("cdk.out"))


def test_sqs_queue_ref_is_its_url_and_getatt_arn() -> None:
    stack = StackTemplate({"Resources": {"Dlq": {"Type": "AWS::SQS::Queue"}}}, stack_name="s", account_id="1")
    name = stack.physical_name("Dlq")
    assert stack.ref("Dlq") == f"https://sqs.us-east-1.amazonaws.com/1/{name}"
    assert stack.resolve({"Fn::GetAtt": "Dlq.Arn"}) == f"arn:aws:sqs:us-east-1:1:{name}"
