"""The job lifecycle: every one of the thirteen statuses reached through the API and the documented causes,
ProgressSummary moving as tasks run, manifest errors failing a job before any task."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from s3batch_emulator import ALL_STATUSES, ManualClock
from s3batch_emulator.jobs import run_order
from s3batch_emulator.store import Task
from s3batch_emulator.testing import TAGGING, Env, put_inventory, put_manifest


def _statuses(env: Env, job_id: str) -> list[str]:
    return [
        event["detail"]["serviceEventDetails"]["status"]
        for event in env.emulator.events
        if event["detail"]["serviceEventDetails"]["jobId"] == job_id
    ]


def test_a_confirmed_job_goes_through_suspended_and_progress_moves_task_by_task(env: Env) -> None:
    keys = env.put_objects([f"k{index}" for index in range(3)])
    job_id = env.create(env.manifest_of(keys), TAGGING, ConfirmationRequired=True)
    seen = [env.describe(job_id)["Status"]]
    for _ in range(2):
        env.emulator.step_job(job_id)
        seen.append(env.describe(job_id)["Status"])
    assert seen == ["New", "Preparing", "Suspended"]
    job = env.describe(job_id)
    assert job["SuspendedCause"] and job["SuspendedDate"] and job["ConfirmationRequired"] is True
    assert env.emulator.step_job(job_id) is False  # it waits for confirmation
    answer = env.client.update_job_status(
        AccountId=env.account_id, JobId=job_id, RequestedJobStatus="Ready", StatusUpdateReason="checked"
    )
    assert (answer["Status"], answer["StatusUpdateReason"]) == ("Ready", "checked")
    env.emulator.step_job(job_id)
    assert env.describe(job_id)["Status"] == "Active"
    progress = []
    for _ in range(3):
        env.emulator.step_job(job_id)
        summary = env.describe(job_id)["ProgressSummary"]
        progress.append((summary["NumberOfTasksSucceeded"], summary["TotalNumberOfTasks"]))
    assert progress == [(1, 3), (2, 3), (3, 3)]
    env.emulator.run_until_done(job_id)
    assert _statuses(env, job_id) == ["New", "Preparing", "Suspended", "Ready", "Active", "Completing", "Complete"]
    job = env.describe(job_id)
    assert job["TerminationDate"] >= job["CreationTime"]
    with pytest.raises(ClientError) as raised:  # never Suspended again, and an ended job cannot be confirmed
        env.client.update_job_status(AccountId=env.account_id, JobId=job_id, RequestedJobStatus="Ready")
    assert raised.value.response["Error"]["Code"] == "JobStatusException"


def test_cancelling_a_suspended_job_cancels_it_at_once_and_a_running_one_through_cancelling(env: Env) -> None:
    keys = env.put_objects(["a", "b", "c"])
    waiting = env.create(env.manifest_of(keys), TAGGING, ConfirmationRequired=True)
    env.emulator.run_until_done(waiting)
    answer = env.client.update_job_status(AccountId=env.account_id, JobId=waiting, RequestedJobStatus="Cancelled")
    assert answer["Status"] == "Cancelled"
    assert env.read_report(waiting) is None  # no task ran: no report

    running = env.create(env.manifest_of(keys), TAGGING)
    for _ in range(4):  # New, Preparing, Ready, Active, then one task
        env.emulator.step_job(running)
    answer = env.client.update_job_status(AccountId=env.account_id, JobId=running, RequestedJobStatus="Cancelled")
    assert answer["Status"] == "Cancelling"
    env.emulator.run_until_done(running)
    job = env.describe(running)
    assert job["Status"] == "Cancelled" and job["ProgressSummary"]["NumberOfTasksSucceeded"] == 1
    report = env.read_report(running)
    assert report is not None
    [row] = report.rows()  # the one task that ran, and only it touched its object
    tagged = [key for key in keys if env.s3.get_object_tagging(Bucket=env.input_bucket, Key=key)["TagSet"]]
    assert tagged == [row[1]]
    assert "Cancelling" in _statuses(env, running)


def test_more_than_half_failed_after_1000_tasks_fails_the_job_through_failing(env: Env) -> None:
    keys = [f"obj{index:04d}" for index in range(1200)]
    # Every task fails (forced, without touching S3): the threshold trips at the 1,000th.
    env.emulator.admin.set_task_failures({"fraction": 1.0, "failure": {"errorCode": "SlowDown", "httpStatus": 503}})
    job_id = env.create(env.manifest_of(keys), TAGGING)
    env.emulator.run_until_done(job_id)
    job = env.describe(job_id)
    assert job["Status"] == "Failed"
    summary = job["ProgressSummary"]
    ran = summary["NumberOfTasksSucceeded"] + summary["NumberOfTasksFailed"]
    assert (ran, summary["NumberOfTasksFailed"], summary["TotalNumberOfTasks"]) == (1000, 1000, 1200)
    assert job["FailureReasons"] == [
        {
            "FailureCode": "TaskFailureThresholdExceeded",
            "FailureReason": "More than 50% of the job's tasks failed after at least 1,000 tasks ran",
        }
    ]
    assert _statuses(env, job_id)[-2:] == ["Failing", "Failed"]
    report = env.read_report(job_id)  # tasks ran: a report
    assert report is not None and len(report.rows()) == ran
    assert {row[4:6] for row in map(tuple, report.rows("failed"))} == {("503", "SlowDown")}


@pytest.mark.parametrize(
    ("spoil", "code"),
    [
        ("etag", "ManifestETagMismatch"),
        ("missing", "NoSuchKey"),
        ("content", "InvalidManifestContent"),
    ],
)
def test_a_manifest_error_fails_the_job_before_any_task(env: Env, spoil: str, code: str) -> None:
    manifest = env.manifest_of(env.put_objects(["x"]))
    if spoil == "etag":
        manifest["Location"]["ETag"] = "0" * 32
    elif spoil == "missing":
        manifest["Location"]["ObjectArn"] += ".gone"
    else:
        manifest = put_manifest(env.s3, env.input_bucket, "bad.csv", b"just-one-field\n")
    job_id = env.create(manifest, TAGGING)
    env.emulator.run_until_done(job_id)
    job = env.describe(job_id)
    assert job["Status"] == "Failed"
    assert job["ProgressSummary"]["TotalNumberOfTasks"] == 0
    assert [reason["FailureCode"] for reason in job["FailureReasons"]] == [code]
    assert env.read_report(job_id) is None
    assert _statuses(env, job_id) == ["New", "Preparing", "Failed"]


def test_a_higher_priority_job_pauses_a_lower_one_when_the_slots_are_full(env: Env) -> None:
    env.emulator.admin.set_quotas(max_active_jobs=1)
    keys = env.put_objects(["p", "q"])
    low = env.create(env.manifest_of(keys), TAGGING, Priority=1)
    for _ in range(3):
        env.emulator.step_job(low)
    assert env.describe(low)["Status"] == "Active"
    high = env.create(env.manifest_of(keys), TAGGING, Priority=50)
    for _ in range(3):  # New, Preparing, Ready -> it pauses the lower one
        env.emulator.step_job(high)
    assert env.describe(low)["Status"] == "Pausing"
    env.emulator.step_job(low)
    assert env.describe(low)["Status"] == "Paused"
    env.emulator.step_job(high)
    assert env.describe(high)["Status"] == "Active"
    assert env.emulator.step_job(low) is False  # no slot while the higher one runs
    env.emulator.run_until_done(high)
    env.emulator.run_until_done(low)
    assert env.describe(low)["Status"] == "Complete"
    assert [status for status in _statuses(env, low) if status in ("Active", "Pausing", "Paused")] == [
        "Active",
        "Pausing",
        "Paused",
        "Active",
    ]


def test_every_status_is_reached(env: Env) -> None:
    """The union of the scenarios above covers the model's whole enum; here in one place, cheaply."""
    seen: set[str] = set()
    keys = env.put_objects(["s"])
    for extra in ({"ConfirmationRequired": True}, {}):
        job_id = env.create(env.manifest_of(keys), TAGGING, **extra)
        env.emulator.run_until_done(job_id)
        if env.describe(job_id)["Status"] == "Suspended":
            env.client.update_job_status(AccountId=env.account_id, JobId=job_id, RequestedJobStatus="Ready")
            env.emulator.run_until_done(job_id)
    bad = env.manifest_of(keys)
    bad["Location"]["ETag"] = "f" * 32
    env.emulator.run_until_done(env.create(bad, TAGGING))
    forced_fail = env.create(env.manifest_of(keys), TAGGING)
    env.emulator.admin.force_outcome(forced_fail, "Failed")
    env.emulator.run_until_done(forced_fail)
    forced_cancel = env.create(env.manifest_of(keys), TAGGING)
    env.emulator.admin.force_outcome(forced_cancel, "Cancelled")
    env.emulator.run_until_done(forced_cancel)
    env.emulator.admin.set_quotas(max_active_jobs=1)
    low = env.create(env.manifest_of(keys * 2), TAGGING, Priority=0)
    for _ in range(3):
        env.emulator.step_job(low)
    high = env.create(env.manifest_of(keys), TAGGING, Priority=9)
    for _ in range(3):  # New, Preparing, Ready: it pauses the lower one
        env.emulator.step_job(high)
    env.emulator.step_job(low)
    env.emulator.run_until_done(high)
    env.emulator.run_until_done(low)
    for event in env.emulator.events:
        seen.add(event["detail"]["serviceEventDetails"]["status"])
    assert seen == set(ALL_STATUSES)


