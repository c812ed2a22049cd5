"""Job lifecycle and processing: per-request outcomes, whole-job failures, the `.out` file in S3."""

from __future__ import annotations

import json
from typing import Any

import pytest

from voiceid_emulator import Pacing, Quotas, VoiceIdEmulator
from voiceid_emulator.audio import make_invalid_wav, make_wav
from voiceid_emulator.testing import Env, fraudster_manifest, make_env, speaker_manifest


def start_fraudster_job(env: Env, domain_id: str, manifest: Any, **extra: Any) -> str:
    uri = env.put_manifest(manifest)
    job = env.client.start_fraudster_registration_job(**env.job_args(domain_id, uri, **extra))["Job"]
    return str(job["JobId"])


def start_speaker_job(env: Env, domain_id: str, manifest: Any, **extra: Any) -> str:
    uri = env.put_manifest(manifest)
    job = env.client.start_speaker_enrollment_job(**env.job_args(domain_id, uri, **extra))["Job"]
    return str(job["JobId"])


def describe(env: Env, domain_id: str, job_id: str) -> dict[str, Any]:
    return dict(env.client.describe_fraudster_registration_job(DomainId=domain_id, JobId=job_id)["Job"])


def test_lifecycle_steps_through_in_progress_with_rising_percent(env: Env) -> None:
    domain_id = env.create_domain()
    uris = [env.put_audio(f"audio/{i}.wav", make_wav(3, seed=i)) for i in range(4)]
    job_id = start_fraudster_job(env, domain_id, fraudster_manifest([(f"r{i}", [u]) for i, u in enumerate(uris)]))
    seen: list[tuple[str, int]] = []
    job = describe(env, domain_id, job_id)
    seen.append((job["JobStatus"], job["JobProgress"]["PercentComplete"]))
    assert "EndedAt" not in job
    while env.emulator.step_job(job_id):
        job = describe(env, domain_id, job_id)
        seen.append((job["JobStatus"], job["JobProgress"]["PercentComplete"]))
    assert seen == [
        ("SUBMITTED", 0),
        ("IN_PROGRESS", 0),
        ("IN_PROGRESS", 25),
        ("IN_PROGRESS", 50),
        ("IN_PROGRESS", 75),
        ("COMPLETED", 100),
    ]
    assert job["EndedAt"] >= job["CreatedAt"]
    assert env.emulator.step_job(job_id) is False


def test_fraudster_outcomes_and_output_file(env: Env) -> None:
    domain_id = env.create_domain()
    good = env.put_audio("audio/good.wav", make_wav(3, 1, seed=1))
    other = env.put_audio("audio/other.wav", make_wav(4, seed=2))
    manifest = fraudster_manifest(
        [
            ("new", [good]),
            ("duplicate", [good]),
            ("too-little-speech", [env.put_audio("audio/short.wav", make_wav(1, 5, seed=3))]),
            ("wrong-rate", [env.put_audio("audio/16k.wav", make_invalid_wav("sample_rate"))]),
            ("not-a-wav", [env.put_audio("audio/garbage.wav", make_invalid_wav("not_wav"))]),
            ("missing", [f"s3://{env.input_bucket}/audio/nope.wav"]),
            ("second-new", [other]),
        ]
    )
    job_id = start_fraudster_job(env, domain_id, manifest)
    env.emulator.run_until_done(job_id)
    job = describe(env, domain_id, job_id)
    assert job["JobStatus"] == "COMPLETED_WITH_ERRORS"
    assert "FailureDetails" not in job
    output = env.read_output(job_id)
    assert output["Version"] == "1.0"
    assert set(output) == {"Version", "Errors", "SuccessfulRegistrations"}
    errors = {e["RequestId"]: e for e in output["Errors"]}
    assert {rid: e["ErrorCode"] for rid, e in errors.items()} == {
        "too-little-speech": 400,
        "wrong-rate": 400,
        "not-a-wav": 400,
        "missing": 400,
    }
    assert "speech" in errors["too-little-speech"]["ErrorMessage"]
    assert "8000 Hz" in errors["wrong-rate"]["ErrorMessage"]
    assert "NoSuchKey" in errors["missing"]["ErrorMessage"]
    assert all(set(e) == {"RequestId", "ErrorCode", "ErrorMessage"} for e in output["Errors"])
    successes = {s["RequestId"]: s for s in output["SuccessfulRegistrations"]}
    assert successes["new"]["RegistrationStatus"] == "NEW_REGISTRATION"
    assert "FraudsterSimilarityScore" not in successes["new"]
    assert successes["duplicate"] == {
        "RequestId": "duplicate",
        "GeneratedFraudsterId": successes["new"]["GeneratedFraudsterId"],
        "RegistrationStatus": "DUPLICATE_SKIPPED",
        "FraudsterSimilarityScore": 100,
    }
    assert successes["second-new"]["RegistrationStatus"] == "NEW_REGISTRATION"
    for success in successes.values():
        fraudster_id = success["GeneratedFraudsterId"]
        assert fraudster_id.startswith("id#") and len(fraudster_id) == 25 and fraudster_id[3:].isalnum()


