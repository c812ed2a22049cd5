"""Events (callback and EventBridge), faults on demand (Python and admin HTTP), pacing modes and the CLI."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from voiceid_emulator import ManualClock, Pacing, VoiceIdEmulator
from voiceid_emulator.audio import make_wav
from voiceid_emulator.testing import (
    FAKE_ACCESS_KEY,
    FAKE_CREDENTIALS,
    FAKE_SECRET_KEY,
    Env,
    fraudster_manifest,
    make_env,
    voice_id_client,
)

REPO = Path(__file__).resolve().parents[2]


def start_job(env: Env, domain_id: str, count: int = 1) -> str:
    uris = [env.put_audio(f"audio/{i}.wav", make_wav(3, seed=i)) for i in range(count)]
    manifest = env.put_manifest(fraudster_manifest([(f"r{i}", [u]) for i, u in enumerate(uris)]))
    args = env.job_args(domain_id, manifest, RegistrationConfig={"FraudsterSimilarityThreshold": 80})
    return str(env.client.start_fraudster_registration_job(**args)["Job"]["JobId"])


def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


# --- events -------------------------------------------------------------------------------------------------


def test_callback_receives_full_envelopes_on_submit_and_success(moto_endpoint: str) -> None:
    received: list[dict[str, Any]] = []
    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint,
        throttling=False,
        pacing=Pacing.manual_steps(),
        event_callback=received.append,
        account_id="210987654321",
    ) as emulator:
        env = make_env(moto_endpoint, emulator)
        domain_id = env.create_domain()
        job_id = start_job(env, domain_id)
        assert [e["detail"]["status"] for e in received] == ["SUBMITTED"]
        emulator.run_until_done(job_id)
    assert [e["detail"]["status"] for e in received] == ["SUBMITTED", "SUCCEEDED"]
    event = received[1]
    assert set(event) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert event["source"] == "aws.voiceid"
    assert event["detail-type"] == "VoiceId Batch Fraudster Registration Action"
    assert event["account"] == "210987654321"
    assert event["resources"] == [f"arn:aws:voiceid:us-east-1:210987654321:domain/{domain_id}"]
    detail = event["detail"]
    assert detail["action"] == "BATCH_REGISTRATION_REQUEST"
    assert (detail["domainId"], detail["batchJobId"]) == (domain_id, job_id)
    assert detail["data"]["registrationConfig"] == {
        "duplicateRegistrationAction": "SKIP",
        "fraudsterSimilarityThreshold": 80,
    }
    assert detail["data"]["outputDataConfig"]["kmsKeyId"] == env.kms_key_id
    assert detail["data"]["inputDataConfig"]["s3Uri"].endswith("batch.json")
    assert "errorInfo" not in detail
    assert received[0]["detail"]["sourceId"] != detail["sourceId"]


def test_failure_event_has_error_info(env: Env) -> None:
    domain_id = env.create_domain()
    args = env.job_args(domain_id, f"s3://{env.input_bucket}/missing.json")
    job_id = env.client.start_speaker_enrollment_job(**args)["Job"]["JobId"]
    env.emulator.run_until_done(job_id)
    failed = env.emulator.events[-1]
    assert failed["detail-type"] == "VoiceId Batch Speaker Enrollment Action"
    assert failed["detail"]["action"] == "BATCH_ENROLLMENT_REQUEST"
    assert failed["detail"]["status"] == "FAILED"
    info = failed["detail"]["errorInfo"]
    assert info["errorCode"] == 400 and info["errorType"] == "ValidationException"
    assert "NoSuchKey" in info["errorMessage"]
    assert failed["detail"]["data"]["enrollmentConfig"]["fraudDetectionConfig"] == {"fraudDetectionAction": "FAIL"}


def test_events_are_put_on_the_configured_eventbridge_bus(moto_endpoint: str) -> None:
    kwargs: dict[str, Any] = {"endpoint_url": moto_endpoint, "region_name": "us-east-1", **FAKE_CREDENTIALS}
    events = boto3.client("events", **kwargs)
    sqs = boto3.client("sqs", **kwargs)
    bus = f"voiceid-bus-{os.getpid()}-{time.monotonic_ns()}"
    events.create_event_bus(Name=bus)
    queue_url = sqs.create_queue(QueueName=bus)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="voiceid-batch",
        EventBusName=bus,
        EventPattern=json.dumps(
            {"source": ["aws.voiceid"], "detail-type": ["VoiceId Batch Fraudster Registration Action"]}
        ),
    )
    events.put_targets(Rule="voiceid-batch", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint,
        events_endpoint_url=moto_endpoint,
        event_bus=bus,
        throttling=False,
        pacing=Pacing.manual_steps(),
    ) as emulator:
        env = make_env(moto_endpoint, emulator)
        domain_id = env.create_domain()
        job_id = start_job(env, domain_id)
        emulator.run_until_done(job_id)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    bodies = [json.loads(m["Body"]) for m in messages]
    assert sorted(b["detail"]["status"] for b in bodies) == ["SUBMITTED", "SUCCEEDED"]
    assert all(b["detail"]["batchJobId"] == job_id for b in bodies)
    assert all(b["source"] == "aws.voiceid" for b in bodies)


def test_failed_put_events_is_logged_not_fatal(moto_endpoint: str, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint,
        events_endpoint_url=f"http://127.0.0.1:{dead_port}",
        throttling=False,
        pacing=Pacing.manual_steps(),
    ) as emulator:
        env = make_env(moto_endpoint, emulator)
        domain_id = env.create_domain()
        with caplog.at_level(logging.ERROR, logger="voiceid_emulator.events"):
            job_id = start_job(env, domain_id)
            emulator.run_until_done(job_id)
        job = env.client.describe_fraudster_registration_job(DomainId=domain_id, JobId=job_id)["Job"]
    assert job["JobStatus"] == "COMPLETED"
    assert sum("PutEvents" in r.getMessage() for r in caplog.records) == 2


def test_raising_callback_does_not_break_the_job(moto_endpoint: str) -> None:
    def explode(event: dict[str, Any]) -> None:
        raise RuntimeError("consumer bug")

    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint, throttling=False, pacing=Pacing.manual_steps(), event_callback=explode
    ) as emulator:
        env = make_env(moto_endpoint, emulator)
        domain_id = env.create_domain()
        job_id = start_job(env, domain_id)
        emulator.run_until_done(job_id)
        assert emulator.job(job_id).status == "COMPLETED"


# --- faults -------------------------------------------------------------------------------------------------


def test_throttling_is_on_by_default_and_can_be_switched_off(moto_endpoint: str) -> None:
    with VoiceIdEmulator(s3_endpoint_url=moto_endpoint, pacing=Pacing.manual_steps()) as emulator:
        client = voice_id_client(emulator.endpoint_url)
        codes = []
        for _ in range(6):
            try:
                client.list_domains()
                codes.append(200)
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "ThrottlingException"
                codes.append(exc.response["ResponseMetadata"]["HTTPStatusCode"])
        # Six back-to-back calls cannot all fit a 2 TPS bucket with a burst of 2.
        assert 429 in codes
        emulator.admin.set_throttling(False)
        for _ in range(10):
            client.list_domains()
        emulator.admin.set_throttling(True, tps=1000.0)
        client.list_domains()


def test_throttling_via_admin_http(moto_endpoint: str) -> None:
    with VoiceIdEmulator(s3_endpoint_url=moto_endpoint, throttling=False, pacing=Pacing.manual_steps()) as emulator:
        admin = emulator.endpoint_url + "/_voiceid/admin"
        state = requests.post(admin + "/throttling", json={"enabled": True, "tps": 0.001}, timeout=10).json()
        assert state["throttling"] == {"enabled": True, "tps": 0.001, "throttledRequests": 0}
        client = voice_id_client(emulator.endpoint_url)
        client.list_domains()  # the one token in the bucket
        with pytest.raises(ClientError) as exc:
            client.list_domains()
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        throttling = requests.get(admin + "/state", timeout=10).json()["throttling"]
        assert throttling["enabled"] is True and throttling["throttledRequests"] >= 1
        requests.post(admin + "/reset", timeout=10)
        client.list_domains()


def test_injected_internal_errors(env: Env) -> None:
    env.emulator.admin.inject_internal_errors(2, operations=["ListDomains"])
    env.client.describe_domain(DomainId=env.create_domain())  # other operations are unaffected
    for _ in range(2):
        with pytest.raises(ClientError) as exc:
            env.client.list_domains()
        assert exc.value.response["Error"]["Code"] == "InternalServerException"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert env.client.list_domains()["DomainSummaries"]


def test_injected_errors_are_retried_by_a_retrying_client(env: Env) -> None:
    requests.post(env.emulator.endpoint_url + "/_voiceid/admin/internal-errors", json={"count": 1}, timeout=10)
    retrying = voice_id_client(env.emulator.endpoint_url, max_attempts=3)
    assert retrying.list_domains()["DomainSummaries"] == []
    assert env.emulator.admin.state()["internalErrors"]["remaining"] == 0


def test_added_latency(env: Env) -> None:
    env.emulator.admin.set_latency(3.0)
    impatient = boto3.client(
        "voice-id",
        endpoint_url=env.emulator.endpoint_url,
        region_name="us-east-1",
        config=Config(read_timeout=0.5, retries={"total_max_attempts": 1}),
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
    )
    with pytest.raises(ReadTimeoutError):
        impatient.list_domains()
    requests.post(env.emulator.endpoint_url + "/_voiceid/admin/latency", json={"seconds": 0}, timeout=10)
    assert impatient.list_domains()["DomainSummaries"] == []


def test_forced_job_failure_python_and_http(env: Env) -> None:
    domain_id = env.create_domain()
    job_id = start_job(env, domain_id, count=2)
    env.emulator.step_job(job_id)
    env.emulator.admin.force_job_failure(job_id, status_code=503, message="disk on fire")
    env.emulator.step_job(job_id)
    job = env.client.describe_fraudster_registration_job(DomainId=domain_id, JobId=job_id)["Job"]
    assert job["JobStatus"] == "FAILED"
    assert job["FailureDetails"] == {"StatusCode": 503, "Message": "disk on fire"}
    assert env.emulator.events[-1]["detail"]["errorInfo"]["errorType"] == "InternalServerException"
    admin = env.emulator.endpoint_url + "/_voiceid/admin"
    again = requests.post(f"{admin}/jobs/{job_id}/fail", json={}, timeout=10)
    assert again.status_code == 409
    assert requests.post(f"{admin}/jobs/{'Z' * 22}/fail", json={}, timeout=10).status_code == 404
    next_job = start_job(env, domain_id)
    response = requests.post(f"{admin}/jobs/{next_job}/fail", json={"statusCode": 400, "message": "bad"}, timeout=10)
    assert response.status_code == 200
    assert requests.post(f"{admin}/jobs/{next_job}/step", timeout=10).json() == {"moved": True}
    assert env.emulator.job(next_job).failure == {"StatusCode": 400, "Message": "bad"}


def test_fail_next_jobs(env: Env) -> None:
    domain_id = env.create_domain()
    requests.post(
        env.emulator.endpoint_url + "/_voiceid/admin/fail-next-jobs",
        json={"count": 1, "statusCode": 500, "message": "injected"},
        timeout=10,
    )
    doomed = start_job(env, domain_id)
    env.emulator.run_until_done(doomed)
    assert env.emulator.job(doomed).status == "FAILED"
    fine = start_job(env, domain_id)
    requests.post(env.emulator.endpoint_url + "/_voiceid/admin/run", json={"jobId": fine}, timeout=30)
    assert env.emulator.job(fine).status == "COMPLETED"


def test_admin_rejects_unknown_routes_and_bad_bodies(env: Env) -> None:
    admin = env.emulator.endpoint_url + "/_voiceid/admin"
    assert requests.post(admin + "/nope", json={}, timeout=10).status_code == 404
    assert requests.post(admin + "/latency", json={}, timeout=10).status_code == 400
    assert requests.post(admin + "/latency", json={"seconds": -1}, timeout=10).status_code == 400
    assert (
        requests.post(admin + "/internal-errors", json={"count": 1, "operations": ["Nope"]}, timeout=10).status_code
        == 400
    )
    assert requests.post(admin + "/advance", timeout=10).json() == {"moved": 0}
    events = requests.get(admin + "/events", timeout=10).json()
    assert events == {"events": []}


# --- pacing -------------------------------------------------------------------------------------------------


def test_instant_background_pacing(moto_endpoint: str) -> None:
    with VoiceIdEmulator(s3_endpoint_url=moto_endpoint, throttling=False) as emulator:
        env = make_env(moto_endpoint, emulator)
        domain_id = env.create_domain()
        job_id = start_job(env, domain_id, count=2)
        assert emulator.wait_for_job(job_id) == "COMPLETED"
        assert len(env.read_output(job_id)["SuccessfulRegistrations"]) == 2


def test_real_time_pacing_follows_the_clock(moto_endpoint: str) -> None:
    clock = ManualClock()
    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint,
        throttling=False,
        clock=clock,
        pacing=Pacing.real_time(submitted_seconds=30, seconds_per_request=60),
    ) as emulator:
        env = make_env(moto_endpoint, emulator)
        domain_id = env.create_domain()
        job_id = start_job(env, domain_id, count=2)
        created = env.client.describe_fraudster_registration_job(DomainId=domain_id, JobId=job_id)["Job"]
        assert created["CreatedAt"].timestamp() == clock.now()
        assert emulator.job(job_id).status == "SUBMITTED"
        clock.advance(30)
        wait_until(lambda: emulator.job(job_id).status == "IN_PROGRESS")
        assert emulator.job(job_id).percent_complete == 0
        clock.advance(60)
        wait_until(lambda: emulator.job(job_id).percent_complete == 50)
        clock.advance(60)
        assert emulator.wait_for_job(job_id) == "COMPLETED"
        assert emulator.job(job_id).ended_at == clock.now()


def test_manual_pacing_refuses_to_wait(env: Env) -> None:
    job_id = start_job(env, env.create_domain())
    with pytest.raises(RuntimeError):
        env.emulator.wait_for_job(job_id)


# --- standalone server --------------------------------------------------------------------------------------


def test_cli_starts_prints_endpoint_and_stops_on_sigterm(moto_endpoint: str) -> None:
    env = {**os.environ, "PORT": "0", "VOICEID_S3_ENDPOINT_URL": moto_endpoint, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "voiceid_emulator", "--no-throttling"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        prefix = "Voice ID emulator listening on http://127.0.0.1:"
        assert line.startswith(prefix), line
        endpoint = line.removeprefix("Voice ID emulator listening on ")
        assert voice_id_client(endpoint).list_domains()["DomainSummaries"] == []
        state = requests.get(endpoint + "/_voiceid/admin/state", timeout=10).json()
        assert state["pacing"]["manual"] is False and state["throttling"]["enabled"] is False
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def test_seeded_domain_keeps_its_id_and_accepts_jobs(moto_endpoint: str) -> None:
    with VoiceIdEmulator(s3_endpoint_url=moto_endpoint, throttling=False, pacing=Pacing.manual_steps()) as emulator:
        emulator.admin.seed_domain("SeededDomain0000000001", name="from-config", kms_key_id="key-1")
        emulator.admin.seed_domain("SeededDomain0000000001", name="ignored", kms_key_id="key-2")
        client = voice_id_client(emulator.endpoint_url)
        domain = client.describe_domain(DomainId="SeededDomain0000000001")["Domain"]
        assert domain["Name"] == "from-config"
        assert [w["Name"] for w in client.list_watchlists(DomainId="SeededDomain0000000001")["WatchlistSummaries"]] == [
            "Default"
        ]
        with pytest.raises(ValueError, match="22 letters or digits"):
            emulator.admin.seed_domain("short", name="x", kms_key_id="k")
