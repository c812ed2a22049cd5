"""What operators watch: alarms they act on (each with a section of docs/runbook.md named after it) and one
dashboard.

Alarms: executions that failed, timed out or were aborted; events that never started one; sweeps the
scheduler could not run, sweeps that failed, and no sweep completing at all (a heartbeat: missing data
breaches); Lambda errors (less the services' throttles the state machine retries: Voice ID, Bedrock, S3 Batch
Operations) and Lambda throttles. The dashboard shows executions, jobs and failures (requests, records, tasks)
recorded by kind, describes per recorded
job (average and p90), wake-ups against timed-out waits, sweep finds, each service's throttles, the Lambdas'
errors, duration and throttles, and the dead-letter queues' depth.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.functions import METRICS_NAMESPACE, SERVICE_NAME
from infra.lambda_contract import JOB_KINDS, SERVICES, JobKind

PERIOD = Duration.minutes(5)
RUNBOOK = "docs/runbook.md"
DESCRIBES_PER_JOB = "DescribesPerJob"
# CloudWatch evaluates an alarm over at most a day.
MAX_ALARM_PERIOD_MINUTES = 1440
SERVICE_NAMES = [service.name for service in SERVICES.values()]


# The retry dispatcher's name in TrackerFunctions.by_name: present when tracker:bedrockRetryPolicy is set.
RETRY_DISPATCHER = "retry-dispatcher"


def sweep_heartbeat_period(sweep_minutes: int) -> Duration:
    """Two sweep intervals (at least the dashboard's 5 minutes, at most a day): one late or failed sweep is
    not an alarm; none completing in two intervals is."""
    return Duration.minutes(min(MAX_ALARM_PERIOD_MINUTES, max(5, 2 * sweep_minutes)))


def _sum(metric: cloudwatch.Metric) -> cloudwatch.Metric:
    return metric.with_(statistic="Sum", period=PERIOD)


def tracker_metric(name: str, **dimensions: str) -> cloudwatch.Metric:
    """A metric the Lambdas emit through Powertools (which adds the `service` dimension)."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME, **dimensions},
        statistic="Sum",
        period=PERIOD,
    )


class TrackerMonitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.StateMachine,
        functions: Mapping[str, lambda_.IFunction],
        dead_letter_queue: sqs.IQueue,
        sweep_dead_letter_queue: sqs.IQueue,
        failed_sweeps_queue: sqs.IQueue,
        sweep_minutes: int,
        alarm_topic_arn: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._alarms: list[cloudwatch.Alarm] = []
        self._tracking_alarms(state_machine, dead_letter_queue)
        self._sweep_alarms(sweep_dead_letter_queue, failed_sweeps_queue, sweep_minutes)
        self._lambda_alarms(functions)
        if RETRY_DISPATCHER in functions:
            self._retry_alarms()
        if alarm_topic_arn:
            topic = sns.Topic.from_topic_arn(self, "AlarmTopic", alarm_topic_arn)
            for alarm in self._alarms:
                alarm.add_alarm_action(actions.SnsAction(topic))
        self.dashboard = self._dashboard(
            state_machine, functions, [dead_letter_queue, sweep_dead_letter_queue, failed_sweeps_queue]
        )

    def _tracking_alarms(self, state_machine: sfn.StateMachine, dead_letter_queue: sqs.IQueue) -> None:
        """Jobs that were not tracked: executions that ended badly, and events that never started one."""
        self.failed_executions = self._alarm(
            "FailedExecutions",
            "A batch job could not be tracked: an execution failed, timed out or was aborted. "
            "Its Error and Cause say why",
            cloudwatch.MathExpression(
                # FILL: a period in which one of them has no datapoint would otherwise give no value at all.
                expression="FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)",
                using_metrics={
                    "failed": _sum(state_machine.metric_failed()),
                    "timedOut": _sum(state_machine.metric_timed_out()),
                    "aborted": _sum(state_machine.metric_aborted()),
                },
                period=PERIOD,
            ),
        )
        self.undelivered_events = self._alarm(
            "UndeliveredEvents",
            "Job events reached the dead-letter queue instead of starting an execution",
            dead_letter_queue.metric_approximate_number_of_messages_visible(period=PERIOD),
        )

    def _sweep_alarms(
        self, sweep_dead_letter_queue: sqs.IQueue, failed_sweeps_queue: sqs.IQueue, sweep_minutes: int
    ) -> None:
        """Sweeps not run, sweeps failed, and no sweep completing at all."""
        self.missed_sweeps = self._alarm(
            "MissedSweeps",
            "EventBridge Scheduler could not invoke the reconciliation sweep after its retries; jobs whose "
            "events were lost are not being recorded",
            sweep_dead_letter_queue.metric_approximate_number_of_messages_visible(period=PERIOD),
        )
        self.failed_sweeps = self._alarm(
            "FailedSweeps",
            "A reconciliation sweep failed after Lambda's retries (its event is in the on-failure queue); "
            "jobs whose events were lost may not be recorded",
            failed_sweeps_queue.metric_approximate_number_of_messages_visible(period=PERIOD),
        )
        heartbeat_period = sweep_heartbeat_period(sweep_minutes)
        self.sweep_heartbeat = self._alarm(
            "SweepHeartbeat",
            f"No reconciliation sweep completed in {int(heartbeat_period.to_minutes())} minutes (it runs every "
            f"{sweep_minutes}); the sweep is not running, or fails every time",
            tracker_metric("SweepsCompleted").with_(period=heartbeat_period),
            # Silence is the symptom: a period with no datapoint at all breaches.
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )

    def _lambda_alarms(self, functions: Mapping[str, lambda_.IFunction]) -> None:
        # validate-input's errors are rejected inputs, which FailedExecutions already reports. A service's
        # throttles surface as describe-job errors that the state machine retries: they are subtracted here
        # and charted on their own.
        self.lambda_errors = self._alarm(
            "LambdaErrors",
            f"A tracker Lambda raised an error other than a throttle of {_either(SERVICE_NAMES)} (the state "
            "machine retries or catches it)",
            self._across(
                {name: f for name, f in functions.items() if name != "validate-input"},
                lambda function: function.metric_errors(),
                less=[tracker_metric(service.throttle_metric) for service in SERVICES.values()],
            ),
        )
        self.lambda_throttles = self._alarm(
            "LambdaThrottles",
            "A tracker Lambda was throttled by Lambda's concurrency limit",
            self._across(functions, lambda function: function.metric_throttles()),
        )

    def _retry_alarms(self) -> None:
        """Automatic retries (docs/automatic-retries.md): records pending longer than they should."""
        self.retry_records_overdue = self._alarm(
            "RetryRecordsOverdue",
            "Bedrock records have waited for their retry longer than the pool wait plus a batch job's expected "
            "duration (a day): the retry dispatcher is not running, its jobs are stuck, or the daily cap holds them",
            tracker_metric("RetryRecordsOverdue").with_(statistic="Maximum"),
        )

    def _alarm(
        self,
        construct_id: str,
        description: str,
        metric: cloudwatch.IMetric,
        *,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=f"{description}. What to do: {RUNBOOK}, section {construct_id}.",
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=comparison,
            treat_missing_data=missing,
        )
        self._alarms.append(alarm)
        return alarm

    @staticmethod
    def _across(
        functions: Mapping[str, lambda_.IFunction],
        metric_of: Callable[[lambda_.IFunction], cloudwatch.Metric],
        *,
        less: Sequence[cloudwatch.Metric] = (),
    ) -> cloudwatch.MathExpression:
        """The sum of one metric over every function, less the `less` metrics (FILL: an idle function has no
        datapoint, which would leave the sum without a value)."""
        metrics = {f"f{index}": _sum(metric_of(function)) for index, function in enumerate(functions.values())}
        expression = " + ".join(f"FILL({name}, 0)" for name in metrics)
        for index, metric in enumerate(less):
            metrics[f"less{index}"] = _sum(metric)
            expression = f"{expression} - FILL(less{index}, 0)"
        return cloudwatch.MathExpression(expression=expression, using_metrics=metrics, period=PERIOD)

    def _dashboard(
        self,
        state_machine: sfn.StateMachine,
        functions: Mapping[str, lambda_.IFunction],
        queues: Sequence[sqs.IQueue],
    ) -> cloudwatch.Dashboard:
        kinds = list(JOB_KINDS.values())
        dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{Stack.of(self).stack_name}-Dashboard",
            default_interval=Duration.days(1),
        )
        dashboard.add_widgets(*_outcome_graphs(state_machine, kinds))
        dashboard.add_widgets(*_work_graphs(kinds))
        dashboard.add_widgets(*_lambda_graphs(functions))
        if RETRY_DISPATCHER in functions:
            dashboard.add_widgets(*_retry_graphs())
        dashboard.add_widgets(
            _graph(
                "Throttles left after the SDK's retries (the state machine retries them)",
                [
                    tracker_metric(service.throttle_metric).with_(label=f"{service.name} describes throttled")
                    for service in SERVICES.values()
                ],
                width=24,
            )
        )
        dashboard.add_widgets(
            _graph(
                "Dead-letter queues (messages visible)",
                [
                    queue.metric_approximate_number_of_messages_visible(period=PERIOD).with_(label=label)
                    for queue, label in zip(queues, ("rule", "sweep schedule", "failed sweeps"), strict=True)
                ],
                width=24,
            )
        )
        return dashboard


