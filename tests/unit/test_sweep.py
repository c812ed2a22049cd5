"""The reconciliation sweep: which jobs get a tracker, through its real adapters (moto Step Functions and
DynamoDB, botocore's Stubber for Voice ID's List API)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from job_tracker.adapters.dynamodb import DynamoDbLockReader
from job_tracker.adapters.stepfunctions import StepFunctionsTrackers
from job_tracker.adapters.voiceid import VoiceIdJobLister
from job_tracker.errors import AccessDenied, VoiceIdThrottled
from job_tracker.kinds import JOB_KINDS
from job_tracker.models import JobRef
from job_tracker.sweep import (
    STARTED_BY_SWEEP,
    ListedJob,
    Sweep,
    TimeBudget,
    Verdict,
    execution_name,
    lookback_for,
)
from tests.unit.conftest import DOMAIN_ID, REGION, TABLE

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FRAUDSTERS = JOB_KINDS["FRAUDSTER_REGISTRATION"]
PASS_DEFINITION = json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}})


def job_id(n: int) -> str:
    return f"Job{n:019d}"


class FixedLister:
    """A Voice ID domain's jobs, as ListFraudsterRegistrationJobs would page them (`page_size` a page), counting
    the pages fetched."""

    def __init__(self, jobs: dict[str, list[ListedJob]], page_size: int = 100) -> None:
        self.jobs = jobs
        self.page_size = page_size
        self.pages_fetched = 0

    def list_job_pages(self, domain_id: str, kind: object) -> Iterator[list[ListedJob]]:
        jobs = [job for job in self.jobs.get(domain_id, []) if job.kind is kind]
        for start in range(0, max(len(jobs), 1), self.page_size):
            self.pages_fetched += 1
            yield jobs[start : start + self.page_size]

    def list_jobs(self, domain_id: str, kind: object) -> Iterator[ListedJob]:
        for page in self.list_job_pages(domain_id, kind):
            yield from page


def listed(n: int, *, age: timedelta = timedelta(hours=1), status: str = "COMPLETED") -> ListedJob:
    return ListedJob(JobRef(DOMAIN_ID, job_id(n)), FRAUDSTERS, status, NOW - age)


@pytest.fixture
def sfn(aws: None) -> Any:
    return boto3.client("stepfunctions", region_name=REGION)


@pytest.fixture
def state_machine_arn(sfn: Any) -> str:
    created = sfn.create_state_machine(
        name="VoiceIdJobTracker-Tracker", definition=PASS_DEFINITION, roleArn="arn:aws:iam::123456789012:role/sm"
    )
    return str(created["stateMachineArn"])


def put_lock(dynamodb: Any, n: int, state: str, execution_arn: str) -> None:
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": f"JOB#{DOMAIN_ID}#{job_id(n)}"},
            "sk": {"S": "LOCK"},
            "LockState": {"S": state},
            "ExecutionArn": {"S": execution_arn},
        },
    )


def make_sweep(dynamodb: Any, sfn: Any, arn: str, jobs: list[ListedJob]) -> Sweep:
    return Sweep(
        lister=FixedLister({DOMAIN_ID: jobs}),
        locks=DynamoDbLockReader(dynamodb, TABLE),
        trackers=StepFunctionsTrackers(sfn, arn),
        lookback=timedelta(days=7),
    )


def started_inputs(sfn: Any, arn: str) -> list[dict[str, Any]]:
    executions = sfn.list_executions(stateMachineArn=arn)["executions"]
    inputs = (json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in executions)
    return sorted((value for value in inputs if "StartedBy" in value), key=lambda value: value["JobId"])


def test_untracked_jobs_get_one_tracker_each_with_the_event_input_plus_who_started_it(
    dynamodb: Any, sfn: Any, state_machine_arn: str
) -> None:
    sweep = make_sweep(dynamodb, sfn, state_machine_arn, [listed(1), listed(2, status="IN_PROGRESS")])
    report = sweep.run([DOMAIN_ID], JOB_KINDS.values(), NOW)
    assert report.to_output()["TrackersStarted"] == 2
    assert started_inputs(sfn, state_machine_arn) == [
        {"DomainId": DOMAIN_ID, "JobId": job_id(1), "JobKind": "FRAUDSTER_REGISTRATION", "StartedBy": STARTED_BY_SWEEP},
        {"DomainId": DOMAIN_ID, "JobId": job_id(2), "JobKind": "FRAUDSTER_REGISTRATION", "StartedBy": STARTED_BY_SWEEP},
    ]


def test_recorded_running_and_old_jobs_are_left_alone_and_stale_or_released_locks_are_retried(
    dynamodb: Any, sfn: Any, state_machine_arn: str
) -> None:
    running = sfn.start_execution(stateMachineArn=state_machine_arn, name="holder", input="{}")["executionArn"]
    stopped = sfn.start_execution(stateMachineArn=state_machine_arn, name="stopped", input="{}")["executionArn"]
    sfn.stop_execution(executionArn=stopped)
    put_lock(dynamodb, 1, "RECORDED", "arn:done")
    put_lock(dynamodb, 2, "TRACKING", running)
    put_lock(dynamodb, 3, "TRACKING", stopped)
    put_lock(dynamodb, 4, "RELEASED", stopped)
    put_lock(dynamodb, 5, "TRACKING", f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:gone")
    jobs = [listed(n) for n in range(1, 6)] + [listed(6, age=timedelta(days=8))]
    report = make_sweep(dynamodb, sfn, state_machine_arn, jobs).run([DOMAIN_ID], JOB_KINDS.values(), NOW)
    assert report.verdicts == {
        job_id(1): Verdict.ALREADY_RECORDED,
        job_id(2): Verdict.ALREADY_TRACKED,
        job_id(3): Verdict.STARTED,
        job_id(4): Verdict.STARTED,
        job_id(5): Verdict.STARTED,
        job_id(6): Verdict.OUTSIDE_LOOKBACK,
    }
    output = report.to_output()
    assert (output["JobsFound"], output["TrackersStarted"], output["JobsAlreadyRecorded"]) == (6, 3, 1)
    assert [value["JobId"] for value in started_inputs(sfn, state_machine_arn)] == [
        job_id(3),
        job_id(4),
        job_id(5),
    ]


def test_a_sweep_retried_within_a_minute_starts_each_tracker_once(
    dynamodb: Any, sfn: Any, state_machine_arn: str
) -> None:
    sweep = make_sweep(dynamodb, sfn, state_machine_arn, [listed(1)])
    assert sweep.run([DOMAIN_ID], JOB_KINDS.values(), NOW).verdicts == {job_id(1): Verdict.STARTED}
    # Step Functions answers a repeated name with the running execution (or ExecutionAlreadyExists once
    # it has ended): never a second execution.
    sweep.run([DOMAIN_ID], JOB_KINDS.values(), NOW + timedelta(seconds=20))
    assert len(sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]) == 1
    executions = sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]
    sfn.stop_execution(executionArn=executions[0]["executionArn"])
    assert sweep.run([DOMAIN_ID], JOB_KINDS.values(), NOW + timedelta(seconds=40)).verdicts == {
        job_id(1): Verdict.ALREADY_STARTED
    }
    assert len(sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]) == 1
    assert execution_name(JobRef(DOMAIN_ID, job_id(1)), NOW) == f"sweep-{job_id(1)}-20261125T1200"


@pytest.fixture
def stubbed_lister() -> Iterator[tuple[VoiceIdJobLister, Stubber]]:
    client = boto3.client("voice-id", region_name=REGION, config=Config(retries={"max_attempts": 1}))
    with Stubber(client) as stubber:
        yield VoiceIdJobLister(client), stubber
        stubber.assert_no_pending_responses()


def summary(n: int) -> dict[str, Any]:
    return {"DomainId": DOMAIN_ID, "JobId": job_id(n), "JobStatus": "COMPLETED", "CreatedAt": NOW}


def test_the_lister_follows_every_page(stubbed_lister: tuple[VoiceIdJobLister, Stubber]) -> None:
    lister, stubber = stubbed_lister
    stubber.add_response(
        "list_fraudster_registration_jobs",
        {"JobSummaries": [summary(1), summary(2)], "NextToken": "page-2"},
        {"DomainId": DOMAIN_ID, "MaxResults": 100},
    )
    stubber.add_response(
        "list_fraudster_registration_jobs",
        {"JobSummaries": [summary(3)]},
        {"DomainId": DOMAIN_ID, "MaxResults": 100, "NextToken": "page-2"},
    )
    jobs = list(lister.list_jobs(DOMAIN_ID, FRAUDSTERS))
    assert [job.ref.job_id for job in jobs] == [job_id(1), job_id(2), job_id(3)]
    assert jobs[0].created_at == NOW and jobs[0].status == "COMPLETED"


def test_the_lister_fetches_a_page_only_when_asked_for_it(stubbed_lister: tuple[VoiceIdJobLister, Stubber]) -> None:
    lister, stubber = stubbed_lister
    stubber.add_response(
        "list_fraudster_registration_jobs",
        {"JobSummaries": [summary(1)], "NextToken": "page-2"},
        {"DomainId": DOMAIN_ID, "MaxResults": 100},
    )
    stubber.add_response(
        "list_fraudster_registration_jobs",
        {"JobSummaries": [summary(2)]},
        {"DomainId": DOMAIN_ID, "MaxResults": 100, "NextToken": "page-2"},
    )
    pages = lister.list_job_pages(DOMAIN_ID, FRAUDSTERS)
    assert [job.ref.job_id for job in next(pages)] == [job_id(1)]
    # The second page is still unfetched: the sweep decides, with its time left, whether to ask for it.
    with pytest.raises(AssertionError):
        stubber.assert_no_pending_responses()
    assert [job.ref.job_id for job in next(pages)] == [job_id(2)]


@pytest.mark.parametrize(
    ("code", "status", "error", "text"),
    [
        ("ThrottlingException", 429, VoiceIdThrottled, "throttled ListFraudsterRegistrationJobs"),
        ("AccessDeniedException", 403, AccessDenied, "not allowed to call ListFraudsterRegistrationJobs"),
    ],
)
def test_list_errors_become_tracker_errors_naming_the_domain(
    stubbed_lister: tuple[VoiceIdJobLister, Stubber], code: str, status: int, error: type[Exception], text: str
) -> None:
    lister, stubber = stubbed_lister
    stubber.add_client_error("list_fraudster_registration_jobs", code, "no", http_status_code=status)
    with pytest.raises(error, match=text) as raised:
        list(lister.list_jobs(DOMAIN_ID, FRAUDSTERS))
    assert DOMAIN_ID in str(raised.value)


def test_a_recently_failed_job_waits_before_it_is_tried_again(dynamodb: Any, sfn: Any, state_machine_arn: str) -> None:
    stopped = sfn.start_execution(stateMachineArn=state_machine_arn, name="failed", input="{}")["executionArn"]
    for n, released in ((1, NOW - timedelta(minutes=20)), (2, NOW - timedelta(hours=2))):
        put_lock(dynamodb, n, "RELEASED", stopped)
        dynamodb.update_item(
            TableName=TABLE,
            Key={"pk": {"S": f"JOB#{DOMAIN_ID}#{job_id(n)}"}, "sk": {"S": "LOCK"}},
            UpdateExpression="SET ReleasedAt = :at",
            ExpressionAttributeValues={":at": {"S": released.isoformat().replace("+00:00", "Z")}},
        )
    report = make_sweep(dynamodb, sfn, state_machine_arn, [listed(1), listed(2)]).run(
        [DOMAIN_ID], JOB_KINDS.values(), NOW
    )
    assert report.verdicts == {job_id(1): Verdict.RECENTLY_FAILED, job_id(2): Verdict.STARTED}
    assert report.to_output()["JobsRecentlyFailed"] == 1


class FailingLister(FixedLister):
    def list_job_pages(self, domain_id: str, kind: object) -> Iterator[list[ListedJob]]:
        if domain_id == "BrokenDomainDDDDDDDDDD":
            raise AccessDenied(f"not allowed to list {domain_id}")
        yield from super().list_job_pages(domain_id, kind)


def test_a_domain_that_cannot_be_listed_does_not_stop_the_others(
    dynamodb: Any, sfn: Any, state_machine_arn: str
) -> None:
    sweep = Sweep(
        lister=FailingLister({DOMAIN_ID: [listed(1)]}),
        locks=DynamoDbLockReader(dynamodb, TABLE),
        trackers=StepFunctionsTrackers(sfn, state_machine_arn),
        lookback=timedelta(days=7),
    )
    report = sweep.run(["BrokenDomainDDDDDDDDDD", DOMAIN_ID], JOB_KINDS.values(), NOW)
    assert report.verdicts == {job_id(1): Verdict.STARTED}
    assert len(report.listing_failures) == len(JOB_KINDS)
    assert all("BrokenDomainDDDDDDDDDD" in failure and "AccessDenied" in failure for failure in report.listing_failures)


def test_one_jobs_error_is_its_verdict_and_the_sweep_goes_on(dynamodb: Any, sfn: Any, state_machine_arn: str) -> None:
    # DynamoDB throttles the second job's lock read past the SDK's retries; the jobs after it are still swept.
    stubbed = boto3.client("dynamodb", region_name=REGION, config=Config(retries={"total_max_attempts": 1}))
    real_get = dynamodb.get_item
    calls = {"n": 0}

    def get_item(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            response: Any = {
                "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
            raise stubbed.exceptions.ProvisionedThroughputExceededException(response, "GetItem")
        return real_get(**kwargs)

    dynamodb.get_item = get_item
    report = make_sweep(dynamodb, sfn, state_machine_arn, [listed(1), listed(2), listed(3)]).run(
        [DOMAIN_ID], [FRAUDSTERS], NOW
    )
    assert report.verdicts == {job_id(1): Verdict.STARTED, job_id(2): Verdict.FAILED, job_id(3): Verdict.STARTED}
    assert report.job_failures[job_id(2)].startswith("TransientServiceError: DynamoDB GetItem")
    output = report.to_output()
    assert (output["JobsFailed"], output["TrackersStarted"]) == (1, 2)
    assert not report.complete


def test_the_sweep_stops_within_its_time_budget_and_reports_what_it_did_not_reach(
    dynamodb: Any, sfn: Any, state_machine_arn: str
) -> None:
    other_domain = "OtherDomainEEEEEEEEEEE"
    sweep = Sweep(
        lister=FixedLister({DOMAIN_ID: [listed(n) for n in range(1, 6)]}),
        locks=DynamoDbLockReader(dynamodb, TABLE),
        trackers=StepFunctionsTrackers(sfn, state_machine_arn),
        lookback=timedelta(days=7),
        budget=TimeBudget(reconcile_seconds=60),
    )

    # The function's clock: 5 minutes left, less than a minute once 3 trackers are started.
    def remaining_seconds() -> float:
        started = len(sfn.list_executions(stateMachineArn=state_machine_arn)["executions"])
        return 300.0 if started < 3 else 59.0

    report = sweep.run([DOMAIN_ID, other_domain], [FRAUDSTERS], NOW, remaining_seconds=remaining_seconds)
    assert sorted(report.verdicts) == [job_id(1), job_id(2), job_id(3)]
    assert report.not_reached == [
        f"FRAUDSTER_REGISTRATION in {DOMAIN_ID} (part-way)",
        f"FRAUDSTER_REGISTRATION in {other_domain}",
    ]
    assert report.to_output()["NotReached"] == report.not_reached
    assert not report.complete


def test_no_time_at_all_reaches_nothing_and_says_so(dynamodb: Any, sfn: Any, state_machine_arn: str) -> None:
    sweep = dataclasses.replace(
        make_sweep(dynamodb, sfn, state_machine_arn, [listed(1)]), budget=TimeBudget(page_seconds=10)
    )
    report = sweep.run([DOMAIN_ID], JOB_KINDS.values(), NOW, remaining_seconds=lambda: 5.0)
    assert report.verdicts == {}
    assert report.not_reached == [f"{kind} in {DOMAIN_ID}" for kind in JOB_KINDS]


class SimulatedFunctionClock:
    """The sweep function's remaining time, where each page fetch and each reconcile takes its worst case."""

    def __init__(self, timeout: float) -> None:
        self.left = timeout

    def remaining(self) -> float:
        return self.left

    def spend(self, seconds: float) -> None:
        self.left -= seconds


