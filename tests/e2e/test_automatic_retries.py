"""Automatic retries of Bedrock records (issue 24) on a local cloud of their own, synthesized with
`tracker:bedrockRetryPolicy` and a pool wait of 2 seconds: the local Bedrock runs the jobs and refuses the records
its admin API forces, the tracker records them, its job-recorded event invokes the retry dispatcher, which pools
them and, as the schedule would, is invoked again to run what is due (on demand through the gateway's
bedrock-runtime, or as a tracked retry job)."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bedrock_emulator.testing import claude_input
from local_cloud.driver import TrackedJob, TrackerDriver
from tests.e2e.conftest import dedicated_local_cloud

POOL_WAIT_SECONDS = 2
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
    admin = retries.local.bedrock.admin  # type: ignore[attr-defined]
    admin.reset_faults()


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
    return wait_for(
        f"{expected} records of job {job.job_id} in its lineage",
        lambda: (found := lineage(driver, job)) and len(found) == expected and found,
    )


def start(driver: TrackerDriver, label: str, records: list[dict[str, Any]]) -> TrackedJob:
    folder = driver.upload_bedrock_input({"records.jsonl": records}, label=f"{label}-{uuid.uuid4().hex[:4]}")
    return driver.start_bedrock_job(f"tracked-retry-{label}-{next(_names):03d}", folder)


def test_twenty_records_refused_once_run_on_demand_and_the_job_settles(driver: TrackerDriver) -> None:
    records = rows("od", 150)
    refused = [record["recordId"] for record in records[::7]][:20]
    driver.local.bedrock.admin.add_record_error_rules(  # type: ignore[attr-defined]
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
