"""Automatic retries of Bedrock records (issue 24) on a local cloud of their own, synthesized with
`tracker:bedrockRetryPolicy` and a pool wait of 30 seconds: the local Bedrock runs the jobs and refuses the records
its admin API forces, the tracker records them, its job-recorded event invokes the retry dispatcher, which pools
them and, as the schedule would, is invoked again to run what is due (on demand through the gateway's
bedrock-runtime, or as a tracked retry job)."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from bedrock_emulator.testing import claude_input
from local_cloud.driver import TrackedJob, TrackerDriver
from tests.e2e.conftest import dedicated_local_cloud

# Long enough for three jobs started together to be recorded and pooled before the first pool is due on demand.
POOL_WAIT_SECONDS = 30
POLICY = {
    "retryCodes": [429, 500, 503, "UNPROCESSED"],
    "maxAttempts": 3,
    "poolWaitSeconds": POOL_WAIT_SECONDS,
    "maxJobsInFlightPerModel": 2,
    "maxRecordsPerDay": 10_000,
}
_names = itertools.count(1)


@pytest.fixture(scope="module")
def retries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackerDriver]:
    yield from dedicated_local_cloud(
        tmp_path_factory,
        "retries",
        pollMinSeconds=1,
        pollMaxSeconds=2,
        sweepMinutes=60,
        bedrockRetryPolicy=POLICY,
    )


@pytest.fixture
def driver(retries: TrackerDriver) -> Iterator[TrackerDriver]:
    yield retries
    retries.local.bedrock.admin.reset_faults()
    retries.local.bedrock.admin.reset_pacing()


def rows(prefix: str, count: int) -> list[dict[str, Any]]:
    return [{"recordId": f"{prefix}{n:05d}", "modelInput": claude_input(f"Summarise item {n}.")} for n in range(count)]


def dispatch(driver: TrackerDriver) -> dict[str, Any]:
    """One run of the dispatcher now, as its schedule runs it (Lambda Invoke with `{}`)."""
    response = driver.lambdas.invoke(
        FunctionName=driver.local.stack.outputs["RetryDispatcherFunctionName"], Payload=b"{}"
    )
    body: dict[str, Any] = json.loads(response["Payload"].read())
    assert not response.get("FunctionError"), body
    return body


def lineage(driver: TrackerDriver, job: TrackedJob) -> dict[str, dict[str, Any]]:
    return {key.removeprefix("RETRY#"): item for key, item in driver.items(job).items() if key.startswith("RETRY#")}


def wait_for(what: str, check: Any, deadline_seconds: float = 120.0) -> Any:
    deadline = time.monotonic() + deadline_seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not seen within {deadline_seconds:.0f} s")
        time.sleep(0.5)


def recorded_and_pooled(driver: TrackerDriver, job: TrackedJob, expected: int) -> dict[str, dict[str, Any]]:
    """Wait until the job is recorded and its job-recorded event has pooled (or finalised) `expected` records."""
    found: dict[str, dict[str, Any]] = wait_for(
        f"{expected} records of job {job.job_id} in its lineage",
        lambda: (found := lineage(driver, job)) and len(found) == expected and found,
    )
    return found


def start(driver: TrackerDriver, label: str, records: list[dict[str, Any]]) -> TrackedJob:
    folder = driver.upload_bedrock_input({"records.jsonl": records}, label=f"{label}-{uuid.uuid4().hex[:4]}")
    return driver.start_bedrock_job(f"tracked-retry-{label}-{next(_names):03d}", folder)


def test_twenty_records_refused_once_run_on_demand_and_the_job_settles(driver: TrackerDriver) -> None:
    records = rows("od", 150)
    refused = [record["recordId"] for record in records[::7]][:20]
    driver.local.bedrock.admin.add_record_error_rules(
        [{"recordId": record_id, "errorCode": 429, "times": 1} for record_id in refused]
    )
    job = start(driver, "on-demand", records)
    pooled = recorded_and_pooled(driver, job, 20)
    assert {item["RetryState"] for item in pooled.values()} == {"POOLED"}
    time.sleep(POOL_WAIT_SECONDS + 1)  # the pool (20, under the local Bedrock's minimum of 100) waits this long
    # The dispatcher runs now, as its schedule would (the schedule's own run may come first).
    reports: list[dict[str, Any]] = []

    def all_settled() -> bool:
        reports.append(dispatch(driver))
        return all(item["RetryState"] == "SUCCEEDED" for item in lineage(driver, job).values())

    try:
        wait_for("the on-demand run", all_settled, deadline_seconds=60)
    except TimeoutError as error:
        raise AssertionError(f"{error}: {reports[-1:]}, {list(lineage(driver, job).values())[:1]}") from error
    settled = lineage(driver, job)
    assert {item["RetryState"] for item in settled.values()} == {"SUCCEEDED"}
    assert {item["RetriedBy"] for item in settled.values()} == {"on-demand"}
    one = settled[refused[0]]
    assert one["Attempt"] == 2 and [attempt["ErrorCode"] for attempt in one["Attempts"][:1]] == [429]
    # The answer lies where the lineage says, a batch output line of that record.
    bucket, _, key = one["SucceededOutputFile"].removeprefix("s3://").partition("/")
    body = driver.s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
    answered = json.loads(body[one["SucceededLineNumber"] - 1])
    assert answered["recordId"] == refused[0] and "modelOutput" in answered
    summary = driver.items(job)["SUMMARY"]
    assert summary["SucceededRecordCount"] + summary["RetrySucceededCount"] == 150
    assert (summary["RetryPendingCount"], summary["FinalFailedCount"]) == (0, 0)
    assert summary["RetrySettledAt"]
    failures = driver.failures(job)
    assert {item["RetryState"] for item in failures.values()} == {"SUCCEEDED"}


def test_a_400_is_final_at_once(driver: TrackerDriver) -> None:
    records = rows("v", 100)
    records[3]["modelInput"] = claude_input("")  # the local Bedrock answers an empty prompt with a 400
    job = start(driver, "validation", records)
    final = recorded_and_pooled(driver, job, 1)
    assert final["v00003"]["RetryState"] == "FINAL"
    assert final["v00003"]["FinalReason"] == "error 400 is final at once: the record itself is invalid"
    summary = wait_for("the settled summary", lambda: driver.items(job)["SUMMARY"].get("RetrySettledAt") and True)
    assert summary
    summary = driver.items(job)["SUMMARY"]
    assert (summary["FinalFailedCount"], summary["RetryPendingCount"], summary["RetrySucceededCount"]) == (1, 0, 0)


@contextmanager
def day_spent(driver: TrackerDriver, left: int) -> Iterator[None]:
    """Today's count of records retried (the dispatcher's `RETRYDAILY` item) set to leave `left` under the cap,
    as a day of earlier retries leaves it; afterwards the count is what it was plus what ran meanwhile."""
    key = {"pk": {"S": "RETRYDAILY"}, "sk": {"S": datetime.now(UTC).date().isoformat()}}
    table = driver.local.table_name

    def count() -> int:
        item = driver.dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return int(item["RetriedRecordCount"]["N"]) if item else 0

    before = count()
    spent = int(str(POLICY["maxRecordsPerDay"])) - left
    driver.dynamodb.put_item(TableName=table, Item={**key, "RetriedRecordCount": {"N": str(spent)}})
    try:
        yield
    finally:
        ran = count() - spent
        driver.dynamodb.put_item(TableName=table, Item={**key, "RetriedRecordCount": {"N": str(before + ran)}})


def settled_summary(driver: TrackerDriver, job: TrackedJob, deadline_seconds: float = 240.0) -> dict[str, Any]:
    summary: dict[str, Any] = wait_for(
        f"job {job.job_id} settled",
        lambda: (summary := driver.items(job).get("SUMMARY", {})).get("RetrySettledAt") and summary,
        deadline_seconds=deadline_seconds,
    )
    return summary


def test_three_jobs_with_40_unprocessed_each_pool_into_one_tracked_retry_job_and_all_settle(
    driver: TrackerDriver,
) -> None:
    # Each job ends PartiallyCompleted after 60 of its 100 records (the local Bedrock's forced outcome): its other
    # 40 are UNPROCESSED, as a stopped job's are. The local Bedrock runs them fast, so that all three are pooled
    # well within the pool wait (the first pool would otherwise be due on demand on its own).
    admin = driver.local.bedrock.admin
    admin.set_pacing(0.2, 200)
    admin.force_next_jobs("PartiallyCompleted", after_records=60, count=3)
    folders = [
        driver.upload_bedrock_input({"records.jsonl": rows(f"s{number}-", 100)}, label=f"stopped{number}")
        for number in range(3)
    ]
    # The day's cap is spent while they are recorded, however slowly: the first pool cannot run on demand alone
    # before the others join it.
    with day_spent(driver, left=0):
        jobs = [driver.start_bedrock_job(f"tracked-retry-stopped-{next(_names):03d}", folder) for folder in folders]
        for job in jobs:
            pooled = recorded_and_pooled(driver, job, 40)
            assert {item["ErrorCode"] for item in pooled.values()} == {"UNPROCESSED"}
            assert {item["RetryState"] for item in pooled.values()} == {"POOLED"}
    # 120 >= 100: one retry job, followed by the tracker by its name; its record settles all three originals.
    dispatch(driver)  # as the schedule would (its own run may come first)
    summaries = [settled_summary(driver, job) for job in jobs]
    retried_by = {item["RetriedBy"] for job in jobs for item in lineage(driver, job).values()}
    assert len(retried_by) == 1 and "on-demand" not in retried_by
    (retry_job_id,) = retried_by
    for job, summary in zip(jobs, summaries, strict=True):
        assert (summary["RetrySucceededCount"], summary["RetryPendingCount"], summary["FinalFailedCount"]) == (
            40,
            0,
            0,
        )
        assert summary["SucceededRecordCount"] + summary["RetrySucceededCount"] == 100
        one = next(iter(lineage(driver, job).values()))
        assert one["SucceededOutputFile"].startswith(f"{driver.local.bedrock_output_s3_uri}{retry_job_id}/")
    retry_job = TrackedJob(domain_id=jobs[0].domain_id, job_id=retry_job_id, kind=jobs[0].kind)
    retry_summary = driver.items(retry_job)["SUMMARY"]
    assert retry_summary["JobName"].startswith("tracked-") and retry_summary["SucceededRecordCount"] == 120
    # The retry job's own records are never pooled again as a job of their own.
    assert lineage(driver, retry_job) == {}


def test_a_500_every_time_is_final_after_max_attempts(driver: TrackerDriver) -> None:
    records = rows("e", 100)
    driver.local.bedrock.admin.add_record_error_rules([{"recordId": "e00042", "errorCode": 500}])
    job = start(driver, "always-500", records)
    recorded_and_pooled(driver, job, 1)

    def final() -> bool:
        dispatch(driver)
        return bool(lineage(driver, job)["e00042"]["RetryState"] == "FINAL")

    wait_for("the record final", final, deadline_seconds=3 * POOL_WAIT_SECONDS + 60)
    record = lineage(driver, job)["e00042"]
    assert record["Attempt"] == POLICY["maxAttempts"]
    assert [attempt["ErrorCode"] for attempt in record["Attempts"]] == [500] * 3
    assert [attempt["RunBy"] for attempt in record["Attempts"]][1:] == ["on-demand", "on-demand"]
    assert record["FinalReason"] == "failed 3 attempt(s), the policy's maxAttempts"
    summary = settled_summary(driver, job)
    assert (summary["FinalFailedCount"], summary["RetrySucceededCount"]) == (1, 0)


def test_the_daily_cap_stops_retries_and_says_so(driver: TrackerDriver) -> None:
    # The day has retried all but 5 of its records already (the dispatcher's own count, as earlier runs leave it).
    with day_spent(driver, left=5):
        records = rows("c", 100)
        driver.local.bedrock.admin.add_record_error_rules(
            [{"recordId": f"c{n:05d}", "errorCode": 429, "times": 1} for n in range(10)]
        )
        job = start(driver, "capped", records)
        recorded_and_pooled(driver, job, 10)
        time.sleep(POOL_WAIT_SECONDS + 1)
        reports: list[dict[str, Any]] = []

        def five_ran_five_held() -> bool:
            reports.append(dispatch(driver))  # the schedule's own run may be the one that runs them
            states = [item["RetryState"] for item in lineage(driver, job).values()]
            return (states.count("SUCCEEDED"), states.count("POOLED")) == (5, 5)

        wait_for("five records run on demand and five held", five_ran_five_held, deadline_seconds=90)
        held = reports[-1]["HeldByDailyCap"]
        assert held and "daily cap of 10000 records retried (maxRecordsPerDay)" in held
        summary = driver.items(job)["SUMMARY"]
        assert "maxRecordsPerDay" in summary["RetryHeldReason"] and summary["RetryPendingCount"] == 5
        assert "RetrySettledAt" not in summary


def test_a_dispatcher_stopped_mid_pool_loses_and_duplicates_nothing(driver: TrackerDriver) -> None:
    records = rows("r", 100)
    driver.local.bedrock.admin.add_record_error_rules(
        [{"recordId": record["recordId"], "errorCode": 503, "times": 1} for record in records]
    )
    job = start(driver, "restart", records)
    # Bedrock refuses the retry job (after the SDK's attempts): the dispatcher stops between pooling (the batch
    # opened, its records claimed, its JSONL written) and submitting.
    driver.local.bedrock.admin.inject_internal_errors(5, ["CreateModelInvocationJob"])
    recorded_and_pooled(driver, job, 100)
    summary = settled_summary(driver, job)
    assert (summary["RetrySucceededCount"], summary["RetryPendingCount"]) == (100, 0)
    found = lineage(driver, job)
    assert len({item["RetriedBy"] for item in found.values()}) == 1
    assert {len(item["Attempts"]) for item in found.values()} == {2}
    # One retry job, its input each record's line once (beside any other record of the same pool).
    (retry_job_id,) = {item["RetriedBy"] for item in found.values()}
    retry_job = TrackedJob(domain_id=job.domain_id, job_id=retry_job_id, kind=job.kind)
    bucket, _, key = str(driver.items(retry_job)["SUMMARY"]["InputUri"]).removeprefix("s3://").partition("/")
    lines = driver.s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
    in_file = [json.loads(line)["recordId"] for line in lines]
    assert len(in_file) == len(set(in_file)) and set(found) <= set(in_file)