class SlowLister(FixedLister):
    def __init__(self, jobs: dict[str, list[ListedJob]], clock: SimulatedFunctionClock, seconds: float) -> None:
        super().__init__(jobs, page_size=2)
        self.clock, self.seconds = clock, seconds

    def list_job_pages(self, domain_id: str, kind: object) -> Iterator[list[ListedJob]]:
        for page in super().list_job_pages(domain_id, kind):
            self.clock.spend(self.seconds)
            yield page


class SlowLocks:
    """A lock read that takes a whole reconcile's worst case (no lock: the job gets a tracker)."""

    def __init__(self, clock: SimulatedFunctionClock, seconds: float) -> None:
        self.clock, self.seconds = clock, seconds

    def read_lock(self, ref: JobRef) -> None:
        self.clock.spend(self.seconds)


BUDGET = TimeBudget(page_seconds=100, reconcile_seconds=40, report_seconds=1)


def slow_sweep(sfn: Any, arn: str, clock: SimulatedFunctionClock, jobs: int) -> tuple[Sweep, SlowLister]:
    lister = SlowLister({DOMAIN_ID: [listed(n) for n in range(1, jobs + 1)]}, clock, BUDGET.page_seconds)
    sweep = Sweep(
        lister=lister,
        locks=SlowLocks(clock, BUDGET.reconcile_seconds),
        trackers=StepFunctionsTrackers(sfn, arn),
        lookback=timedelta(days=7),
        budget=BUDGET,
    )
    return sweep, lister


