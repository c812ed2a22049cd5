"""The admin API under /_s3batch/admin/ over HTTP, and the events: pacing, forced task failures and job
outcomes, throttling, latency, internal errors, event loss and quotas, and the CloudTrail-shaped events."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from s3batch_emulator import Pacing, S3BatchEmulator
from s3batch_emulator.testing import TAGGING, Env, make_env


def admin(env: Env, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{env.emulator.endpoint_url}/_s3batch/admin/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def paced(moto_endpoint: str) -> Iterator[Env]:
    """Background pacing, as fast as possible."""
    with S3BatchEmulator(s3_endpoint_url=moto_endpoint, pacing=Pacing.instant()) as emulator:
        yield make_env(moto_endpoint, emulator)


def test_faults_and_quotas_through_http(env: Env) -> None:
    status, state = admin(env, "task-failures", {"fraction": 0.5, "seed": 1, "failure": {"errorCode": "SlowDown"}})
    assert status == 200 and state["taskFailures"]["fraction"] == 0.5
    assert admin(env, "task-failures", {"keys": {"k": {"errorCode": ""}}})[0] == 400
    assert admin(env, "task-failures/clear", {})[1]["taskFailures"]["fraction"] == 0.0
    assert admin(env, "throttling", {"enabled": True, "tps": 2})[1]["throttling"]["tps"] == 2
    assert admin(env, "latency", {"seconds": 0})[1]["latencySeconds"] == 0
    assert admin(env, "internal-errors", {"count": 1, "operations": ["Nope"]})[0] == 400
    assert (
        admin(env, "internal-errors", {"count": 2, "operations": ["ListJobs"]})[1]["internalErrors"]["remaining"] == 2
    )
    assert admin(env, "event-loss", {"fraction": 1.0})[1]["eventLossFraction"] == 1.0
    assert admin(env, "quotas", {"maxActiveJobs": 2, "lambdaAttempts": 5})[1]["quotas"]["maxActiveJobs"] == 2
    assert admin(env, "quotas", {"bogus": 1})[0] == 400
    assert admin(env, "quotas/reset", {})[1]["quotas"]["maxActiveJobs"] == 0
    assert admin(env, "pacing", {"stageSeconds": 1, "tasksPerSecond": 1})[0] == 409  # manual pacing
    assert admin(env, "reset", {})[1]["throttling"]["enabled"] is False
    assert admin(env, "nowhere", {})[0] == 404
    assert admin(env, "state")[1]["pacing"]["manual"] is True


def test_forced_outcomes_for_a_job_and_for_the_next_jobs(env: Env) -> None:
    keys = env.put_objects(["a", "b", "c"])
    job_id = env.create(env.manifest_of(keys), TAGGING)
    assert admin(env, f"jobs/{job_id}/fail", {"afterTasks": 1, "message": "disk on fire"})[0] == 200
    assert admin(env, "run", {"jobId": job_id})[0] == 200
    job = env.describe(job_id)
    assert job["Status"] == "Failed"
    assert job["FailureReasons"] == [{"FailureCode": "ForcedFailure", "FailureReason": "disk on fire"}]
    assert job["ProgressSummary"]["NumberOfTasksSucceeded"] == 1
    assert admin(env, f"jobs/{job_id}/cancel", {})[0] == 409  # already ended
    assert admin(env, "jobs/unknown/fail", {})[0] == 404
    assert admin(env, "next-jobs", {"status": "Cancelled", "afterTasks": 2})[0] == 200
    next_id = env.create(env.manifest_of(keys), TAGGING)
    env.emulator.run_until_done(next_id)
    job = env.describe(next_id)
    assert job["Status"] == "Cancelled" and job["ProgressSummary"]["NumberOfTasksSucceeded"] == 2


def test_background_pacing_runs_a_job_to_its_end_and_events_are_cloudtrail_shaped(paced: Env) -> None:
    job_id = paced.create(paced.manifest_of(paced.put_objects(["e"])), TAGGING)
    assert paced.emulator.wait_for_job(job_id) == "Complete"
    first, *_, last = paced.emulator.events
    assert first["source"] == "aws.s3" and first["detail-type"] == "AWS Service Event via CloudTrail"
    detail = first["detail"]
    assert (detail["eventName"], detail["eventSource"], detail["eventType"]) == (
        "JobCreated",
        "s3.amazonaws.com",
        "AwsServiceEvent",
    )
    assert detail["userIdentity"]["invokedBy"] == "s3.amazonaws.com"
    assert detail["requestParameters"] is None and detail["readOnly"] is False
    service = detail["serviceEventDetails"]
    assert service["jobId"] == job_id and service["status"] == "New" and len(service["jobEventId"]) == 32
    assert last["detail"]["eventName"] == "JobStatusChanged"
    assert last["detail"]["serviceEventDetails"]["status"] == "Complete"
    status, state = admin(paced, "pacing", {"stageSeconds": 0, "tasksPerSecond": 5, "simulateTasks": True})
    assert status == 200 and state["pacing"] == {
        "manual": False,
        "stageSeconds": 0.0,
        "tasksPerSecond": 5.0,
        "simulateTasks": True,
    }


def test_event_loss_drops_events_but_not_the_job(paced: Env) -> None:
    admin(paced, "event-loss", {"fraction": 1.0})
    job_id = paced.create(paced.manifest_of(paced.put_objects(["f"])), TAGGING)
    assert paced.emulator.wait_for_job(job_id) == "Complete"
    assert paced.emulator.events == [] and len(paced.emulator.dropped_events) == 6  # New ... Complete


def test_events_reach_eventbridge_through_put_events(moto_endpoint: str) -> None:
    """Best effort on a real EventBridge endpoint (moto's here), as the other emulators deliver."""
    with S3BatchEmulator(
        s3_endpoint_url=moto_endpoint, events_endpoint_url=moto_endpoint, pacing=Pacing.manual_steps()
    ) as emulator:
        env = make_env(moto_endpoint, emulator)
        job_id = env.create(env.manifest_of(env.put_objects(["g"])), TAGGING)
        emulator.run_until_done(job_id)
        assert [event["detail"]["eventName"] for event in emulator.events][:2] == ["JobCreated", "JobStatusChanged"]
