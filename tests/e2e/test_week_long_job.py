"""A Bedrock job of 8 days, a day and a half queued and six and a half running, followed to its end by a chain of
executions that hand it over at their poll cap: recorded exactly once, and no execution fails (a failed one would
page the on-call).

A local cloud of its own: the stack is synthesized with a poll cap of 3 (at 1-2 s waits, an execution reaches
it within seconds), and the local Bedrock runs on a clock 10,800 times faster than real time (a second is three
hours), so the job's 8 days on its own timestamps pass in about a minute. Everything else is as deployed:
Bedrock's events start the trackers, and IAM is enforced on the state machine's StartExecution of itself.

The local Bedrock counts each job's timeout (168 hours, the most Bedrock allows) from its start here
(`count_timeout_from("start")`, the reading of docs/bedrock-facts.md §3.2 under which jobs last longest): the
job may queue, then run until its timeout, as the issue's premise has it. Counted from its submission (the
emulator's default), a job of 8 days would end PartiallyCompleted after 7.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from bedrock_emulator import Pacing
from bedrock_emulator.testing import claude_input
from local_cloud.driver import TrackedJob, TrackerDriver, recorded_by
from local_cloud.environment import BedrockSettings, LocalEnvironment, VoiceIdSettings
from local_cloud.scheduler import ScaledClock
from tests.e2e.conftest import TEST_PACING, synth_local_template

POLL_CAP = 3
HOUR = 3600.0
TIME_SCALE = 3 * HOUR  # local Bedrock seconds per real second
RECORDS = 12
TIMEOUT = timedelta(hours=168)  # the local Bedrock's default timeoutDurationInHours, Bedrock's maximum
# A day and a half queued (Submitted, Validating, Scheduled: 12 hours each), then the records one by one over
# 6.5 days: 8 days in all, the run ending half a day before its 168-hour timeout counted from its start (a step
# the busy worker takes late delays the next, a few local minutes each).
STAGE_SECONDS = 12 * HOUR
QUEUED = timedelta(seconds=3 * STAGE_SECONDS)
RECORDS_PER_SECOND = RECORDS / (6.5 * 24 * HOUR)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackerDriver]:
    template = synth_local_template(
        tmp_path_factory.mktemp("week-long-cdk.out"),
        pollMinSeconds=1,
        pollMaxSeconds=2,
        pollCap=POLL_CAP,
        sweepMinutes=60,
    )
    environment = LocalEnvironment(
        template_path=template,
        state_dir=tmp_path_factory.mktemp("week-long-cloud"),
        voice_id=VoiceIdSettings(pacing=TEST_PACING, throttling=True),
        bedrock=BedrockSettings(
            pacing=Pacing.real_time(STAGE_SECONDS, RECORDS_PER_SECOND), clock=ScaledClock(TIME_SCALE)
        ),
    )
    with environment:
        environment.bedrock.admin.set_quota(min_records_per_job=1)
        environment.bedrock.admin.count_timeout_from("start")
        yield TrackerDriver(environment)


def outcome(execution: dict[str, Any]) -> str | None:
    output = json.loads(execution.get("output") or "{}")
    return output.get("Outcome") if isinstance(output, dict) else None


def wait_until_recorded(driver: TrackerDriver, job: TrackedJob, deadline_seconds: float) -> list[dict[str, Any]]:
    """The job's executions once its summary is written and none of them runs any more."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        executions = driver.executions(job)
        summary = driver.items(job).get("SUMMARY", {})
        if summary.get("RecordState") in ("COMPLETE", "FAILED") and all(e["status"] != "RUNNING" for e in executions):
            return executions
        if time.monotonic() > deadline:
            states = [(e["name"], e["status"], outcome(e)) for e in executions]
            raise TimeoutError(f"job {job.job_id} not recorded within {deadline_seconds:.0f} s: {summary}, {states}")
        time.sleep(0.5)


def test_an_8_day_job_is_handed_over_at_each_cap_and_recorded_once_with_no_failed_execution(
    driver: TrackerDriver,
) -> None:
    rows = [{"recordId": f"w{n:03d}", "modelInput": claude_input(f"Summarise week item {n}.")} for n in range(RECORDS)]
    job = driver.start_bedrock_job("tracked-week-long-0001", driver.upload_bedrock_input({"in.jsonl": rows}))
    executions = wait_until_recorded(driver, job, deadline_seconds=240)

    # The job lasted 8 days on its own timestamps (the local Bedrock's clock), longer than its timeout: it
    # queued a day and a half, and its timeout was counted from its start.
    described = driver.local.cloud.client("bedrock").get_model_invocation_job(jobIdentifier=job.job_id)
    lifetime: timedelta = described["endTime"] - described["submitTime"]
    assert described["status"] == "Completed"
    assert lifetime >= timedelta(days=8), lifetime
    assert described["timeoutDurationInHours"] == TIMEOUT / timedelta(hours=1)
    assert described["jobExpirationTime"] - described["submitTime"] >= QUEUED + TIMEOUT
    # Followed by a chain of executions, each within its poll cap (its history budget), none failed.
    assert [e["status"] for e in executions if e["status"] != "SUCCEEDED"] == []
    handed_over = [e for e in executions if outcome(e) == "HANDED_OVER"]
    assert len(handed_over) >= 3, [(e["name"], outcome(e)) for e in executions]
    for execution in executions:
        describes = list(driver.state_names(execution["executionArn"])).count("Describe job")
        assert describes <= POLL_CAP, (execution["name"], describes)
    # Each hand-over started the next execution by its deterministic name. That one took the lock, unless an
    # execution started by one of the job's events took it first (the holder had ended): then it stopped.
    successors = {json.loads(e["output"])["HandedOverTo"] for e in handed_over}
    assert all(name.startswith(f"handover-{job.job_id}-") for name in successors)
    by_name = {e["name"]: e for e in executions}
    assert successors <= set(by_name)
    lock = driver.items(job)["LOCK"]
    assert lock["LockState"] == "RECORDED"
    holders = {arn.rsplit(":", 1)[1] for arn in lock["ExecutionArns"]}
    took_the_lock = successors & holders
    assert all(outcome(by_name[name]) == "ALREADY_TRACKED" for name in successors - holders)
    assert len(took_the_lock) >= 2, (successors, holders)
    # Recorded exactly once, every record accounted for.
    (recorder,) = recorded_by(executions)
    assert json.loads(recorder["output"])["JobId"] == job.job_id
    summary = driver.items(job)["SUMMARY"]
    assert (summary["RecordState"], summary["JobStatus"]) == ("COMPLETE", "Completed")
    assert (summary["SucceededRecordCount"], summary["FailedRecordCount"]) == (RECORDS, 0)