def test_a_page_is_fetched_only_with_time_left_for_it_and_one_reconcile(sfn: Any, state_machine_arn: str) -> None:
    # 120 s is more than a page (100 s) and more than a reconcile (40 s), but not both: nothing is fetched.
    clock = SimulatedFunctionClock(120)
    sweep, lister = slow_sweep(sfn, state_machine_arn, clock, jobs=3)
    report = sweep.run([DOMAIN_ID], [FRAUDSTERS], NOW, remaining_seconds=clock.remaining)
    assert (lister.pages_fetched, report.verdicts) == (0, {})
    assert report.not_reached == [f"FRAUDSTER_REGISTRATION in {DOMAIN_ID}"]


def test_the_time_is_checked_before_each_page_not_only_before_each_job(sfn: Any, state_machine_arn: str) -> None:
    # Room for the first page and its two jobs (100 + 2 x 40), then 50 s: a job's worth, not a page's.
    clock = SimulatedFunctionClock(230)
    sweep, lister = slow_sweep(sfn, state_machine_arn, clock, jobs=3)
    report = sweep.run([DOMAIN_ID], [FRAUDSTERS], NOW, remaining_seconds=clock.remaining)
    assert lister.pages_fetched == 1
    assert sorted(report.verdicts) == [job_id(1), job_id(2)]
    assert report.not_reached == [f"FRAUDSTER_REGISTRATION in {DOMAIN_ID} (part-way)"]


