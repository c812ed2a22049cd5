"""sweep: the scheduled reconciliation sweep; starts a tracker for every recent job nothing follows.

Invoked by EventBridge Scheduler every `tracker:sweepMinutes`, or directly (Lambda Invoke with `{}`) to
sweep now; the event carries nothing the sweep needs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from job_tracker.adapters.bedrock import BedrockJobLister
from job_tracker.adapters.dynamodb import DynamoDbLockReader
from job_tracker.adapters.services import ListerByService
from job_tracker.adapters.stepfunctions import StepFunctionsTrackers
from job_tracker.adapters.voiceid import VoiceIdJobLister
from job_tracker.errors import SweepIncomplete
from job_tracker.scopes import BedrockScope
from job_tracker.settings import SweepSettings
from job_tracker.sweep import JobLister, Sweep, SweepReport, Verdict

if TYPE_CHECKING:  # the type only: importing it costs a cold start ~1 ms for nothing
    from aws_lambda_powertools.utilities.typing import LambdaContext

# Listing shares Voice ID's 2 TPS with every tracker's describes: adaptive mode slows this client down
# when it is throttled, and keeps retrying for longer than the trackers' clients do.
VOICE_ID_CLIENT_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 10}, connect_timeout=5, read_timeout=15)
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=15)

settings = SweepSettings.from_env()
logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"job_tracker"})
metrics = Metrics()
lookback = timedelta(days=settings.lookback_days)
listers: dict[str, JobLister] = {}
if "voiceid" in settings.tracked.scopes:
    listers["voiceid"] = VoiceIdJobLister(boto3.client("voice-id", config=VOICE_ID_CLIENT_CONFIG))
bedrock_scope = settings.tracked.scopes.get("bedrock")
if isinstance(bedrock_scope, BedrockScope):
    listers["bedrock"] = BedrockJobLister(
        boto3.client("bedrock", config=CLIENT_CONFIG), bedrock_scope, lookback, lambda: datetime.now(UTC)
    )
sweep = Sweep(
    lister=ListerByService(listers),
    locks=DynamoDbLockReader(boto3.client("dynamodb", config=CLIENT_CONFIG), settings.table_name),
    trackers=StepFunctionsTrackers(boto3.client("stepfunctions", config=CLIENT_CONFIG), settings.state_machine_arn),
    lookback=lookback,
)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = datetime.now(UTC)
    report = SweepReport()
    for kind in settings.tracked.kinds:
        report = sweep.run(settings.tracked.scope_of(kind).sweep_domains(), [kind], now, report)
    metrics.add_metric(name="SweepJobsFound", unit=MetricUnit.Count, value=report.jobs_found)
    metrics.add_metric(name="SweepTrackersStarted", unit=MetricUnit.Count, value=report.count(Verdict.STARTED))
    metrics.add_metric(
        name="SweepJobsAlreadyRecorded", unit=MetricUnit.Count, value=report.count(Verdict.ALREADY_RECORDED)
    )
    output = report.to_output()
    logger.info("Sweep finished", extra={k: v for k, v in output.items() if k != "Started"})
    if not report.listing_failures:
        # The heartbeat: a whole sweep ran. Its alarm treats a period without one as breaching.
        metrics.add_metric(name="SweepsCompleted", unit=MetricUnit.Count, value=1)
    if report.listing_failures:
        # The rest was reconciled; failing the invocation makes the gap visible (LambdaErrors) and lets
        # Lambda's asynchronous retries sweep again.
        raise SweepIncomplete("could not list " + "; ".join(report.listing_failures))
    return output
