"""Events (one per status change, AWS's non-ISO creationTime, best effort) and the admin API's faults on demand."""

from __future__ import annotations

import json
import random
import re
import uuid
from typing import Any

import boto3
import pytest
import requests

from bedrock_emulator import BedrockEmulator, Pacing
from bedrock_emulator.testing import Env, make_env, records

CREATION_TIME = re.compile(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}:\d{2} (AM|PM)")


def admin(env: Env, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{env.emulator.endpoint_url}/_bedrock/admin/{path}", json=body, timeout=10)


def test_events_carry_the_documented_detail(env: Env) -> None:
    arn = env.create(env.put_input("in/a.jsonl", records(1)), name="evented")
    env.emulator.run_until_done(arn)
    events = env.emulator.events
    assert [event["detail"]["status"] for event in events] == [
        "Submitted",
        "Validating",
        "Scheduled",
        "InProgress",
        "Completed",
    ]
    event = events[-1]
    assert event["source"] == "aws.bedrock"
    assert event["detail-type"] == "Batch Inference Job State Change"
    assert event["resources"] == [arn]
    detail = event["detail"]
    assert set(detail) == {
        "version",
        "accountId",
        "batchJobName",
        "batchJobArn",
        "batchModelId",
        "status",
        "failureMessage",
        "creationTime",
    }
    assert (detail["batchJobName"], detail["batchJobArn"], detail["accountId"]) == ("evented", arn, "123456789012")
    assert CREATION_TIME.fullmatch(detail["creationTime"]), detail["creationTime"]
    assert "totalRecordCount" not in detail  # no counts in the event


def test_creation_time_is_the_submit_time_in_aws_format() -> None:
    from bedrock_emulator.events import creation_time

    assert creation_time(1724885273) == "Aug 28, 2024, 10:47:53 PM"  # AWS's sample value
    assert creation_time(1724803200) == "Aug 28, 2024, 12:00:00 AM"
    assert creation_time(1724846400) == "Aug 28, 2024, 12:00:00 PM"


def test_events_reach_eventbridge(moto_endpoint: str) -> None:
    kwargs: dict[str, Any] = {
        "endpoint_url": moto_endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    sqs, events = boto3.client("sqs", **kwargs), boto3.client("events", **kwargs)
    queue_url = sqs.create_queue(QueueName=f"bedrock-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"bedrock-{uuid.uuid4().hex[:8]}"
    events.put_rule(
        Name=rule,
        EventPattern=json.dumps({"source": ["aws.bedrock"], "detail-type": ["Batch Inference Job State Change"]}),
    )
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn}])
    with BedrockEmulator(
        s3_endpoint_url=moto_endpoint, events_endpoint_url=moto_endpoint, pacing=Pacing.manual_steps()
    ) as emulator:
        env = make_env(moto_endpoint, emulator)
        emulator.admin.set_quota(min_records_per_job=1)
        arn = env.create(env.put_input("in/a.jsonl", records(1)))
        emulator.run_until_done(arn)
    received = []
    for _ in range(5):
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            received.append(json.loads(message["Body"]))
    mine = [event for event in received if event["resources"] == [arn]]
    assert {event["detail"]["status"] for event in mine} == {
        "Submitted",
        "Validating",
        "Scheduled",
        "InProgress",
        "Completed",
    }
    events.remove_targets(Rule=rule, Ids=["q"])
    events.delete_rule(Name=rule)


def test_a_failing_callback_never_affects_the_job(moto_endpoint: str) -> None:
    def explode(event: dict[str, Any]) -> None:
        raise RuntimeError("consumer down")

    with BedrockEmulator(s3_endpoint_url=moto_endpoint, event_callback=explode, pacing=Pacing.manual_steps()) as em:
        env = make_env(moto_endpoint, em)
        em.admin.set_quota(min_records_per_job=1)
        arn = env.create(env.put_input("in/a.jsonl", records(1)))
        em.run_until_done(arn)
        assert env.client.get_model_invocation_job(jobIdentifier=arn)["status"] == "Completed"
        assert len(em.events) == 5


