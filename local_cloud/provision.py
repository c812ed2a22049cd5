"""Deploy a synthesized stack into a running LocalCloud, the way CloudFormation would deploy it to AWS.

Every resource in the template is either created on its local engine (DynamoDB Local, moto, the Lambda
runtime, the event router, the schedule runner) or listed as having no local effect; an unknown type stops
the deployment with its logical id (`StackTemplate.resource_report`). Resources the stack only refers to,
through the outputs `VoiceIdOutputLocations` and `VoiceIdOutputKmsKeyArns`, are created too, so a local run
needs no edits to `cdk.json`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_cloud.cloud import LocalCloud
from local_cloud.eventbridge import EventRule
from local_cloud.lambda_runtime import parse_function_name
from local_cloud.scheduler import LocalSchedule
from local_cloud.stack_functions import lambda_function_configs
from local_cloud.template import StackTemplate, TemplateError

logger = logging.getLogger(__name__)

_TABLE_PROPERTIES = ("KeySchema", "AttributeDefinitions", "BillingMode", "ProvisionedThroughput")
_INDEX_PROPERTIES = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
_SCHEDULE_PROPERTIES = (
    "GroupName",
    "Description",
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "FlexibleTimeWindow",
    "Target",
    "State",
    "KmsKeyArn",
)


@dataclass
class Deployment:
    """What a deployment created, by kind, plus the stack's resolved outputs."""

    stack_name: str
    outputs: dict[str, str] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    state_machines: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    schedules: list[str] = field(default_factory=list)
    """EventBridge Scheduler schedule names (``LocalCloud.scheduler`` fires them)."""
    buckets: list[str] = field(default_factory=list)
    kms_keys: dict[str, str] = field(default_factory=dict)
    """Configured or template key -> the local key's ARN (moto cannot create a key with a chosen id)."""
    no_local_effect: list[str] = field(default_factory=list)

    def listed(self, output: str) -> list[str]:
        """The values of a comma-separated stack output (locations, key ARNs); none when it is empty or absent."""
        return [item for item in self.outputs.get(output, "").split(",") if item]

    def to_dict(self) -> dict[str, Any]:
        return {
            "stackName": self.stack_name,
            "outputs": self.outputs,
            "tables": self.tables,
            "functions": self.functions,
            "stateMachines": self.state_machines,
            "rules": self.rules,
            "queues": self.queues,
            "schedules": self.schedules,
            "buckets": self.buckets,
            "kmsKeys": self.kms_keys,
            "noLocalEffect": self.no_local_effect,
        }