def test_duplicates_across_jobs_and_register_as_new(env: Env) -> None:
    domain_id = env.create_domain()
    audio = env.put_audio("audio/a.wav", make_wav(3, seed=7))
    first = start_fraudster_job(env, domain_id, fraudster_manifest([("r1", [audio])]))
    env.emulator.run_until_done(first)
    original = env.read_output(first)["SuccessfulRegistrations"][0]["GeneratedFraudsterId"]
    skipped = start_fraudster_job(env, domain_id, fraudster_manifest([("r1", [audio])]))
    env.emulator.run_until_done(skipped)
    assert env.read_output(skipped)["SuccessfulRegistrations"][0]["GeneratedFraudsterId"] == original
    forced = start_fraudster_job(
        env,
        domain_id,
        fraudster_manifest([("r1", [audio])]),
        RegistrationConfig={"DuplicateRegistrationAction": "REGISTER_AS_NEW"},
    )
    env.emulator.run_until_done(forced)
    registration = env.read_output(forced)["SuccessfulRegistrations"][0]
    assert registration["RegistrationStatus"] == "NEW_REGISTRATION"
    assert registration["GeneratedFraudsterId"] != original


def test_partial_similarity_respects_the_threshold(env: Env) -> None:
    domain_id = env.create_domain()
    a = env.put_audio("audio/a.wav", make_wav(3, seed=1))
    b = env.put_audio("audio/b.wav", make_wav(3, seed=2))
    c = env.put_audio("audio/c.wav", make_wav(3, seed=3))
    first = start_fraudster_job(env, domain_id, fraudster_manifest([("r1", [a, b])]))
    env.emulator.run_until_done(first)
    # {a, c} shares one of three distinct recordings with {a, b}: similarity 33.
    high = start_fraudster_job(
        env,
        domain_id,
        fraudster_manifest([("r1", [a, c])]),
        RegistrationConfig={"FraudsterSimilarityThreshold": 50},
    )
    env.emulator.run_until_done(high)
    assert env.read_output(high)["SuccessfulRegistrations"][0]["RegistrationStatus"] == "NEW_REGISTRATION"
    low = start_fraudster_job(
        env,
        domain_id,
        fraudster_manifest([("r1", [a, c])]),
        RegistrationConfig={"FraudsterSimilarityThreshold": 30},
    )
    env.emulator.run_until_done(low)
    result = env.read_output(low)["SuccessfulRegistrations"][0]
    assert result["RegistrationStatus"] == "DUPLICATE_SKIPPED"
    assert result["FraudsterSimilarityScore"] in {33, 100}


def test_speech_threshold_is_configurable(moto_endpoint: str) -> None:
    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint, throttling=False, pacing=Pacing.manual_steps(), min_speech_seconds=0.5
    ) as emulator:
        env = make_env(moto_endpoint, emulator)
        domain_id = env.create_domain()
        audio = env.put_audio("audio/short.wav", make_wav(1, 5))
        job_id = start_fraudster_job(env, domain_id, fraudster_manifest([("r1", [audio])]))
        emulator.run_until_done(job_id)
        assert describe(env, domain_id, job_id)["JobStatus"] == "COMPLETED"


