"""The automatic retries of Bedrock records (`tracker:bedrockRetryPolicy`, docs/automatic-retries.md): the retry
dispatcher Lambda, invoked by the tracker's own job-recorded event for a Bedrock job and on a schedule, with a
least-privilege role."""

from __future__ import annotations

import math

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from cdk_nag import NagSuppressions
from constructs import Construct

from infra.checkov import Skip
from infra.config import BedrockConfig, OutputLocation, TrackerConfig
from infra.constructs.dead_letters import dead_letter_queue
from infra.constructs.functions import TrackerFunctions
from infra.constructs.state_machine import OUTCOME_EVENT_SOURCE
from job_tracker.bedrock_retries import AUTO_FOLDER, ON_DEMAND
from job_tracker.kinds.bedrock_batch_inference import BEDROCK_BATCH_INFERENCE

# An on-demand run at the slowest allowed rate (1 a second) of a pool just under a 1,000-record minimum, with
# backoff, fits in Lambda's longest timeout; a larger pool becomes a batch job instead.
TIMEOUT = Duration.minutes(15)
DISPATCHER_NEEDS_NO_DLQ: Skip = (
    "CKV_AWS_116",
    "Each run redoes what an earlier one left: pools stay in the table until a batch settles them, and an open "
    "batch is resumed from its item by the next scheduled run; events the function fails on go to its own "
    "encrypted on-failure queue, which an alarm watches.",
)


def _objects(location: OutputLocation, suffix: str = "*") -> str:
    return f"arn:{Aws.PARTITION}:s3:::{location.bucket}/{location.prefix}{suffix}"