class StackDeployer:
    def __init__(self, cloud: LocalCloud, template_path: Path) -> None:
        self._cloud = cloud
        template_path = template_path.resolve()
        self._cdk_out = template_path.parent
        self.stack = StackTemplate.load(template_path, region=cloud.region, account_id=cloud.account_id)
        self.deployment = Deployment(stack_name=self.stack.stack_name)

    def deploy(self) -> Deployment:
        report = self.stack.resource_report()
        report.raise_for_unknown()
        self.deployment.no_local_effect = [
            f"{logical_id} ({kind}): {why}" for logical_id, kind, why in report.no_local_effect
        ]
        self._create_buckets()
        self._create_keys()
        self._create_queues()
        self._create_tables()
        self._create_functions()
        self._create_state_machines()
        self._create_rules()
        self._create_schedules()
        self.deployment.outputs = {
            name: str(self.stack.resolve(output["Value"]))
            for name, output in (self.stack.template.get("Outputs") or {}).items()
        }
        self._create_referenced_resources()
        return self.deployment

    def _created(self, resource_type: str) -> list[str]:
        return [
            logical_id for logical_id in self.stack.resource_ids(resource_type) if self.stack.is_created(logical_id)
        ]

    def _create_tables(self) -> None:
        dynamodb = self._cloud.client("dynamodb")
        for logical_id in self._created("AWS::DynamoDB::Table"):
            properties = self.stack.resolved_properties(logical_id)
            name = self.stack.physical_name(logical_id)
            request: dict[str, Any] = {key: properties[key] for key in _TABLE_PROPERTIES if key in properties}
            indexes = properties.get("GlobalSecondaryIndexes") or []
            if indexes:
                request["GlobalSecondaryIndexes"] = [
                    {key: index[key] for key in _INDEX_PROPERTIES if key in index} for index in indexes
                ]
            dynamodb.create_table(TableName=name, **request)
            dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
            ttl = properties.get("TimeToLiveSpecification")
            if ttl:
                # DynamoDB Local keeps the setting (DescribeTimeToLive answers as on AWS) but never deletes.
                dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
            self.deployment.tables.append(name)

    def _create_functions(self) -> None:
        for config in lambda_function_configs(self.stack, self._cdk_out):
            self._cloud.lambdas.register(config)
            self.deployment.functions.append(config.name)

    def _create_state_machines(self) -> None:
        sfn = self._cloud.client("stepfunctions")
        for logical_id in self._created("AWS::StepFunctions::StateMachine"):
            properties = self.stack.resolved_properties(logical_id)
            if properties.get("StateMachineType", "STANDARD") != "STANDARD":
                raise TemplateError(f"state machine {logical_id}: only STANDARD workflows run locally")
            created = sfn.create_state_machine(
                name=self.stack.physical_name(logical_id),
                definition=json.dumps(self.stack.state_machine_definition(logical_id)),
                roleArn=str(properties["RoleArn"]),
                type="STANDARD",
            )
            if created["stateMachineArn"] != self.stack.arn(logical_id):
                raise TemplateError(
                    f"state machine {logical_id} got ARN {created['stateMachineArn']}, not the template's"
                )
            self.deployment.state_machines.append(created["stateMachineArn"])

    def _create_rules(self) -> None:
        for logical_id in self._created("AWS::Events::Rule"):
            name = self.stack.physical_name(logical_id)
            rule = EventRule.from_cloudformation(
                name,
                self.stack.resolved_properties(logical_id),
                region=self.stack.region,
                account_id=self.stack.account_id,
            )
            self._cloud.events.add_rules([rule])
            self.deployment.rules.append(name)

    def _create_schedules(self) -> None:
        """Schedule groups and schedules in moto (for the Scheduler API), each schedule also registered
        with the local runner, which fires it. Every schedule is checked before any is created."""
        scheduler = self._cloud.client("scheduler")
        groups = {self.stack.physical_name(logical_id) for logical_id in self._created("AWS::Scheduler::ScheduleGroup")}
        queues = {self.stack.arn(logical_id) for logical_id in self._created("AWS::SQS::Queue")}
        schedules: list[tuple[LocalSchedule, dict[str, Any]]] = []
        for logical_id in self._created("AWS::Scheduler::Schedule"):
            properties = self.stack.resolved_properties(logical_id)
            schedule = LocalSchedule.from_cloudformation(
                logical_id,
                name=self.stack.physical_name(logical_id),
                arn=self.stack.arn(logical_id),
                properties=properties,
            )
            function_name, _qualifier = parse_function_name(schedule.target_arn)
            if function_name not in self.deployment.functions:
                raise TemplateError(
                    f"schedule {logical_id}: target {schedule.target_arn} is not a function of the stack"
                )
            if schedule.dead_letter_arn is not None and schedule.dead_letter_arn not in queues:
                raise TemplateError(
                    f"schedule {logical_id}: dead-letter queue {schedule.dead_letter_arn} is not a queue of the stack"
                )
            group = self.stack.schedule_group_name(logical_id)
            if group != "default" and group not in groups:
                raise TemplateError(f"schedule {logical_id}: group {group!r} is not a schedule group of the stack")
            schedules.append((schedule, {"GroupName": group, **properties}))
        for group in sorted(groups):
            scheduler.create_schedule_group(Name=group)
        for schedule, properties in schedules:
            scheduler.create_schedule(
                Name=schedule.name, **{key: properties[key] for key in _SCHEDULE_PROPERTIES if key in properties}
            )
            self._cloud.scheduler.add(schedule)
            self.deployment.schedules.append(schedule.name)

    def _create_queues(self) -> None:
        sqs = self._cloud.client("sqs")
        for logical_id in self._created("AWS::SQS::Queue"):
            name = self.stack.physical_name(logical_id)
            sqs.create_queue(QueueName=name)
            self.deployment.queues.append(name)

    def _create_buckets(self) -> None:
        for logical_id in self._created("AWS::S3::Bucket"):
            self._create_bucket(self.stack.physical_name(logical_id))

    def _create_bucket(self, name: str) -> None:
        s3 = self._cloud.client("s3")
        if self._cloud.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self._cloud.region})
        self.deployment.buckets.append(name)

    def _create_keys(self) -> None:
        for logical_id in self._created("AWS::KMS::Key"):
            self._create_key(self.stack.arn(logical_id), description=f"{self.stack.stack_name}/{logical_id}")
        if self._created("AWS::KMS::Alias"):
            raise TemplateError("KMS aliases are not created locally yet; reference keys by ARN")

    def _create_key(self, configured_arn: str, *, description: str) -> str:
        key = self._cloud.client("kms").create_key(Description=description)["KeyMetadata"]
        self.deployment.kms_keys[configured_arn] = str(key["Arn"])
        return str(key["Arn"])

    def _create_referenced_resources(self) -> None:
        """The Voice ID and Bedrock input and output buckets and keys the stack may read but does not own: a
        local stand-in key for each configured one, so jobs write SSE-KMS output as they would in AWS."""
        for service in ("VoiceId", "Bedrock"):
            for uri in (
                *self.deployment.listed(f"{service}OutputLocations"),
                *self.deployment.listed(f"{service}InputLocations"),
            ):
                bucket = uri.removeprefix("s3://").split("/", 1)[0]
                if bucket not in self.deployment.buckets:
                    self._create_bucket(bucket)
            for arn in self.deployment.listed(f"{service}OutputKmsKeyArns"):
                if arn in self.deployment.kms_keys:
                    continue
                local = self._create_key(arn, description=f"local stand-in for {arn}")
                logger.info("Created a local KMS key for the configured key", extra={"configured": arn, "local": local})


def deploy_stack(cloud: LocalCloud, template_path: Path) -> Deployment:
    """Create everything the synthesized template at `template_path` describes (assets beside it)."""
    return StackDeployer(cloud, template_path).deploy()