def test_watchlist_fraudster_quota_gives_402(moto_endpoint: str) -> None:
    assert Quotas().fraudsters_per_watchlist == 500
    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint,
        throttling=False,
        pacing=Pacing.manual_steps(),
        quotas=Quotas(fraudsters_per_watchlist=2),
    ) as emulator:
        env = make_env(moto_endpoint, emulator)
        domain_id = env.create_domain()
        watchlist_id = env.client.create_watchlist(DomainId=domain_id, Name="vip")["Watchlist"]["WatchlistId"]
        uris = [env.put_audio(f"audio/{i}.wav", make_wav(3, seed=i)) for i in range(3)]
        manifest = fraudster_manifest([(f"r{i}", [u]) for i, u in enumerate(uris)] + [("dup", [uris[0]])])
        job_id = start_fraudster_job(env, domain_id, manifest, RegistrationConfig={"WatchlistIds": [watchlist_id]})
        emulator.run_until_done(job_id)
        output = env.read_output(job_id)
        assert [(e["RequestId"], e["ErrorCode"]) for e in output["Errors"]] == [("r2", 402)]
        assert "limit" in output["Errors"][0]["ErrorMessage"]
        # A duplicate adds no fraudster, so the full watchlist still lets it through.
        assert [s["RegistrationStatus"] for s in output["SuccessfulRegistrations"]] == [
            "NEW_REGISTRATION",
            "NEW_REGISTRATION",
            "DUPLICATE_SKIPPED",
        ]
        # The default watchlist has its own quota.
        other = env.put_audio("audio/other.wav", make_wav(3, seed=99))
        job_id = start_fraudster_job(env, domain_id, fraudster_manifest([("r1", [other])]))
        emulator.run_until_done(job_id)
        assert env.read_output(job_id)["Errors"] == []


def test_stereo_channels_are_separate_voices(env: Env) -> None:
    domain_id = env.create_domain()
    stereo = env.put_audio("audio/stereo.wav", make_wav(3, channels=2, seed=5))
    manifest = {
        "Version": "1.0",
        "FraudsterRegistrationRequests": [
            {"RequestId": "left", "AudioSpecifications": [{"S3Uri": stereo, "ChannelId": 0}]},
            {"RequestId": "right", "AudioSpecifications": [{"S3Uri": stereo, "ChannelId": 1}]},
        ],
    }
    job_id = start_fraudster_job(env, domain_id, manifest)
    env.emulator.run_until_done(job_id)
    statuses = [s["RegistrationStatus"] for s in env.read_output(job_id)["SuccessfulRegistrations"]]
    assert statuses == ["NEW_REGISTRATION", "NEW_REGISTRATION"]
    mono = env.put_audio("audio/mono.wav", make_wav(3, seed=6))
    manifest["FraudsterRegistrationRequests"] = [
        {"RequestId": "no-right", "AudioSpecifications": [{"S3Uri": mono, "ChannelId": 1}]}
    ]
    job_id = start_fraudster_job(env, domain_id, manifest)
    env.emulator.run_until_done(job_id)
    error = env.read_output(job_id)["Errors"][0]
    assert error["ErrorCode"] == 400 and "ChannelId 1" in error["ErrorMessage"]


def test_oversized_audio_is_400(env: Env) -> None:
    domain_id = env.create_domain()
    big = env.put_audio("audio/big.wav", make_wav(3) + b"\0" * (20 * 1024 * 1024))
    job_id = start_fraudster_job(env, domain_id, fraudster_manifest([("r1", [big])]))
    env.emulator.run_until_done(job_id)
    error = env.read_output(job_id)["Errors"][0]
    assert error["ErrorCode"] == 400 and "maximum" in error["ErrorMessage"]


def test_output_key_strips_trailing_slash_and_uses_sse_kms(env: Env) -> None:
    domain_id = env.create_domain()
    audio = env.put_audio("audio/a.wav", make_wav(3))
    uri = env.put_manifest(fraudster_manifest([("r1", [audio])]), key="in/nightly-2026.json")
    args = env.job_args(domain_id, uri)
    args["OutputDataConfig"] = {"S3Uri": f"s3://{env.output_bucket}/out/", "KmsKeyId": env.kms_key_id}
    job_id = env.client.start_fraudster_registration_job(**args)["Job"]["JobId"]
    env.emulator.run_until_done(job_id)
    head = env.s3.head_object(Bucket=env.output_bucket, Key=f"out/{job_id}/nightly-2026.json.out")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert env.kms_key_id in head["SSEKMSKeyId"]
    bucket_root = env.job_args(domain_id, uri)
    bucket_root["OutputDataConfig"] = {"S3Uri": f"s3://{env.output_bucket}", "KmsKeyId": env.kms_key_id}
    job_id = env.client.start_fraudster_registration_job(**bucket_root)["Job"]["JobId"]
    env.emulator.run_until_done(job_id)
    assert env.s3.head_object(Bucket=env.output_bucket, Key=f"{job_id}/nightly-2026.json.out")


