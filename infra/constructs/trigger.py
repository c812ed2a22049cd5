"""Start the state machine when a followed service reports a batch job on EventBridge: one rule per job kind,
its input transformer naming the kind, and one dead-letter queue for all of them.

Voice ID's rules match the configured domains. Bedrock's matches `aws.bedrock` / `Batch Inference Job State
Change` for the configured job-name prefixes and passes the job's ARN; the event's `creationTime`, which AWS
writes in a non-ISO format (`Aug 28, 2024, 10:47:53 PM`), is neither matched nor passed, so no format of it
can break the rule. The output location is not in the event: validate-input checks it on the job.

S3 Batch Operations sends no job event of its own: CloudTrail's `JobCreated` and `JobStatusChanged` records
arrive as `aws.s3` / `AWS Service Event via CloudTrail` (best effort; docs/s3batch-facts.md §6). Their
`serviceEventDetails` carry the job's id, ARN and status, not its description or report, so the rule matches
every job of the account and passes the job's ARN; validate-input reads the job: one whose description no
prefix names ends its execution as `Job not followed` (succeeded, nothing written), one whose report lies outside
the configured locations is refused (a configuration to fix).
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import TrackerConfig
from infra.constructs.dead_letters import dead_letter_queue
from infra.lambda_contract import JobKind, kinds_of
from infra.naming import stack_event_rules_arn_pattern
from job_tracker.execution_input import STARTED_BY_EVENT
from job_tracker.kinds.s3_batch_operations import CLOUDTRAIL_EVENT_NAMES, CLOUDTRAIL_EVENT_SOURCE


def _voice_id_rule(kind: JobKind, config: TrackerConfig) -> tuple[events.EventPattern, events.RuleTargetInput]:
    pattern = events.EventPattern(
        source=[kind.service.event_source],
        detail_type=list(kind.event_detail_types),
        # Delivery is best effort and the status strings are undocumented, so every event of a job starts an
        # execution; the job lock makes all but the first a no-op (and wakes the tracker). Only the configured
        # domains: the tracker may not describe jobs of any other.
        detail={"domainId": list(config.voice_id_domain_ids), "batchJobId": [{"exists": True}]},
    )
    target_input = events.RuleTargetInput.from_object(
        {
            "DomainId": events.EventField.from_path("$.detail.domainId"),
            "JobId": events.EventField.from_path("$.detail.batchJobId"),
            "JobKind": kind.name,
        }
    )
    return pattern, target_input


def _bedrock_rule(kind: JobKind, config: TrackerConfig) -> tuple[events.EventPattern, events.RuleTargetInput]:
    prefixes = config.bedrock.job_name_prefixes if config.bedrock else ()
    pattern = events.EventPattern(
        source=[kind.service.event_source],
        detail_type=list(kind.event_detail_types),
        # Every status, as for Voice ID: each event starts an execution that the lock turns into a wake-up.
        detail={
            "batchJobName": [{"prefix": prefix} for prefix in prefixes],
            "batchJobArn": [{"exists": True}],
        },
    )
    target_input = events.RuleTargetInput.from_object(
        {"JobArn": events.EventField.from_path("$.detail.batchJobArn"), "JobKind": kind.name}
    )
    return pattern, target_input


def _s3batch_rule(kind: JobKind, config: TrackerConfig) -> tuple[events.EventPattern, events.RuleTargetInput]:
    pattern = events.EventPattern(
        source=[kind.service.event_source],
        detail_type=list(kind.event_detail_types),
        # Every status change, as for the other services; the event names no description to match, so the
        # account's other jobs start executions too, which validate-input ends (docs/s3batch-jobs.md).
        detail={
            "eventSource": [CLOUDTRAIL_EVENT_SOURCE],
            "eventName": list(CLOUDTRAIL_EVENT_NAMES),
            "serviceEventDetails": {"jobArn": [{"exists": True}]},
        },
    )
    # StartedBy: an event of a job the configured descriptions do not name ends its execution quietly.
    target_input = events.RuleTargetInput.from_object(
        {
            "JobArn": events.EventField.from_path("$.detail.serviceEventDetails.jobArn"),
            "JobKind": kind.name,
            "StartedBy": STARTED_BY_EVENT,
        }
    )
    return pattern, target_input


# How each service's events become an execution's input, by JobService.key.
RULES = {"voiceid": _voice_id_rule, "bedrock": _bedrock_rule, "s3": _s3batch_rule}


class JobEventTrigger(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.IStateMachine,
        config: TrackerConfig,
        encryption_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        # Events that EventBridge could not turn into an execution (e.g. Step Functions throttling past
        # the retry policy) are kept here rather than lost.
        self.dead_letter_queue = dead_letter_queue(self, encryption_key=encryption_key, dead_letters_of="the rules")
        self.rules: dict[str, events.Rule] = {}
        for kind in kinds_of(config.tracked_services):
            pattern, target_input = RULES[kind.service.key](kind, config)
            rule = events.Rule(
                self,
                # "Rule" for the first kind keeps the logical id (and the rule) of stacks deployed before kinds.
                "Rule" if not self.rules else f"{kind.api_noun}Rule",
                description=f"{kind.service.name} {kind.noun} job state changes",
                event_pattern=pattern,
            )
            rule.add_target(
                targets.SfnStateMachine(
                    state_machine,
                    input=target_input,
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
