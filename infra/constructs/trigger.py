"""Start the state machine when Voice ID reports a batch job of any kind on EventBridge: one rule per job kind,
its input transformer naming the kind, and one dead-letter queue for all of them."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.dead_letters import dead_letter_queue
from infra.lambda_contract import JOB_KINDS
from infra.naming import stack_event_rules_arn_pattern

EVENT_SOURCE = "aws.voiceid"


class JobEventTrigger(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.IStateMachine,
        domain_ids: Sequence[str],
        encryption_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        # Events that EventBridge could not turn into an execution (e.g. Step Functions throttling past
        # the retry policy) are kept here rather than lost.
        self.dead_letter_queue = dead_letter_queue(self, encryption_key=encryption_key, dead_letters_of="the rules")
        self.rules: dict[str, events.Rule] = {}
        for kind in JOB_KINDS.values():
            rule = events.Rule(
                self,
                # "Rule" for the first kind keeps the logical id (and the rule) of stacks deployed before kinds.
                "Rule" if not self.rules else f"{kind.api_noun}Rule",
                description=f"Voice ID {kind.noun} job submitted, succeeded or failed",
                event_pattern=events.EventPattern(
                    source=[EVENT_SOURCE],
                    detail_type=list(kind.event_detail_types),
                    # Delivery is best effort and the status strings are undocumented, so every event of a
                    # job starts an execution; the job lock makes all but the first a no-op (and wakes the
                    # tracker). Only the configured domains: the tracker may not describe jobs of any other.
                    detail={"domainId": list(domain_ids), "batchJobId": [{"exists": True}]},
                ),
            )
            rule.add_target(
                targets.SfnStateMachine(
                    state_machine,
                    input=events.RuleTargetInput.from_object(
                        {
                            "DomainId": events.EventField.from_path("$.detail.domainId"),
                            "JobId": events.EventField.from_path("$.detail.batchJobId"),
                            "JobKind": kind.name,
                        }
                    ),
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=20,
                    max_event_age=Duration.hours(24),
                )
            )
            self.rules[kind.name] = rule
        # EventBridge delivers to the encrypted queue as itself, so the key policy must allow it, for the
        # stack's rules only (the queue's policy, which CDK writes, lets this rule alone send to it). A
        # pattern, not the rule's ARN: a reference would close a cycle (key -> rule -> queue -> key).
        encryption_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeDeliversUndeliverableEventsOfTheStacksRules",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=["*"],
                conditions={"ArnLike": {"aws:SourceArn": stack_event_rules_arn_pattern(Stack.of(self))}},
            )
        )
