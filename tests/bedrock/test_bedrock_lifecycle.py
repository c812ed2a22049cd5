"""Every one of the ten statuses reached, with the counts, times and message Get shows on the way."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from bedrock_emulator import ALL_STATUSES, ManualClock
from bedrock_emulator.testing import Env, claude_input, records


def get(env: Env, arn: str) -> dict[str, Any]:
    return dict(env.client.get_model_invocation_job(jobIdentifier=arn))


def counts(job: dict[str, Any]) -> tuple[int, int, int, int]:
    return (
        job["totalRecordCount"],
        job["processedRecordCount"],
        job["successRecordCount"],
        job["errorRecordCount"],
    )


def test_a_job_walks_every_running_status_with_counts_moving(env: Env, clock: ManualClock) -> None:
    lines = records(3)
    lines[1]["modelInput"] = {"messages": "not a list"}
    arn = env.create(env.put_input("in/a.jsonl", lines))
    seen = []
    modified = []
    while True:
        job = get(env, arn)
        seen.append((job["status"], counts(job)))
        modified.append(job["lastModifiedTime"])
        clock.advance(1)
        if not env.emulator.step_job(arn):
            break
    assert seen == [
        ("Submitted", (0, 0, 0, 0)),
        ("Validating", (0, 0, 0, 0)),
        ("Scheduled", (3, 0, 0, 0)),
        ("InProgress", (3, 0, 0, 0)),
        ("InProgress", (3, 1, 1, 0)),
        ("InProgress", (3, 2, 1, 1)),
        ("Completed", (3, 3, 2, 1)),
    ]
    assert modified == sorted(modified) and len(set(modified)) == len(modified)
    ended = get(env, arn)
    assert ended["endTime"] == ended["lastModifiedTime"]
    assert "message" not in ended
    assert [event["detail"]["status"] for event in env.emulator.events] == [
        "Submitted",
        "Validating",
        "Scheduled",
        "InProgress",
        "Completed",
    ]


def test_a_stopped_job_goes_through_stopping_and_keeps_what_it_processed(env: Env) -> None:
    arn = env.create(env.put_input("in/a.jsonl", records(5)))
    for _ in range(6):  # Validating, Scheduled, InProgress, 3 records
        env.emulator.step_job(arn)
    assert counts(get(env, arn)) == (5, 3, 3, 0)
    env.client.stop_model_invocation_job(jobIdentifier=arn)
    assert get(env, arn)["status"] == "Stopping"
    env.emulator.step_job(arn)
    job = get(env, arn)
    assert job["status"] == "Stopped"
    assert counts(job) == (5, 3, 3, 0)
    assert sorted(line["recordId"] for line in env.read_output(arn, "a.jsonl.out")) == [
        "rec00000",
        "rec00001",
        "rec00002",
    ]
    assert env.read_output(arn, "manifest.json.out")[0]["processedRecordCount"] == 3


def test_a_job_not_started_within_its_timeout_expires(env: Env, clock: ManualClock) -> None:
    arn = env.create(env.put_input("in/a.jsonl", records(2)), timeoutDurationInHours=24)
    env.emulator.step_job(arn)
    env.emulator.step_job(arn)
    assert get(env, arn)["status"] == "Scheduled"
    clock.advance(24 * 3600)
    env.emulator.step_job(arn)
    job = get(env, arn)
    assert job["status"] == "Expired"
    assert job["endTime"] == job["jobExpirationTime"]
    assert "timed out" in job["message"]
    assert counts(job) == (2, 0, 0, 0)
    assert env.output_keys(arn) == ["manifest.json.out"]


def test_a_job_that_runs_out_of_time_mid_way_is_partially_completed(env: Env, clock: ManualClock) -> None:
    arn = env.create(env.put_input("in/a.jsonl", records(4)), timeoutDurationInHours=48)
    for _ in range(4):  # Validating, Scheduled, InProgress, one record
        env.emulator.step_job(arn)
    clock.advance(48 * 3600 + 1)
    env.emulator.step_job(arn)
    job = get(env, arn)
    assert job["status"] == "PartiallyCompleted"
    assert counts(job) == (4, 1, 1, 0)
    assert [line["recordId"] for line in env.read_output(arn, "a.jsonl.out")] == ["rec00000"]


def test_counted_from_its_start_a_job_runs_a_whole_timeout_after_queueing_most_of_one(
    env: Env, clock: ManualClock
) -> None:
    env.emulator.admin.count_timeout_from("start")
    arn = env.create(env.put_input("in/a.jsonl", records(2)), timeoutDurationInHours=24)
    for _ in range(2):  # Validating, Scheduled
        env.emulator.step_job(arn)
    queued = get(env, arn)
    assert queued["jobExpirationTime"] == queued["submitTime"] + timedelta(hours=24)  # until it starts
    clock.advance(23 * 3600)
    env.emulator.step_job(arn)
    started = get(env, arn)
    assert started["status"] == "InProgress"
    assert started["jobExpirationTime"] == started["lastModifiedTime"] + timedelta(hours=24)
    for _ in range(2):  # a record 11 hours after the start, the next 22 hours after it: 45 hours after submission
        clock.advance(11 * 3600)
        env.emulator.step_job(arn)
    job = get(env, arn)
    assert job["status"] == "Completed"
    assert counts(job) == (2, 2, 2, 0)
    assert job["endTime"] - job["submitTime"] == timedelta(hours=45)


def test_counted_from_its_start_the_timeout_still_bounds_the_queue_and_the_run(env: Env, clock: ManualClock) -> None:
    env.emulator.admin.count_timeout_from("start")
    never_started = env.create(env.put_input("in/a.jsonl", records(2)), timeoutDurationInHours=24)
    for _ in range(2):  # Validating, Scheduled
        env.emulator.step_job(never_started)
    clock.advance(24 * 3600)
    env.emulator.step_job(never_started)
    expired = get(env, never_started)
    assert expired["status"] == "Expired"
    assert expired["endTime"] == expired["submitTime"] + timedelta(hours=24)

    running = env.create(env.put_input("in/b.jsonl", records(3)), timeoutDurationInHours=24)
    for _ in range(3):  # Validating, Scheduled, InProgress
        env.emulator.step_job(running)
    clock.advance(12 * 3600)
    env.emulator.step_job(running)  # one record
    clock.advance(12 * 3600)  # 24 hours after the start
    env.emulator.step_job(running)
    job = get(env, running)
    assert job["status"] == "PartiallyCompleted"
    assert counts(job) == (3, 1, 1, 0)


def test_a_job_keeps_the_timeout_counting_it_was_created_with(env: Env, clock: ManualClock) -> None:
    from_submission = env.create(env.put_input("in/a.jsonl", records(1)), timeoutDurationInHours=24)
    env.emulator.admin.count_timeout_from("start")
    from_start = env.create(env.put_input("in/b.jsonl", records(1)), timeoutDurationInHours=24)
    for arn in (from_submission, from_start):
        for _ in range(2):  # Validating, Scheduled
            env.emulator.step_job(arn)
    clock.advance(23 * 3600)
    for arn in (from_submission, from_start):
        env.emulator.step_job(arn)  # InProgress
    clock.advance(2 * 3600)
    for arn in (from_submission, from_start):
        env.emulator.step_job(arn)
    assert (get(env, from_submission)["status"], get(env, from_start)["status"]) == ("PartiallyCompleted", "Completed")
    with pytest.raises(ValueError, match="countedFrom must be one of submission, start, got 'end'"):
        env.emulator.admin.count_timeout_from("end")


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (b"not json\n", "not valid JSON"),
        (b'{"recordId": "a"}\n', "modelInput"),
        (b'{"recordId": 7, "modelInput": {}}\n', "recordId"),
    ],
)
def test_input_that_is_not_jsonl_records_fails_the_job_at_validation(env: Env, lines: bytes, expected: str) -> None:
    arn = env.create(env.put_input("in/a.jsonl", lines))
    env.emulator.run_until_done(arn)
    job = get(env, arn)
    assert job["status"] == "Failed"
    assert expected in job["message"] and "line 1 of" in job["message"]
    assert env.output_keys(arn) == []
    assert env.emulator.events[-1]["detail"]["failureMessage"] == job["message"]


@pytest.mark.parametrize("where", ["missing-prefix/", "empty/", "in/not-there.jsonl"])
def test_input_that_cannot_be_read_fails_the_job(env: Env, where: str) -> None:
    env.s3.put_object(Bucket=env.input_bucket, Key="empty/readme.txt", Body=b"no jsonl here")
    arn = env.create(f"s3://{env.input_bucket}/{where}")
    env.emulator.run_until_done(arn)
    job = get(env, arn)
    assert job["status"] == "Failed"
    assert where.rstrip("/") in job["message"]


def test_a_missing_input_bucket_fails_the_job(env: Env) -> None:
    arn = env.create("s3://no-such-bucket-for-bedrock/in/")
    env.emulator.run_until_done(arn)
    job = get(env, arn)
    assert job["status"] == "Failed"
    assert "NoSuchBucket" in job["message"]


def test_records_outside_the_models_quota_fail_the_job(env: Env) -> None:
    env.emulator.admin.set_quota(min_records_per_job=3, max_records_per_job=4)
    too_few = env.create(env.put_input("few/a.jsonl", records(2)))
    too_many = env.create(env.put_input("many/a.jsonl", records(5)))
    fits = env.create(env.put_input("fits/a.jsonl", records(3)))
    env.emulator.run_until_done()
    assert get(env, too_few)["status"] == "Failed" and "at least 3" in get(env, too_few)["message"]
    assert get(env, too_many)["status"] == "Failed" and "at most 4" in get(env, too_many)["message"]
    assert get(env, fits)["status"] == "Completed"


def test_the_default_quotas_are_100_to_50000_records(moto_endpoint: str) -> None:
    from bedrock_emulator import BedrockEmulator, Pacing
    from bedrock_emulator.testing import make_env

    with BedrockEmulator(s3_endpoint_url=moto_endpoint, pacing=Pacing.manual_steps()) as emulator:
        env = make_env(moto_endpoint, emulator)
        assert emulator.admin.state()["quotas"]["default"] == {
            "minRecordsPerJob": 100,
            "maxRecordsPerJob": 50_000,
            "maxUnfinishedJobs": 10,
        }
        arn = env.create(env.put_input("in/a.jsonl", records(99)))
        env.emulator.run_until_done(arn)
        assert "at least 100" in get(env, arn)["message"]


@pytest.mark.parametrize(
    ("path", "status", "after", "output"),
    [
        ("fail", "Failed", 2, False),
        ("expire", "Expired", 2, True),
        ("partially-complete", "PartiallyCompleted", 3, True),
        ("fail", "Failed", 0, False),
    ],
)
def test_forced_outcomes_after_n_records(env: Env, path: str, status: str, after: int, output: bool) -> None:
    processed = after
    arn = env.create(env.put_input("in/a.jsonl", records(5)))
    admin = f"{env.emulator.endpoint_url}/_bedrock/admin/jobs/{arn.rsplit('/', 1)[1]}/{path}"
    import requests

    response = requests.post(admin, json={"afterRecords": after, "message": "forced in a test"}, timeout=10)
    assert response.status_code == 200, response.text
    env.emulator.run_until_done(arn)
    job = get(env, arn)
    assert job["status"] == status
    assert job["processedRecordCount"] == processed
    if status != "PartiallyCompleted":
        assert job["message"] == "forced in a test"
    if output and processed:
        assert len(env.read_output(arn, "a.jsonl.out")) == processed
    assert ("manifest.json.out" in env.output_keys(arn)) is output


def test_every_status_is_reached(env: Env, clock: ManualClock) -> None:
    """The ten statuses of the model's enum, each seen through Get on one job or another."""
    seen: set[str] = set()

    def watch(arn: str) -> None:
        while True:
            seen.add(get(env, arn)["status"])
            if not env.emulator.step_job(arn):
                return

    watch(env.create(env.put_input("ok/a.jsonl", records(1))))
    watch(env.create(env.put_input("bad/a.jsonl", b"oops\n")))
    stopped = env.create(env.put_input("ok/a.jsonl", records(1)))
    env.client.stop_model_invocation_job(jobIdentifier=stopped)
    watch(stopped)
    partial = env.create(env.put_input("ok/a.jsonl", records(1)))
    env.emulator.admin.force_outcome(partial, "PartiallyCompleted")
    watch(partial)
    expired = env.create(env.put_input("ok/a.jsonl", [{"modelInput": claude_input("hi")}]), timeoutDurationInHours=24)
    clock.advance(86_400)
    watch(expired)
    assert seen == set(ALL_STATUSES)


