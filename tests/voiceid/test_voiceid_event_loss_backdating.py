"""Event-loss fault (events built but never delivered) and job backdating, through boto3 and the admin API."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import pytest
import requests

from voiceid_emulator import ManualClock, Pacing, VoiceIdEmulator
from voiceid_emulator.audio import make_wav
from voiceid_emulator.faults import FaultController
from voiceid_emulator.testing import Env, fraudster_manifest, make_env, speaker_manifest

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

EIGHT_DAYS = 691_200
UNKNOWN_JOB = "Z" * 22


class RecordingEventBridge:
    """Stands in for an EventBridge client: records every PutEvents entry the emulator sends."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, **kwargs: Any) -> dict[str, Any]:
        self.entries.extend(kwargs["Entries"])
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(len(self.entries))}]}

    def delivered(self) -> list[tuple[str, str]]:
        """(batchJobId, status) of every entry put, in order."""
        details = [json.loads(entry["Detail"]) for entry in self.entries]
        return [(d["batchJobId"], d["status"]) for d in details]


def keys(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["detail"]["batchJobId"], e["detail"]["status"]) for e in events]


def run_fraudster_job(env: Env, domain_id: str, seed: int = 0) -> str:
    uri = env.put_audio(f"audio/f{seed}.wav", make_wav(3, seed=seed))
    manifest = env.put_manifest(fraudster_manifest([("r1", [uri])]), key=f"manifests/f{seed}.json")
    job_id = str(env.client.start_fraudster_registration_job(**env.job_args(domain_id, manifest))["Job"]["JobId"])
    env.emulator.run_until_done(job_id)
    return job_id


def start_speaker_job(env: Env, domain_id: str) -> str:
    uri = env.put_audio("audio/s.wav", make_wav(3, seed=50))
    manifest = env.put_manifest(speaker_manifest([("r1", "customer-1", [uri])]), key="manifests/s.json")
    return str(env.client.start_speaker_enrollment_job(**env.job_args(domain_id, manifest))["Job"]["JobId"])


@pytest.fixture
def clocked(moto_endpoint: str) -> Iterator[tuple[Env, ManualClock]]:
    """Manual pacing on a ManualClock, so CreatedAt/EndedAt are exact numbers."""
    clock = ManualClock()
    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint, throttling=False, pacing=Pacing.manual_steps(), clock=clock
    ) as emulator:
        yield make_env(moto_endpoint, emulator), clock


# --- event loss ---------------------------------------------------------------------------------------------


def test_fraction_one_drops_every_event_of_a_job_and_zero_restores(moto_endpoint: str) -> None:
    received: list[dict[str, Any]] = []
    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint,
        throttling=False,
        pacing=Pacing.manual_steps(),
        event_callback=received.append,
    ) as emulator:
        env = make_env(moto_endpoint, emulator)
        domain_id = env.create_domain()
        emulator.admin.set_event_loss(1.0)
        assert emulator.admin.state()["eventLossFraction"] == 1.0
        lost = run_fraudster_job(env, domain_id, seed=1)
        assert received == []
        assert emulator.events == []
        assert keys(emulator.dropped_events) == [(lost, "SUBMITTED"), (lost, "SUCCEEDED")]
        assert emulator.dropped_events[1]["detail-type"] == "VoiceId Batch Fraudster Registration Action"
        assert emulator.admin.state()["droppedEvents"] == 2
        # Losing the events does not change the job itself.
        job = env.client.describe_fraudster_registration_job(DomainId=domain_id, JobId=lost)["Job"]
        assert job["JobStatus"] == "COMPLETED"

        emulator.admin.set_event_loss(0)
        delivered = run_fraudster_job(env, domain_id, seed=2)
        assert keys(received) == [(delivered, "SUBMITTED"), (delivered, "SUCCEEDED")]
        assert keys(emulator.events) == keys(received)
        assert emulator.admin.state()["droppedEvents"] == 2
        assert len(emulator.dropped_events) == 2


def test_event_loss_over_http_stops_put_events_and_reset_restores_it(moto_endpoint: str) -> None:
    bus = RecordingEventBridge()
    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint,
        throttling=False,
        pacing=Pacing.manual_steps(),
        events_client=cast("EventBridgeClient", bus),
    ) as emulator:
        env = make_env(moto_endpoint, emulator)
        admin = emulator.endpoint_url + "/_voiceid/admin"
        domain_id = env.create_domain()

        response = requests.post(admin + "/event-loss", json={"fraction": 1.0}, timeout=10)
        assert response.status_code == 200
        assert response.json()["eventLossFraction"] == 1.0
        lost = run_fraudster_job(env, domain_id, seed=1)
        assert bus.entries == []
        assert requests.get(admin + "/events", timeout=10).json() == {"events": []}
        dropped = requests.get(admin + "/dropped-events", timeout=10).json()["droppedEvents"]
        assert keys(dropped) == [(lost, "SUBMITTED"), (lost, "SUCCEEDED")]
        assert requests.get(admin + "/state", timeout=10).json()["droppedEvents"] == 2

        state = requests.post(admin + "/event-loss", json={"fraction": 0}, timeout=10).json()
        assert state["eventLossFraction"] == 0.0
        restored = run_fraudster_job(env, domain_id, seed=2)
        assert bus.delivered() == [(restored, "SUBMITTED"), (restored, "SUCCEEDED")]

        requests.post(admin + "/event-loss", json={"fraction": 1}, timeout=10)
        state = requests.post(admin + "/reset", timeout=10).json()
        assert state["eventLossFraction"] == 0.0
        after_reset = run_fraudster_job(env, domain_id, seed=3)
        assert bus.delivered()[2:] == [(after_reset, "SUBMITTED"), (after_reset, "SUCCEEDED")]
        assert state["droppedEvents"] == 2  # the record of what was lost survives a reset, like `events`