def test_event_loss_drops_a_repeatable_share(env: Env) -> None:
    assert admin(env, "POST", "event-loss", {"fraction": 1.0}).status_code == 200
    arn = env.create(env.put_input("in/a.jsonl", records(1)))
    env.emulator.run_until_done(arn)
    assert env.emulator.events == []
    assert len(env.emulator.dropped_events) == 5
    assert admin(env, "GET", "state").json()["droppedEvents"] == 5
    assert admin(env, "GET", "dropped-events").json()["droppedEvents"][0]["resources"] == [arn]
    assert env.client.get_model_invocation_job(jobIdentifier=arn)["status"] == "Completed"  # jobs are unaffected

    def dropped_statuses(seed: int) -> list[str]:
        env.emulator.admin.set_event_loss(0.5, seed=seed)
        before = len(env.emulator.dropped_events)
        job = env.create(env.put_input("in/a.jsonl", records(1)))
        env.emulator.run_until_done(job)
        return [event["detail"]["status"] for event in env.emulator.dropped_events[before:]]

    assert dropped_statuses(7) == dropped_statuses(7)
    assert admin(env, "POST", "event-loss", {"fraction": 2}).status_code == 400
    assert admin(env, "POST", "event-loss", {}).status_code == 400


def test_record_errors_through_http(env: Env) -> None:
    response = admin(env, "POST", "record-errors", {"rec00000": {"errorCode": 500, "errorMessage": "boom"}})
    assert response.status_code == 200
    assert response.json()["recordErrors"] == [
        {"recordId": "rec00000", "errorCode": 500, "errorMessage": "boom", "remaining": None, "applied": 0}
    ]
    bad = admin(env, "POST", "record-errors", {"rec00001": {"errorCode": "oops"}})
    assert bad.status_code == 400 and "errorCode" in bad.json()["message"]
    assert [rule["recordId"] for rule in admin(env, "GET", "state").json()["recordErrors"]] == ["rec00000"]
    assert admin(env, "POST", "record-errors/clear").json()["recordErrors"] == []


def test_forcing_outcomes_through_http_is_checked(env: Env) -> None:
    arn = env.create(env.put_input("in/a.jsonl", records(1)))
    job_id = arn.rsplit("/", 1)[1]
    assert admin(env, "POST", "jobs/zzzzzzzzzzzz/fail", {}).status_code == 404
    assert admin(env, "POST", f"jobs/{job_id}/expire", {"afterRecords": -1}).status_code == 400
    env.emulator.run_until_done(arn)
    assert admin(env, "POST", f"jobs/{job_id}/fail", {}).status_code == 409
    assert admin(env, "POST", f"jobs/{job_id}/explode", {}).status_code == 404


def test_next_jobs_take_a_forced_outcome(env: Env) -> None:
    response = admin(env, "POST", "next-jobs", {"status": "PartiallyCompleted", "afterRecords": 2, "count": 1})
    assert response.status_code == 200
    assert response.json()["nextJobOutcomes"] == [{"status": "PartiallyCompleted", "afterRecords": 2}]
    first = env.create(env.put_input("in/a.jsonl", records(4)))
    second = env.create(env.put_input("in/a.jsonl", records(4)))
    env.emulator.run_until_done()
    assert env.emulator.job(first).status == "PartiallyCompleted" and env.emulator.job(first).processed == 2
    assert env.emulator.job(second).status == "Completed"
    assert admin(env, "POST", "next-jobs", {"status": "Completed"}).status_code == 400


def test_timeout_counting_through_http(env: Env) -> None:
    assert admin(env, "GET", "state").json()["timeoutCountedFrom"] == "submission"
    response = admin(env, "POST", "timeout", {"countedFrom": "start"})
    assert response.status_code == 200
    assert response.json()["timeoutCountedFrom"] == "start"
    arn = env.create(env.put_input("in/a.jsonl", records(1)))
    assert env.emulator.job(arn).timeout_counted_from == "start"
    refused = admin(env, "POST", "timeout", {"countedFrom": "end"})
    assert refused.status_code == 400 and "countedFrom must be one of submission, start" in refused.text
    assert admin(env, "POST", "timeout", {}).status_code == 400
    assert admin(env, "POST", "reset").json()["timeoutCountedFrom"] == "start"  # configuration, not a fault


