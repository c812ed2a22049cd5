"""describe-job: one Describe*Job call (of the job's kind) per poll of the state machine's loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from job_tracker.adapters.bedrock import BedrockJobDescriber
from job_tracker.adapters.s3control import S3BatchJobDescriber
from job_tracker.adapters.services import DescriberByService, LazyDescriber
from job_tracker.adapters.voiceid import VoiceIdJobDescriber
from job_tracker.clients import DESCRIBE_BEDROCK, DESCRIBE_S3BATCH, DESCRIBE_VOICE_ID
from job_tracker.errors import ServiceThrottled
from job_tracker.kinds import SERVICES
from job_tracker.settings import DescribeJobSettings
from job_tracker.tracking import JobDescriber, describe_job, how_the_wait_ended

if TYPE_CHECKING:  # the type only: importing it costs a cold start ~1 ms for nothing
    from aws_lambda_powertools.utilities.typing import LambdaContext

settings = DescribeJobSettings.from_env()
logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"job_tracker"})
metrics = Metrics()
# Clients of the followed services only, Bedrock's and S3 Control's on first use: each costs cold-start time.
describers: dict[str, JobDescriber] = {}
if "voiceid" in settings.services:
    describers["voiceid"] = VoiceIdJobDescriber(boto3.client("voice-id", config=DESCRIBE_VOICE_ID.config()))
if "bedrock" in settings.services:
    describers["bedrock"] = LazyDescriber(
        lambda: BedrockJobDescriber(boto3.client("bedrock", config=DESCRIBE_BEDROCK.config()))
    )
if "s3" in settings.services:
    describers["s3"] = LazyDescriber(
        lambda: S3BatchJobDescriber(boto3.client("s3control", config=DESCRIBE_S3BATCH.config()))
    )
describer = DescriberByService(describers)


@logger.inject_lambda_context(correlation_id_path="JobId")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        result = describe_job(event, describer, settings.poll_bounds)
    except ServiceThrottled as throttled:
        # The state machine backs off and retries; counted on its own (VoiceIdThrottles, BedrockThrottles,
        # S3BatchThrottles) so that the LambdaErrors alarm, which subtracts them, pages only on errors nothing
        # retries away.
        metrics.add_metric(name=SERVICES[throttled.service_key].throttle_metric, unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name="JobPolls", unit=MetricUnit.Count, value=1)
    wait = how_the_wait_ended(event.get("Wake"))
    if wait is not None:
        # Wake-ups against timed-out waits: how often an event, not the planned poll, saw the job first.
        metrics.add_metric(name="WaitsWoken" if wait == "WOKEN" else "WaitsTimedOut", unit=MetricUnit.Count, value=1)
    return result
