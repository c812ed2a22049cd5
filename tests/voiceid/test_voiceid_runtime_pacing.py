"""Runtime pacing control (Admin.set_pacing / POST /_voiceid/admin/pacing) and large jobs at pacing 0."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.model import OperationModel

from voiceid_emulator import ManualClock, ManualPacingError, Pacing, VoiceIdEmulator
from voiceid_emulator.audio import make_wav
from voiceid_emulator.testing import Env, fraudster_manifest, make_env, s3_client, speaker_manifest

# The pacing the shared end-to-end environment uses.
SHARED_PACING = Pacing(submitted_seconds=0.3, seconds_per_request=0.15)


def wait_until(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def admin_url(env: Env, path: str) -> str:
    return f"{env.emulator.endpoint_url}/_voiceid/admin/{path}"


def start_fraudster_job(env: Env, domain_id: str, count: int, key: str = "manifests/batch.json") -> str:
    uris = [env.put_audio(f"audio/{i}.wav", make_wav(3, seed=i)) for i in range(count)]
    manifest = env.put_manifest(fraudster_manifest([(f"r{i}", [u]) for i, u in enumerate(uris)]), key=key)
    return str(env.client.start_fraudster_registration_job(**env.job_args(domain_id, manifest))["Job"]["JobId"])


@pytest.fixture
def clocked(moto_endpoint: str) -> Iterator[tuple[Env, ManualClock]]:
    """Background pacing of 30 s SUBMITTED and 60 s per request on a ManualClock that only the test moves."""
    clock = ManualClock()
    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint,
        throttling=False,
        clock=clock,
        pacing=Pacing.real_time(submitted_seconds=30, seconds_per_request=60),
    ) as emulator:
        yield make_env(moto_endpoint, emulator), clock


def test_pacing_zero_over_http_finishes_active_and_later_jobs_without_the_clock_moving(
    clocked: tuple[Env, ManualClock],
) -> None:
    env, clock = clocked
    domain_id = env.create_domain()
    job_id = start_fraudster_job(env, domain_id, count=3)
    clock.advance(30)
    wait_until(lambda: env.emulator.job(job_id).status == "IN_PROGRESS")
    assert env.emulator.job(job_id).percent_complete == 0
    response = requests.post(admin_url(env, "pacing"), json={"submittedSeconds": 0, "secondsPerRequest": 0}, timeout=10)
    assert response.status_code == 200
    assert response.json()["pacing"] == {"manual": False, "submittedSeconds": 0.0, "secondsPerRequest": 0.0}
    # The step the job was waiting for (due 60 s after its last one) falls due at once, and so do the rest.
    assert env.emulator.wait_for_job(job_id) == "COMPLETED"
    assert len(env.read_output(job_id)["SuccessfulRegistrations"]) == 3
    assert env.emulator.job(job_id).ended_at == clock.now()
    # A job started afterwards does not wait 30 s in SUBMITTED either.
    later = start_fraudster_job(env, domain_id, count=2, key="manifests/later.json")
    assert env.emulator.wait_for_job(later) == "COMPLETED"
    assert env.emulator.pacing == Pacing.real_time(0, 0)
    assert requests.get(admin_url(env, "state"), timeout=10).json()["pacing"]["secondsPerRequest"] == 0.0


def test_slower_pacing_reschedules_the_waiting_step_and_reset_restores_the_start_up_pacing(
    moto_endpoint: str,
) -> None:
    clock = ManualClock()
    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint,
        throttling=False,
        clock=clock,
        pacing=Pacing.real_time(submitted_seconds=0, seconds_per_request=10),
    ) as emulator:
        env = make_env(moto_endpoint, emulator)
        slow_domain, other_domain = env.create_domain("slow"), env.create_domain("other")
        job_id = start_fraudster_job(env, slow_domain, count=2)
        wait_until(lambda: emulator.job(job_id).status == "IN_PROGRESS")
        stepped_at = emulator.job(job_id).paced_from
        emulator.admin.set_pacing(0, 600)
        assert emulator.job(job_id).next_due == stepped_at + 600
        clock.advance(10)  # the old pacing would make the job due now
        # A job started now in another domain is stepped by the worker in a pass that also takes every due
        # step of the first (older) job; once it has moved, the first job is known not to have been due.
        barrier = start_fraudster_job(env, other_domain, count=1, key="manifests/barrier.json")
        wait_until(lambda: emulator.job(barrier).status == "IN_PROGRESS")
        assert emulator.job(job_id).percent_complete == 0
        clock.advance(590)
        wait_until(lambda: emulator.job(job_id).percent_complete == 50)
        # Pacing is configuration, not a fault: reset_faults keeps it.
        emulator.admin.reset_faults()
        assert emulator.admin.state()["pacing"] == {
            "manual": False,
            "submittedSeconds": 0.0,
            "secondsPerRequest": 600.0,
        }
        response = requests.post(admin_url(env, "pacing/reset"), json={}, timeout=10)
        assert response.status_code == 200
        assert response.json()["pacing"]["secondsPerRequest"] == 10.0
        clock.advance(10)
        assert emulator.wait_for_job(job_id) == "COMPLETED"
        assert emulator.pacing == Pacing.real_time(0, 10)


def test_pacing_cannot_be_changed_on_a_manual_pacing_emulator(env: Env) -> None:
    with pytest.raises(ManualPacingError, match="manual pacing") as exc:
        env.emulator.admin.set_pacing(0, 0)
    assert isinstance(exc.value, ValueError)
    response = requests.post(admin_url(env, "pacing"), json={"submittedSeconds": 0, "secondsPerRequest": 0}, timeout=10)
    assert response.status_code == 409
    assert "manual pacing" in response.json()["message"]
    assert requests.post(admin_url(env, "pacing/reset"), json={}, timeout=10).status_code == 409
    assert env.emulator.admin.state()["pacing"] == {"manual": True, "submittedSeconds": 0.0, "secondsPerRequest": 0.0}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"submittedSeconds": -1, "secondsPerRequest": 0}, "submittedSeconds must be >= 0"),
        ({"submittedSeconds": 0, "secondsPerRequest": -0.5}, "secondsPerRequest must be >= 0"),
        ({"submittedSeconds": "0", "secondsPerRequest": 0}, "submittedSeconds must be a finite number"),
        ({"submittedSeconds": 0, "secondsPerRequest": True}, "secondsPerRequest must be a finite number"),
        ({"submittedSeconds": None, "secondsPerRequest": 0}, "submittedSeconds must be a finite number"),
        ('{"submittedSeconds": 0, "secondsPerRequest": 1e999}', "secondsPerRequest must be a finite number"),
        ('{"submittedSeconds": NaN, "secondsPerRequest": 0}', "submittedSeconds must be a finite number"),
        ({"submittedSeconds": 0}, "secondsPerRequest required"),
        ({}, "submittedSeconds and secondsPerRequest required"),
    ],
)
def test_bad_pacing_bodies_are_400_and_change_nothing(
    clocked: tuple[Env, ManualClock], body: dict[str, Any] | str, fragment: str
) -> None:
    env, _ = clocked
    raw = body if isinstance(body, str) else json.dumps(body)  # raw text: 1e999 and NaN parse as inf and nan
    response = requests.post(admin_url(env, "pacing"), data=raw, timeout=10)
    assert response.status_code == 400
    assert fragment in response.json()["message"]
    assert env.emulator.pacing == Pacing.real_time(30, 60)


@pytest.mark.parametrize("value", [-1, math.nan, math.inf, True, "1", None])
def test_bad_pacing_values_raise_value_error(clocked: tuple[Env, ManualClock], value: Any) -> None:
    env, _ = clocked
    with pytest.raises(ValueError, match="secondsPerRequest") as exc:
        env.emulator.admin.set_pacing(0, value)
    assert not isinstance(exc.value, ManualPacingError)
    assert env.emulator.pacing == Pacing.real_time(30, 60)


# --- a 10,000-request enrollment job at pacing 0 ---------------------------------------------------------------


def test_ten_thousand_request_enrollment_job_at_pacing_zero(moto_endpoint: str) -> None:
    """The shared environment's pacing, switched to 0 over HTTP, then a job at the per-job quota: every
    request points at one of 5 WAV objects, each read once; the `.out` is one SSE-KMS PutObject."""
    s3 = s3_client(moto_endpoint)
    calls: Counter[str] = Counter()

    def count(model: OperationModel, **_: Any) -> None:
        calls[model.name] += 1

    s3.meta.events.register("before-call.s3", count)
    with VoiceIdEmulator(s3_client=s3, throttling=False, pacing=SHARED_PACING) as emulator:
        env = make_env(moto_endpoint, emulator)
        domain_id = env.create_domain()
        good = [env.put_audio(f"audio/good-{i}.wav", make_wav(3, seed=i)) for i in range(4)]
        short = env.put_audio("audio/short.wav", make_wav(0.5, 2, seed=9))
        wavs = [*good, short]
        missing = f"s3://{env.input_bucket}/audio/missing.wav"
        requests_ = [(f"r{i}", f"s{i}", [missing if i == 3 else wavs[i % 5]]) for i in range(10_000)]
        manifest = env.put_manifest(speaker_manifest(requests_))
        emulator.admin.opt_out_speaker(domain_id, "s7")
        response = requests.post(
            admin_url(env, "pacing"), json={"submittedSeconds": 0, "secondsPerRequest": 0}, timeout=10
        )
        assert response.status_code == 200
        calls.clear()
        started = time.perf_counter()
        job_id = env.client.start_speaker_enrollment_job(**env.job_args(domain_id, manifest))["Job"]["JobId"]
        seen: list[tuple[str, int]] = []
        while not seen or seen[-1][0] in {"SUBMITTED", "IN_PROGRESS"}:
            job = env.client.describe_speaker_enrollment_job(DomainId=domain_id, JobId=job_id)["Job"]
            seen.append((job["JobStatus"], job["JobProgress"]["PercentComplete"]))
            assert time.perf_counter() - started < 600, "the job did not finish"
        print(f"\n10,000-request enrollment job at pacing 0: {time.perf_counter() - started:.2f} s")
        assert seen[-1] == ("COMPLETED_WITH_ERRORS", 100)
        assert all(percent <= 99 for _, percent in seen[:-1])
        assert [p for _, p in seen] == sorted(p for _, p in seen)
        output = env.read_output(job_id)
        errors = {e["RequestId"]: e for e in output["Errors"]}
        short_ids = {f"r{i}" for i in range(10_000) if i % 5 == 4}
        assert set(errors) == short_ids | {"r3", "r7"}
        assert len(errors) == 2002
        assert {errors[rid]["ErrorCode"] for rid in short_ids} == {400}
        assert all("not have enough speech" in errors[rid]["ErrorMessage"] for rid in short_ids)
        assert errors["r3"]["ErrorCode"] == 400 and "NoSuchKey" in errors["r3"]["ErrorMessage"]
        assert errors["r7"]["ErrorCode"] == 409 and "opted out" in errors["r7"]["ErrorMessage"]
        successes = output["SuccessfulEnrollments"]
        expected_ids = [f"r{i}" for i in range(10_000) if f"r{i}" not in errors]
        assert [s["RequestId"] for s in successes] == expected_ids
        assert len(successes) == 7998
        assert all(s["CustomerSpeakerId"] == "s" + s["RequestId"][1:] for s in successes)
        assert {s["EnrollmentStatus"] for s in successes} == {"NEW_ENROLLMENT"}
        assert len({s["GeneratedSpeakerId"] for s in successes}) == 7998
        # Read once per job: the manifest and the 5 objects (the missing one fails at HeadObject).
        assert calls["GetObject"] == 6
        assert calls["HeadObject"] == 7
        assert calls["PutObject"] == 1
        head = env.s3.head_object(Bucket=env.output_bucket, Key=f"results/{job_id}/batch.json.out")
        assert head["ServerSideEncryption"] == "aws:kms" and env.kms_key_id in head["SSEKMSKeyId"]
        assert [e["detail"]["status"] for e in emulator.events if e["detail"]["batchJobId"] == job_id] == [
            "SUBMITTED",
            "SUCCEEDED",
        ]


def test_audio_is_read_once_per_job_and_changes_mid_job_are_not_seen(env: Env) -> None:
    domain_id = env.create_domain()
    audio = env.put_audio("audio/a.wav", make_wav(3, seed=31))
    manifest = env.put_manifest(speaker_manifest([("r1", "alice", [audio]), ("r2", "bob", [audio])]))
    job_id = env.client.start_speaker_enrollment_job(**env.job_args(domain_id, manifest))["Job"]["JobId"]
    assert env.emulator.step_job(job_id) and env.emulator.step_job(job_id)  # start, then r1
    env.put_audio("audio/a.wav", make_wav(0.5, 2, seed=31))  # too little speech from now on
    env.emulator.run_until_done(job_id)
    output = env.read_output(job_id)
    assert output["Errors"] == []
    assert [s["EnrollmentStatus"] for s in output["SuccessfulEnrollments"]] == ["NEW_ENROLLMENT"] * 2
    # The next job reads the object again.
    manifest = env.put_manifest(speaker_manifest([("r1", "carol", [audio])]), key="manifests/next.json")
    job_id = env.client.start_speaker_enrollment_job(**env.job_args(domain_id, manifest))["Job"]["JobId"]
    env.emulator.run_until_done(job_id)
    errors = env.read_output(job_id, input_name="next.json")["Errors"]
    assert [(e["RequestId"], e["ErrorCode"]) for e in errors] == [("r1", 400)]


def test_an_event_callback_may_change_pacing(moto_endpoint: str) -> None:
    """The SUCCEEDED event is published from inside the worker's step; changing pacing there must not deadlock."""
    holder: list[VoiceIdEmulator] = []

    def on_event(event: dict[str, Any]) -> None:
        if event["detail"]["status"] == "SUCCEEDED":
            holder[0].admin.set_pacing(5, 7)

    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint, throttling=False, pacing=Pacing.instant(), event_callback=on_event
    ) as emulator:
        holder.append(emulator)
        env = make_env(moto_endpoint, emulator)
        job_id = start_fraudster_job(env, env.create_domain(), count=1)
        assert emulator.wait_for_job(job_id) == "COMPLETED"
        wait_until(lambda: emulator.pacing == Pacing.real_time(5, 7), timeout=10)
        assert requests.get(admin_url(env, "state"), timeout=10).json()["pacing"]["secondsPerRequest"] == 7.0
