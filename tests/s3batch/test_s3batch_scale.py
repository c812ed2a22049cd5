"""Scale runs: with simulated tasks (pacing `simulate_tasks`) a big job keeps exact counts, its failure
threshold and a complete report; the benchmark (benchmarks/bench_s3batch_job.py) times the million-task one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from s3batch_emulator import Pacing, S3BatchEmulator
from s3batch_emulator.testing import TAGGING, Env, csv_manifest, make_env, put_manifest

TASKS = 30_000


@pytest.fixture
def simulated(moto_endpoint: str) -> Iterator[Env]:
    with S3BatchEmulator(s3_endpoint_url=moto_endpoint, pacing=Pacing.instant(simulate_tasks=True)) as emulator:
        yield make_env(moto_endpoint, emulator)


def _manifest(env: Env, count: int) -> dict[str, object]:
    body = csv_manifest((env.input_bucket, f"objects/k{index:06d}") for index in range(count))
    return put_manifest(env.s3, env.input_bucket, "big.csv", body)


def test_a_big_simulated_job_counts_every_task_and_reports_each_once(simulated: Env) -> None:
    simulated.emulator.admin.set_task_failures(
        {"fraction": 0.01, "seed": 5, "failure": {"errorCode": "SlowDown", "httpStatus": 503}}
    )
    job_id = simulated.create(_manifest(simulated, TASKS), TAGGING)
    assert simulated.emulator.wait_for_job(job_id, timeout=300) == "Complete"
    summary = simulated.describe(job_id)["ProgressSummary"]
    assert summary["TotalNumberOfTasks"] == TASKS
    assert summary["NumberOfTasksSucceeded"] + summary["NumberOfTasksFailed"] == TASKS
    assert 0 < summary["NumberOfTasksFailed"] < TASKS // 50
    report = simulated.read_report(job_id)
    assert report is not None
    keys = [row[1] for row in report.rows()]
    assert len(keys) == len(set(keys)) == TASKS
    assert len(report.rows("failed")) == summary["NumberOfTasksFailed"]
    # Simulated tasks never touch the objects (none of them even exists).
    assert "Contents" not in simulated.s3.list_objects_v2(Bucket=simulated.input_bucket, Prefix="objects/")


def test_the_failure_threshold_holds_in_simulated_runs(simulated: Env) -> None:
    simulated.emulator.admin.set_task_failures({"fraction": 0.9, "seed": 2, "failure": {"errorCode": "SlowDown"}})
    job_id = simulated.create(_manifest(simulated, 5_000), TAGGING)
    assert simulated.emulator.wait_for_job(job_id, timeout=300) == "Failed"
    summary = simulated.describe(job_id)["ProgressSummary"]
    assert summary["NumberOfTasksSucceeded"] + summary["NumberOfTasksFailed"] == 1_000