SEED = 3
# Six publishes (three jobs, SUBMITTED + SUCCEEDED each); random.Random(3) draws below 0.5 at these positions.
EXPECTED_DROPS = [True, False, True, False, False, True]


def run_three_jobs(emulator: VoiceIdEmulator, moto_endpoint: str) -> list[tuple[str, str]]:
    env = make_env(moto_endpoint, emulator)
    domain_id = env.create_domain()
    job_ids = [run_fraudster_job(env, domain_id, seed=i) for i in range(3)]
    return [(job_id, status) for job_id in job_ids for status in ("SUBMITTED", "SUCCEEDED")]


def test_partial_event_loss_with_a_seeded_random_source_drops_a_deterministic_subset(moto_endpoint: str) -> None:
    reference = random.Random(SEED)
    assert [reference.random() < 0.5 for _ in range(6)] == EXPECTED_DROPS  # some dropped, some not

    # Seeded through the constructor (an injected random source) ...
    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint,
        throttling=False,
        pacing=Pacing.manual_steps(),
        event_loss_random=random.Random(SEED),
    ) as emulator:
        emulator.admin.set_event_loss(0.5)
        published = run_three_jobs(emulator, moto_endpoint)
        injected = (keys(emulator.dropped_events), keys(emulator.events))
        assert emulator.admin.state()["droppedEvents"] == sum(EXPECTED_DROPS)
    assert injected[0] == [key for key, drop in zip(published, EXPECTED_DROPS, strict=True) if drop]
    assert injected[1] == [key for key, drop in zip(published, EXPECTED_DROPS, strict=True) if not drop]

    # ... and through the admin HTTP API: the same positions are dropped.
    with VoiceIdEmulator(s3_endpoint_url=moto_endpoint, throttling=False, pacing=Pacing.manual_steps()) as emulator:
        response = requests.post(
            emulator.endpoint_url + "/_voiceid/admin/event-loss", json={"fraction": 0.5, "seed": SEED}, timeout=10
        )
        assert response.status_code == 200
        published = run_three_jobs(emulator, moto_endpoint)
        dropped = keys(emulator.dropped_events)
    assert [key in dropped for key in published] == EXPECTED_DROPS


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"fraction": 1.5}, "fraction must be from 0 to 1, got 1.5"),
        ({"fraction": -0.1}, "fraction must be from 0 to 1"),
        ({"fraction": "half"}, "fraction must be a number"),
        ({"fraction": True}, "fraction must be a number"),
        ({"fraction": None}, "fraction must be a number"),
        ({}, "fraction is required"),
        ({"fraction": 0.5, "seed": "x"}, "seed must be an integer"),
    ],
)
def test_bad_event_loss_bodies_are_400_and_change_nothing(env: Env, body: dict[str, Any], fragment: str) -> None:
    admin = env.emulator.endpoint_url + "/_voiceid/admin"
    requests.post(admin + "/event-loss", json={"fraction": 0.25}, timeout=10)
    response = requests.post(admin + "/event-loss", json=body, timeout=10)
    assert response.status_code == 400
    assert fragment in response.json()["message"]
    assert env.emulator.admin.state()["eventLossFraction"] == 0.25


@pytest.mark.parametrize("fraction", [1.5, -0.1, 1.0000001, math.nan, math.inf, "0.5", True, None])
def test_bad_event_loss_fractions_raise_value_error(env: Env, fraction: Any) -> None:
    with pytest.raises(ValueError, match="fraction must be"):
        env.emulator.admin.set_event_loss(fraction)
    assert env.emulator.admin.state()["eventLossFraction"] == 0.0


def test_fault_controller_event_loss_extremes_and_reset() -> None:
    faults = FaultController(random_source=random.Random(SEED))
    assert not any(faults.should_drop_event() for _ in range(1000))  # default: nothing lost
    faults.set_event_loss(1.0)
    assert all(faults.should_drop_event() for _ in range(1000))
    faults.set_event_loss(0.0)
    assert not any(faults.should_drop_event() for _ in range(1000))
    # 0 and 1 do not consume the random source, so a partial fraction starts from the injected seed.
    faults.set_event_loss(0.5)
    assert [faults.should_drop_event() for _ in range(6)] == EXPECTED_DROPS
    faults.reset()
    assert faults.event_loss_fraction == 0.0
    assert not any(faults.should_drop_event() for _ in range(1000))


