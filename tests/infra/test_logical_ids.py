"""The stack's class was renamed (VoiceIdJobTrackerStack -> BatchJobTrackerStack) and its name kept: a deployed
stack updates in place only if every logical id stays what it was, because CloudFormation replaces a resource
whose logical id changes (the table with its items, the state machine with its running executions).

The ids below are the template as synthesized just before the rename (main at 8aa5f98, cdk.json's context).
New resources may be added; an id here that disappears or changes type means a replacement on the next deploy.
If that is intended, say so in the commit and update the list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk

from infra.config import STACK_NAME
from infra.stack import BatchJobTrackerStack

LOGICAL_IDS_BEFORE_THE_RENAME = {
    "DeadLetterKey972EF902": "AWS::KMS::Key",
    "FailuresTable83A0A723": "AWS::DynamoDB::Table",
    "FunctionsDependenciesCF657893": "AWS::Lambda::LayerVersion",
    "FunctionsDescribeJobD3B65A97": "AWS::Lambda::Function",
    "FunctionsDescribeJobLogsBF6EDDC6": "AWS::Logs::LogGroup",
    "FunctionsDescribeJobRole655566C7": "AWS::IAM::Role",
    "FunctionsDescribeJobRoleDefaultPolicy25548659": "AWS::IAM::Policy",
    "FunctionsRecordFailures79516EA9": "AWS::Lambda::Function",
    "FunctionsRecordFailuresLogsAB1EBF02": "AWS::Logs::LogGroup",
    "FunctionsRecordFailuresRole97A807D4": "AWS::IAM::Role",
    "FunctionsRecordFailuresRoleDefaultPolicyAEFF4CAE": "AWS::IAM::Policy",
    "FunctionsSweepE321ADB6": "AWS::Lambda::Function",
    "FunctionsSweepEventInvokeConfig2A08E85E": "AWS::Lambda::EventInvokeConfig",
    "FunctionsSweepLogsE2EE726E": "AWS::Logs::LogGroup",
    "FunctionsSweepRoleDefaultPolicy99D489CB": "AWS::IAM::Policy",
    "FunctionsSweepRoleF365BA14": "AWS::IAM::Role",
    "FunctionsValidateInput5BC12B16": "AWS::Lambda::Function",
    "FunctionsValidateInputLogsDB76C5CB": "AWS::Logs::LogGroup",
    "FunctionsValidateInputRole1BB54D8A": "AWS::IAM::Role",
    "FunctionsValidateInputRoleDefaultPolicyA9CC851C": "AWS::IAM::Policy",
    "FunctionsWakeTracker81869768": "AWS::Lambda::Function",
    "FunctionsWakeTrackerLogsD397C2DB": "AWS::Logs::LogGroup",
    "FunctionsWakeTrackerRoleDefaultPolicy8EB5CB45": "AWS::IAM::Policy",
    "FunctionsWakeTrackerRoleF8FFA039": "AWS::IAM::Role",
    "MonitoringDashboard0C3675C6": "AWS::CloudWatch::Dashboard",
    "MonitoringFailedExecutionsEB0BC83A": "AWS::CloudWatch::Alarm",
    "MonitoringFailedSweepsE038037E": "AWS::CloudWatch::Alarm",
    "MonitoringLambdaErrors07EF3732": "AWS::CloudWatch::Alarm",
    "MonitoringLambdaThrottlesFEA546C6": "AWS::CloudWatch::Alarm",
    "MonitoringMissedSweeps35B1C42D": "AWS::CloudWatch::Alarm",
    "MonitoringSweepHeartbeat9625E8CC": "AWS::CloudWatch::Alarm",
    "MonitoringUndeliveredEvents4C68F73B": "AWS::CloudWatch::Alarm",
    "SweepDeadLetterQueue067F6B57": "AWS::SQS::Queue",
    "SweepDeadLetterQueuePolicy43B3105A": "AWS::SQS::QueuePolicy",
    "SweepFailedSweepsQueueB601A00C": "AWS::SQS::Queue",
    "SweepFailedSweepsQueuePolicyBBAF3D65": "AWS::SQS::QueuePolicy",
    "SweepGroupB9E5B846": "AWS::Scheduler::ScheduleGroup",
    "SweepRole8A7451E2": "AWS::IAM::Role",
    "SweepRoleDefaultPolicy646E75C8": "AWS::IAM::Policy",
    "SweepSchedule5ECAB4A7": "AWS::Scheduler::Schedule",
    "TrackerLogs6F324061": "AWS::Logs::LogGroup",
    "TrackerStateMachineE6261FB4": "AWS::StepFunctions::StateMachine",
    "TrackerStateMachineEventsRole06F78430": "AWS::IAM::Role",
    "TrackerStateMachineEventsRoleDefaultPolicy66770277": "AWS::IAM::Policy",
    "TrackerStateMachineRoleDCE5C3CF": "AWS::IAM::Role",
    "TrackerStateMachineRoleDefaultPolicy7BD0599F": "AWS::IAM::Policy",
    "TriggerDeadLetterQueueE7CE1E11": "AWS::SQS::Queue",
    "TriggerDeadLetterQueuePolicy9FC94A52": "AWS::SQS::QueuePolicy",
    "TriggerModelInvocationJobRule38FB70C5": "AWS::Events::Rule",
    "TriggerRule9B777F7D": "AWS::Events::Rule",
    "TriggerSpeakerEnrollmentJobRuleA1C5D908": "AWS::Events::Rule",
}

OUTPUTS_BEFORE_THE_RENAME = [
    "BedrockAccountId",
    "BedrockInputLocations",
    "BedrockJobNamePrefixes",
    "BedrockMinRecordsPerJob",
    "BedrockOutputKmsKeyArns",
    "BedrockOutputLocations",
    "BedrockRetryInputLocation",
    "DeadLetterQueueUrl",
    "EventRuleNames",
    "FailedSweepsQueueUrl",
    "FailuresTableName",
    "RecordFailuresRoleArn",
    "StateMachineArn",
    "SweepDeadLetterQueueUrl",
    "SweepFunctionName",
    "SweepScheduleName",
    "TrackedServices",
    "VoiceIdDomainIds",
    "VoiceIdInputKmsKeyArns",
    "VoiceIdInputLocations",
    "VoiceIdOutputKmsKeyArns",
    "VoiceIdOutputLocations",
]


def test_the_stack_keeps_its_name_and_is_the_renamed_class(synthesized: tuple[cdk.App, cdk.Stack, Path]) -> None:
    app, stack, _ = synthesized
    assert [child for child in app.node.children if isinstance(child, cdk.Stack)] == [stack]
    assert isinstance(stack, BatchJobTrackerStack)
    assert (STACK_NAME, stack.stack_name, stack.node.id) == ("VoiceIdJobTracker",) * 3


def test_every_logical_id_from_before_the_rename_is_kept(template_json: dict[str, Any]) -> None:
    resources = template_json["Resources"]
    kept = {
        logical_id: resources[logical_id]["Type"]
        for logical_id in LOGICAL_IDS_BEFORE_THE_RENAME
        if logical_id in resources
    }
    assert kept == LOGICAL_IDS_BEFORE_THE_RENAME, "a resource's logical id changed: CloudFormation would replace it"


def test_every_output_from_before_the_rename_is_kept(template_json: dict[str, Any]) -> None:
    # The CLI and scripts find the stack's resources by these output keys.
    assert set(OUTPUTS_BEFORE_THE_RENAME) <= set(template_json["Outputs"])
