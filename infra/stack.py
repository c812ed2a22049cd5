"""The tracker's one stack: table, functions, state machine, trigger and monitoring.

The class is named for what it tracks, any batch job; the app keeps the stack's name from before Bedrock
(`VoiceIdJobTracker`, `infra.config.STACK_NAME`) and every construct id, so that a deployed stack upgrades in
place: same stack, same table, same logical ids (tests/infra/test_logical_ids.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.config import OutputLocation, TrackerConfig
from infra.constructs.bedrock_retries import BedrockRetries
from infra.constructs.failures_table import FailuresTable
from infra.constructs.functions import TrackerFunctions
from infra.constructs.monitoring import TrackerMonitoring
from infra.constructs.state_machine import TrackerStateMachine
from infra.constructs.sweep_schedule import SweepSchedule
from infra.constructs.trigger import JobEventTrigger


class BatchJobTrackerStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: TrackerConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        failures = FailuresTable(self, "Failures", table_kms_key_arn=config.table_kms_key_arn)
        functions = TrackerFunctions(self, "Functions", config=config, table=failures.table)
        tracker = TrackerStateMachine(
            self,
            "Tracker",
            config=config,
            table=failures.table,
            validate_input=functions.validate_input,
            describe_job=functions.describe_job,
            record_failures=functions.record_failures,
            wake_tracker=functions.wake_tracker,
        )
        for reader_or_writer in (functions.record_failures, functions.sweep, tracker.state_machine):
            failures.grant_key_use(reader_or_writer)
        # Encrypts the dead-letter queues (their messages name the jobs they were about); rotated yearly.
        dead_letter_key = kms.Key(
            self,
            "DeadLetterKey",
            description="Encrypts the batch job tracker's dead-letter queues",
            enable_key_rotation=True,
        )
        sweep = SweepSchedule(
            self, "Sweep", sweep=functions.sweep, every_minutes=config.sweep_minutes, encryption_key=dead_letter_key
        )
        if config.bedrock is not None and config.bedrock.retry_policy is not None:
            # Before the monitoring: the retry dispatcher is one of the functions it watches.
            retries = BedrockRetries(
                self,
                "BedrockRetries",
                config=config,
                bedrock=config.bedrock,
                table=failures.table,
                functions=functions,
                encryption_key=dead_letter_key,
            )
            failures.grant_key_use(retries.function)
            # To run it now (Lambda Invoke with {}), as its schedule does.
            CfnOutput(self, "RetryDispatcherFunctionName", value=retries.function.function_name)
        trigger = JobEventTrigger(
            self,
            "Trigger",
            state_machine=tracker.state_machine,
            config=config,
            encryption_key=dead_letter_key,
        )
        TrackerMonitoring(
            self,
            "Monitoring",
            state_machine=tracker.state_machine,
            functions=functions.by_name,
            dead_letter_queue=trigger.dead_letter_queue,
            sweep_dead_letter_queue=sweep.dead_letter_queue,
            failed_sweeps_queue=sweep.failed_sweeps_queue,
            sweep_minutes=config.sweep_minutes,
            alarm_topic_arn=config.alarm_topic_arn,
        )
        self._outputs(config, failures=failures, functions=functions, tracker=tracker, trigger=trigger, sweep=sweep)

    def _outputs(
        self,
        config: TrackerConfig,
        *,
        failures: FailuresTable,
        functions: TrackerFunctions,
        tracker: TrackerStateMachine,
        trigger: JobEventTrigger,
        sweep: SweepSchedule,
    ) -> None:
        CfnOutput(self, "FailuresTableName", value=failures.table.table_name)
        CfnOutput(self, "StateMachineArn", value=tracker.state_machine.state_machine_arn)
        CfnOutput(self, "EventRuleNames", value=Fn.join(",", [rule.rule_name for rule in trigger.rules.values()]))
        CfnOutput(self, "DeadLetterQueueUrl", value=trigger.dead_letter_queue.queue_url)
        CfnOutput(self, "SweepFunctionName", value=functions.sweep.function_name)
        CfnOutput(self, "SweepDeadLetterQueueUrl", value=sweep.dead_letter_queue.queue_url)
        CfnOutput(self, "SweepScheduleName", value=sweep.schedule.schedule_name)
        # The Scheduler API finds a schedule by its group and name (`aws scheduler get-schedule`, the runbook).
        CfnOutput(self, "SweepScheduleGroupName", value=sweep.group.schedule_group_name)
        CfnOutput(self, "FailedSweepsQueueUrl", value=sweep.failed_sweeps_queue.queue_url)
        # The output key's policy must allow this role to decrypt through S3.
        CfnOutput(self, "RecordFailuresRoleArn", value=functions.record_failures.role.role_arn)  # type: ignore[union-attr]
        # What the stack only refers to, echoed so operators and the local cloud can see what it may read.
        CfnOutput(self, "VoiceIdDomainIds", value=",".join(config.voice_id_domain_ids))
        CfnOutput(self, "VoiceIdOutputLocations", value=",".join(_uris(config.output_locations)))
        CfnOutput(self, "VoiceIdOutputKmsKeyArns", value=",".join(config.output_kms_key_arns))
        CfnOutput(self, "VoiceIdInputLocations", value=",".join(_uris(config.input_locations)))
        CfnOutput(self, "VoiceIdInputKmsKeyArns", value=",".join(config.input_kms_key_arns))
        CfnOutput(self, "TrackedServices", value=",".join(config.tracked_services))
        if config.bedrock is not None:
            bedrock = config.bedrock
            # The "domain" of Bedrock jobs in the table's keys (JOB#<account>#<jobId>).
            CfnOutput(self, "BedrockAccountId", value=self.account)
            CfnOutput(self, "BedrockJobNamePrefixes", value=",".join(bedrock.job_name_prefixes))
            CfnOutput(self, "BedrockOutputLocations", value=",".join(_uris(bedrock.output_locations)))
            CfnOutput(self, "BedrockOutputKmsKeyArns", value=",".join(bedrock.output_kms_key_arns))
            CfnOutput(self, "BedrockInputLocations", value=",".join(_uris(bedrock.input_locations)))
            # Where the CLI's retry writes its JSONL, and the fewest records it starts a job with.
            retry_input = bedrock.retry_input_location
            CfnOutput(self, "BedrockRetryInputLocation", value=retry_input.uri if retry_input else "")
            CfnOutput(self, "BedrockMinRecordsPerJob", value=str(bedrock.min_records_per_job))
        if config.s3batch is not None:
            # The "domain" of S3 Batch Operations jobs in the table's keys (JOB#<account>#<jobId>).
            CfnOutput(self, "S3BatchAccountId", value=self.account)
            CfnOutput(self, "S3BatchJobDescriptionPrefixes", value=",".join(config.s3batch.description_prefixes))
            CfnOutput(self, "S3BatchReportLocations", value=",".join(_uris(config.s3batch.report_locations)))


def _uris(locations: Sequence[OutputLocation]) -> list[str]:
    return [location.uri for location in locations]
