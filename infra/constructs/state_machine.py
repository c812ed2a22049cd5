"""The Step Functions Standard state machine that follows one batch job, of any kind, until it is recorded.

Written in JSONPath (not JSONata) so the same definition runs in the local cloud. State names are what an
operator reads in the console; docs/architecture.md's "State machine" section draws the same graph.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from cdk_nag import NagSuppressions
from constructs import Construct

from infra.checkov import LOG_GROUP_KMS, skip_checks
from infra.config import TrackerConfig
from infra.lambda_contract import BATCH_JOB_RECORDED, JOB_KINDS
from infra.lambda_contract import table_schema as schema
from infra.naming import state_machine_arn, state_machine_name, tracker_execution_arn_pattern

# Lambda's own transient errors, as Step Functions names them.
LAMBDA_SERVICE_ERRORS = [
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
# A Lambda that ran out of time, as Step Functions names it; both steps it runs are safe to run again.
LAMBDA_TIMED_OUT = "Sandbox.Timedout"
# Errors our Lambdas raise, matched by class name (lambdas/job_tracker/errors.py).
SERVICE_TRANSIENT_ERRORS = [
    "VoiceIdThrottled",
    "VoiceIdUnavailable",
    "BedrockThrottled",
    "BedrockUnavailable",
    "S3BatchThrottled",
    "S3BatchUnavailable",
    LAMBDA_TIMED_OUT,
]
RECORDING_TRANSIENT_ERRORS = ["RecordingIncomplete", "TransientServiceError", LAMBDA_TIMED_OUT]
# Errors that a retry cannot fix: the execution ends with the Lambda's own message as the Cause.
TRACKING_ERRORS = [
    "JobNotFound",
    "InvalidJobRequest",
    "AccessDenied",
    "OutputFileMissing",
    "OutputFileInvalid",
    "ConfigurationError",
    "UnexpectedJobStatus",
]
LOCK_TAKEN = "DynamoDB.ConditionalCheckFailedException"
HOLDER_GONE = "Sfn.ExecutionDoesNotExistException"
DYNAMODB_TRANSIENT_ERRORS = [
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.RequestLimitExceeded",
    # Step Functions names errors after the SDK's exception classes; both spellings are listed because the
    # documentation shows both and a wrong name would silently never match.
    "DynamoDB.RequestLimitExceededException",
    "DynamoDB.ThrottlingException",
    "DynamoDB.InternalServerError",
    "DynamoDB.InternalServerErrorException",
]
# The aws-sdk integration names a service error <Service>.<Code>Exception (Sfn.ThrottlingException).
SFN_TRANSIENT_ERRORS = [
    "Sfn.ThrottlingException",
    "Sfn.InternalFailureException",
    "Sfn.ServiceUnavailableException",
    "Sfn.InternalServerErrorException",
]
WAKE_REQUEST_PENDING = "DynamoDb.ConditionalCheckFailedException"
# StartExecution of a name already used: this execution's own successor, started by an earlier attempt of the
# hand-over whose answer was lost and which has ended since (a running one is answered as started).
SUCCESSOR_EXISTS = "Sfn.ExecutionAlreadyExistsException"
# The successor's name: one per execution handing over (the hash of its ARN), so a retried StartExecution
# asks for the same execution, and the job id says which job it follows. At most 72 characters (of 80).
SUCCESSOR_NAME = "States.Format('handover-{}-{}', $.JobId, States.Hash($$.Execution.Id, 'SHA-1'))"


class TransientRetry:
    """One retry policy for every transient error: backoff with full jitter, over a budget that outlasts
    10 minutes of faults (tests/infra/test_state_machine.py computes its spread)."""

    INTERVAL_SECONDS = 5
    BACKOFF_RATE = 2.0
    MAX_DELAY_SECONDS = 60
    MAX_ATTEMPTS = 40

    @classmethod
    def add_to(cls, task: sfn.TaskStateBase, errors: list[str]) -> None:
        task.add_retry(
            errors=errors,
            interval=Duration.seconds(cls.INTERVAL_SECONDS),
            max_attempts=cls.MAX_ATTEMPTS,
            backoff_rate=cls.BACKOFF_RATE,
            max_delay=Duration.seconds(cls.MAX_DELAY_SECONDS),
            jitter_strategy=sfn.JitterType.FULL,
        )


# The job-outcome event the state machine puts on the default bus once a job is recorded. Its source is the one
# from before Bedrock, for every kind, so that rules written then keep matching; its detail-type is the job's
# service's (JobService.outcome_event_detail_type): `Voice ID Job Recorded` for Voice ID, as before Bedrock,
# `Batch Job Recorded` for the others.
OUTCOME_EVENT_SOURCE = "voiceid.job-tracker"
OUTCOME_EVENT_DETAIL_TYPE_PATH = "$.OutcomeEvent.DetailType"


def outcome_event_kinds() -> dict[str, tuple[str, ...]]:
    """Each detail-type of the job-outcome event a service names besides `Batch Job Recorded`, with the kinds
    whose jobs it announces."""
    kinds: dict[str, tuple[str, ...]] = {}
    for kind in JOB_KINDS.values():
        detail_type = kind.service.outcome_event_detail_type
        if detail_type != BATCH_JOB_RECORDED:
            kinds[detail_type] = (*kinds.get(detail_type, ()), kind.name)
    return kinds


RUNNING_STATUSES = ("SUBMITTED", "IN_PROGRESS")
# The job statuses that end a job, each with its record step: (JobStatus, state name, comment). The record
# step is the same Lambda for every kind; the state names are what an operator reads in the console.
RECORD_STEPS = (
    (
        "COMPLETED_WITH_ERRORS",
        "Record failed requests",
        "Reads the .out and writes each failed request, then the summary.",
    ),
    ("COMPLETED", "Record completed job", "Checks the .out lists no failures and writes the summary."),
    ("FAILED", "Record failed job", "Writes the summary with the job-level FailureDetails."),
)


def _string(value: str) -> tasks.DynamoAttributeValue:
    return tasks.DynamoAttributeValue.from_string(value)


def _job_partition_key() -> tasks.DynamoAttributeValue:
    return _string(
        sfn.JsonPath.format(
            schema.JOB_PARTITION_KEY_FORMAT, sfn.JsonPath.string_at("$.DomainId"), sfn.JsonPath.string_at("$.JobId")
        )
    )


def _lock_key() -> dict[str, tasks.DynamoAttributeValue]:
    return {schema.PARTITION_KEY: _job_partition_key(), schema.SORT_KEY: _string(schema.LOCK_SORT_KEY)}


def _sdk_lock_key() -> dict[str, object]:
    """The lock item's key in the AWS SDK integration's own (DynamoDB JSON) form."""
    return {
        schema.PARTITION_KEY: {"S.$": schema.job_partition_key_intrinsic("$.DomainId", "$.JobId")},
        schema.SORT_KEY: {"S": schema.LOCK_SORT_KEY},
    }


EXECUTION_ARN = sfn.JsonPath.string_at("$$.Execution.Id")
_ME_IN_A_LIST = tasks.DynamoAttributeValue.from_list([tasks.DynamoAttributeValue.from_string(EXECUTION_ARN)])
STATE_ENTERED_TIME = sfn.JsonPath.string_at("$$.State.EnteredTime")


@dataclass(frozen=True)
class _WaysOut:
    """Where a step that failed goes. Once this execution holds the job's lock, every way out releases it
    first, so that a later execution can follow the job."""

    release_then_explain: sfn.IChainable
    """For the errors our Lambdas explain (TRACKING_ERRORS): the execution fails with their message."""
    release_then_stop: sfn.IChainable
    """For anything else (retries exhausted, the unexpected): the execution fails with the error as it is."""
    stop: sfn.IChainable
    """For a step before the lock is held: "Tracking stopped", nothing to release."""


class TrackerStateMachine(Construct):
    """Follows one job of any kind: validate the input, take the job's lock, poll the job until it ends,
    record it. The kind is data the Lambdas read (lambdas/job_tracker/kinds/), so a new kind adds no state."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TrackerConfig,
        table: dynamodb.ITable,
        validate_input: lambda_.IFunction,
        describe_job: lambda_.IFunction,
        record_failures: lambda_.IFunction,
        wake_tracker: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._table = table
        self._validate_input = validate_input
        self._describe_job = describe_job
        self._record_failures = record_failures
        self._wake_tracker = wake_tracker

        self._ways_out = self._release_and_explain()
        # The main path. Python builds the innermost part first, so each part exists before the step that
        # leads into it, and CDK links (and lists) the states in the order the template has always had.
        start = self._validate(then=self._lock(then=self._poll_loop()))

        self.log_group = logs.LogGroup(
            self, "Logs", retention=config.log_retention, removal_policy=RemovalPolicy.RETAIN
        )
        skip_checks(self.log_group, LOG_GROUP_KMS)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(start),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=Duration.seconds(config.execution_timeout_seconds),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            comment="Follows one batch job (Bedrock or Voice ID, of any kind) and records its failed records.",
            # A fixed name lets the role read this machine's executions (the lock-holder check) without a
            # reference cycle between the role and the state machine.
            state_machine_name=state_machine_name(Stack.of(self).stack_name),
        )
        NagSuppressions.add_resource_suppressions(
            self.state_machine.role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "CloudWatch Logs delivery and X-Ray APIs support no resource scoping; Lambda "
                    "invoke permissions name the four functions (and their versions, the <arn>:* form CDK adds); "
                    "DescribeExecution covers this state machine's own executions, whose names are chosen at start.",
                    "appliesTo": [
                        "Resource::*",
                        {
                            "regex": "/^Resource::<.*(ValidateInput|DescribeJob|RecordFailures|WakeTracker).*"
                            "\\.Arn>:\\*$/g"
                        },
                        {"regex": "/^Resource::arn:<AWS::Partition>:states:.*:execution:.*-Tracker:\\*$/g"},
                    ],
                }
            ],
            apply_to_children=True,
        )

    # -- validate ---------------------------------------------------------------------------------------------

    def _validate(self, *, then: sfn.IChainable) -> sfn.IChainable:
        """Step Functions cannot match patterns, so a Lambda checks the ids, the kind and the domain before
        anything is written. Its answer replaces the input: {DomainId, JobId, JobKind, Rerecord, StartedBy?}."""
        validate = tasks.LambdaInvoke(
            self,
            "Validate input",
            lambda_function=self._validate_input,
            # The whole input, whatever its JSON type (a string or a list is rejected with its own message).
            payload=sfn.TaskInput.from_object({"Input.$": "$"}),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path="$",
            comment="Rejects malformed ids, an unknown JobKind or an unconfigured domain; nothing is written.",
        )
        self._retry_lambda_service_errors(validate)
        # A Bedrock job is read to check its name and output against the configuration.
        validate.add_retry(
            errors=SERVICE_TRANSIENT_ERRORS,
            interval=Duration.seconds(5),
            max_attempts=4,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        # The error replaces the state ("$"): a non-object input has nowhere to keep it beside.
        input_rejected = sfn.Pass(
            self,
            "Explain rejection",
            parameters={"Error.$": "$.Error", "Cause.$": "States.StringToJson($.Cause)"},
        ).next(
            sfn.Fail(
                self,
                "Input rejected",
                error_path="$.Error",
                cause_path="$.Cause.errorMessage",
                comment="The Cause says what is wrong and what to send instead.",
            )
        )
        validate.add_catch(input_rejected, errors=["InvalidJobRequest", "JobNotFound", "AccessDenied"], result_path="$")
        # An event's job the configuration does not name (S3 Batch Operations' events carry no description, so
        # the rule matches every job of the account): nothing to follow, nothing wrong; the output says why.
        not_followed = sfn.Pass(
            self, "Explain not followed", parameters={"Cause.$": "States.StringToJson($.Cause)"}
        ).next(
            sfn.Succeed(
                self,
                "Job not followed",
                output_path="$.Cause.errorMessage",
                comment="An event of a job outside the configuration; nothing was written.",
            )
        )
        validate.add_catch(not_followed, errors=["JobNotFollowed"], result_path="$")
        validate.add_catch(
            sfn.Fail(self, "Input check failed", error_path="$.Error", cause_path="$.Cause"),
            errors=["States.ALL"],
            result_path="$",
        )
        return validate.next(then)

    # -- lock -------------------------------------------------------------------------------------------------

    def _lock(self, *, then: sfn.IChainable) -> sfn.IChainable:
        """Take the job's lock, so that one execution follows the job however many events arrive; a taken
        lock leads to waking its holder, taking it over, or nothing to do."""
        acquire_lock = tasks.DynamoPutItem(
            self,
            "Acquire job lock",
            table=self._table,
            item={
                **_lock_key(),
                "LockState": _string(schema.LOCK_TRACKING),
                "ExecutionArn": _string(EXECUTION_ARN),
                "LockedAt": _string(STATE_ENTERED_TIME),
                "DomainId": _string(sfn.JsonPath.string_at("$.DomainId")),
                "JobId": _string(sfn.JsonPath.string_at("$.JobId")),
                "JobKind": _string(sfn.JsonPath.string_at("$.JobKind")),
                "ExecutionArns": _ME_IN_A_LIST,
                # Listed in JobsByDomain too (by the time the lock was taken): `jobs --all` shows jobs
                # whose tracker has not recorded them, or never will.
                schema.JOBS_INDEX_PARTITION_KEY: _string(
                    sfn.JsonPath.format("DOMAIN#{}", sfn.JsonPath.string_at("$.DomainId"))
                ),
                schema.JOBS_INDEX_SORT_KEY: _string(
                    sfn.JsonPath.format("{}#{}", STATE_ENTERED_TIME, sfn.JsonPath.string_at("$.JobId"))
                ),
            },
            # Events arrive on submit, success and failure; only the first start follows the job. A lock
            # that exists (even RELEASED) is read and taken over instead, which keeps its ExecutionArns.
            condition_expression="attribute_not_exists(#pk)",
            expression_attribute_names={"#pk": schema.PARTITION_KEY},
            result_path=sfn.JsonPath.DISCARD,
            comment="One execution per job, however many events arrive.",
        )
        self._retry_dynamodb(acquire_lock)
        acquire_lock.add_catch(self._when_lock_is_taken(then=then), errors=[LOCK_TAKEN], result_path="$.LockError")
        acquire_lock.add_catch(self._ways_out.stop, errors=["States.ALL"], result_path="$.Error")
        return acquire_lock.next(then)

    def _when_lock_is_taken(self, *, then: sfn.IChainable) -> sfn.IChainable:
        """Read the lock another execution put: wake its holder if that still runs, take over a stale or
        released lock (and go on to `then`), or re-record a recorded job on request. Returns its first state.

        Built from its ends back to the read, the order in which CDK has always listed these states."""
        already_tracked = sfn.Pass(
            self,
            "Job already tracked",
            parameters={
                "DomainId.$": "$.DomainId",
                "JobId.$": "$.JobId",
                "Outcome": "ALREADY_TRACKED",
                "Message": "Another execution is tracking this job or has recorded it. Once none is running, "
                'start an execution with "Rerecord": true to record it again.',
            },
        ).next(sfn.Succeed(self, "Nothing to do"))
        take_over = self._take_over_lock(then=then, lost_to_another=already_tracked)
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
        holder_running = (
            sfn.Choice(self, "Lock holder still running?")
            .when(
                sfn.Condition.string_equals("$.Lock.Holder.Status", "RUNNING"),
                self._wake_lock_holder(then=already_tracked),
            )
            .otherwise(take_over)
        )
        # A lock left TRACKING by an execution that timed out, was stopped or failed outside its catches
        # would block the job forever; asking Step Functions about the holder makes such a lock stale.
        check_holder = tasks.CallAwsService(
            self,
            "Check lock holder",
            service="sfn",
            action="describeExecution",
            parameters={"ExecutionArn": sfn.JsonPath.string_at("$.Lock.ExecutionArn")},
            iam_resources=[tracker_execution_arn_pattern(Stack.of(self))],
            iam_action="states:DescribeExecution",
            result_selector={"Status.$": "$.Status"},
            result_path="$.Lock.Holder",
        )
        TransientRetry.add_to(check_holder, SFN_TRANSIENT_ERRORS)
        check_holder.add_catch(take_over, errors=[HOLDER_GONE], result_path="$.LockError")
        check_holder.add_catch(self._ways_out.stop, errors=["States.ALL"], result_path="$.Error")
        check_holder.next(holder_running)
        lock_state = (
            sfn.Choice(self, "Lock state?")
            # Handed over by the holder at its poll cap: take the lock from it (it ends as soon as this
            # execution has started), unless another execution has taken it meanwhile.
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present("$.HandOver.From"),
                    sfn.Condition.string_equals("$.Lock.LockState", schema.LOCK_TRACKING),
                    sfn.Condition.string_equals_json_path("$.Lock.ExecutionArn", "$.HandOver.From"),
                ),
                take_over,
            )
            .when(sfn.Condition.string_equals("$.Lock.LockState", schema.LOCK_TRACKING), check_holder)
            # Its tracker failed and let go (before or after this execution's PutItem failed): take it over
            # (keeping the list of executions that held it).
            .when(sfn.Condition.string_equals("$.Lock.LockState", schema.LOCK_RELEASED), take_over)
            .otherwise(rerecord_requested)
        )
        read_lock = tasks.DynamoGetItem(
            self,
            "Read job lock",
            table=self._table,
            key=_lock_key(),
            consistent_read=True,
            # The whole item too: the holder's wake-up token, when it has one, is read from it.
            result_selector={
                "LockState.$": "$.Item.LockState.S",
                "ExecutionArn.$": "$.Item.ExecutionArn.S",
                "Item.$": "$.Item",
            },
            result_path="$.Lock",
        )
        self._retry_dynamodb(read_lock)
        read_lock.add_catch(self._ways_out.stop, errors=["States.ALL"], result_path="$.Error")
        return read_lock.next(lock_state)

    def _take_over_lock(self, *, then: sfn.IChainable, lost_to_another: sfn.IChainable) -> sfn.TaskStateBase:
        """Make the lock this execution's, only from the holder just inspected: of two executions taking
        over at once, one wins (the other goes to `lost_to_another`)."""
        take_over = tasks.DynamoUpdateItem(
            self,
            "Take over job lock",
            table=self._table,
            key=_lock_key(),
            # The previous holder's wake-up token is of no use to anyone; the kind is this execution's.
            # ExecutionArns lists every execution that took the lock, so `batch-job-tracker show` finds a job's
            # trackers in a few calls however long the state machine's history is.
            update_expression="SET LockState = :tracking, ExecutionArn = :me, LockedAt = :now, JobKind = :kind, "
            "ExecutionArns = list_append(if_not_exists(ExecutionArns, :none), :mine) "
            "REMOVE WakeToken, WaitingSince, ReleasedAt, WakeRequestedBy",
            # The lock as just read, holder and state: a holder that recorded the job after the read (it
            # was still running then) leaves it RECORDED, and this execution must not record it again.
            condition_expression="ExecutionArn = :holder AND LockState = :seen",
            expression_attribute_values={
                ":tracking": _string(schema.LOCK_TRACKING),
                ":me": _string(EXECUTION_ARN),
                ":holder": _string(sfn.JsonPath.string_at("$.Lock.ExecutionArn")),
                ":seen": _string(sfn.JsonPath.string_at("$.Lock.LockState")),
                ":now": _string(STATE_ENTERED_TIME),
                ":kind": _string(sfn.JsonPath.string_at("$.JobKind")),
                ":mine": _ME_IN_A_LIST,
                ":none": tasks.DynamoAttributeValue.from_list([]),
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        self._retry_dynamodb(take_over)
        take_over.add_catch(lost_to_another, errors=[LOCK_TAKEN], result_path="$.LockError")
        take_over.add_catch(self._ways_out.stop, errors=["States.ALL"], result_path="$.Error")
        take_over.next(then)
        return take_over

    def _wake_lock_holder(self, *, then: sfn.IChainable) -> sfn.IChainable:
        """The holder parks on a task token between polls; sending it makes the holder describe at once,
        which is how a job's end event is noticed within seconds instead of at the next planned poll. A
        holder that is not waiting (describing, or about to wait) gets a wake request its next wait finds."""
        wake_holder = tasks.LambdaInvoke(
            self,
            "Wake lock holder",
            lambda_function=self._wake_tracker,
            payload=sfn.TaskInput.from_object(
                {
                    "DomainId.$": "$.DomainId",
                    "JobId.$": "$.JobId",
                    "JobKind.$": "$.JobKind",
                    "Holder.$": "$.Lock.ExecutionArn",
                    "WokenBy.$": "$$.Execution.Id",
                }
            ),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path="$.Wake",
            comment="Sends the holder's wait token, or leaves a wake request on the lock for its next wait.",
        )
        self._retry_lambda_service_errors(wake_holder)
        TransientRetry.add_to(wake_holder, ["TransientServiceError", LAMBDA_TIMED_OUT])
        wake_holder.add_catch(then, errors=["States.ALL"], result_path="$.WakeError")
        return wake_holder.next(then)

    # -- poll loop --------------------------------------------------------------------------------------------

    def _poll_loop(self) -> sfn.IChainable:
        """Describe the job until its status ends it, then record it; between polls, wait as the describe
        step planned. Returns its first state."""
        describe = self._invoke(
            "Describe job",
            self._describe_job,
            payload={
                "DomainId.$": "$.DomainId",
                "JobId.$": "$.JobId",
                "JobKind.$": "$.JobKind",
                "PollCount.$": "$.Job.PollCount",
                "Polling.$": "$.Job.Polling",
                "Wake.$": "$.Job.Wake",
            },
            result_path="$.Job",
            transient_errors=SERVICE_TRANSIENT_ERRORS,
            comment="Describes the job through its kind's service; also plans the next poll from its progress.",
        )
        describe.add_catch(self._ways_out.release_then_explain, errors=TRACKING_ERRORS, result_path="$.Error")
        describe.add_catch(self._ways_out.release_then_stop, errors=["States.ALL"], result_path="$.Error")
        start_polling = sfn.Pass(
            self,
            "Start polling",
            result=sfn.Result.from_object({"PollCount": 0, "Polling": {}, "Wake": {}}),
            result_path="$.Job",
        ).next(describe)
        # A new execution's history budget, and the handing-over execution's progress samples (and the time
        # the job has been followed: Polling.FirstDescribedAt).
        resume_polling = sfn.Pass(
            self,
            "Resume polling",
            parameters={"PollCount": 0, "Polling.$": "$.HandOver.Polling", "Wake": {}},
            result_path="$.Job",
        ).next(describe)
        handed_over = (
            sfn.Choice(self, "Handed over?")
            .when(sfn.Condition.is_present("$.HandOver.Polling"), resume_polling)
            .otherwise(start_polling)
        )

        record_steps = self._record()
        job_status = sfn.Choice(self, "Job status?")
        for status, record_step in record_steps.items():
            job_status.when(sfn.Condition.string_equals("$.Job.JobStatus", status), record_step)
        job_status.when(
            sfn.Condition.or_(*(sfn.Condition.string_equals("$.Job.JobStatus", s) for s in RUNNING_STATUSES)),
            self._keep_polling(then=describe),
        ).otherwise(self._unexpected_status())
        describe.next(job_status)
        return handed_over

    def _keep_polling(self, *, then: sfn.IChainable) -> sfn.IChainable:
        """Wait and poll again, up to the configured number of polls; then hand the job over to a new
        execution (with its own history budget), unless the job has been followed longer than its kind's
        jobs can last (describe-job's WithinLongestJob), which stops the tracker and pages."""
        poll_cap_reached = self._stop_with(
            "Explain poll cap",
            "PollCapReached",
            "States.Format('The job was still {} after {} polls, and has been followed longer than its kind allows; "
            "start a new execution to keep following it.', $.Job.JobStatus, $.Job.PollCount)",
        )
        cap_reached = sfn.Condition.number_greater_than_equals("$.Job.PollCount", self._config.poll_cap)
        return (
            sfn.Choice(self, "Poll cap reached?")
            .when(
                sfn.Condition.and_(
                    cap_reached,
                    sfn.Condition.is_present("$.Job.WithinLongestJob"),
                    sfn.Condition.boolean_equals("$.Job.WithinLongestJob", False),
                ),
                poll_cap_reached,
            )
            .when(cap_reached, self._hand_over())
            .otherwise(self._wait_for_job_or_wake_up(then=then))
        )

    def _hand_over(self) -> sfn.IChainable:
        """Start a new execution of this state machine to follow the job on, and end: the new execution takes
        the lock from this one (the lock stays TRACKING, held by this execution until then, so no sweep or
        event starts a second tracker in between) and resumes polling from this execution's samples."""
        handed_over = sfn.Succeed(
            self,
            "Handed over",
            comment="A new execution follows the job: its ARN is in HandedOverTo, and on the job's lock.",
        )
        successor_input = sfn.Pass(
            self,
            "Prepare hand-over",
            parameters={
                "Name.$": SUCCESSOR_NAME,
                "Input": {
                    "DomainId.$": "$.DomainId",
                    "JobId.$": "$.JobId",
                    "JobKind.$": "$.JobKind",
                    "HandOver": {"From.$": "$$.Execution.Id", "Polling.$": "$.Job.Polling"},
                },
            },
            result_path="$.Successor",
        )
        start_successor = tasks.CallAwsService(
            self,
            "Hand over to a new execution",
            service="sfn",
            action="startExecution",
            iam_action="states:StartExecution",
            iam_resources=[state_machine_arn(Stack.of(self))],
            parameters={
                # This state machine's own ARN, as the execution sees it.
                "StateMachineArn.$": "$$.StateMachine.Id",
                "Name.$": "$.Successor.Name",
                "Input.$": "States.JsonToString($.Successor.Input)",
            },
            result_selector={"ExecutionArn.$": "$.ExecutionArn"},
            result_path="$.Successor.Started",
            comment="The same job, a new history budget; the name makes a retried start ask for the same execution.",
        )
        TransientRetry.add_to(start_successor, SFN_TRANSIENT_ERRORS)
        outcome = sfn.Pass(
            self,
            "Explain hand-over",
            parameters={
                "DomainId.$": "$.DomainId",
                "JobId.$": "$.JobId",
                "JobKind.$": "$.JobKind",
                "Outcome": "HANDED_OVER",
                "HandedOverTo.$": "$.Successor.Name",
                "PollCount.$": "$.Job.PollCount",
                "Message": "The poll cap was reached while the job ran: a new execution (HandedOverTo) follows it.",
            },
        ).next(handed_over)
        start_successor.add_catch(outcome, errors=[SUCCESSOR_EXISTS], result_path="$.Successor.Error")
        start_successor.add_catch(self._ways_out.release_then_stop, errors=["States.ALL"], result_path="$.Error")
        return successor_input.next(start_successor).next(outcome)

    def _unexpected_status(self) -> sfn.IChainable:
        return self._stop_with(
            "Unexpected job status",
            "UnexpectedJobStatus",
            "States.Format('The service reported JobStatus {}, which the tracker does not know.', $.Job.JobStatus)",
        )

    def _stop_with(self, state_name: str, error: str, cause: str) -> sfn.IChainable:
        """Name the error, with its cause built from the state (`cause`: an intrinsic), then release the lock
        and stop."""
        explain = sfn.Pass(self, state_name, parameters={"Error": error, "Cause.$": cause}, result_path="$.Error")
        return explain.next(self._ways_out.release_then_stop)

    def _wait_for_job_or_wake_up(self, *, then: sfn.IChainable) -> sfn.IChainable:
        """Wait the planned interval, or less if a later event for the job wakes this execution.

        The wait is a task that stores its token on the job's lock item (only while this execution holds
        it) and then waits for the token, at most the planned seconds; a timeout simply polls. The
        optimized DynamoDB integration cannot wait for a token; the AWS SDK integration can. If the token
        cannot be stored, a plain Wait of the same length keeps the loop going.
        """
        plain_wait = sfn.Wait(
            self,
            "Wait for job",
            time=sfn.WaitTime.seconds_path("$.Job.WaitSeconds"),
            comment="Fallback when the wake-up token could not be stored: the planned wait, no wake-up.",
        ).next(then)
        wait_for_token = tasks.CallAwsService(
            self,
            "Wait for job or wake-up",
            service="dynamodb",
            action="updateItem",
            iam_action="dynamodb:UpdateItem",
            iam_resources=[self._table.table_arn],
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            parameters={
                "TableName": self._table.table_name,
                "Key": _sdk_lock_key(),
                "UpdateExpression": "SET WakeToken = :token, WaitingSince = :now",
                # A wake request left while this execution was describing: no wait, describe again now.
                "ConditionExpression": schema.WAIT_FOR_WAKE_CONDITION,
                "ExpressionAttributeValues": {
                    ":token": {"S.$": "$$.Task.Token"},
                    ":me": {"S.$": "$$.Execution.Id"},
                    ":tracking": {"S": schema.LOCK_TRACKING},
                    ":now": {"S.$": "$$.State.EnteredTime"},
                },
            },
            task_timeout=sfn.Timeout.at("$.Job.WaitSeconds"),
            # How the wait ended (woken, or States.Timeout) reaches the next describe, which counts it.
            result_path="$.Job.Wake",
            comment="The describe step planned this wait from the job's progress; an event can cut it short.",
        )
        take_wake_request = tasks.DynamoUpdateItem(
            self,
            "Take wake request",
            table=self._table,
            key=_lock_key(),
            update_expression="REMOVE WakeRequestedBy",
            condition_expression="ExecutionArn = :me AND attribute_exists(WakeRequestedBy)",
            expression_attribute_values={":me": _string(EXECUTION_ARN)},
            return_values=tasks.DynamoReturnValues.UPDATED_OLD,
            # Who asked reaches the describe step like a delivered wake-up's WokenBy.
            result_selector={"WokenBy.$": "$.Attributes.WakeRequestedBy.S"},
            result_path="$.Job.Wake",
            comment="A later event came while this execution was describing; describe again at once.",
        )
        self._retry_dynamodb(take_wake_request)
        # The condition failed for another reason (the lock is no longer this execution's): the plain wait.
        take_wake_request.add_catch(plain_wait, errors=["States.ALL"], result_path="$.Job.Wake")
        take_wake_request.next(then)
        wait_for_token.add_catch(then, errors=["States.Timeout"], result_path="$.Job.Wake")
        wait_for_token.add_catch(take_wake_request, errors=[WAKE_REQUEST_PENDING], result_path="$.Job.Wake")
        wait_for_token.add_catch(plain_wait, errors=["States.ALL"], result_path="$.Job.Wake")
        return wait_for_token.next(then)

    # -- record ---------------------------------------------------------------------------------------------

    def _record(self) -> dict[str, sfn.IChainable]:
        """One record step per job status that ends a job (RECORD_STEPS), keyed by that status. A recorded
        job's lock is marked RECORDED and the outcome announced; a record step that ended without marking its
        summary (it timed out, or the mark itself failed) must not leave it RECORDING with no one on it."""
        mark_recorded = self._update_own_lock(
            "Mark job recorded", lock_state=schema.LOCK_RECORDED, time_attribute="RecordedAt", then=self._announce()
        )
        mark_failed_then_explain = self._mark_record_failed(
            "Mark record failed", then=self._ways_out.release_then_explain
        )
        mark_failed_then_stop = self._mark_record_failed(
            "Mark record failed after error", then=self._ways_out.release_then_stop
        )
        steps: dict[str, sfn.IChainable] = {}
        for status, state_name, comment in RECORD_STEPS:
            record = self._invoke(
                state_name,
                self._record_failures,
                payload={"DomainId.$": "$.DomainId", "JobId.$": "$.JobId", "Job.$": "$.Job"},
                result_path="$.Record",
                transient_errors=RECORDING_TRANSIENT_ERRORS,
                comment=comment,
            )
            record.add_catch(mark_failed_then_explain, errors=TRACKING_ERRORS, result_path="$.Error")
            record.add_catch(mark_failed_then_stop, errors=["States.ALL"], result_path="$.Error")
            # The record is written either way; a lock left TRACKING is taken over by the next start.
            steps[status] = record.next(mark_recorded)
        return steps

    def _announce(self) -> sfn.IChainable:
        """Name the job-outcome event after the job's service, put it on the default bus, then succeed with the
        record. Operators route the event to chat, tickets or mail (docs/operations.md, "Job-outcome events").
        Returns the first state."""
        job_recorded = sfn.Succeed(
            self,
            "Job recorded",
            output_path="$.Record",
            comment="Output: status, counts and where the items are.",
        )
        announce = tasks.EventBridgePutEvents(
            self,
            "Announce job recorded",
            entries=[
                tasks.EventBridgePutEventsEntry(
                    source=OUTCOME_EVENT_SOURCE,
                    detail_type=sfn.JsonPath.string_at(OUTCOME_EVENT_DETAIL_TYPE_PATH),
                    detail=sfn.TaskInput.from_object(
                        {
                            "JobKind.$": "$.Record.JobKind",
                            "DomainId.$": "$.Record.DomainId",
                            "JobId.$": "$.Record.JobId",
                            "JobStatus.$": "$.Record.JobStatus",
                            "RecordState": "COMPLETE",
                            "FailedRequests.$": "$.Record.FailedRequests",
                            "Items.$": "$.Record.Items",
                            "Record.$": "$.Record",
                            "ExecutionArn.$": "$$.Execution.Id",
                        }
                    ),
                )
            ],
            result_path=sfn.JsonPath.DISCARD,
            comment="Tells subscribers the job is recorded: its kind, status, counts and where the items are.",
        )
        announce.add_retry(
            errors=["States.TaskFailed"],
            interval=Duration.seconds(1),
            max_attempts=3,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        # The record stands without the announcement; a failed PutEvents shows in the execution's history.
        announce.add_catch(job_recorded, errors=["States.ALL"], result_path="$.AnnounceError")
        announce.next(job_recorded)
        # Step Functions cannot look a value up by a key read from the state, so the kinds' data becomes one
        # branch per detail-type a service names; every other kind's job is announced as `Batch Job Recorded`.
        name_event = sfn.Choice(
            self, "Name the outcome event", comment="The detail-type of the job's service (JobService data)."
        )
        for detail_type, kind_names in outcome_event_kinds().items():
            name_event.when(
                sfn.Condition.or_(*(sfn.Condition.string_equals("$.Record.JobKind", name) for name in kind_names)),
                self._name_outcome_event(detail_type).next(announce),
            )
        name_event.otherwise(self._name_outcome_event(BATCH_JOB_RECORDED).next(announce))
        return name_event

    def _name_outcome_event(self, detail_type: str) -> sfn.Pass:
        return sfn.Pass(
            self,
            f"Announce as {detail_type}",
            result=sfn.Result.from_object({"DetailType": detail_type}),
            result_path="$.OutcomeEvent",
        )

    def _mark_record_failed(self, state_name: str, *, then: sfn.IChainable) -> sfn.IChainable:
        """Set the summary FAILED, with the step's error, if the record step left it RECORDING."""
        update = tasks.DynamoUpdateItem(
            self,
            state_name,
            table=self._table,
            key={schema.PARTITION_KEY: _job_partition_key(), schema.SORT_KEY: _string(schema.SUMMARY_SORT_KEY)},
            update_expression="SET RecordState = :failed, RecordProblem = :problem",
            condition_expression="RecordState = :recording",
            expression_attribute_values={
                ":failed": _string(schema.RECORD_STATE_FAILED),
                ":recording": _string(schema.RECORD_STATE_RECORDING),
                ":problem": _string(
                    sfn.JsonPath.format(
                        "{}: {}", sfn.JsonPath.string_at("$.Error.Error"), sfn.JsonPath.string_at("$.Error.Cause")
                    )
                ),
            },
            result_path=sfn.JsonPath.DISCARD,
            comment="Only a summary still RECORDING: the step marks its own failures, and a FAILED or COMPLETE "
            "summary is left as it is.",
        )
        self._retry_dynamodb(update)
        update.add_catch(then, errors=["States.ALL"], result_path="$.RecordStateError")
        return update.next(then)

    # -- release and explain ----------------------------------------------------------------------------------

    def _release_and_explain(self) -> _WaysOut:
        """The ends of a failed execution: release the lock, then fail with our Lambda's message for
        operators ("Tracking failed") or with the error as it came ("Tracking stopped")."""
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
        return _WaysOut(
            release_then_explain=self._release_lock("Release job lock", then=explain),
            release_then_stop=self._release_lock("Release job lock after error", then=tracking_stopped),
            stop=tracking_stopped,
        )

    def _release_lock(self, state_name: str, *, then: sfn.IChainable) -> sfn.IChainable:
        """Let a later execution follow the job after this one failed; a failed release never hides the
        original error."""
        return self._update_own_lock(
            state_name, lock_state=schema.LOCK_RELEASED, time_attribute="ReleasedAt", then=then
        )

    def _update_own_lock(
        self, state_name: str, *, lock_state: str, time_attribute: str, then: sfn.IChainable
    ) -> sfn.IChainable:
        """Set the job lock's state, only while this execution holds it, and go on to `then` either way."""
        update = tasks.DynamoUpdateItem(
            self,
            state_name,
            table=self._table,
            key=_lock_key(),
            # No wait is pending once the lock is recorded or released: its token would only mislead.
            update_expression=f"SET LockState = :state, {time_attribute} = :now "
            "REMOVE WakeToken, WaitingSince, WakeRequestedBy",
            condition_expression="ExecutionArn = :me",
            expression_attribute_values={
                ":state": _string(lock_state),
                ":me": _string(EXECUTION_ARN),
                ":now": _string(STATE_ENTERED_TIME),
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        self._retry_dynamodb(update)
        update.add_catch(then, errors=["States.ALL"], result_path="$.LockUpdateError")
        return update.next(then)

    # -- shared by the parts ----------------------------------------------------------------------------------

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
        self._retry_lambda_service_errors(task)
        TransientRetry.add_to(task, transient_errors)
        return task

    @staticmethod
    def _retry_lambda_service_errors(task: sfn.TaskStateBase) -> None:
        """Lambda's own transient failures, throttling included (Step Functions best practice)."""
        task.add_retry(
            errors=LAMBDA_SERVICE_ERRORS,
            interval=Duration.seconds(2),
            max_attempts=6,
            backoff_rate=2,
            max_delay=Duration.seconds(60),
            jitter_strategy=sfn.JitterType.FULL,
        )

    @staticmethod
    def _retry_dynamodb(task: sfn.TaskStateBase) -> None:
        TransientRetry.add_to(task, DYNAMODB_TRANSIENT_ERRORS)
