"""retry-dispatcher: the automatic retries of Bedrock records (docs/automatic-retries.md).

Invoked by the tracker's own job-recorded event (EventBridge) for a Bedrock job: it pools the job's retryable
records, or maps a retry job's outcomes back to their originals; and by EventBridge Scheduler (`{}`), to start the
pools that are due and settle what an event missed. Either way it then dispatches the due pools.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from job_tracker.adapters.retry_services import (
    BedrockModelRuntime,
    BedrockRetryJobs,
    EventBridgeSettledEvents,
    S3ObjectWriter,
)
from job_tracker.adapters.retry_store import DynamoDbRetryStore
from job_tracker.adapters.s3 import S3ObjectReader
from job_tracker.bedrock_retries import DispatchReport, RetryDispatcher, RetrySettings
from job_tracker.clients import RETRY_AWS, RETRY_RUNTIME
from job_tracker.settings import RetryDispatcherSettings

if TYPE_CHECKING:  # the type only: importing it costs a cold start ~1 ms for nothing
    from aws_lambda_powertools.utilities.typing import LambdaContext

settings = RetryDispatcherSettings.from_env()
logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"job_tracker"})
metrics = Metrics()
s3 = boto3.client("s3", config=RETRY_AWS.config())
dispatcher = RetryDispatcher(
    RetrySettings(
        policy=settings.policy,
        retry_input=settings.retry_input,
        job_name_prefixes=settings.job_name_prefixes,
        min_records_per_job=settings.min_records_per_job,
    ),
    DynamoDbRetryStore(boto3.client("dynamodb", config=RETRY_AWS.config()), settings.table_name),
    jobs=BedrockRetryJobs(boto3.client("bedrock", config=RETRY_AWS.config())),
    runtime=BedrockModelRuntime(boto3.client("bedrock-runtime", config=RETRY_RUNTIME.config())),
    reader=S3ObjectReader(s3),
    writer=S3ObjectWriter(s3),
    events=EventBridgeSettledEvents(boto3.client("events", config=RETRY_AWS.config()), settings.event_source),
)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = DispatchReport()
    detail = event.get("detail") if isinstance(event, dict) else None
    if isinstance(detail, dict) and detail.get("DomainId") and detail.get("JobId"):
        dispatcher.on_job_recorded(str(detail["DomainId"]), str(detail["JobId"]), report)
    dispatcher.run(report)
    metrics.add_metric(name="RetryRecordsPooled", unit=MetricUnit.Count, value=report.pooled)
    metrics.add_metric(name="RetryJobsSubmitted", unit=MetricUnit.Count, value=len(report.jobs_submitted))
    metrics.add_metric(name="RetryRecordsOnDemand", unit=MetricUnit.Count, value=report.on_demand_records)
    metrics.add_metric(name="RetryRecordsSettled", unit=MetricUnit.Count, value=report.settled)
    metrics.add_metric(name="RetryJobsSettled", unit=MetricUnit.Count, value=len(report.jobs_settled))
    # Pooled or submitted longer than the pool wait plus a job's expected duration: its alarm pages.
    metrics.add_metric(name="RetryRecordsOverdue", unit=MetricUnit.Count, value=report.overdue)
    metrics.add_metric(name="RetryDailyCapReached", unit=MetricUnit.Count, value=1 if report.held_by_cap else 0)
    output = report.to_output()
    logger.info("Retry dispatch finished", extra=output)
    return output
