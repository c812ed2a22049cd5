"""The DynamoDB table of failed requests (of every job kind), job summaries and job locks."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

# The item layout belongs to the code that writes it; the table's key names come from the same module.
from infra.checkov import skip_checks
from infra.lambda_contract import table_schema as schema


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


class FailuresTable(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=_string(schema.PARTITION_KEY),
            sort_key=_string(schema.SORT_KEY),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.RETAIN,
            deletion_protection=True,
        )
        skip_checks(
            self.table,
            (
                "CKV_AWS_119",
                "Encrypted with KMS under DynamoDB's AWS managed key (aws/dynamodb), every use logged in "
                "CloudTrail. Items hold request ids, error codes and messages and job summaries, and access is "
                "governed by IAM on the table; a customer managed key would add a key policy and kms grants to "
                "every reader and writer (the Lambdas and the state machine) without narrowing who can read.",
            ),
        )
        self.table.add_global_secondary_index(
            index_name=schema.ERROR_CODE_INDEX,
            partition_key=_string(schema.ERROR_CODE_INDEX_PARTITION_KEY),
            sort_key=_string(schema.ERROR_CODE_INDEX_SORT_KEY),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        # Summary items only: a domain's recorded jobs in creation order, so operators list jobs without a Scan.
        self.table.add_global_secondary_index(
            index_name=schema.JOBS_INDEX,
            partition_key=_string(schema.JOBS_INDEX_PARTITION_KEY),
            sort_key=_string(schema.JOBS_INDEX_SORT_KEY),
            projection_type=dynamodb.ProjectionType.ALL,
        )