def test_quotas_through_http(env: Env) -> None:
    response = admin(env, "POST", "quotas", {"modelId": "amazon.nova-micro-v1:0", "maxRecordsPerJob": 10})
    assert response.status_code == 200
    assert response.json()["quotas"]["perModel"]["amazon.nova-micro-v1:0"]["maxRecordsPerJob"] == 10
    assert admin(env, "POST", "quotas", {"minRecordsPerJob": 0}).status_code == 400
    assert admin(env, "POST", "quotas", {"minRecordsPerJob": 20, "maxRecordsPerJob": 10}).status_code == 400
    assert admin(env, "POST", "quotas", {"maxJobs": 1}).status_code == 400
    reset = admin(env, "POST", "quotas/reset").json()["quotas"]
    assert reset["perModel"] == {} and reset["default"]["minRecordsPerJob"] == 100  # the start-up quotas


def test_throttling_denied_roles_and_reset_through_http(env: Env) -> None:
    assert admin(env, "POST", "throttling", {"enabled": True, "tps": 1}).json()["throttling"]["tps"] == 1
    assert admin(env, "POST", "throttling", {"enabled": True, "tps": 0}).status_code == 400
    assert admin(env, "POST", "denied-roles", {"roleArns": ["arn:aws:iam::123456789012:role/x"]}).status_code == 200
    assert admin(env, "POST", "denied-roles", {}).status_code == 400
    state = admin(env, "POST", "reset").json()
    assert state["throttling"]["enabled"] is False and state["deniedRoles"] == []
    assert admin(env, "GET", "nothing-here").status_code == 404


def test_pacing_through_http(moto_endpoint: str) -> None:
    with BedrockEmulator(s3_endpoint_url=moto_endpoint, pacing=Pacing.real_time(3600, 1)) as emulator:
        env = make_env(moto_endpoint, emulator)
        emulator.admin.set_quota(min_records_per_job=1)
        arn = env.create(env.put_input("in/a.jsonl", records(3)))
        assert env.client.get_model_invocation_job(jobIdentifier=arn)["status"] == "Submitted"  # an hour per stage
        response = admin(env, "POST", "pacing", {"stageSeconds": 0, "recordsPerSecond": 0})
        assert response.json()["pacing"] == {"manual": False, "stageSeconds": 0.0, "recordsPerSecond": 0.0}
        assert emulator.wait_for_job(arn, timeout=30) == "Completed"
        assert admin(env, "POST", "pacing", {"stageSeconds": -1, "recordsPerSecond": 0}).status_code == 400
        assert admin(env, "POST", "pacing", {"stageSeconds": 0}).status_code == 400
        assert admin(env, "POST", "pacing/reset").json()["pacing"]["stageSeconds"] == 3600


def test_pacing_cannot_change_on_a_manual_emulator(env: Env) -> None:
    assert admin(env, "POST", "pacing", {"stageSeconds": 0, "recordsPerSecond": 0}).status_code == 409


def test_stepping_through_http(env: Env) -> None:
    arn = env.create(env.put_input("in/a.jsonl", records(1)))
    job_id = arn.rsplit("/", 1)[1]
    assert admin(env, "POST", f"jobs/{job_id}/step").json() == {"moved": True}
    assert admin(env, "POST", "advance").json() == {"moved": 1}
    admin(env, "POST", "run", {"jobId": job_id})
    assert env.client.get_model_invocation_job(jobIdentifier=arn)["status"] == "Completed"
    assert admin(env, "POST", f"jobs/{job_id}/step").json() == {"moved": False}


@pytest.mark.parametrize("seed", [1, 2])
def test_event_loss_random_can_be_injected(moto_endpoint: str, seed: int) -> None:
    with BedrockEmulator(
        s3_endpoint_url=moto_endpoint, pacing=Pacing.manual_steps(), event_loss_random=random.Random(seed)
    ) as emulator:
        emulator.admin.set_event_loss(0.5)
        env = make_env(moto_endpoint, emulator)
        emulator.admin.set_quota(min_records_per_job=1)
        emulator.run_until_done(env.create(env.put_input("in/a.jsonl", records(1))))
        assert len(emulator.events) + len(emulator.dropped_events) == 5
