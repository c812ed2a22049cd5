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

from job_tracker.adapters.bedrock import BedrockJobLister
from job_tracker.adapters.dynamodb import DynamoDbLockReader
from job_tracker.adapters.s3control import S3BatchJobLister
from job_tracker.adapters.services import ListerByService
from job_tracker.adapters.stepfunctions import StepFunctionsTrackers
from job_tracker.adapters.voiceid import VoiceIdJobLister
from job_tracker.clients import SWEEP_AWS, SWEEP_BEDROCK, SWEEP_S3BATCH, SWEEP_VOICE_ID
from job_tracker.errors import SweepIncomplete
from job_tracker.scopes import BedrockScope, S3BatchScope
from job_tracker.settings import SweepSettings
from job_tracker.sweep import JobLister, Sweep, SweepReport, TimeBudget, Verdict, lookback_for

if TYPE_CHECKING:  # the type only: importing it costs a cold start ~1 ms for nothing
    from aws_lambda_powertools.utilities.typing import LambdaContext

# Metrics, the log line and the answer take milliseconds; a second leaves room for a slow metrics flush.
REPORT_SECONDS = 1.0

settings = SweepSettings.from_env()
logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"job_tracker"})
metrics = Metrics()
lookback = timedelta(days=settings.lookback_days)


def _service_lookback(service_key: str) -> timedelta:
    """Back far enough for the longest job of the service's followed kinds (sweep.lookback_for)."""
    return max(lookback_for(kind, lookback) for kind in settings.tracked.kinds if kind.service.key == service_key)


listers: dict[str, JobLister] = {}
if "voiceid" in settings.tracked.scopes:
    listers["voiceid"] = VoiceIdJobLister(boto3.client("voice-id", config=SWEEP_VOICE_ID.config()))
bedrock_scope = settings.tracked.scopes.get("bedrock")
if isinstance(bedrock_scope, BedrockScope):
    listers["bedrock"] = BedrockJobLister(
        boto3.client("bedrock", config=SWEEP_BEDROCK.config()),
        bedrock_scope,
        # Bedrock lists by submission time: back far enough for its kinds' longest job.
        _service_lookback("bedrock"),
        lambda: datetime.now(UTC),
    )
s3batch_scope = settings.tracked.scopes.get("s3")
if isinstance(s3batch_scope, S3BatchScope):
    followed_scope = s3batch_scope
    listers["s3"] = S3BatchJobLister(
        boto3.client("s3control", config=SWEEP_S3BATCH.config()),
        # ListJobs has no time filter: the lister drops jobs created before the lookback.
        _service_lookback("s3"),
        lambda: datetime.now(UTC),
        # Only jobs whose Description the configuration follows; their report location is checked by
        # validate-input on the described job (ListJobs does not give it).
        followed=lambda description: followed_scope.problem_with_description(description) is None,
    )
sweep = Sweep(
    lister=ListerByService(listers),
    locks=DynamoDbLockReader(boto3.client("dynamodb", config=SWEEP_AWS.config()), settings.table_name),
    trackers=StepFunctionsTrackers(
        boto3.client("stepfunctions", config=SWEEP_AWS.config()), settings.state_machine_arn
    ),
    lookback=lookback,
    budget=TimeBudget(
        # The slower of the services' List*Jobs pages; a job's reconcile is a lock read, a holder check and
        # a start.
        page_seconds=max(
            lister_settings.worst_case_call_seconds()
            for lister_settings in (SWEEP_VOICE_ID, SWEEP_BEDROCK, SWEEP_S3BATCH)
        ),
        reconcile_seconds=3 * SWEEP_AWS.worst_case_call_seconds(),
        report_seconds=REPORT_SECONDS,
    ),
)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = datetime.now(UTC)
    report = SweepReport()
    for kind in settings.tracked.kinds:
        report = sweep.run(
            settings.tracked.scope_of(kind).sweep_domains(),
            [kind],
            now,
            remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000,
            report=report,
        )
    metrics.add_metric(name="SweepJobsFound", unit=MetricUnit.Count, value=report.jobs_found)
    metrics.add_metric(name="SweepTrackersStarted", unit=MetricUnit.Count, value=report.count(Verdict.STARTED))
    metrics.add_metric(
        name="SweepJobsAlreadyRecorded", unit=MetricUnit.Count, value=report.count(Verdict.ALREADY_RECORDED)
    )
    output = report.to_output()
    logger.info("Sweep finished", extra={k: v for k, v in output.items() if k != "Started"})
    if not report.listing_failures and not report.not_reached:
        # The heartbeat: a whole sweep ran (one job's error is that job's verdict). Its alarm treats a period
        # without one as breaching.
        metrics.add_metric(name="SweepsCompleted", unit=MetricUnit.Count, value=1)
    if not report.complete:
        # The rest was reconciled; failing the invocation makes the gap visible (LambdaErrors) and lets
        # Lambda's asynchronous retries sweep again.
        gaps = [
            *(f"could not list {failure}" for failure in report.listing_failures),
            *(f"could not reconcile job {job}: {error}" for job, error in report.job_failures.items()),
            *(f"no time left for {what}" for what in report.not_reached),
        ]
        raise SweepIncomplete("; ".join(gaps))
    return output
