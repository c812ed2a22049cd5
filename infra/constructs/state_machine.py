"""The Step Functions Standard state machine that follows one Voice ID job until it is recorded.

Written in JSONPath (not JSONata) so the same definition runs in the local cloud. State names are what an
operator reads in the console; the README's "State machine" section draws the same graph.
"""

from __future__ import annotations

import sys

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from cdk_nag import NagSuppressions
from constructs import Construct

from infra.bundling import LAMBDAS_DIR
from infra.config import TrackerConfig

sys.path.insert(0, str(LAMBDAS_DIR))
from job_tracker import table_schema as schema

# Errors the Lambdas raise by class name (lambdas/job_tracker/errors.py).
LAMBDA_SERVICE_ERRORS = [
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
VOICE_ID_TRANSIENT_ERRORS = ["VoiceIdThrottled", "VoiceIdUnavailable"]
RECORDING_TRANSIENT_ERRORS = ["RecordingIncomplete"]
# Errors that a retry cannot fix: the execution ends with the Lambda's own message as the Cause.
TRACKING_ERRORS = [
    "JobNotFound",
    "InvalidJobRequest",
    "AccessDenied",
    "OutputFileMissing",
    "OutputFileInvalid",
    "ConfigurationError",
]
LOCK_TAKEN = "DynamoDB.ConditionalCheckFailedException"

LOCK_TRACKING = "TRACKING"
LOCK_RECORDED = "RECORDED"
LOCK_RELEASED = "RELEASED"

RUNNING_STATUSES = ("SUBMITTED", "IN_PROGRESS")


def _string(value: str) -> tasks.DynamoAttributeValue:
    return tasks.DynamoAttributeValue.from_string(value)


def _job_partition_key() -> tasks.DynamoAttributeValue:
    return _string(
        sfn.JsonPath.format("JOB#{}#{}", sfn.JsonPath.string_at("$.DomainId"), sfn.JsonPath.string_at("$.JobId"))
    )


def _lock_key() -> dict[str, tasks.DynamoAttributeValue]:
    return {schema.PARTITION_KEY: _job_partition_key(), schema.SORT_KEY: _string(schema.LOCK_SORT_KEY)}


EXECUTION_ARN = sfn.JsonPath.string_at("$$.Execution.Id")
STATE_ENTERED_TIME = sfn.JsonPath.string_at("$$.State.EnteredTime")


class TrackerStateMachine(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TrackerConfig,
        table: dynamodb.ITable,
        describe_job: lambda_.IFunction,
        record_failures: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self._table = table
        self._config = config

        tracking_failed = sfn.Fail(
            self,
            "Tracking failed",
            error_path="$.Error",
            cause_path="$.Cause.errorMessage",
            comment="A job that cannot be tracked: the Error names the kind, the Cause says what to fix.",
        )
        tracking_stopped = sfn.Fail(
            self,
            "Tracking stopped",
            error_path="$.Error.Error",
            cause_path="$.Error.Cause",
            comment="Retries were exhausted or something unexpected happened.",
        )
        explain = sfn.Pass(
            self,
            "Explain failure",
            parameters={"Error.$": "$.Error.Error", "Cause.$": "States.StringToJson($.Error.Cause)"},
            comment="Our Lambdas put a message for operators in the Cause's errorMessage.",
        ).next(tracking_failed)
        release_then_explain = self._release_lock("Release job lock", then=explain)
        release_then_stop = self._release_lock("Release job lock after error", then=tracking_stopped)

        describe = self._invoke(
            "Describe job",
            describe_job,
            payload={"DomainId.$": "$.DomainId", "JobId.$": "$.JobId", "PollCount.$": "$.Job.PollCount"},
            result_path="$.Job",
            transient_errors=VOICE_ID_TRANSIENT_ERRORS,
            comment="DescribeFraudsterRegistrationJob; also chooses how long to wait before the next poll.",
        )
        describe.add_catch(release_then_explain, errors=TRACKING_ERRORS, result_path="$.Error")
        describe.add_catch(release_then_stop, errors=["States.ALL"], result_path="$.Error")

        start_polling = sfn.Pass(
            self, "Start polling", result=sfn.Result.from_object({"PollCount": 0}), result_path="$.Job"
        ).next(describe)

        job_recorded = sfn.Succeed(
            self,
            "Job recorded",
            output_path="$.Record",
            comment="Output: status, counts and where the items are.",
        )
        mark_recorded = tasks.DynamoUpdateItem(
            self,
            "Mark job recorded",
            table=table,
            key=_lock_key(),
            update_expression="SET LockState = :recorded, RecordedAt = :now",
            expression_attribute_values={
                ":recorded": _string(LOCK_RECORDED),
                ":now": _string(STATE_ENTERED_TIME),
            },
            result_path=sfn.JsonPath.DISCARD,
        ).next(job_recorded)

        def record(state_name: str, comment: str) -> sfn.IChainable:
            task = self._invoke(
                state_name,
                record_failures,
                payload={"DomainId.$": "$.DomainId", "JobId.$": "$.JobId", "Job.$": "$.Job"},
                result_path="$.Record",
                transient_errors=RECORDING_TRANSIENT_ERRORS,
                comment=comment,
            )
            task.add_catch(release_then_explain, errors=TRACKING_ERRORS, result_path="$.Error")
            task.add_catch(release_then_stop, errors=["States.ALL"], result_path="$.Error")
            return task.next(mark_recorded)

        poll_cap_reached = sfn.Pass(
            self,
            "Poll cap reached",
            parameters={
                "Error": "PollCapReached",
                "Cause.$": f"States.Format('The job was still {{}} after {config.poll_cap} polls; start a new "
                "execution to keep following it.', $.Job.JobStatus)",
            },
            result_path="$.Error",
        ).next(release_then_stop)
        unexpected_status = sfn.Pass(
            self,
            "Unexpected job status",
            parameters={
                "Error": "UnexpectedJobStatus",
                "Cause.$": "States.Format('Voice ID reported JobStatus {}, which the tracker does not know.', "
                "$.Job.JobStatus)",
            },
            result_path="$.Error",
        ).next(release_then_stop)

        wait = sfn.Wait(
            self,
            "Wait for job",
            time=sfn.WaitTime.seconds_path("$.Job.WaitSeconds"),
            comment="The describe step chose this interval from the configured bounds.",
        ).next(describe)
        keep_polling = (
            sfn.Choice(self, "Poll cap reached?")
            .when(sfn.Condition.number_greater_than_equals("$.Job.PollCount", config.poll_cap), poll_cap_reached)
            .otherwise(wait)
        )
        job_status = (
            sfn.Choice(self, "Job status?")
            .when(
                sfn.Condition.string_equals("$.Job.JobStatus", "COMPLETED_WITH_ERRORS"),
                record(
                    "Record failed requests",
                    "Reads the .out and writes each failed request, then the summary.",
                ),
            )
            .when(
                sfn.Condition.string_equals("$.Job.JobStatus", "COMPLETED"),
                record("Record completed job", "Checks the .out lists no failures and writes the summary."),
            )
            .when(
                sfn.Condition.string_equals("$.Job.JobStatus", "FAILED"),
                record("Record failed job", "Writes the summary with the job-level FailureDetails."),
            )
            .when(
                sfn.Condition.or_(*(sfn.Condition.string_equals("$.Job.JobStatus", s) for s in RUNNING_STATUSES)),
                keep_polling,
            )
            .otherwise(unexpected_status)
        )
        describe.next(job_status)

        already_tracked = sfn.Pass(
            self,
            "Job already tracked",
            parameters={
                "DomainId.$": "$.DomainId",
                "JobId.$": "$.JobId",
                "Outcome": "ALREADY_TRACKED",
                "Message": "Another execution is tracking or has recorded this job. Start an execution with "
                '"Rerecord": true to record it again.',
            },
        ).next(sfn.Succeed(self, "Nothing to do"))
        take_over = tasks.DynamoUpdateItem(
            self,
            "Take over job lock",
            table=table,
            key=_lock_key(),
            update_expression="SET LockState = :tracking, ExecutionArn = :me, LockedAt = :now",
            expression_attribute_values={
                ":tracking": _string(LOCK_TRACKING),
                ":me": _string(EXECUTION_ARN),
                ":now": _string(STATE_ENTERED_TIME),
            },
            result_path=sfn.JsonPath.DISCARD,
        ).next(start_polling)
        rerecord_requested = (
            sfn.Choice(self, "Re-record requested?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present("$.Rerecord"),
                    sfn.Condition.is_boolean("$.Rerecord"),
                    sfn.Condition.boolean_equals("$.Rerecord", True),
                ),
                take_over,
            )
            .otherwise(already_tracked)
        )
        acquire_lock = tasks.DynamoPutItem(
            self,
            "Acquire job lock",
            table=table,
            item={
                **_lock_key(),
                "LockState": _string(LOCK_TRACKING),
                "ExecutionArn": _string(EXECUTION_ARN),
                "LockedAt": _string(STATE_ENTERED_TIME),
                "DomainId": _string(sfn.JsonPath.string_at("$.DomainId")),
                "JobId": _string(sfn.JsonPath.string_at("$.JobId")),
            },
            # Events arrive on submit, success and failure; only the first start follows the job.
            condition_expression="attribute_not_exists(#pk) OR LockState = :released",
            expression_attribute_names={"#pk": schema.PARTITION_KEY},
            expression_attribute_values={":released": _string(LOCK_RELEASED)},
            result_path=sfn.JsonPath.DISCARD,
            comment="One execution per job, however many events arrive.",
        )
        acquire_lock.add_catch(rerecord_requested, errors=[LOCK_TAKEN], result_path="$.LockError")
        acquire_lock.add_catch(release_then_stop, errors=["States.ALL"], result_path="$.Error")
        acquire_lock.next(start_polling)

        input_rejected = sfn.Fail(
            self,
            "Input rejected",
            error="InvalidJobRequest",
            cause='Start the execution with {"DomainId": "<22 letters or digits>", "JobId": "<22 letters or digits>"}.',
        )
        validate = (
            sfn.Choice(self, "Validate input")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present("$.DomainId"),
                    sfn.Condition.is_string("$.DomainId"),
                    sfn.Condition.is_present("$.JobId"),
                    sfn.Condition.is_string("$.JobId"),
                ),
                acquire_lock,
            )
            .otherwise(input_rejected)
        )

        self.log_group = logs.LogGroup(
            self, "Logs", retention=config.log_retention, removal_policy=RemovalPolicy.RETAIN
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(validate),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=Duration.seconds(config.execution_timeout_seconds),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            comment="Follows one Voice ID fraudster registration job and records its failed requests.",
        )
        NagSuppressions.add_resource_suppressions(
            self.state_machine.role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "CloudWatch Logs delivery and X-Ray APIs support no resource scoping; Lambda "
                    "invoke permissions name the two functions (and their versions, the <arn>:* form CDK adds).",
                    "appliesTo": [
                        "Resource::*",
                        {"regex": "/^Resource::<.*(DescribeJob|RecordFailures).*\\.Arn>:\\*$/g"},
                    ],
                }
            ],
            apply_to_children=True,
        )

    def _invoke(
        self,
        state_name: str,
        function: lambda_.IFunction,
        *,
        payload: dict[str, str],
        result_path: str,
        transient_errors: list[str],
        comment: str,
    ) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            state_name,
            lambda_function=function,
            payload=sfn.TaskInput.from_object(payload),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path=result_path,
            comment=comment,
        )
        # Lambda's own transient failures, throttling included (Step Functions best practice).
        task.add_retry(
            errors=LAMBDA_SERVICE_ERRORS,
            interval=Duration.seconds(2),
            max_attempts=6,
            backoff_rate=2,
            max_delay=Duration.seconds(60),
            jitter_strategy=sfn.JitterType.FULL,
        )
        task.add_retry(
            errors=transient_errors,
            interval=Duration.seconds(5),
            max_attempts=8,
            backoff_rate=2,
            max_delay=Duration.minutes(2),
            jitter_strategy=sfn.JitterType.FULL,
        )
        return task

    def _release_lock(self, state_name: str, *, then: sfn.IChainable) -> sfn.IChainable:
        """Let a later execution follow the job after this one failed. Only our own lock is released, and
        a failed release never hides the original error."""
        release = tasks.DynamoUpdateItem(
            self,
            state_name,
            table=self._table,
            key=_lock_key(),
            update_expression="SET LockState = :released, ReleasedAt = :now",
            condition_expression="ExecutionArn = :me",
            expression_attribute_values={
                ":released": _string(LOCK_RELEASED),
                ":me": _string(EXECUTION_ARN),
                ":now": _string(STATE_ENTERED_TIME),
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        release.add_catch(then, errors=["States.ALL"], result_path="$.ReleaseError")
        return release.next(then)
