"""Alarms an operator acts on: executions that failed or timed out, events that never started one, and
sweeps the scheduler could not run."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct


class TrackerMonitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.StateMachine,
        dead_letter_queue: sqs.IQueue,
        sweep_dead_letter_queue: sqs.IQueue,
        alarm_topic_arn: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        period = Duration.minutes(5)
        self.failed_executions = cloudwatch.Alarm(
            self,
            "FailedExecutions",
            alarm_description="A Voice ID job could not be tracked: an execution failed, timed out or was "
            "aborted. Its Error and Cause in the Step Functions console say why.",
            metric=cloudwatch.MathExpression(
                expression="failed + timedOut + aborted",
                using_metrics={
                    "failed": state_machine.metric_failed(period=period, statistic="Sum"),
                    "timedOut": state_machine.metric_timed_out(period=period, statistic="Sum"),
                    "aborted": state_machine.metric_aborted(period=period, statistic="Sum"),
                },
                period=period,
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.undelivered_events = cloudwatch.Alarm(
            self,
            "UndeliveredEvents",
            alarm_description="Voice ID job events reached the dead-letter queue instead of starting an "
            "execution; start those jobs' executions from the console.",
            metric=dead_letter_queue.metric_approximate_number_of_messages_visible(period=period),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.missed_sweeps = cloudwatch.Alarm(
            self,
            "MissedSweeps",
            alarm_description="EventBridge Scheduler could not invoke the reconciliation sweep after its retries; "
            "jobs whose events were lost are not being recorded. Invoke the sweep function by hand.",
            metric=sweep_dead_letter_queue.metric_approximate_number_of_messages_visible(period=period),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        if alarm_topic_arn:
            topic = sns.Topic.from_topic_arn(self, "AlarmTopic", alarm_topic_arn)
            for alarm in (self.failed_executions, self.undelivered_events, self.missed_sweeps):
                alarm.add_alarm_action(actions.SnsAction(topic))
