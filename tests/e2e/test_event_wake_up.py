"""The event wake-up, on a stack whose poll waits are 120 s or more: the job's end event wakes the waiting
tracker, which records the job long before its next planned poll. The comparison is with the plan the
tracker made (from its own history), not with a stopwatch."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from local_cloud.driver import AudioRequest, TrackerDriver, recorded_by
from tests.e2e.conftest import dedicated_local_cloud

MIN_WAIT_SECONDS = 120


@pytest.fixture(scope="module")
def slow_polling(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackerDriver]:
    yield from dedicated_local_cloud(
        tmp_path_factory, "wake", pollMinSeconds=MIN_WAIT_SECONDS, pollMaxSeconds=300, sweepMinutes=60
    )


def history(driver: TrackerDriver, execution_arn: str) -> list[dict[str, Any]]:
    return [dict(e) for e in driver.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]]


def test_the_end_event_wakes_the_tracker_well_before_its_planned_poll(slow_polling: TrackerDriver) -> None:
    driver = slow_polling
    domain_id = driver.local.domain_ids[0]
    # Long enough (about 3 s) that the tracker started by the submit event is parked when the job ends.
    requests = [AudioRequest(f"wake-{n}", seed=70_000 + n) for n in range(16)]
    requests.append(AudioRequest("wake-missing", missing=True))
    job = driver.start_job(domain_id, driver.upload_manifest(requests))
    executions = driver.wait_until_settled(job, expected_executions=2, deadline_seconds=90)

    (tracker,) = recorded_by(executions)
    (woken_by,) = [e for e in executions if e is not tracker]
    assert json.loads(woken_by["output"])["Outcome"] == "ALREADY_TRACKED"
    assert "Wake lock holder" in list(driver.state_names(woken_by["executionArn"]))
    events = history(driver, tracker["executionArn"])
    # The tracker's first describe planned a wait of at least the minimum, then parked on its token.
    describe_outputs = [
        json.loads(e["lambdaFunctionSucceededEventDetails"]["output"])
        for e in events
        if e["type"] == "LambdaFunctionSucceeded"
        and '"WaitSeconds"' in e["lambdaFunctionSucceededEventDetails"].get("output", "")
    ]
    planned = describe_outputs[0]["WaitSeconds"]
    assert planned >= MIN_WAIT_SECONDS * 0.9
    (parked,) = [
        e
        for e in events
        if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "Wait for job or wake-up"
    ]
    (woken,) = [e for e in events if e["type"] == "TaskSucceeded" and "WokenBy" in str(e)]
    assert woken_by["executionArn"] in woken["taskSucceededEventDetails"]["output"]
    # The wait ended by the token (not by its timeout), and the job was recorded before the planned poll.
    assert not [e for e in events if e["type"] == "TaskTimedOut"]
    assert describe_outputs[-1]["JobStatus"] == "COMPLETED_WITH_ERRORS"
    assert tracker["stopDate"] < parked["timestamp"] + timedelta(seconds=planned)
    assert sorted(driver.failures(job)) == ["wake-missing"]
    assert driver.items(job)["SUMMARY"]["RecordState"] == "COMPLETE"


def test_a_lost_end_event_leaves_the_planned_poll_as_the_fallback(slow_polling: TrackerDriver) -> None:
    """With no event to wake it, the tracker is still waiting on its token after the job ended."""
    driver = slow_polling
    domain_id = driver.local.domain_ids[0]
    requests = [AudioRequest(f"lonely-{n}", seed=71_000 + n) for n in range(20)]
    job = driver.start_job(domain_id, driver.upload_manifest(requests))
    tracker = driver.wait_until_running(job)
    deadline = time.monotonic() + 30
    while "WakeToken" not in driver.items(job).get("LOCK", {}):
        assert time.monotonic() < deadline, "the tracker never parked on a wake-up token"
        time.sleep(0.1)
    driver.local.voice_id.admin.set_event_loss(1.0)
    try:
        assert driver.local.voice_id.wait_for_job(job.job_id, timeout=60) == "COMPLETED"
        assert driver.sfn.describe_execution(executionArn=tracker["executionArn"])["status"] == "RUNNING"
        assert list(driver.state_names(tracker["executionArn"])).count("Describe job") == 1
        assert "SUMMARY" not in driver.items(job)
    finally:
        driver.local.voice_id.admin.set_event_loss(0.0)
        driver.sfn.stop_execution(executionArn=tracker["executionArn"], cause="the test ends here")


def test_an_end_event_during_a_describe_still_cuts_the_next_wait_short(slow_polling: TrackerDriver) -> None:
    """The race of issue 16: the job ends while its tracker describes (its last wait's token is stale, its
    next not yet stored). The waker leaves a wake request; the next wait finds it and describes at once.

    The interleaving is forced: the gateway holds the tracker's "Wait for job or wake-up" write (the state
    machine's only UpdateItem while it polls) until the end event's execution has been and gone."""
    driver = slow_polling
    domain_id = driver.local.domain_ids[0]
    admin = driver.local.voice_id.admin
    faults = driver.local.cloud.faults_admin
    state_machine_role = driver.sfn.describe_state_machine(stateMachineArn=driver.local.state_machine_arn)["roleArn"]
    admin.set_pacing(submitted_seconds=0.3, seconds_per_request=3.0)  # about a minute: it ends when told
    try:
        requests = [AudioRequest(f"race-{n}", seed=72_000 + n) for n in range(20)]
        job = driver.start_job(domain_id, driver.upload_manifest(requests))
        tracker = driver.wait_until_running(job)
        deadline = time.monotonic() + 30
        while "WakeToken" not in driver.items(job).get("LOCK", {}):
            assert time.monotonic() < deadline, "the tracker never parked on a wake-up token"
            time.sleep(0.1)
        held = faults.add(service="dynamodb", operation="UpdateItem", latencySeconds=120, role=state_machine_role)
        # A later execution wakes the tracker through its token; it describes (the job still runs) and its
        # next wait's write is held.
        prod = driver.start_execution(job)
        while faults.rule(held)["injected"] == 0:
            time.sleep(0.1)
        assert driver.sfn.describe_execution(executionArn=prod)["status"] == "SUCCEEDED"
        # Now the job ends, and its end event's execution finds the tracker not waiting.
        admin.set_pacing(submitted_seconds=0.0, seconds_per_request=0.0)
        assert driver.local.voice_id.wait_for_job(job.job_id, timeout=30) == "COMPLETED"
    finally:
        admin.reset_pacing()
    deadline = time.monotonic() + 60
    while True:
        end_event = [e for e in driver.executions(job) if e["executionArn"] not in (tracker["executionArn"], prod)]
        if end_event and end_event[0]["status"] != "RUNNING":
            break
        assert time.monotonic() < deadline, "the end event's execution did not finish"
        time.sleep(0.2)
    wake_outputs = [
        json.loads(e["lambdaFunctionSucceededEventDetails"]["output"])
        for e in history(driver, end_event[0]["executionArn"])
        if e["type"] == "LambdaFunctionSucceeded" and "Woken" in e["lambdaFunctionSucceededEventDetails"]["output"]
    ]
    assert wake_outputs == [{"Woken": False, "WakeRequested": True}]
    assert driver.sfn.describe_execution(executionArn=tracker["executionArn"])["status"] == "RUNNING"
    faults.remove(held)  # the held write goes on: it finds the wake request

    settled = driver.wait_until_settled(job, expected_executions=3, deadline_seconds=60)
    (recorder,) = recorded_by(settled)
    assert recorder["executionArn"] == tracker["executionArn"]
    events = history(driver, tracker["executionArn"])
    assert "Take wake request" in list(driver.state_names(tracker["executionArn"]))
    describes = [
        json.loads(e["lambdaFunctionSucceededEventDetails"]["output"])
        for e in events
        if e["type"] == "LambdaFunctionSucceeded"
        and '"WaitSeconds"' in e["lambdaFunctionSucceededEventDetails"].get("output", "")
    ]
    # The describe during which the job ended saw it running and planned a long wait, which never happened.
    assert describes[-2]["JobStatus"] == "IN_PROGRESS" and describes[-2]["WaitSeconds"] >= MIN_WAIT_SECONDS * 0.9
    assert describes[-1]["JobStatus"] == "COMPLETED"
    assert not [e for e in events if e["type"] == "TaskTimedOut"]
    assert driver.items(job)["SUMMARY"]["RecordState"] == "COMPLETE"
    assert "WakeRequestedBy" not in driver.items(job)["LOCK"]
