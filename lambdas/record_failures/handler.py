"""record-failures: read a finished job's `.out` and write its failed requests and summary to DynamoDB."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from job_tracker.adapters.dynamodb import DynamoDbFailureStore
from job_tracker.adapters.s3 import S3ObjectReader
from job_tracker.clients import RECORD_DYNAMODB, RECORD_S3
from job_tracker.recording import Deadline
from job_tracker.settings import RecordFailuresSettings
from job_tracker.tracking import describes_per_job, record_job

if TYPE_CHECKING:  # the type only: importing it costs a cold start ~1 ms for nothing
    from aws_lambda_powertools.utilities.typing import LambdaContext

settings = RecordFailuresSettings.from_env()
logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"job_tracker"})
metrics = Metrics()
reader = S3ObjectReader(boto3.client("s3", config=RECORD_S3.config()))
store = DynamoDbFailureStore(
    boto3.client("dynamodb", config=RECORD_DYNAMODB.config()),
    settings.table_name,
    retention_days=settings.retention_days,
)


@logger.inject_lambda_context(correlation_id_path="JobId")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Stops in good time before the function's timeout (RecordingIncomplete), resumed by the state machine.
    deadline = Deadline(remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000)
    result = record_job(event, reader, store, deadline)
    # By kind, for the dashboard's "recorded, by kind" widgets.
    metrics.add_dimension(name="JobKind", value=result.job.kind.name)
    metrics.add_metric(name="FailedRequestsRecorded", unit=MetricUnit.Count, value=result.failed)
    metrics.add_metric(name="JobsRecorded", unit=MetricUnit.Count, value=1)
    polls = describes_per_job(event)
    if polls is not None:
        # One datapoint per recorded job: the dashboard charts its average and p90.
        metrics.add_metric(name="DescribesPerJob", unit=MetricUnit.Count, value=polls)
    return result.to_output(settings.table_name)