def manifest_cases(env: Env) -> list[tuple[str, Any, int, str]]:
    audio = env.put_audio("audio/a.wav", make_wav(3))
    spec = {"S3Uri": audio, "ChannelId": 0}
    return [
        ("bad json", "{not json", 400, "not valid JSON"),
        ("wrong version", fraudster_manifest([("r1", [audio])], version="2.0"), 400, "Version"),
        ("no requests", {"Version": "1.0", "FraudsterRegistrationRequests": []}, 400, "non-empty"),
        ("duplicate ids", fraudster_manifest([("r1", [audio]), ("r1", [audio])]), 400, "Duplicate RequestId"),
        ("no audio", fraudster_manifest([("r1", [])]), 400, "AudioSpecifications"),
        ("eleven audio", fraudster_manifest([("r1", [audio] * 11)]), 400, "AudioSpecifications"),
        (
            "channel 2",
            {
                "Version": "1.0",
                "FraudsterRegistrationRequests": [
                    {"RequestId": "r1", "AudioSpecifications": [{**spec, "ChannelId": 2}]}
                ],
            },
            400,
            "ChannelId",
        ),
        (
            "missing RequestId",
            {"Version": "1.0", "FraudsterRegistrationRequests": [{"AudioSpecifications": [spec]}]},
            400,
            "RequestId",
        ),
        ("501 requests", fraudster_manifest([(f"r{i}", [audio]) for i in range(501)]), 402, "at most 500"),
    ]


def test_invalid_manifests_fail_the_whole_job(env: Env) -> None:
    domain_id = env.create_domain()
    for name, manifest, status_code, fragment in manifest_cases(env):
        job_id = start_fraudster_job(env, domain_id, manifest)
        assert env.emulator.step_job(job_id)
        job = describe(env, domain_id, job_id)
        assert job["JobStatus"] == "FAILED", name
        assert job["FailureDetails"]["StatusCode"] == status_code, name
        assert fragment in job["FailureDetails"]["Message"], name
        assert "EndedAt" in job


def test_unreadable_manifest_fails_the_job(env: Env) -> None:
    domain_id = env.create_domain()
    args = env.job_args(domain_id, f"s3://{env.input_bucket}/does/not/exist.json")
    job_id = env.client.start_fraudster_registration_job(**args)["Job"]["JobId"]
    env.emulator.run_until_done(job_id)
    job = describe(env, domain_id, job_id)
    assert job["JobStatus"] == "FAILED"
    assert job["FailureDetails"]["StatusCode"] == 400
    assert "NoSuchKey" in job["FailureDetails"]["Message"]
    summary = env.client.list_fraudster_registration_jobs(DomainId=domain_id, JobStatus="FAILED")["JobSummaries"]
    assert summary[0]["FailureDetails"] == job["FailureDetails"]


def test_unwritable_output_fails_the_job(env: Env) -> None:
    domain_id = env.create_domain()
    audio = env.put_audio("audio/a.wav", make_wav(3))
    uri = env.put_manifest(fraudster_manifest([("r1", [audio])]))
    args = env.job_args(domain_id, uri)
    args["OutputDataConfig"] = {"S3Uri": "s3://no-such-output-bucket-voiceid/x"}
    job_id = env.client.start_fraudster_registration_job(**args)["Job"]["JobId"]
    env.emulator.run_until_done(job_id)
    job = describe(env, domain_id, job_id)
    assert job["JobStatus"] == "FAILED"
    assert "NoSuchBucket" in job["FailureDetails"]["Message"]


def test_speaker_enrollment_outcomes(env: Env) -> None:
    domain_id = env.create_domain()
    alice = env.put_audio("audio/alice.wav", make_wav(3, seed=11))
    alice2 = env.put_audio("audio/alice2.wav", make_wav(3, seed=12))
    bob = env.put_audio("audio/bob.wav", make_wav(3, seed=13))
    first = start_speaker_job(env, domain_id, speaker_manifest([("r1", "alice", [alice]), ("r2", "bob", [bob])]))
    env.emulator.run_until_done(first)
    enrolled = {e["CustomerSpeakerId"]: e for e in env.read_output(first)["SuccessfulEnrollments"]}
    assert {e["EnrollmentStatus"] for e in enrolled.values()} == {"NEW_ENROLLMENT"}
    assert set(env.read_output(first)) == {"Version", "Errors", "SuccessfulEnrollments"}
    skip = start_speaker_job(env, domain_id, speaker_manifest([("r1", "alice", [alice2])]))
    env.emulator.run_until_done(skip)
    assert env.read_output(skip)["SuccessfulEnrollments"] == [
        {
            "RequestId": "r1",
            "GeneratedSpeakerId": enrolled["alice"]["GeneratedSpeakerId"],
            "CustomerSpeakerId": "alice",
            "EnrollmentStatus": "DUPLICATE_SKIPPED",
        }
    ]
    overwrite = start_speaker_job(
        env,
        domain_id,
        speaker_manifest([("r1", "alice", [alice2])]),
        EnrollmentConfig={"ExistingEnrollmentAction": "OVERWRITE"},
    )
    env.emulator.run_until_done(overwrite)
    result = env.read_output(overwrite)["SuccessfulEnrollments"][0]
    assert result["EnrollmentStatus"] == "ENROLLMENT_OVERWRITE"
    assert result["GeneratedSpeakerId"] == enrolled["alice"]["GeneratedSpeakerId"]