# Timeouts that end within a page fetch or a reconcile when the reserve is the larger of the two.
@pytest.mark.parametrize("timeout", [100, 241, 600])
def test_a_sweep_whose_every_call_takes_its_worst_case_still_has_time_to_report(
    sfn: Any, state_machine_arn: str, timeout: int
) -> None:
    clock = SimulatedFunctionClock(timeout)
    sweep, _ = slow_sweep(sfn, state_machine_arn, clock, jobs=7)
    report = sweep.run([DOMAIN_ID], [FRAUDSTERS], NOW, remaining_seconds=clock.remaining)
    assert clock.left >= BUDGET.report_seconds
    assert report.complete == (len(report.verdicts) == 7)


def test_bedrock_is_looked_back_at_least_as_far_as_its_longest_job() -> None:
    bedrock = JOB_KINDS["BEDROCK_BATCH_INFERENCE"]
    # A job may queue for its timeout (at most 168 h) and, counted from its start, run for another.
    assert bedrock.longest_job is not None and bedrock.longest_job >= timedelta(hours=2 * 168)
    assert lookback_for(bedrock, timedelta(days=7)) > bedrock.longest_job
    assert lookback_for(bedrock, timedelta(days=30)) == timedelta(days=30)
    # Voice ID documents no longest job: its lookback is the configured one.
    assert lookback_for(FRAUDSTERS, timedelta(days=7)) == timedelta(days=7)


