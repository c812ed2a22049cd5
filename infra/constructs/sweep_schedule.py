"""Run the reconciliation sweep on a schedule: EventBridge Scheduler invokes the sweep Lambda every
`tracker:sweepMinutes`, so a job whose events were all lost is still recorded."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagSuppressions
from constructs import Construct

from infra.constructs.dead_letters import dead_letter_queue

MAX_ASYNC_EVENT_AGE_MINUTES = 360


class SweepSchedule(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        sweep: lambda_.IFunction,
        every_minutes: int,
        encryption_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        # Invocations the scheduler could not make after its retries are kept here (an alarm watches it).
        # Encrypted with the stack's key; the scheduler delivers dead letters with the schedule's execution
        # role, to which binding the target grants sqs:SendMessage and the use of this key.
        self.dead_letter_queue = dead_letter_queue(self, encryption_key=encryption_key, dead_letters_of="the schedule")
        self.group = scheduler.ScheduleGroup(self, "Group")
        role = self._scheduler_role()
        self.schedule = self._schedule(sweep, every_minutes, role)
        self.failed_sweeps_queue = self._failed_sweeps_queue(sweep, every_minutes, encryption_key)
        self._let_scheduler_send_dead_letters(role, encryption_key)

    def _scheduler_role(self) -> iam.Role:
        # A role of our own (CDK would share one per target across the stack) so its scope is this schedule.
        return iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            ),
            description="EventBridge Scheduler invokes the reconciliation sweep",
        )

    def _schedule(self, sweep: lambda_.IFunction, every_minutes: int, role: iam.IRole) -> scheduler.Schedule:
        return scheduler.Schedule(
            self,
            "Schedule",
            schedule=scheduler.ScheduleExpression.rate(Duration.minutes(every_minutes)),
            schedule_group=self.group,
            description="Reconciliation sweep: starts a tracker for every recent batch job nothing follows",
            target=scheduler_targets.LambdaInvoke(
                sweep,
                # The sweep needs nothing from its event: invoking it with {} sweeps once.
                input=scheduler.ScheduleTargetInput.from_object({}),
                role=role,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=3,
                # A sweep older than the next one is redundant.
                max_event_age=Duration.minutes(max(every_minutes, 1)),
            ),
        )

    def _failed_sweeps_queue(self, sweep: lambda_.IFunction, every_minutes: int, encryption_key: kms.IKey) -> sqs.Queue:
        """The scheduler invokes the sweep asynchronously: once Lambda accepts an invocation, a sweep that
        fails (after Lambda's own retries) would be dropped. Its event goes to this queue instead, which an
        alarm watches (FailedSweeps), so a sweep that errors every time is seen."""
        queue = dead_letter_queue(
            self,
            encryption_key=encryption_key,
            dead_letters_of="the sweep's failed asynchronous invocations (its on-failure destination)",
            construct_id="FailedSweepsQueue",
        )
        sweep.configure_async_invoke(
            on_failure=destinations.SqsDestination(queue),
            retry_attempts=2,
            # Lambda keeps an event at most 6 hours; a sweep older than the next one is redundant anyway.
            max_event_age=Duration.minutes(min(every_minutes, MAX_ASYNC_EVENT_AGE_MINUTES)),
        )
        if sweep.role is not None:
            NagSuppressions.add_resource_suppressions(
                sweep.role,
                [
                    {
                        "id": "AwsSolutions-IAM5",
                        "reason": "The sweep's on-failure destination is an encrypted queue: CDK's SqsDestination "
                        "grants the key's encrypt actions (GenerateDataKey*, ReEncrypt*) to send to it, on the "
                        "stack's DeadLetterKey alone.",
                        "appliesTo": ["Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"],
                    }
                ],
                apply_to_children=True,
            )
        return queue

    def _let_scheduler_send_dead_letters(self, role: iam.Role, encryption_key: kms.IKey) -> None:
        # Sending to the encrypted queue uses the key; CDK's target grants only sqs:SendMessage.
        encryption_key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
        # After the target is bound: that is when CDK adds the invoke statement to the role.
        NagSuppressions.add_resource_suppressions(
            role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "CDK grants invoke on the sweep function and its versions (the <arn>:* form); "
                    "nothing else.",
                    "appliesTo": [{"regex": "/^Resource::<.*Sweep.*\\.Arn>:\\*$/g"}],
                }
            ],
            apply_to_children=True,
        )
