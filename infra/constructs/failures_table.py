"""The DynamoDB table of failed requests (of every job kind), job summaries and job locks."""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

# The item layout belongs to the code that writes it; the table's key names come from the same module.
from infra.checkov import skip_checks
from infra.lambda_contract import table_schema as schema

# What a reader or writer of items needs of a customer managed table key, through DynamoDB only.
TABLE_KEY_ACTIONS = (
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:DescribeKey",
)


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


class FailuresTable(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, table_kms_key_arn: str | None = None) -> None:
        super().__init__(scope, construct_id)
        self.encryption_key = kms.Key.from_key_arn(self, "TableKey", table_kms_key_arn) if table_kms_key_arn else None
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=_string(schema.PARTITION_KEY),
            sort_key=_string(schema.SORT_KEY),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=(
                dynamodb.TableEncryption.CUSTOMER_MANAGED
                if self.encryption_key
                else dynamodb.TableEncryption.AWS_MANAGED
            ),
            encryption_key=self.encryption_key,
            # Items written with ExpiresAt (tracker:retentionDays) are deleted by DynamoDB after it.
            time_to_live_attribute=schema.EXPIRES_AT,
            removal_policy=RemovalPolicy.RETAIN,
            deletion_protection=True,
        )
        if self.encryption_key is None:
            skip_checks(
                self.table,
                (
                    "CKV_AWS_119",
                    "Encrypted with KMS under DynamoDB's AWS managed key (aws/dynamodb), every use logged in "
                    "CloudTrail. Items hold job summaries, request ids, error codes and Voice ID's error messages, "
                    "and a speaker enrollment's failures the customer's CustomerSpeakerId; they expire after "
                    "tracker:retentionDays (90 by default) and `batch-job-tracker erase` deletes a customer's on "
                    "request. Access is governed by IAM on the table. A deployment that wants its own key policy "
                    "sets tracker:tableKmsKeyArn to a customer managed key.",
                ),
            )
        # Failure items only: one error code across a domain's jobs within a time window, spread over
        # shards by RequestId so that one large job's failures do not all land on one partition.
        self.table.add_global_secondary_index(
            index_name=schema.ERROR_CODE_INDEX,
            partition_key=_string(schema.ERROR_CODE_INDEX_PARTITION_KEY),
            sort_key=_string(schema.ERROR_CODE_INDEX_SORT_KEY),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(schema.ERROR_CODE_INDEX_ATTRIBUTES),
        )
        # Summary items only: a domain's recorded jobs in creation order, so operators list jobs without a Scan.
        self.table.add_global_secondary_index(
            index_name=schema.JOBS_INDEX,
            partition_key=_string(schema.JOBS_INDEX_PARTITION_KEY),
            sort_key=_string(schema.JOBS_INDEX_SORT_KEY),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(schema.JOBS_INDEX_ATTRIBUTES),
        )
        # Failure items that name a person (the kind's subject attribute): their keys, for erasure.
        self.table.add_global_secondary_index(
            index_name=schema.SUBJECT_INDEX,
            partition_key=_string(schema.SUBJECT_INDEX_PARTITION_KEY),
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )

    def grant_key_use(self, grantee: iam.IGrantable) -> None:
        """Let `grantee` read and write items under the customer managed table key (through DynamoDB only);
        nothing to grant under the AWS managed key."""
        if self.encryption_key is None:
            return
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(TABLE_KEY_ACTIONS),
                resources=[self.encryption_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{Aws.REGION}.amazonaws.com"}},
            )
        )