def test_a_bedrock_job_submitted_two_weeks_ago_is_still_swept(dynamodb: Any, sfn: Any, state_machine_arn: str) -> None:
    bedrock = JOB_KINDS["BEDROCK_BATCH_INFERENCE"]
    # Queued for a week, then run for a week from its start (docs/bedrock-facts.md §3.2).
    week_long = ListedJob(JobRef("123456789012", "weeklongjob1"), bedrock, "InProgress", NOW - timedelta(days=14))
    sweep = Sweep(
        lister=FixedLister({"123456789012": [week_long]}),
        locks=DynamoDbLockReader(dynamodb, TABLE),
        trackers=StepFunctionsTrackers(sfn, state_machine_arn),
        lookback=timedelta(days=7),
    )
    report = sweep.run(["123456789012"], [bedrock], NOW)
    assert report.verdicts == {"weeklongjob1": Verdict.STARTED}


def test_the_sweep_function_lists_bedrock_jobs_back_as_far_as_the_longest_job(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "POWERTOOLS_SERVICE_NAME": "voiceid-job-tracker",
        "POWERTOOLS_METRICS_NAMESPACE": "VoiceIdJobTracker",
        "BEDROCK_JOB_NAME_PREFIXES": "nightly-",
        "BEDROCK_OUTPUT_LOCATIONS": "s3://out/bedrock/",
        "BEDROCK_ACCOUNT_ID": "123456789012",
        "AWS_REGION": REGION,
        "SWEEP_LOOKBACK_DAYS": "7",
        "FAILURES_TABLE_NAME": TABLE,
        "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:tracker",
    }.items():
        monkeypatch.setenv(name, value)
    made: dict[str, Any] = {}
    make_client: Any = boto3.client

    def client(service: str, **kwargs: Any) -> Any:
        made[service] = make_client(service, region_name=REGION, **kwargs)
        return made[service]

    monkeypatch.setattr(boto3, "client", client)
    sys.modules.pop("sweep.handler", None)
    handler = importlib.import_module("sweep.handler")
    sent: list[dict[str, Any]] = []
    made["bedrock"].meta.events.register(
        "provide-client-params.bedrock.ListModelInvocationJobs", lambda params, **_: sent.append(dict(params))
    )
    with Stubber(made["bedrock"]) as stubber:
        stubber.add_response("list_model_invocation_jobs", {"invocationJobSummaries": []})
        list(handler.listers["bedrock"].list_job_pages("123456789012", JOB_KINDS["BEDROCK_BATCH_INFERENCE"]))
    window = datetime.now(UTC) - sent[0]["submitTimeAfter"]
    # The configured 7 days would miss a Bedrock job that ends 15 days after its submission.
    assert timedelta(days=16) - timedelta(minutes=1) < window < timedelta(days=16, minutes=1)
