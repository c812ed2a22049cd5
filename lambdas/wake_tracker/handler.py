"""wake-tracker: complete a waiting tracker's task token, so it describes its job at once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from job_tracker.adapters.stepfunctions import StepFunctionsTaskWaker
from job_tracker.waking import wake_tracker

if TYPE_CHECKING:  # the type only: importing it costs a cold start ~1 ms for nothing
    from aws_lambda_powertools.utilities.typing import LambdaContext

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=10)

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"job_tracker"})
metrics = Metrics()
waker = StepFunctionsTaskWaker(boto3.client("stepfunctions", config=CLIENT_CONFIG))


@logger.inject_lambda_context(correlation_id_path="JobId")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = wake_tracker(event, waker)
    metrics.add_metric(name="TrackersWoken" if result["Woken"] else "StaleWakeTokens", unit=MetricUnit.Count, value=1)
    return result