# --- backdating ---------------------------------------------------------------------------------------------


def test_backdating_a_finished_fraudster_job_shifts_created_and_ended_in_describe_and_list(
    clocked: tuple[Env, ManualClock],
) -> None:
    env, clock = clocked
    domain_id = env.create_domain()
    started = clock.now()
    uri = env.put_audio("audio/f.wav", make_wav(3, seed=1))
    manifest = env.put_manifest(fraudster_manifest([("r1", [uri])]))
    job_id = env.client.start_fraudster_registration_job(**env.job_args(domain_id, manifest))["Job"]["JobId"]
    clock.advance(120)
    env.emulator.run_until_done(job_id)
    other = run_fraudster_job(env, domain_id, seed=2)  # created and ended at started + 120

    env.emulator.admin.backdate_job(job_id, EIGHT_DAYS)

    described = env.client.describe_fraudster_registration_job(DomainId=domain_id, JobId=job_id)["Job"]
    assert described["CreatedAt"].timestamp() == started - EIGHT_DAYS
    assert described["EndedAt"].timestamp() == started + 120 - EIGHT_DAYS
    summaries = {s["JobId"]: s for s in env.client.list_fraudster_registration_jobs(DomainId=domain_id)["JobSummaries"]}
    assert summaries[job_id]["CreatedAt"].timestamp() == started - EIGHT_DAYS
    assert summaries[job_id]["EndedAt"].timestamp() == started + 120 - EIGHT_DAYS
    assert summaries[other]["CreatedAt"].timestamp() == started + 120  # only the named job moves
    assert list(summaries) == [job_id, other]  # listing order stays the order jobs were started in

    env.emulator.admin.backdate_job(job_id, 60)  # cumulative
    assert env.emulator.job(job_id).created_at == started - EIGHT_DAYS - 60


def test_backdating_an_active_speaker_job_over_http(clocked: tuple[Env, ManualClock]) -> None:
    env, clock = clocked
    domain_id = env.create_domain()
    started = clock.now()
    job_id = start_speaker_job(env, domain_id)
    response = requests.post(
        f"{env.emulator.endpoint_url}/_voiceid/admin/jobs/{job_id}/backdate", json={"seconds": EIGHT_DAYS}, timeout=10
    )
    assert response.status_code == 200
    assert response.json() == {"jobId": job_id, "createdAt": started - EIGHT_DAYS, "endedAt": None}

    described = env.client.describe_speaker_enrollment_job(DomainId=domain_id, JobId=job_id)["Job"]
    assert described["JobStatus"] == "SUBMITTED"
    assert described["CreatedAt"].timestamp() == started - EIGHT_DAYS
    assert "EndedAt" not in described
    (summary,) = env.client.list_speaker_enrollment_jobs(DomainId=domain_id)["JobSummaries"]
    assert summary["CreatedAt"].timestamp() == started - EIGHT_DAYS

    clock.advance(30)
    env.emulator.run_until_done(job_id)
    finished = env.client.describe_speaker_enrollment_job(DomainId=domain_id, JobId=job_id)["Job"]
    assert finished["JobStatus"] == "COMPLETED"
    assert finished["CreatedAt"].timestamp() == started - EIGHT_DAYS
    assert finished["EndedAt"].timestamp() == started + 30  # a job backdated while active ends "now"


def test_backdate_rejects_unknown_jobs_and_bad_seconds(clocked: tuple[Env, ManualClock]) -> None:
    env, clock = clocked
    domain_id = env.create_domain()
    job_id = start_speaker_job(env, domain_id)
    admin = env.emulator.endpoint_url + "/_voiceid/admin"

    unknown = requests.post(f"{admin}/jobs/{UNKNOWN_JOB}/backdate", json={"seconds": 60}, timeout=10)
    assert unknown.status_code == 404 and UNKNOWN_JOB in unknown.json()["message"]
    for body, fragment in [
        ({"seconds": -1}, "seconds must be >= 0"),
        ({"seconds": "a week"}, "seconds must be a finite number"),
        ({}, "seconds is required"),
    ]:
        response = requests.post(f"{admin}/jobs/{job_id}/backdate", json=body, timeout=10)
        assert response.status_code == 400, body
        assert fragment in response.json()["message"]

    with pytest.raises(KeyError, match=UNKNOWN_JOB):
        env.emulator.admin.backdate_job(UNKNOWN_JOB, 60)
    for bad in (-0.5, math.nan, math.inf):
        with pytest.raises(ValueError, match="seconds must be"):
            env.emulator.admin.backdate_job(job_id, bad)
    assert env.emulator.job(job_id).created_at == clock.now()  # nothing moved
