"""wake-tracker: complete a waiting tracker's task token, so it describes its job at once."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from job_tracker.adapters.stepfunctions import StepFunctionsTaskWaker
from job_tracker.waking import wake_tracker

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=10)

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"job_tracker"})
tracer = Tracer()
metrics = Metrics()
waker = StepFunctionsTaskWaker(boto3.client("stepfunctions", config=CLIENT_CONFIG))


@logger.inject_lambda_context(correlation_id_path="JobId")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = wake_tracker(event, waker)
    metrics.add_metric(name="TrackersWoken" if result["Woken"] else "StaleWakeTokens", unit=MetricUnit.Count, value=1)
    return result
