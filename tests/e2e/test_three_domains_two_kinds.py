"""Three configured domains, each running a fraudster registration job and a speaker enrollment job at once,
under Voice ID's 2 TPS throttling: every job is recorded exactly once, with exact items."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_cloud.driver import (
    FRAUDSTER_REGISTRATION,
    SPEAKER_ENROLLMENT,
    AudioRequest,
    TrackedJob,
    TrackerDriver,
    recorded_by,
)
from tests.e2e.conftest import dedicated_local_cloud

DOMAINS = ["ThreeDomainsAAAAAAAAAA", "ThreeDomainsBBBBBBBBBB", "ThreeDomainsCCCCCCCCCC"]


@pytest.fixture(scope="module")
def three_domains(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackerDriver]:
    yield from dedicated_local_cloud(
        tmp_path_factory, "three", voiceIdDomainIds=DOMAINS, pollMinSeconds=1, pollMaxSeconds=2, sweepMinutes=60
    )


def requests_for(domain_index: int, kind: str) -> list[AudioRequest]:
    seed = 900_000 + domain_index * 100 + (50 if kind == SPEAKER_ENROLLMENT else 0)
    return [
        AudioRequest(f"{kind[:4].lower()}-good-{n}", seed=seed + n, speaker_id=f"speaker-{domain_index}-{n}")
        for n in range(3)
    ] + [AudioRequest(f"{kind[:4].lower()}-missing", missing=True, speaker_id=f"speaker-{domain_index}-x")]


def test_six_jobs_in_three_domains_are_each_recorded_once(three_domains: TrackerDriver) -> None:
    driver = three_domains
    assert driver.local.domain_ids == DOMAINS
    before = driver.local.voice_id.faults.throttled_requests
    jobs: list[TrackedJob] = []
    for index, domain_id in enumerate(DOMAINS):
        for kind in (FRAUDSTER_REGISTRATION, SPEAKER_ENROLLMENT):
            manifest = driver.upload_manifest(requests_for(index, kind), kind=kind)
            jobs.append(driver.start_job(domain_id, manifest, kind=kind))
    for job in jobs:
        executions = driver.wait_until_settled(job, expected_executions=2, deadline_seconds=180)
        assert len(recorded_by(executions)) == 1, (job, executions)
        assert all(e["status"] == "SUCCEEDED" for e in executions)
        summary = driver.items(job)["SUMMARY"]
        assert (summary["JobKind"], summary["DomainId"], summary["RecordState"]) == (
            job.kind,
            job.domain_id,
            "COMPLETE",
        )
        assert summary["FailedRequestCount"] == 1
        success = "RegisteredRequestCount" if job.kind == FRAUDSTER_REGISTRATION else "NewEnrollmentCount"
        assert summary[success] == 3
        prefix = job.kind[:4].lower()
        assert sorted(driver.failures(job)) == [f"{prefix}-missing"]
    # Six trackers and twelve events shared the account's 2 TPS; some calls were throttled and retried.
    assert driver.local.voice_id.faults.throttled_requests > before