def _retry_graphs() -> list[cloudwatch.GraphWidget]:
    """The automatic retries: records pooled, run on demand and settled, retry jobs, and what waits too long."""
    return [
        _graph(
            "Automatic retries: records",
            [
                tracker_metric("RetryRecordsPooled").with_(label="pooled"),
                tracker_metric("RetryRecordsOnDemand").with_(label="run on demand"),
                tracker_metric("RetryRecordsSettled").with_(label="outcomes recorded"),
            ],
            width=12,
        ),
        _graph(
            "Automatic retries: jobs, the daily cap, records overdue (alarm RetryRecordsOverdue)",
            [
                tracker_metric("RetryJobsSubmitted").with_(label="retry jobs started"),
                tracker_metric("RetryJobsSettled").with_(label="original jobs settled"),
                tracker_metric("RetryDailyCapReached").with_(statistic="Maximum", label="daily cap reached"),
                tracker_metric("RetryRecordsOverdue").with_(statistic="Maximum", label="records overdue"),
            ],
            width=12,
        ),
    ]


def _either(names: Sequence[str]) -> str:
    """`Voice ID, Amazon Bedrock or S3 Batch Operations`."""
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else "".join(names)


def _graph(title: str, metrics: Sequence[cloudwatch.IMetric], width: int = 8) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=width, height=6)


def _outcome_graphs(state_machine: sfn.StateMachine, kinds: Sequence[JobKind]) -> list[cloudwatch.GraphWidget]:
    """The dashboard's first row: executions, and what they recorded by kind."""
    return [
        _graph(
            "Tracker executions",
            [
                _sum(state_machine.metric_started()).with_(label="started"),
                _sum(state_machine.metric_succeeded()).with_(label="succeeded"),
                _sum(state_machine.metric_failed()).with_(label="failed"),
                _sum(state_machine.metric_timed_out()).with_(label="timed out"),
                _sum(state_machine.metric_aborted()).with_(label="aborted"),
            ],
        ),
        _graph(
            "Jobs recorded, by kind",
            [tracker_metric("JobsRecorded", JobKind=kind.name).with_(label=kind.name) for kind in kinds],
        ),
        _graph(
            "Failures recorded (requests, records, tasks), by kind",
            [tracker_metric("FailedRequestsRecorded", JobKind=kind.name).with_(label=kind.name) for kind in kinds],
        ),
    ]


def _work_graphs(kinds: Sequence[JobKind]) -> list[cloudwatch.GraphWidget]:
    """The dashboard's second row: what following the jobs cost (describes, waits) and what the sweep found."""
    return [
        # One datapoint per recorded job (record-failures emits its execution's poll count), so the
        # statistics are per job whatever the window: no division of one window's polls by its jobs.
        _graph(
            "Describes per recorded job (average and p90)",
            [
                tracker_metric(DESCRIBES_PER_JOB, JobKind=kind.name).with_(statistic=statistic, label=label)
                for kind in kinds
                for statistic, label in (("Average", f"{kind.name} average"), ("p90", f"{kind.name} p90"))
            ],
        ),
        _graph(
            "Waits: woken by an event against timed out (polled as planned)",
            [
                tracker_metric("WaitsWoken").with_(label="woken"),
                tracker_metric("WaitsTimedOut").with_(label="timed out"),
            ],
        ),
        _graph(
            "Reconciliation sweep",
            [
                tracker_metric("SweepJobsFound").with_(label="jobs found"),
                tracker_metric("SweepTrackersStarted").with_(label="trackers started"),
                tracker_metric("SweepJobsAlreadyRecorded").with_(label="already recorded"),
                tracker_metric("SweepsCompleted").with_(label="sweeps completed"),
            ],
        ),
    ]


def _lambda_graphs(functions: Mapping[str, lambda_.IFunction]) -> list[cloudwatch.GraphWidget]:
    """The dashboard's third row: each Lambda's errors, duration and throttles."""
    per_function = functions.items()
    return [
        _graph("Lambda errors", [_sum(f.metric_errors()).with_(label=name) for name, f in per_function]),
        _graph(
            "Lambda duration (p90)",
            [f.metric_duration(statistic="p90", period=PERIOD).with_(label=name) for name, f in per_function],
        ),
        _graph("Lambda throttles", [_sum(f.metric_throttles()).with_(label=name) for name, f in per_function]),
    ]
