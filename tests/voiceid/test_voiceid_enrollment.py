"""Speaker enrollment jobs against voiceid-facts §1.3-1.4 (manifest, `.out`), §2 (events) and §3.1 (quotas)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from voiceid_emulator import Pacing, Quotas, VoiceIdEmulator
from voiceid_emulator.audio import make_wav
from voiceid_emulator.testing import ROLE_ARN, Env, fraudster_manifest, make_env, speaker_manifest

SUCCESS_KEYS = {"RequestId", "GeneratedSpeakerId", "CustomerSpeakerId", "EnrollmentStatus"}


def start_speaker_job(env: Env, domain_id: str, manifest: Any, key: str = "manifests/batch.json", **extra: Any) -> str:
    uri = env.put_manifest(manifest, key=key)
    return str(env.client.start_speaker_enrollment_job(**env.job_args(domain_id, uri, **extra))["Job"]["JobId"])


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response: dict[str, Any] = dict(exc.value.response)
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


@pytest.fixture
def received(moto_endpoint: str) -> Iterator[tuple[Env, list[dict[str, Any]]]]:
    events: list[dict[str, Any]] = []
    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint, throttling=False, pacing=Pacing.manual_steps(), event_callback=events.append
    ) as emulator:
        yield make_env(moto_endpoint, emulator), events


def test_enrollment_events_carry_the_documented_detail_on_submit_and_success(
    received: tuple[Env, list[dict[str, Any]]],
) -> None:
    env, events = received
    domain_id = env.create_domain()
    watchlist_id = env.client.create_watchlist(DomainId=domain_id, Name="vip")["Watchlist"]["WatchlistId"]
    good = env.put_audio("audio/good.wav", make_wav(3, seed=1))
    short = env.put_audio("audio/short.wav", make_wav(0.5, 2, seed=2))
    config = {
        "ExistingEnrollmentAction": "OVERWRITE",
        "FraudDetectionConfig": {"FraudDetectionAction": "FAIL", "RiskThreshold": 70, "WatchlistIds": [watchlist_id]},
    }
    job_id = start_speaker_job(
        env, domain_id, speaker_manifest([("r1", "alice", [good]), ("r2", "bob", [short])]), EnrollmentConfig=config
    )
    env.emulator.run_until_done(job_id)
    assert env.client.describe_speaker_enrollment_job(DomainId=domain_id, JobId=job_id)["Job"]["JobStatus"] == (
        "COMPLETED_WITH_ERRORS"
    )
    assert [e["detail"]["status"] for e in events] == ["SUBMITTED", "SUCCEEDED"]
    domain_arn = f"arn:aws:voiceid:us-east-1:123456789012:domain/{domain_id}"
    for event in events:
        assert event["detail-type"] == "VoiceId Batch Speaker Enrollment Action"
        assert (event["source"], event["resources"]) == ("aws.voiceid", [domain_arn])
        detail = event["detail"]
        assert set(detail) == {"sourceId", "domainId", "action", "status", "batchJobId", "data"}
        assert (detail["action"], detail["batchJobId"], detail["domainId"]) == (
            "BATCH_ENROLLMENT_REQUEST",
            job_id,
            domain_id,
        )
        assert detail["data"] == {
            "dataAccessRoleArn": ROLE_ARN,
            "inputDataConfig": {"s3Uri": f"s3://{env.input_bucket}/manifests/batch.json"},
            "outputDataConfig": {"s3Uri": f"s3://{env.output_bucket}/results", "kmsKeyId": env.kms_key_id},
            "enrollmentConfig": {
                "existingEnrollmentAction": "OVERWRITE",
                "fraudDetectionConfig": {
                    "fraudDetectionAction": "FAIL",
                    "riskThreshold": 70,
                    "watchlistIds": [watchlist_id],
                },
            },
        }
    assert events[0]["detail"]["sourceId"] != events[1]["detail"]["sourceId"]


def test_enrollment_output_statuses_for_skip_and_overwrite(env: Env) -> None:
    domain_id = env.create_domain()
    first_voice = env.put_audio("audio/alice-1.wav", make_wav(3, seed=41))
    second_voice = env.put_audio("audio/alice-2.wav", make_wav(3, seed=42))
    bob = env.put_audio("audio/bob.wav", make_wav(3, seed=43))
    # The same CustomerSpeakerId twice in one manifest: the second request finds the first one's enrollment.
    skip = start_speaker_job(
        env, domain_id, speaker_manifest([("a1", "alice", [first_voice]), ("a2", "alice", [second_voice])])
    )
    env.emulator.run_until_done(skip)
    output = env.read_output(skip)
    assert set(output) == {"Version", "Errors", "SuccessfulEnrollments"}
    assert (output["Version"], output["Errors"]) == ("1.0", [])
    alice_id = output["SuccessfulEnrollments"][0]["GeneratedSpeakerId"]
    assert alice_id.startswith("id#") and len(alice_id) == 25 and alice_id[3:].isalnum()
    assert output["SuccessfulEnrollments"] == [
        {
            "RequestId": "a1",
            "GeneratedSpeakerId": alice_id,
            "CustomerSpeakerId": "alice",
            "EnrollmentStatus": "NEW_ENROLLMENT",
        },
        {
            "RequestId": "a2",
            "GeneratedSpeakerId": alice_id,
            "CustomerSpeakerId": "alice",
            "EnrollmentStatus": "DUPLICATE_SKIPPED",
        },
    ]
    overwrite = start_speaker_job(
        env,
        domain_id,
        speaker_manifest([("o1", "alice", [second_voice]), ("o2", "bob", [bob])]),
        key="manifests/overwrite.json",
        EnrollmentConfig={"ExistingEnrollmentAction": "OVERWRITE"},
    )
    env.emulator.run_until_done(overwrite)
    successes = env.read_output(overwrite, input_name="overwrite.json")["SuccessfulEnrollments"]
    assert all(set(s) == SUCCESS_KEYS for s in successes)
    assert [(s["RequestId"], s["CustomerSpeakerId"], s["EnrollmentStatus"]) for s in successes] == [
        ("o1", "alice", "ENROLLMENT_OVERWRITE"),
        ("o2", "bob", "NEW_ENROLLMENT"),
    ]
    assert successes[0]["GeneratedSpeakerId"] == alice_id
    assert successes[1]["GeneratedSpeakerId"] not in {alice_id}


def test_opted_out_speaker_is_409_whatever_the_existing_enrollment_action(env: Env) -> None:
    domain_id = env.create_domain()
    audio = env.put_audio("audio/a.wav", make_wav(3, seed=51))
    first = start_speaker_job(env, domain_id, speaker_manifest([("r1", "enrolled", [audio])]))
    env.emulator.run_until_done(first)
    admin = env.emulator.endpoint_url + "/_voiceid/admin/speakers/opt-out"
    for speaker in ("enrolled", "never-enrolled"):
        response = requests.post(admin, json={"domainId": domain_id, "customerSpeakerId": speaker}, timeout=10)
        assert response.status_code == 200
    job_id = start_speaker_job(
        env,
        domain_id,
        speaker_manifest([("r1", "enrolled", [audio]), ("r2", "never-enrolled", [audio])]),
        key="manifests/opted.json",
        EnrollmentConfig={"ExistingEnrollmentAction": "OVERWRITE"},
    )
    env.emulator.run_until_done(job_id)
    output = env.read_output(job_id, input_name="opted.json")
    assert output["SuccessfulEnrollments"] == []
    assert [(e["RequestId"], e["ErrorCode"]) for e in output["Errors"]] == [("r1", 409), ("r2", 409)]
    assert all(set(e) == {"RequestId", "ErrorCode", "ErrorMessage"} for e in output["Errors"])
    assert "You cannot request an enrollment for an opted out speaker" in output["Errors"][0]["ErrorMessage"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"customerSpeakerId": "x"}, 400, "domainId required"),
        ({"domainId": "A" * 22}, 400, "customerSpeakerId required"),
        ({"domainId": "A" * 22, "customerSpeakerId": "x"}, 404, "no domain"),
        ({"domainId": "<own>", "customerSpeakerId": "id#" + "a" * 22}, 400, "CustomerSpeakerId"),
        ({"domainId": "<own>", "customerSpeakerId": 7}, 400, "CustomerSpeakerId"),
    ],
)
def test_opt_out_admin_route_rejects_bad_bodies(env: Env, body: dict[str, Any], status: int, fragment: str) -> None:
    domain_id = env.create_domain()
    payload = {key: domain_id if value == "<own>" else value for key, value in body.items()}
    response = requests.post(env.emulator.endpoint_url + "/_voiceid/admin/speakers/opt-out", json=payload, timeout=10)
    assert (response.status_code, fragment in response.json()["message"]) == (status, True)
    assert env.emulator.state.domains[domain_id].speakers == {}


def test_speaker_limit_is_402_and_existing_speakers_still_pass(moto_endpoint: str) -> None:
    assert Quotas().speakers_per_domain == 100_000
    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint,
        throttling=False,
        pacing=Pacing.manual_steps(),
        quotas=Quotas(speakers_per_domain=2),
    ) as emulator:
        env = make_env(moto_endpoint, emulator)
        domain_id, other_domain = env.create_domain(), env.create_domain("other")
        voices = [env.put_audio(f"audio/{i}.wav", make_wav(3, seed=60 + i)) for i in range(4)]
        job_id = start_speaker_job(
            env, domain_id, speaker_manifest([(f"r{i}", f"s{i}", [voices[i]]) for i in range(3)])
        )
        emulator.run_until_done(job_id)
        output = env.read_output(job_id)
        assert [e["RequestId"] for e in output["SuccessfulEnrollments"]] == ["r0", "r1"]
        assert [(e["RequestId"], e["ErrorCode"]) for e in output["Errors"]] == [("r2", 402)]
        assert "Speaker limit exceeded" in output["Errors"][0]["ErrorMessage"]
        # At the limit, an existing speaker is still overwritten or skipped; only a new one is refused.
        again = start_speaker_job(
            env,
            domain_id,
            speaker_manifest([("o0", "s0", [voices[3]]), ("o1", "s1", [voices[1]]), ("n3", "s3", [voices[3]])]),
            key="manifests/again.json",
            EnrollmentConfig={"ExistingEnrollmentAction": "OVERWRITE"},
        )
        emulator.run_until_done(again)
        output = env.read_output(again, input_name="again.json")
        assert [s["EnrollmentStatus"] for s in output["SuccessfulEnrollments"]] == ["ENROLLMENT_OVERWRITE"] * 2
        assert [(e["RequestId"], e["ErrorCode"]) for e in output["Errors"]] == [("n3", 402)]
        # The quota is per domain.
        other = start_speaker_job(
            env, other_domain, speaker_manifest([("r0", "s3", [voices[3]])]), key="manifests/other.json"
        )
        emulator.run_until_done(other)
        assert env.read_output(other, input_name="other.json")["Errors"] == []


def test_more_than_10000_speakers_fails_the_job_with_402_in_describe_and_event(
    received: tuple[Env, list[dict[str, Any]]],
) -> None:
    env, events = received
    assert Quotas().requests_per_speaker_job == 10_000
    domain_id = env.create_domain()
    manifest = speaker_manifest([(f"r{i}", f"s{i}", ["s3://bucket-x/a.wav"]) for i in range(10_001)])
    job_id = start_speaker_job(env, domain_id, json.dumps(manifest))
    env.emulator.run_until_done(job_id)
    job = env.client.describe_speaker_enrollment_job(DomainId=domain_id, JobId=job_id)["Job"]
    message = "The input manifest has 10001 requests; a speaker enrollment job accepts at most 10000"
    assert (job["JobStatus"], job["FailureDetails"]) == ("FAILED", {"StatusCode": 402, "Message": message})
    assert job["JobProgress"]["PercentComplete"] == 0
    assert [e["detail"]["status"] for e in events] == ["SUBMITTED", "FAILED"]
    assert events[1]["detail"]["errorInfo"] == {
        "errorMessage": message,
        "errorType": "ServiceQuotaExceededException",
        "errorCode": 402,
    }
    listed = env.client.list_speaker_enrollment_jobs(DomainId=domain_id, JobStatus="FAILED")["JobSummaries"]
    assert [(s["JobId"], s["FailureDetails"]["StatusCode"]) for s in listed] == [(job_id, 402)]


def test_one_active_enrollment_job_per_domain(env: Env) -> None:
    domain_id, other_domain = env.create_domain(), env.create_domain("other")
    audio = env.put_audio("audio/a.wav", make_wav(3, seed=71))
    manifest = env.put_manifest(speaker_manifest([("r1", "alice", [audio]), ("r2", "bob", [audio])]))
    args = env.job_args(domain_id, manifest, ClientToken="enroll-1")
    first = env.client.start_speaker_enrollment_job(**args)["Job"]["JobId"]
    for step in range(2):  # refused while SUBMITTED and while IN_PROGRESS
        with pytest.raises(ClientError) as exc:
            env.client.start_speaker_enrollment_job(**env.job_args(domain_id, manifest))
        code, status, message = error_of(exc)
        assert (code, status) == ("ServiceQuotaExceededException", 402)
        assert first in message and "speaker enrollment job" in message
        if step == 0:
            env.emulator.step_job(first)
    assert env.emulator.job(first).status == "IN_PROGRESS"
    # A retried Start with the same ClientToken is the same job, not a second one.
    assert env.client.start_speaker_enrollment_job(**args)["Job"]["JobId"] == first
    # Another kind in the same domain, and the same kind in another domain, may run at once.
    fraud = env.put_manifest(fraudster_manifest([("f1", [audio])]), key="manifests/fraud.json")
    fraudster_job = env.client.start_fraudster_registration_job(**env.job_args(domain_id, fraud))["Job"]
    other = env.client.start_speaker_enrollment_job(**env.job_args(other_domain, manifest))["Job"]
    assert (fraudster_job["JobStatus"], other["JobStatus"]) == ("SUBMITTED", "SUBMITTED")
    listed = env.client.list_speaker_enrollment_jobs(DomainId=domain_id)["JobSummaries"]
    assert [s["JobId"] for s in listed] == [first]
    env.emulator.run_until_done(first)
    after = env.client.start_speaker_enrollment_job(**env.job_args(domain_id, manifest))["Job"]["JobId"]
    assert after != first


@pytest.mark.parametrize(
    ("speaker_id", "accepted"),
    [("alice\n", False), ("a" * 257, False), ("_alice", False), ("a" * 256, True), ("A-b_9", True)],
)
def test_manifest_speaker_id_must_be_a_whole_customer_speaker_id(env: Env, speaker_id: str, accepted: bool) -> None:
    domain_id = env.create_domain()
    audio = env.put_audio("audio/a.wav", make_wav(3, seed=81))
    job_id = start_speaker_job(env, domain_id, speaker_manifest([("r1", speaker_id, [audio])]))
    env.emulator.run_until_done(job_id)
    job = env.client.describe_speaker_enrollment_job(DomainId=domain_id, JobId=job_id)["Job"]
    if accepted:
        assert job["JobStatus"] == "COMPLETED"
        assert env.read_output(job_id)["SuccessfulEnrollments"][0]["CustomerSpeakerId"] == speaker_id
    else:
        assert job["JobStatus"] == "FAILED"
        assert job["FailureDetails"]["StatusCode"] == 400
        assert "SpeakerEnrollmentRequests[0].SpeakerId" in job["FailureDetails"]["Message"]


def test_manifest_audio_uri_with_a_trailing_newline_fails_the_job(env: Env) -> None:
    domain_id = env.create_domain()
    audio = env.put_audio("audio/a.wav", make_wav(3, seed=82))
    job_id = start_speaker_job(env, domain_id, speaker_manifest([("r1", "alice", [audio + "\n"])]))
    env.emulator.run_until_done(job_id)
    job = env.client.describe_speaker_enrollment_job(DomainId=domain_id, JobId=job_id)["Job"]
    assert (job["JobStatus"], job["FailureDetails"]["StatusCode"]) == ("FAILED", 400)
    assert "AudioSpecifications[0].S3Uri" in job["FailureDetails"]["Message"]
