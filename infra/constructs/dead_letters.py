"""The stack's dead-letter queues: encrypted with the stack's key, TLS only, kept 14 days."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagSuppressions
from constructs import Construct


def dead_letter_queue(
    scope: Construct, *, encryption_key: kms.IKey, dead_letters_of: str, construct_id: str = "DeadLetterQueue"
) -> sqs.Queue:
    """A dead-letter queue (construct id `construct_id`) for what `dead_letters_of` could not deliver.

    Dead letters name the jobs they were about, so the queue is encrypted with the stack's key; SQS's AWS managed key
    cannot be used, as its policy cannot let EventBridge or the scheduler deliver to the queue.
    """
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=encryption_key,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    NagSuppressions.add_resource_suppressions(
        queue,
        [{"id": "AwsSolutions-SQS3", "reason": f"This queue is itself the dead-letter queue of {dead_letters_of}."}],
    )
    return queue
