"""The tracker's Lambdas, their log groups and their least-privilege roles.

validate-input, describe-job and record-failures serve the state machine's loop, wake-tracker the event
wake-up, and sweep the scheduled reconciliation sweep. All share one code asset and one dependency layer
(Powertools), and differ only in handler, environment and grants.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagSuppressions
from constructs import Construct

from infra.bundling import dependency_layer_code, lambda_code
from infra.checkov import LOG_GROUP_KMS, Skip, skip_checks
from infra.config import OutputLocation, TrackerConfig
from infra.lambda_contract import JobKind, kinds_of
from infra.naming import state_machine_arn, tracker_execution_arn_pattern

SERVICE_NAME = "voiceid-job-tracker"
METRICS_NAMESPACE = "VoiceIdJobTracker"
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64

# The cdk-nag finding's resource for every model invocation job of the account and Region.
BEDROCK_JOBS_RESOURCE = "/^Resource::arn:<AWS::Partition>:bedrock:.*:model-invocation-job/\\*$/g"
# ...and every S3 Batch Operations job of the account and Region.
S3BATCH_JOBS_RESOURCE = "/^Resource::arn:<AWS::Partition>:s3:.*:job/\\*$/g"

# checkov findings that do not apply to these functions, and why (see infra/checkov.py).
NO_VPC: Skip = (
    "CKV_AWS_117",
    "The functions call only AWS public APIs (Voice ID, S3, DynamoDB, Step Functions) and reach no resource in "
    "a VPC; IAM scopes what they may reach. A VPC would add NAT or interface endpoints (Voice ID's included) "
    "and network cold starts without narrowing that.",
)
NO_RESERVED_CONCURRENCY: Skip = (
    "CKV_AWS_115",
    "Concurrency bounds calls in flight, not calls per second, so it cannot hold Voice ID's shared 2 TPS; "
    "the state machine's waits and retries do (docs/deploying.md, Reserved concurrency). A reservation would also turn "
    "bursts into throttled invocations and fails to deploy in accounts at the minimum concurrency quota.",
)
ENVIRONMENT_HAS_NO_SECRETS: Skip = (
    "CKV_AWS_173",
    "The environment holds no secrets (poll bounds, table name, retention days, domain ids, the state machine "
    "ARN, Powertools settings); Lambda encrypts it at rest with its AWS managed key.",
)
SYNCHRONOUS_INVOKES_NEED_NO_DLQ: Skip = (
    "CKV_AWS_116",
    "Step Functions invokes this function synchronously (RequestResponse); a Lambda DLQ receives only "
    "failed asynchronous invocations. Failures reach the state machine, which retries and catches them.",
)
SWEEP_NEEDS_NO_DLQ: Skip = (
    "CKV_AWS_116",
    "A failed sweep loses nothing: the next scheduled sweep reconciles the same jobs. Invocations the "
    "scheduler cannot make go to the schedule's own encrypted dead-letter queue, which is alarmed.",
)


class TrackerFunctions(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: TrackerConfig, table: dynamodb.ITable) -> None:
        super().__init__(scope, construct_id)
        code = lambda_code()
        self._code = code
        self._config = config
        self._kinds = kinds_of(config.tracked_services)
        self.dependencies = self._dependency_layer()
        self.validate_input = self._validate_input(code, config)
        self.describe_job = self._describe_job(code, config)
        self.record_failures = self._record_failures(code, config, table)
        self.wake_tracker = self._wake_tracker(code, config, table)
        self.sweep = self._sweep(code, config, table)
        self.by_name: dict[str, lambda_.IFunction] = {
            "validate-input": self.validate_input,
            "describe-job": self.describe_job,
            "record-failures": self.record_failures,
            "wake-tracker": self.wake_tracker,
            "sweep": self.sweep,
        }
        self._grant_describe(config)
        self._grant_output_read(config)
        self._grant_bedrock_files(config)
        self._grant_s3batch_reports(config)
        self._grant_table_writes(table)
        self._grant_wake_up(table)
        self._grant_sweep(config, table)

    def _dependency_layer(self) -> lambda_.LayerVersion:
        # Lambda mounts it at /opt; its python/ folder is on the runtime's sys.path.
        return lambda_.LayerVersion(
            self,
            "Dependencies",
            code=dependency_layer_code(),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="Powertools for AWS Lambda (Logger, Metrics) for the batch job tracker, pinned in "
            "lambdas/requirements.txt",
        )

    def _validate_input(self, code: lambda_.Code, config: TrackerConfig) -> lambda_.Function:
        return self._function(
            "ValidateInput",
            handler="validate_input.handler.lambda_handler",
            code=code,
            config=config,
            # With Bedrock it reads the job: longer than that client's retry budget (4 attempts of at most
            # 5 s + 15 s, with backoff), so a slow Bedrock ends in BedrockUnavailable, which is retried.
            # The same for S3 Batch Operations (DescribeJob, S3BatchUnavailable).
            timeout=Duration.seconds(90 if config.bedrock or config.s3batch else 10),
            environment=_scope_environment(config),
            description="Checks a tracker execution's input before anything is written",
            dead_letter=SYNCHRONOUS_INVOKES_NEED_NO_DLQ,
        )

    def _describe_job(self, code: lambda_.Code, config: TrackerConfig) -> lambda_.Function:
        return self._function(
            "DescribeJob",
            handler="describe_job.handler.lambda_handler",
            code=code,
            config=config,
            # Longer than the Voice ID client's worst call (lambdas/job_tracker/clients.py), so a slow Voice ID
            # ends in VoiceIdUnavailable, which the state machine retries, not in a Lambda timeout.
            timeout=Duration.seconds(120),
            environment={
                "MIN_POLL_SECONDS": str(config.poll_min_seconds),
                "MAX_POLL_SECONDS": str(config.poll_max_seconds),
                "TRACKED_SERVICES": ",".join(config.tracked_services),
            },
            description="Describes one batch job (Voice ID, Bedrock or S3 Batch Operations) and plans the next poll",
            dead_letter=SYNCHRONOUS_INVOKES_NEED_NO_DLQ,
        )

    def _record_failures(self, code: lambda_.Code, config: TrackerConfig, table: dynamodb.ITable) -> lambda_.Function:
        return self._function(
            "RecordFailures",
            handler="record_failures.handler.lambda_handler",
            code=code,
            config=config,
            # Lambda's longest: the step stops itself once less than its clients' worst calls are left
            # (RecordingIncomplete, resumed by the state machine's retry), so long jobs record in pieces.
            timeout=Duration.minutes(15),
            memory_size=512,
            environment={"FAILURES_TABLE_NAME": table.table_name, "RETENTION_DAYS": str(config.retention_days)},
            description="Writes a finished batch job's failed and unprocessed records and summary to DynamoDB",
            dead_letter=SYNCHRONOUS_INVOKES_NEED_NO_DLQ,
        )

    def _wake_tracker(self, code: lambda_.Code, config: TrackerConfig, table: dynamodb.ITable) -> lambda_.Function:
        return self._function(
            "WakeTracker",
            handler="wake_tracker.handler.lambda_handler",
            code=code,
            config=config,
            # Longer than its clients' worst calls (lambdas/job_tracker/clients.py).
            timeout=Duration.seconds(90),
            environment={"FAILURES_TABLE_NAME": table.table_name},
            description="Wakes a job's waiting tracker when a later event for the job arrives",
            dead_letter=SYNCHRONOUS_INVOKES_NEED_NO_DLQ,
        )

    def _sweep(self, code: lambda_.Code, config: TrackerConfig, table: dynamodb.ITable) -> lambda_.Function:
        return self._function(
            "Sweep",
            handler="sweep.handler.lambda_handler",
            code=code,
            config=config,
            # Listing pages at Voice ID's 2 TPS, with throttling backoff, for every configured domain; the sweep
            # keeps a time budget within it (its clients' worst calls) and reports what it did not reach.
            timeout=Duration.minutes(10),
            environment={
                **_scope_environment(config),
                "SWEEP_LOOKBACK_DAYS": str(config.sweep_lookback_days),
                "FAILURES_TABLE_NAME": table.table_name,
                # Built from the state machine's fixed name: the state machine invokes these functions, so
                # a reference to it would be a cycle.
                "STATE_MACHINE_ARN": state_machine_arn(Stack.of(self)),
            },
            description="Reconciliation sweep: starts a tracker for every recent followed job nothing follows",
            dead_letter=SWEEP_NEEDS_NO_DLQ,
        )

    def add_function(self, name: str, construct_id: str, **options: Any) -> lambda_.Function:
        """A further function with the shared code, layer, log group and own role (the Bedrock retry
        dispatcher), listed in `by_name` for monitoring."""
        function = self._function(construct_id, code=self._code, config=self._config, **options)
        self.by_name[name] = function
        return function

    def _function(
        self,
        construct_id: str,
        *,
        handler: str,
        code: lambda_.Code,
        config: TrackerConfig,
        timeout: Duration,
        environment: dict[str, str],
        description: str,
        dead_letter: Skip,
        memory_size: int = 256,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=config.log_retention,
            removal_policy=RemovalPolicy.RETAIN,
        )
        skip_checks(log_group, LOG_GROUP_KMS)
        # A role of our own, instead of AWSLambdaBasicExecutionRole, so logging is allowed on this
        # function's log group only.
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=description,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn, f"{log_group.log_group_arn}:*"],
            )
        )
        function = lambda_.Function(
            self,
            construct_id,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=code,
            layers=[self.dependencies],
            role=role,
            timeout=timeout,
            memory_size=memory_size,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            # Lambda records each invocation's segment itself; no tracing SDK runs in the function
            # (docs/deploying.md, "Tracing" says how to add OpenTelemetry subsegments).
            tracing=lambda_.Tracing.ACTIVE,
            description=description,
            environment={
                **environment,
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
        )
        skip_checks(function, dead_letter, NO_VPC, NO_RESERVED_CONCURRENCY, ENVIRONMENT_HAS_NO_SECRETS)
        NagSuppressions.add_resource_suppressions(
            role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "X-Ray PutTraceSegments/PutTelemetryRecords support no resource scoping, and "
                    "log streams are created under this function's own log group only (<group>:*).",
                    "appliesTo": ["Resource::*", {"regex": "/^Resource::<.*Logs.*\\.Arn>:\\*$/g"}],
                }
            ],
            apply_to_children=True,
        )
        return function

    def _kinds_of(self, service: str) -> list[JobKind]:
        return [kind for kind in self._kinds if kind.service.key == service]

    def _grant_describe(self, config: TrackerConfig) -> None:
        # Every followed kind's describe action, on the configured domains only; Bedrock's on the account's
        # model invocation jobs (their ARNs carry a generated id, not the name the configuration scopes by).
        # validate-input describes Bedrock jobs too, to check their name and output before anything is written.
        voice_id = self._kinds_of("voiceid")
        if voice_id:
            self.describe_job.add_to_role_policy(
                iam.PolicyStatement(
                    actions=[kind.describe_action for kind in voice_id], resources=self._domain_arns(config)
                )
            )
        # s3:DescribeJob likewise on the account's jobs (validate-input checks a job's description and report
        # location before anything is written).
        if self._kinds_of("s3"):
            self._grant_describe_account_jobs(
                "s3",
                Stack.of(self).format_arn(service="s3", resource="job", resource_name="*"),
                S3BATCH_JOBS_RESOURCE,
                "An S3 Batch Operations job's ARN ends in a UUID S3 generates; the jobs a stack follows are told by "
                "their description and report location, which validate-input checks on the job itself before "
                "anything is written.",
            )
        if self._kinds_of("bedrock"):
            self._grant_describe_account_jobs(
                "bedrock",
                self._bedrock_job_arns(),
                BEDROCK_JOBS_RESOURCE,
                "A model invocation job's ARN ends in an id Bedrock generates; the jobs a stack follows are told by "
                "their name and output location, which validate-input checks on the job itself before anything is "
                "written.",
            )

    def _grant_describe_account_jobs(self, service_key: str, jobs_arn: str, jobs_regex: str, reason: str) -> None:
        """The service's describe actions on every job of the account, for describe-job and validate-input, with
        the cdk-nag suppression saying why a wildcard: a job's ARN ends in an id the service generates."""
        actions = [kind.describe_action for kind in self._kinds_of(service_key)]
        for function in (self.describe_job, self.validate_input):
            function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=[jobs_arn]))
            NagSuppressions.add_resource_suppressions(
                function.role,  # type: ignore[arg-type]
                [{"id": "AwsSolutions-IAM5", "reason": reason, "appliesTo": [{"regex": jobs_regex}]}],
                apply_to_children=True,
            )

    def _grant_s3batch_reports(self, config: TrackerConfig) -> None:
        """The record step reads `<report location>/job-<JobId>/manifest.json` and the results CSVs it lists (no
        listing). Reports are always SSE-S3 (docs/s3batch-facts.md §4), so no KMS key is granted."""
        s3batch = config.s3batch
        if s3batch is None:
            return
        self.record_failures.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[_objects_arn(location) for location in s3batch.report_locations]
            )
        )
        NagSuppressions.add_resource_suppressions(
            self.record_failures.role,  # type: ignore[arg-type]
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "S3 Batch Operations writes a job's report under <prefix>/job-<JobId>/ with results "
                    "files named by hashes: reading them needs a wildcard under the configured report prefixes, "
                    "and nowhere else.",
                    "appliesTo": [{"regex": "/^Resource::arn:<AWS::Partition>:s3:::.+/\\*$/g"}],
                }
            ],
            apply_to_children=True,
        )

    def _bedrock_job_arns(self) -> str:
        return Stack.of(self).format_arn(service="bedrock", resource="model-invocation-job", resource_name="*")

    def _domain_arns(self, config: TrackerConfig) -> list[str]:
        stack = Stack.of(self)
        return [
            stack.format_arn(service="voiceid", resource="domain", resource_name=domain_id)
            for domain_id in config.voice_id_domain_ids
        ]

    def _grant_bedrock_files(self, config: TrackerConfig) -> None:
        """Bedrock writes one `.jsonl.out` per input file, whose names only a listing tells: the record step
        lists (and reads) the configured output and input prefixes, and nothing else."""
        bedrock = config.bedrock
        if bedrock is None:
            return
        locations = (*bedrock.output_locations, *bedrock.input_locations)
        self.record_failures.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[_objects_arn(location) for location in locations])
        )
        for bucket in sorted({location.bucket for location in locations}):
            prefixes = [f"{location.prefix}*" for location in locations if location.bucket == bucket]
            self.record_failures.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[f"arn:{Aws.PARTITION}:s3:::{bucket}"],
                    conditions={"StringLike": {"s3:prefix": prefixes}},
                )
            )
        NagSuppressions.add_resource_suppressions(
            self.record_failures.role,  # type: ignore[arg-type]
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "Bedrock names each output object <prefix>/<jobId>/<input file>.jsonl.out, and input "
                    "files are named by whoever submits a job: reading them needs a wildcard under the configured "
                    "Bedrock output and input prefixes, and nowhere else.",
                    "appliesTo": [{"regex": "/^Resource::arn:<AWS::Partition>:s3:::.+/\\*$/g"}],
                }
            ],
            apply_to_children=True,
        )
        keys = [*bedrock.output_kms_key_arns, *bedrock.input_kms_key_arns]
        if keys:
            self.record_failures.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt"],
                    resources=keys,
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
                )
            )

    def _grant_wake_up(self, table: dynamodb.ITable) -> None:
        # Task tokens belong to the state machine's executions; the grant names the state machine.
        self.wake_tracker.add_to_role_policy(
            iam.PolicyStatement(actions=["states:SendTaskSuccess"], resources=[state_machine_arn(Stack.of(self))])
        )
        # The job lock: its holder's wait token, and the wake request left when the holder is not waiting.
        self.wake_tracker.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], resources=[table.table_arn])
        )

    def _grant_sweep(self, config: TrackerConfig, table: dynamodb.ITable) -> None:
        stack = Stack.of(self)
        statements: list[iam.PolicyStatement] = []
        voice_id = self._kinds_of("voiceid")
        if voice_id:
            statements.append(
                iam.PolicyStatement(
                    actions=[kind.list_action for kind in voice_id], resources=self._domain_arns(config)
                )
            )
        bedrock = self._kinds_of("bedrock")
        if bedrock:
            # ListModelInvocationJobs names no resource type (it lists the account's jobs): "*" is the only
            # resource it can be granted on; the sweep filters by name prefix and output location itself.
            statements.append(iam.PolicyStatement(actions=[kind.list_action for kind in bedrock], resources=["*"]))
        s3batch = self._kinds_of("s3")
        if s3batch:
            # ListJobs names no resource type either (it lists the account's jobs); the sweep keeps only jobs
            # whose description the configuration names, and validate-input checks their report location.
            statements.append(iam.PolicyStatement(actions=[kind.list_action for kind in s3batch], resources=["*"]))
        lists_everything = bool(bedrock or s3batch)
        statements += [
            iam.PolicyStatement(actions=["dynamodb:GetItem"], resources=[table.table_arn]),
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[state_machine_arn(stack)]),
            iam.PolicyStatement(actions=["states:DescribeExecution"], resources=[tracker_execution_arn_pattern(stack)]),
        ]
        for statement in statements:
            self.sweep.add_to_role_policy(statement)
        NagSuppressions.add_resource_suppressions(
            self.sweep.role,  # type: ignore[arg-type]
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "DescribeExecution covers the tracker state machine's own executions, whose names "
                    "are chosen when they start (the lock-holder check)"
                    + (
                        "; Bedrock's ListModelInvocationJobs has no resource type, and the sweep keeps only jobs "
                        "whose name and output location the configuration names"
                        if bedrock
                        else ""
                    )
                    + (
                        "; S3 Control's ListJobs has no resource type, and the sweep keeps only jobs whose "
                        "description the configuration names (validate-input checks their report location)"
                        if s3batch
                        else ""
                    )
                    + ".",
                    "appliesTo": [
                        {"regex": "/^Resource::arn:<AWS::Partition>:states:.*:execution:.*-Tracker:\\*$/g"},
                        *(["Resource::*"] if lists_everything else []),
                    ],
                }
            ],
            apply_to_children=True,
        )

    def _grant_output_read(self, config: TrackerConfig) -> None:
        if not config.voice_id_domain_ids:
            return
        self.record_failures.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                # Job output, and the input manifests (a speaker enrollment's failures carry the speaker
                # its manifest names).
                resources=[_objects_arn(location) for location in (*config.output_locations, *config.input_locations)],
            )
        )
        # Decrypt only when S3 asks on our behalf, i.e. while reading an SSE-KMS object.
        self.record_failures.add_to_role_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[*config.output_kms_key_arns, *config.input_kms_key_arns],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
            )
        )
        NagSuppressions.add_resource_suppressions(
            self.record_failures.role,  # type: ignore[arg-type]
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "Voice ID names each output object <prefix>/<JobId>/<input>.out, so reading "
                    "job output needs a wildcard under the configured output prefix and nowhere else; input "
                    "manifests are named by whoever starts a job, under the configured input prefix.",
                    "appliesTo": [
                        {"regex": "/^Resource::arn:<AWS::Partition>:s3:::.+/\\*$/g"},
                    ],
                }
            ],
            apply_to_children=True,
        )

    def _grant_table_writes(self, table: dynamodb.ITable) -> None:
        self.record_failures.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "dynamodb:BatchWriteItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:Query",
                ],
                resources=[table.table_arn],
            )
        )


def _objects_arn(location: OutputLocation) -> str:
    return f"arn:{Aws.PARTITION}:s3:::{location.bucket}/{location.prefix}*"


def _scope_environment(config: TrackerConfig) -> dict[str, str]:
    """Which jobs the stack follows, as validate-input and the sweep read it (lambdas/job_tracker/settings.py)."""
    environment = {"VOICE_ID_DOMAIN_IDS": ",".join(config.voice_id_domain_ids)}
    if config.bedrock is not None:
        environment |= {
            "BEDROCK_JOB_NAME_PREFIXES": ",".join(config.bedrock.job_name_prefixes),
            "BEDROCK_OUTPUT_LOCATIONS": ",".join(location.uri for location in config.bedrock.output_locations),
            "BEDROCK_ACCOUNT_ID": Aws.ACCOUNT_ID,
        }
    if config.s3batch is not None:
        environment |= {
            "S3BATCH_JOB_DESCRIPTION_PREFIXES": ",".join(config.s3batch.description_prefixes),
            "S3BATCH_REPORT_LOCATIONS": ",".join(location.uri for location in config.s3batch.report_locations),
            "S3BATCH_ACCOUNT_ID": Aws.ACCOUNT_ID,
        }
    return environment