def test_speaker_enrollment_errors(env: Env) -> None:
    domain_id = env.create_domain()
    fraud_audio = env.put_audio("audio/fraud.wav", make_wav(3, seed=21))
    registration = start_fraudster_job(env, domain_id, fraudster_manifest([("f1", [fraud_audio])]))
    env.emulator.run_until_done(registration)
    env.emulator.admin.opt_out_speaker(domain_id, "opted-out")
    ok_audio = env.put_audio("audio/ok.wav", make_wav(3, seed=22))
    short = env.put_audio("audio/short.wav", make_wav(0.5, 2, seed=23))
    manifest = speaker_manifest(
        [
            ("fraud", "mallory", [fraud_audio]),
            ("opted", "opted-out", [ok_audio]),
            ("short", "carol", [short]),
            ("fine", "dave", [ok_audio]),
        ]
    )
    job_id = start_speaker_job(env, domain_id, manifest)
    env.emulator.run_until_done(job_id)
    output = env.read_output(job_id)
    assert {e["RequestId"]: e["ErrorCode"] for e in output["Errors"]} == {
        "fraud": 400,
        "opted": 409,
        "short": 400,
    }
    assert "Fraud verification" in output["Errors"][0]["ErrorMessage"]
    assert [e["RequestId"] for e in output["SuccessfulEnrollments"]] == ["fine"]
    ignored = start_speaker_job(
        env,
        domain_id,
        speaker_manifest([("fraud", "mallory", [fraud_audio])]),
        EnrollmentConfig={"FraudDetectionConfig": {"FraudDetectionAction": "IGNORE"}},
    )
    env.emulator.run_until_done(ignored)
    assert env.read_output(ignored)["SuccessfulEnrollments"][0]["EnrollmentStatus"] == "NEW_ENROLLMENT"


def test_speaker_manifest_rules(env: Env) -> None:
    domain_id = env.create_domain()
    audio = env.put_audio("audio/a.wav", make_wav(3))
    bad_speaker = speaker_manifest([("r1", "id#" + "a" * 22, [audio])])
    job_id = start_speaker_job(env, domain_id, bad_speaker)
    env.emulator.run_until_done(job_id)
    job = env.client.describe_speaker_enrollment_job(DomainId=domain_id, JobId=job_id)["Job"]
    assert job["JobStatus"] == "FAILED" and "SpeakerId" in job["FailureDetails"]["Message"]
    wrong_kind = fraudster_manifest([("r1", [audio])])
    job_id = start_speaker_job(env, domain_id, wrong_kind)
    env.emulator.run_until_done(job_id)
    job = env.client.describe_speaker_enrollment_job(DomainId=domain_id, JobId=job_id)["Job"]
    assert "SpeakerEnrollmentRequests" in job["FailureDetails"]["Message"]


@pytest.mark.parametrize("count", [10_001])
def test_speaker_job_request_quota(env: Env, count: int) -> None:
    domain_id = env.create_domain()
    manifest = speaker_manifest([(f"r{i}", f"s{i}", ["s3://bucket-x/a.wav"]) for i in range(count)])
    job_id = start_speaker_job(env, domain_id, json.dumps(manifest))
    env.emulator.step_job(job_id)
    job = env.client.describe_speaker_enrollment_job(DomainId=domain_id, JobId=job_id)["Job"]
    assert job["JobStatus"] == "FAILED"
    assert job["FailureDetails"] == {
        "StatusCode": 402,
        "Message": "The input manifest has 10001 requests; a speaker enrollment job accepts at most 10000",
    }