def test_a_job_suspended_for_over_30_days_fails(env: Env, clock: ManualClock) -> None:
    job_id = env.create(env.manifest_of(env.put_objects(["z"])), TAGGING, ConfirmationRequired=True)
    env.emulator.run_until_done(job_id)
    clock.advance(31 * 86_400)
    env.emulator.run_until_done(job_id)
    job: dict[str, Any] = env.describe(job_id)
    assert job["Status"] == "Failed" and job["FailureReasons"][0]["FailureCode"] == "SuspendedTooLong"


def test_an_inventory_manifest_runs_its_objects(env: Env) -> None:
    keys = env.put_objects(["inv/one", "inv/two words"])
    manifest = put_inventory(env.s3, env.input_bucket, "inventory/src/config/2026-01-01T00-00Z", env.input_bucket, keys)
    job_id = env.create(manifest, TAGGING)
    env.emulator.run_until_done(job_id)
    assert env.describe(job_id)["ProgressSummary"]["NumberOfTasksSucceeded"] == 2
    assert env.s3.get_object_tagging(Bucket=env.input_bucket, Key="inv/two words")["TagSet"] == [
        {"Key": "batch", "Value": "done"}
    ]


def test_ended_jobs_are_gone_90_days_after_their_end(env: Env, clock: ManualClock) -> None:
    job_id = env.create(env.manifest_of(env.put_objects(["old"])), TAGGING)
    env.emulator.run_until_done(job_id)
    clock.advance(89 * 86_400)
    assert [job["JobId"] for job in env.client.list_jobs(AccountId=env.account_id)["Jobs"]] == [job_id]
    clock.advance(2 * 86_400)
    assert env.client.list_jobs(AccountId=env.account_id)["Jobs"] == []
    with pytest.raises(ClientError) as raised:
        env.describe(job_id)
    assert raised.value.response["Error"]["Code"] == "NotFoundException"


def test_python_m_s3batch_emulator_takes_its_settings_from_flags_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from s3batch_emulator.__main__ import parse_args

    monkeypatch.setenv("S3BATCH_TASKS_PER_SECOND", "7")
    monkeypatch.setenv("S3BATCH_LAMBDA_ENDPOINT_URL", "http://127.0.0.1:1")
    args = parse_args(["--port", "0", "--stage-seconds", "0.5"])
    assert (args.port, args.stage_seconds, args.tasks_per_second) == (0, 0.5, 7.0)
    assert args.lambda_endpoint_url == "http://127.0.0.1:1"


def test_tasks_run_in_an_order_of_their_own_fixed_for_the_job(env: Env) -> None:
    keys = env.put_objects([f"o{index}" for index in range(8)])
    job_id = env.create(env.manifest_of(keys), TAGGING)
    env.emulator.run_until_done(job_id)
    report = env.read_report(job_id)
    assert report is not None
    ran = [row[1] for row in report.rows()]
    assert sorted(ran) == keys and ran != keys  # every task once, not in the manifest's order
    tasks = [Task(env.input_bucket, key, key, None) for key in keys]
    assert [task.raw_key for task in run_order(job_id, tasks)] == ran