def test_input_over_the_size_limits_fails_the_job(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from bedrock_emulator import jobs

    uri = env.put_input("sized/a.jsonl", records(3))
    size = env.s3.head_object(Bucket=env.input_bucket, Key="sized/a.jsonl")["ContentLength"]
    monkeypatch.setattr(jobs, "MAX_FILE_BYTES", size - 1)  # the real limits (1 GB, 5 GB) are too big for a test
    over_file = env.create(uri)
    env.emulator.run_until_done(over_file)
    assert f"{uri} is {size} bytes" in get(env, over_file)["message"]
    monkeypatch.setattr(jobs, "MAX_FILE_BYTES", size)
    monkeypatch.setattr(jobs, "MAX_JOB_BYTES", 2 * size - 1)
    env.put_input("sized/b.jsonl", records(3))
    over_job = env.create(f"s3://{env.input_bucket}/sized/")
    env.emulator.run_until_done(over_job)
    assert f"is {2 * size} bytes; a job takes at most" in get(env, over_job)["message"]


def test_a_stop_while_the_worker_runs_records_ends_stopped(moto_endpoint: str) -> None:
    """The stop lands between two steps of the background worker, never overwritten by the step under way."""
    from bedrock_emulator import BedrockEmulator, Pacing
    from bedrock_emulator.testing import make_env

    with BedrockEmulator(s3_endpoint_url=moto_endpoint, pacing=Pacing.real_time(0, 100)) as emulator:
        env = make_env(moto_endpoint, emulator)
        arn = env.create(env.put_input("in/a.jsonl", records(2_000)))
        for _ in range(3_000):  # until the worker has answered some records (a guard, not a timing)
            if get(env, arn)["processedRecordCount"] > 0:
                break
            time.sleep(0.01)
        env.client.stop_model_invocation_job(jobIdentifier=arn)
        assert emulator.wait_for_job(arn, timeout=60) == "Stopped"
        job = get(env, arn)
        assert 0 < job["processedRecordCount"] < 2_000
        assert len(env.read_output(arn, "a.jsonl.out")) == job["processedRecordCount"]
