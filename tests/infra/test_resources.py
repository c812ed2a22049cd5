"""Table keys, functions, trigger, IAM scoping, logging and alarms in the synthesized template."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra.config import STACK_NAME
from job_tracker import table_schema as schema
from job_tracker.kinds import JOB_KINDS
from tests.infra.conftest import cdk_json_context, only

CONTEXT = cdk_json_context()
DOMAIN_IDS = CONTEXT["tracker:voiceIdDomainIds"]


def statements(template_json: dict[str, Any], role_fragment: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for logical_id, resource in template_json["Resources"].items():
        if resource["Type"] == "AWS::IAM::Policy" and role_fragment in logical_id:
            found += resource["Properties"]["PolicyDocument"]["Statement"]
    assert found, f"no policy for {role_fragment}"
    return found


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_table_keys_billing_recovery_encryption_and_retention(
    template: Template, template_json: dict[str, Any]
) -> None:
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "KeySchema": [
                    {"AttributeName": schema.PARTITION_KEY, "KeyType": "HASH"},
                    {"AttributeName": schema.SORT_KEY, "KeyType": "RANGE"},
                ],
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "DeletionProtectionEnabled": True,
            },
        },
    )
    _, table = only(template_json, "AWS::DynamoDB::Table")
    # Items written with ExpiresAt (tracker:retentionDays) expire; the AWS managed key is the default.
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": schema.EXPIRES_AT, "Enabled": True}
    assert "KMSMasterKeyId" not in table["Properties"]["SSESpecification"]
    indexes = {index["IndexName"]: index for index in table["Properties"]["GlobalSecondaryIndexes"]}
    assert set(indexes) == {schema.ERROR_CODE_INDEX, schema.JOBS_INDEX, schema.SUBJECT_INDEX}
    # Each index copies only what its reader shows: no index copies a customer's id or the whole item.
    projections = {name: index["Projection"] for name, index in indexes.items()}
    assert projections[schema.SUBJECT_INDEX] == {"ProjectionType": "KEYS_ONLY"}
    assert projections[schema.ERROR_CODE_INDEX]["ProjectionType"] == "INCLUDE"
    assert set(projections[schema.ERROR_CODE_INDEX]["NonKeyAttributes"]) == set(schema.ERROR_CODE_INDEX_ATTRIBUTES)
    # JobsByDomain's projection as first deployed (it cannot change in place): the Voice ID kinds' counts.
    assert projections[schema.JOBS_INDEX]["NonKeyAttributes"] == list(schema.JOBS_INDEX_ATTRIBUTES)
    voice_id_counts = {count.summary_attribute for kind in JOB_KINDS.values() for count in kind.counts}
    assert voice_id_counts <= set(schema.JOBS_INDEX_ATTRIBUTES)
    subjects = {kind.subject_attribute for kind in JOB_KINDS.values()} - {None}
    assert subjects and not subjects & {
        name for projection in projections.values() for name in projection.get("NonKeyAttributes", [])
    }
    assert [k["AttributeName"] for k in indexes[schema.SUBJECT_INDEX]["KeySchema"]] == [
        schema.SUBJECT_INDEX_PARTITION_KEY
    ]
    assert [k["AttributeName"] for k in indexes[schema.ERROR_CODE_INDEX]["KeySchema"]] == [
        schema.ERROR_CODE_INDEX_PARTITION_KEY,
        schema.ERROR_CODE_INDEX_SORT_KEY,
    ]
    assert [k["AttributeName"] for k in indexes[schema.JOBS_INDEX]["KeySchema"]] == [
        schema.JOBS_INDEX_PARTITION_KEY,
        schema.JOBS_INDEX_SORT_KEY,
    ]


def test_functions_run_on_arm64_python_with_tracing_and_validated_env(template: Template) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("describe_job.handler.lambda_handler", {"MIN_POLL_SECONDS": "30", "MAX_POLL_SECONDS": "300"}),
        ("record_failures.handler.lambda_handler", {"FAILURES_TABLE_NAME": Match.any_value(), "RETENTION_DAYS": "90"}),
        ("wake_tracker.handler.lambda_handler", {"FAILURES_TABLE_NAME": Match.any_value()}),
        (
            "validate_input.handler.lambda_handler",
            {"VOICE_ID_DOMAIN_IDS": ",".join(CONTEXT["tracker:voiceIdDomainIds"])},
        ),
        ("sweep.handler.lambda_handler", {"STATE_MACHINE_ARN": Match.any_value()}),
    ]
    for handler, env in cases:
        template.has_resource_properties(
            "AWS::Lambda::Function",
            {
                "Handler": handler,
                "Runtime": Match.string_like_regexp(r"^python3\.1[3-9]$"),
                "Architectures": ["arm64"],
                "TracingConfig": {"Mode": "Active"},
                "Layers": [{"Ref": Match.string_like_regexp("Dependencies")}],
                "Environment": {
                    "Variables": Match.object_like(
                        {
                            **env,
                            "POWERTOOLS_SERVICE_NAME": "voiceid-job-tracker",
                            "POWERTOOLS_METRICS_NAMESPACE": Match.any_value(),
                        }
                    )
                },
            },
        )


def test_tracing_stays_active_without_a_tracing_sdk(template_json: dict[str, Any]) -> None:
    """Lambda and Step Functions record their own segments; nothing in the code needs an X-Ray SDK."""
    functions = [r for r in template_json["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == 5
    for function in functions:
        assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}
        variables = function["Properties"]["Environment"]["Variables"]
        assert not any(name.startswith("POWERTOOLS_TRACE") for name in variables), variables
        # Lambda sends the segments with the function's role.
        role = {"Ref": function["Properties"]["Role"]["Fn::GetAtt"][0]}
        actions = {
            action
            for resource in template_json["Resources"].values()
            if resource["Type"] == "AWS::IAM::Policy" and role in resource["Properties"]["Roles"]
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]
            for action in actions_of(statement)
        }
        assert {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= actions
    _, machine = only(template_json, "AWS::StepFunctions::StateMachine")
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}


def test_one_dependency_layer_for_arm64_python(template_json: dict[str, Any]) -> None:
    _, layer = only(template_json, "AWS::Lambda::LayerVersion")
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.14"]


@pytest.mark.parametrize(
    ("kind", "detail_types"),
    [
        ("FRAUDSTER_REGISTRATION", ["VoiceId Batch Fraudster Registration Action"]),
        (
            "SPEAKER_ENROLLMENT",
            ["VoiceId Batch Speaker Enrollment Action", "VoiceID Batch Speaker Enrollment Action"],
        ),
    ],
)
def test_one_rule_per_kind_matches_its_events_in_configured_domains(
    template_json: dict[str, Any], kind: str, detail_types: list[str]
) -> None:
    rules = [r for r in template_json["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    # One more each for Bedrock and S3 Batch Operations (tests/infra/test_bedrock_infra.py, test_s3batch_infra.py).
    assert len(rules) == 4
    (rule,) = [r for r in rules if r["Properties"]["EventPattern"]["detail-type"] == detail_types]
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.voiceid"],
        "detail-type": detail_types,
        "detail": {"domainId": CONTEXT["tracker:voiceIdDomainIds"], "batchJobId": [{"exists": True}]},
    }
    (target,) = rule["Properties"]["Targets"]
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"] == {
        "detail-domainId": "$.detail.domainId",
        "detail-batchJobId": "$.detail.batchJobId",
    }
    assert transformer["InputTemplate"] == (
        f'{{"DomainId":<detail-domainId>,"JobId":<detail-batchJobId>,"JobKind":"{kind}"}}'
    )
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumEventAgeInSeconds"] == 86400


def test_describe_job_may_only_describe_jobs_in_configured_domains(template_json: dict[str, Any]) -> None:
    voice_id = [s for s in statements(template_json, "DescribeJobRole") if "voiceid" in str(s["Action"])]
    assert len(voice_id) == 1
    assert actions_of(voice_id[0]) == [
        "voiceid:DescribeFraudsterRegistrationJob",
        "voiceid:DescribeSpeakerEnrollmentJob",
    ]
    resources = voice_id[0]["Resource"]
    resources = resources if isinstance(resources, list) else [resources]
    assert len(resources) == len(CONTEXT["tracker:voiceIdDomainIds"])
    joined = str(resources)
    for domain_id in CONTEXT["tracker:voiceIdDomainIds"]:
        assert f":domain/{domain_id}" in joined


def test_record_failures_reads_only_the_output_prefix_and_decrypts_only_via_s3(
    template_json: dict[str, Any],
) -> None:
    policy = statements(template_json, "RecordFailuresRole")
    (s3_read,) = [s for s in policy if "s3:GetObject" in actions_of(s)]
    assert actions_of(s3_read) == ["s3:GetObject"]
    # The output prefixes (job output), the input prefixes (manifests, Bedrock input) and the S3 Batch Operations
    # report prefixes, nothing else.
    expected = [
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":s3:::{uri.removeprefix('s3://')}*"]]}
        for uri in (
            *CONTEXT["tracker:outputLocations"],
            *CONTEXT["tracker:inputLocations"],
            *CONTEXT["tracker:bedrockOutputLocations"],
            *CONTEXT["tracker:bedrockInputLocations"],
            *CONTEXT["tracker:s3BatchReportLocations"],
        )
    ]
    assert sorted(map(str, s3_read["Resource"])) == sorted(map(str, expected))
    (decrypt,) = [s for s in policy if "kms:Decrypt" in actions_of(s)]
    assert actions_of(decrypt) == ["kms:Decrypt"]
    assert sorted(decrypt["Resource"]) == sorted(
        [*CONTEXT["tracker:outputKmsKeyArns"], *CONTEXT["tracker:bedrockOutputKmsKeyArns"]]
    )
    assert "kms:ViaService" in decrypt["Condition"]["StringEquals"]
    (writes,) = [s for s in policy if any(a.startswith("dynamodb:") for a in actions_of(s))]
    assert set(actions_of(writes)) == {
        "dynamodb:BatchWriteItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
    }
    assert writes["Resource"] == {"Fn::GetAtt": [only(template_json, "AWS::DynamoDB::Table")[0], "Arn"]}


def test_no_policy_grants_wildcard_actions_or_voice_id_beyond_describe_and_list(template_json: dict[str, Any]) -> None:
    for resource in template_json["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            for action in actions_of(statement):
                assert not action.endswith(":*") and action != "*", action
                if action.startswith("voiceid:"):
                    assert action in {
                        "voiceid:DescribeFraudsterRegistrationJob",
                        "voiceid:ListFraudsterRegistrationJobs",
                        "voiceid:DescribeSpeakerEnrollmentJob",
                        "voiceid:ListSpeakerEnrollmentJobs",
                    }
                    assert ":domain/" in str(statement["Resource"]), statement
                if action.startswith("dynamodb:"):
                    assert "Table" in str(statement["Resource"]), statement


def test_sweep_may_list_configured_domains_read_locks_and_start_only_the_tracker(
    template_json: dict[str, Any],
) -> None:
    policy = statements(template_json, "SweepRole")
    by_action = {action: statement for statement in policy for action in actions_of(statement)}
    assert set(by_action) >= {
        "voiceid:ListFraudsterRegistrationJobs",
        "voiceid:ListSpeakerEnrollmentJobs",
        "dynamodb:GetItem",
        "states:StartExecution",
        "states:DescribeExecution",
    }
    assert not any(a.startswith("dynamodb:") and a != "dynamodb:GetItem" for a in by_action)
    domains = str(by_action["voiceid:ListFraudsterRegistrationJobs"]["Resource"])
    for domain_id in CONTEXT["tracker:voiceIdDomainIds"]:
        assert f":domain/{domain_id}" in domains
    assert ":stateMachine:VoiceIdJobTracker-Tracker" in str(by_action["states:StartExecution"]["Resource"])
    assert ":execution:VoiceIdJobTracker-Tracker:*" in str(by_action["states:DescribeExecution"]["Resource"])


def test_the_state_machine_may_start_executions_of_itself_only(template_json: dict[str, Any]) -> None:
    starts = [
        statement
        for resource in template_json["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy" and "TrackerStateMachineRole" in str(resource["Properties"]["Roles"])
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        if "states:StartExecution" in actions_of(statement)
    ]
    (start,) = starts
    assert ":stateMachine:VoiceIdJobTracker-Tracker" in str(start["Resource"])
    assert "*" not in str(start["Resource"])


def test_wake_tracker_may_only_send_task_success_to_the_tracker_and_read_and_mark_the_lock(
    template_json: dict[str, Any],
) -> None:
    policy = statements(template_json, "WakeTrackerRole")
    actions = {action for statement in policy for action in actions_of(statement)}
    assert {a for a in actions if not a.startswith(("logs:", "xray:"))} == {
        "states:SendTaskSuccess",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
    }
    (send,) = [s for s in policy if "states:SendTaskSuccess" in actions_of(s)]
    assert ":stateMachine:VoiceIdJobTracker-Tracker" in str(send["Resource"])
    (lock,) = [s for s in policy if "dynamodb:UpdateItem" in actions_of(s)]
    assert "FailuresTable" in json.dumps(lock["Resource"])


def test_the_sweep_runs_on_a_schedule_with_a_dead_letter_queue_and_retries(template_json: dict[str, Any]) -> None:
    _, schedule = only(template_json, "AWS::Scheduler::Schedule")
    properties = schedule["Properties"]
    assert properties["ScheduleExpression"] == f"rate({CONTEXT['tracker:sweepMinutes']} minutes)"
    assert properties["State"] == "ENABLED"
    target = properties["Target"]
    assert "Sweep" in target["Arn"]["Fn::GetAtt"][0]
    assert json.loads(target["Input"]) == {}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert "DeadLetterQueue" in target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    _, group = only(template_json, "AWS::Scheduler::ScheduleGroup")
    assert properties["GroupName"] == group["Properties"]["Name"]


def test_state_machine_is_named_logged_and_traced(template: Template) -> None:
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineName": "VoiceIdJobTracker-Tracker",
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": True}),
        },
    )
    template.all_resources_properties("AWS::Logs::LogGroup", {"RetentionInDays": CONTEXT["tracker:logRetentionDays"]})


def test_alarm_on_failed_timed_out_or_aborted_executions(template: Template) -> None:
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Metrics": Match.array_with(
                [Match.object_like({"Expression": "FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)"})]
            ),
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        },
    )


def test_dead_letter_queues_are_encrypted_with_the_stacks_rotated_key(template_json: dict[str, Any]) -> None:
    key_id, key = only(template_json, "AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    queues = [r for r in template_json["Resources"].values() if r["Type"] == "AWS::SQS::Queue"]
    assert len(queues) == 3  # the rule's, the sweep schedule's and the sweep's on-failure queue
    for queue in queues:
        assert queue["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert "SqsManagedSseEnabled" not in queue["Properties"]


def test_eventbridge_may_use_the_key_for_the_stacks_rules_only(template_json: dict[str, Any]) -> None:
    _, key = only(template_json, "AWS::KMS::Key")
    (events,) = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal", {}).get("Service") == "events.amazonaws.com"
    ]
    assert sorted(actions_of(events)) == ["kms:Decrypt", "kms:GenerateDataKey"]
    source_arn = json.dumps(events["Condition"]["ArnLike"]["aws:SourceArn"])
    assert ":events:" in source_arn and f":rule/{STACK_NAME}-*" in source_arn


def test_the_schedule_role_may_send_to_its_encrypted_dead_letter_queue(template_json: dict[str, Any]) -> None:
    key_id, _ = only(template_json, "AWS::KMS::Key")
    policy = [
        statement
        for logical_id, resource in template_json["Resources"].items()
        if resource["Type"] == "AWS::IAM::Policy" and logical_id.startswith("SweepRole")
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]
    (kms,) = [s for s in policy if any(a.startswith("kms:") for a in actions_of(s))]
    assert sorted(actions_of(kms)) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert any("sqs:SendMessage" in actions_of(s) for s in policy)
