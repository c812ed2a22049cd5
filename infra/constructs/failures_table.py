"""The DynamoDB table of failed registration requests, job summaries and job locks."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

# The item layout belongs to the code that writes it; the table's key names come from the same module.
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
        self.table.add_global_secondary_index(
            index_name=schema.ERROR_CODE_INDEX,
            partition_key=_string(schema.ERROR_CODE_INDEX_PARTITION_KEY),
            sort_key=_string(schema.ERROR_CODE_INDEX_SORT_KEY),
            projection_type=dynamodb.ProjectionType.ALL,
        )