class BedrockRetries(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TrackerConfig,
        bedrock: BedrockConfig,
        table: dynamodb.ITable,
        functions: TrackerFunctions,
        encryption_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        policy = bedrock.retry_policy
        assert policy is not None and bedrock.retry_input_location is not None  # the caller checks
        self.function = functions.add_function(
            "retry-dispatcher",
            "RetryDispatcher",
            handler="retry_dispatcher.handler.lambda_handler",
            timeout=TIMEOUT,
            environment={
                "FAILURES_TABLE_NAME": table.table_name,
                "BEDROCK_RETRY_POLICY": policy.to_json(),
                "BEDROCK_RETRY_INPUT_LOCATION": bedrock.retry_input_location.uri,
                # The tracked prefixes its retry jobs' names keep (a name of its own: BEDROCK_* say what a
                # function follows).
                "RETRY_JOB_NAME_PREFIXES": ",".join(bedrock.job_name_prefixes),
                "BEDROCK_MIN_RECORDS_PER_JOB": str(bedrock.min_records_per_job),
                "SETTLED_EVENT_SOURCE": OUTCOME_EVENT_SOURCE,
            },
            description="Automatic retries of Bedrock records: pools, retry jobs, on-demand runs, lineage",
            dead_letter=DISPATCHER_NEEDS_NO_DLQ,
        )
        # A run at least as often as records may wait, and no more than once a minute (the scheduler's finest).
        self.every_minutes = max(1, min(config.sweep_minutes, math.ceil(policy.pool_wait_seconds / 60)))
        self.failed_queue = dead_letter_queue(
            self,
            encryption_key=encryption_key,
            dead_letters_of="the retry dispatcher's failed asynchronous invocations (its on-failure destination)",
            construct_id="FailedDispatchesQueue",
        )
        self.dead_letter_queue = dead_letter_queue(
            self, encryption_key=encryption_key, dead_letters_of="the retry dispatcher's schedule"
        )
        self.function.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.failed_queue), retry_attempts=2, max_event_age=Duration.hours(6)
        )
        self.rule = events.Rule(
            self,
            "JobRecorded",
            description="Bedrock jobs recorded by the tracker: pool their retryable records, or settle a retry job",
            event_pattern=events.EventPattern(
                source=[OUTCOME_EVENT_SOURCE],
                detail_type=[BEDROCK_BATCH_INFERENCE.service.outcome_event_detail_type],
                detail={"JobKind": [BEDROCK_BATCH_INFERENCE.name]},
            ),
            targets=[targets.LambdaFunction(self.function, retry_attempts=3, max_event_age=Duration.hours(6))],
        )
        self.schedule = self._schedule(encryption_key)
        self._grant(bedrock, table)

    def _schedule(self, encryption_key: kms.IKey) -> scheduler.Schedule:
        role = iam.Role(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            ),
            description="EventBridge Scheduler invokes the Bedrock retry dispatcher",
        )
        schedule = scheduler.Schedule(
            self,
            "Schedule",
            schedule=scheduler.ScheduleExpression.rate(Duration.minutes(self.every_minutes)),
            description="Bedrock retry dispatcher: starts the pools that are due and settles what an event missed",
            target=scheduler_targets.LambdaInvoke(
                self.function,
                input=scheduler.ScheduleTargetInput.from_object({}),
                role=role,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=3,
                max_event_age=Duration.minutes(self.every_minutes),
            ),
        )
        encryption_key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
        NagSuppressions.add_resource_suppressions(
            role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "CDK grants invoke on the retry dispatcher and its versions (the <arn>:* form).",
                    "appliesTo": [{"regex": "/^Resource::<.*RetryDispatcher.*\\.Arn>:\\*$/g"}],
                }
            ],
            apply_to_children=True,
        )
        return schedule

    def _grant(self, bedrock: BedrockConfig, table: dynamodb.ITable) -> None:
        stack = Stack.of(self)
        retry_input = bedrock.retry_input_location
        assert retry_input is not None
        reads = (*bedrock.output_locations, *bedrock.input_locations)
        statements = [
            # Its items: pools, batches, lineage, the summaries' counts, the failure items' RetryState. Every
            # record's move is a TransactWriteItems, authorized as these item actions.
            iam.PolicyStatement(
                actions=[
                    "dynamodb:GetItem",
                    "dynamodb:Query",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:ConditionCheckItem",
                ],
                resources=[table.table_arn],
            ),
            # The original job (its model, role, output) and the retry jobs it creates, named by a generated id.
            iam.PolicyStatement(
                actions=["bedrock:GetModelInvocationJob", "bedrock:CreateModelInvocationJob"],
                resources=[stack.format_arn(service="bedrock", resource="model-invocation-job", resource_name="*")],
            ),
            # A retry job runs the original's model; on demand the same model answers each record.
            iam.PolicyStatement(
                actions=["bedrock:CreateModelInvocationJob", "bedrock:InvokeModel"],
                resources=[
                    f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}::foundation-model/*",
                    stack.format_arn(service="bedrock", resource="inference-profile", resource_name="*"),
                ],
            ),
            # The original job's service role, passed to Bedrock alone.
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[stack.format_arn(service="iam", region="", resource="role", resource_name="*")],
                conditions={"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}},
            ),
            # The records' lines, from the jobs' input and output files.
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[_objects(location) for location in reads]),
            # Retry jobs' input, and on-demand answers beside the jobs' own output folders.
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[
                    _objects(retry_input, f"{AUTO_FOLDER}*"),
                    *(_objects(location, f"*{ON_DEMAND}-*") for location in bedrock.output_locations),
                ],
            ),
            iam.PolicyStatement(
                actions=["events:PutEvents"],
                resources=[stack.format_arn(service="events", resource="event-bus", resource_name="default")],
            ),
        ]
        for bucket in sorted({location.bucket for location in reads}):
            prefixes = [f"{location.prefix}*" for location in reads if location.bucket == bucket]
            statements.append(
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[f"arn:{Aws.PARTITION}:s3:::{bucket}"],
                    conditions={"StringLike": {"s3:prefix": prefixes}},
                )
            )
        keys = [*bedrock.output_kms_key_arns, *bedrock.input_kms_key_arns]
        if keys:
            statements.append(
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=keys,
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
                )
            )
        for statement in statements:
            self.function.add_to_role_policy(statement)
        NagSuppressions.add_resource_suppressions(
            self.function.role,  # type: ignore[arg-type]
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "Model invocation jobs' ARNs end in an id Bedrock generates, and a retry job's is not "
                    "known before it is created; the model is the original job's, any foundation model or "
                    "inference profile of the account; the role passed is the original job's service role (to "
                    "Bedrock only); input and output objects are named by whoever submits a job, under the "
                    "configured Bedrock prefixes; the retry files are written under the retry input location's "
                    "auto/ and beside job output as on-demand-<batch>/.",
                    "appliesTo": [
                        {"regex": "/^Resource::arn:<AWS::Partition>:bedrock:.*/\\*$/g"},
                        {"regex": "/^Resource::arn:<AWS::Partition>:iam::.*:role/\\*$/g"},
                        {"regex": "/^Resource::arn:<AWS::Partition>:s3:::.+\\*$/g"},
                        "Action::kms:GenerateDataKey*",
                        "Action::kms:ReEncrypt*",
                    ],
                }
            ],
            apply_to_children=True,
        )
