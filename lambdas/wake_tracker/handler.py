"""wake-tracker: complete a waiting tracker's task token, or leave a wake request its next wait finds, so it
describes its job at once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from job_tracker.adapters.dynamodb import DynamoDbWakeRequests
from job_tracker.adapters.stepfunctions import StepFunctionsTaskWaker
from job_tracker.clients import WAKE_DYNAMODB, WAKE_STEP_FUNCTIONS
from job_tracker.settings import WakeTrackerSettings
from job_tracker.waking import wake_tracker

if TYPE_CHECKING:  # the type only: importing it costs a cold start ~1 ms for nothing
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"job_tracker"})
metrics = Metrics()
settings = WakeTrackerSettings.from_env()
waker = StepFunctionsTaskWaker(boto3.client("stepfunctions", config=WAKE_STEP_FUNCTIONS.config()))
wake_requests = DynamoDbWakeRequests(boto3.client("dynamodb", config=WAKE_DYNAMODB.config()), settings.table_name)


@logger.inject_lambda_context(correlation_id_path="JobId")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = wake_tracker(event, waker, wake_requests)
    if result["Woken"]:
        metric = "TrackersWoken"
    elif result.get("WakeRequested"):
        metric = "WakeRequestsLeft"
    else:
        metric = "HoldersNotWoken"
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    return result
