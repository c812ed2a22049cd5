"""The CLI's `watch` loop (scripted snapshots, a fake clock), how a job's kind is found when its items do
not name it, the tracker's execution input per kind, and the global options."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from rich.console import Console
from typer.testing import CliRunner

from batch_job_tracker_cli.app import Options, _record_kind, app
from batch_job_tracker_cli.errors import CliError
from batch_job_tracker_cli.executions import execution_input
from batch_job_tracker_cli.progress import DEFAULT_TIMEOUT_SECONDS, Snapshot, Watcher
from batch_job_tracker_cli.records import JobRecord
from batch_job_tracker_cli.shared import JOB_KINDS
from batch_job_tracker_cli.target import LOCAL_OUTPUTS_ENV, STACK_ENV, Target
from tests.unit.test_cli_commands import stopped_execution, tracker_state_machine

DOMAIN = "DomainAAAAAAAAAAAAAAAA"
JOB = "JobBBBBBBBBBBBBBBBBBBB"
FRAUDSTERS = JOB_KINDS["FRAUDSTER_REGISTRATION"]
SPEAKERS = JOB_KINDS["SPEAKER_ENROLLMENT"]


def snapshot(
    job_status: str | None = "IN_PROGRESS",
    lock: dict[str, Any] | None = None,
    summary: dict[str, Any] | None = None,
    percent: int = 50,
    holder: str | None = None,
) -> Snapshot:
    record = None if lock is None and summary is None else JobRecord(DOMAIN, JOB, summary=summary, lock=lock)
    return Snapshot(JOB, DOMAIN, SPEAKERS, job_status, percent, record, holder)


class ScriptedWatcher(Watcher):
    def __init__(self, snapshots: list[Snapshot], timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.now = 0.0
        self.rounds = 0
        super().__init__(
            # The commands it prints name the target as the operator named it (`--local` here).
            target=Target(description="local stack", outputs={}, session=None, global_options=("--local",)),  # type: ignore[arg-type]
            job_id=JOB,
            domain_id=DOMAIN,
            kind=SPEAKERS,
            interval=5.0,
            timeout=timeout,
            clock=lambda: self.now,
            sleep=self._sleep,
        )
        self.snapshots = iter(snapshots)

    def _sleep(self, seconds: float) -> None:
        self.now += seconds

    def snapshot(self) -> Snapshot:
        self.rounds += 1
        return next(self.snapshots)


def quiet() -> Console:
    return Console(file=io.StringIO(), force_terminal=False)


TRACKING = {"LockState": "TRACKING", "ExecutionArn": "arn:aws:states:us-east-1:1:execution:t:x"}
COMPLETE = {"RecordState": "COMPLETE", "JobKind": "SPEAKER_ENROLLMENT", "JobStatus": "COMPLETED_WITH_ERRORS"}


def test_watch_polls_every_interval_until_the_record_is_complete() -> None:
    done = {**COMPLETE, "FailedRequestCount": 3, "NewEnrollmentCount": 5, "OverwrittenEnrollmentCount": 1}
    watcher = ScriptedWatcher(
        [
            snapshot("SUBMITTED", percent=0),
            snapshot(lock=TRACKING),
            snapshot("COMPLETED_WITH_ERRORS", lock=TRACKING, summary={"RecordState": "RECORDING"}),
            snapshot("COMPLETED_WITH_ERRORS", lock={**TRACKING, "LockState": "RECORDED"}, summary=done, percent=100),
        ]
    )
    final = watcher.run(quiet())
    assert (watcher.rounds, watcher.now) == (4, 15.0)
    assert final.final_line() == (
        f"Job {JOB} recorded: COMPLETED_WITH_ERRORS, 3 failed request(s), new enrollment 5, overwritten enrollment 1"
    )


def test_watch_stops_with_the_record_problem_when_recording_failed() -> None:
    failed = {"RecordState": "FAILED", "RecordProblem": "AccessDenied: cannot read the .out"}
    watcher = ScriptedWatcher([snapshot(lock=TRACKING), snapshot("COMPLETED", lock=TRACKING, summary=failed)])
    with pytest.raises(CliError, match=f"recording job {JOB} failed: AccessDenied: cannot read the .out"):
        watcher.run(quiet())


def test_watch_stops_when_no_tracker_follows_the_ended_job() -> None:
    released = {"LockState": "RELEASED", "ReleasedAt": "2026-11-25T10:00:00+00:00"}
    watcher = ScriptedWatcher([snapshot("IN_PROGRESS", lock=released), snapshot("COMPLETED", lock=released)])
    with pytest.raises(
        CliError, match=r"no tracker is following job \w+: it ended COMPLETED and its lock was released"
    ):
        watcher.run(quiet())
    assert watcher.rounds == 2  # a released lock while the job runs is not the end: a new event may start one


def test_watch_ends_on_a_dead_holder_and_on_a_stuck_recording_summary() -> None:
    running = {**TRACKING, "WaitingSince": "2026-11-25T10:00:00+00:00"}
    watcher = ScriptedWatcher(
        [
            snapshot(lock=running, holder="RUNNING"),
            snapshot("COMPLETED", lock=TRACKING, summary={"RecordState": "RECORDING"}, holder="TIMED_OUT"),
            snapshot("COMPLETED", lock=TRACKING, summary={"RecordState": "RECORDING"}, holder="TIMED_OUT"),
        ]
    )
    with pytest.raises(CliError) as raised:
        watcher.run(quiet())
    assert watcher.rounds == 2
    assert str(raised.value) == (
        f"no tracker is following job {JOB}: the execution holding its lock (x) is TIMED_OUT and left the lock "
        f"TRACKING; `batch-job-tracker --local track {JOB} --domain {DOMAIN} --kind SPEAKER_ENROLLMENT` takes the "
        "lock over (the sweep also does at its next run)"
    )
    released = {"LockState": "RELEASED", "ReleasedAt": "2026-11-25T10:00:00+00:00"}
    stuck = ScriptedWatcher([snapshot("COMPLETED", lock=released, summary={"RecordState": "RECORDING"})] * 3)
    with pytest.raises(CliError, match=r"without a record \(its summary was left RECORDING\)"):
        stuck.run(quiet())
    assert stuck.rounds == 1


def test_watch_has_a_default_timeout_of_four_hours() -> None:
    watcher = ScriptedWatcher([snapshot(lock=TRACKING, holder="RUNNING")] * 5000)
    with pytest.raises(CliError, match=f"job {JOB} was not recorded within 14400 s"):
        watcher.run(quiet())
    assert watcher.now == 14400.0


def test_watch_gives_up_at_its_timeout() -> None:
    watcher = ScriptedWatcher([snapshot()] * 10, timeout=12)
    with pytest.raises(CliError, match=f"job {JOB} was not recorded within 12 s"):
        watcher.run(quiet())
    assert watcher.now == 15.0


def test_the_tracker_input_names_the_kind_only_when_it_is_not_the_default() -> None:
    assert execution_input(DOMAIN, JOB, FRAUDSTERS) == {"DomainId": DOMAIN, "JobId": JOB}
    assert execution_input(DOMAIN, JOB, SPEAKERS, rerecord=True) == {
        "DomainId": DOMAIN,
        "JobId": JOB,
        "JobKind": "SPEAKER_ENROLLMENT",
        "Rerecord": True,
    }


@pytest.fixture
def sfn_target() -> Iterator[Target]:
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        yield Target(description="stack Test", outputs={}, session=session)


def test_a_lock_without_a_kind_takes_its_holders_input(sfn_target: Target) -> None:
    sfn = sfn_target.stepfunctions()
    machine = tracker_state_machine(sfn)
    holder = sfn.start_execution(
        stateMachineArn=machine, input=json.dumps({"DomainId": DOMAIN, "JobId": JOB, "JobKind": "SPEAKER_ENROLLMENT"})
    )["executionArn"]
    lock_only = JobRecord(DOMAIN, JOB, summary=None, lock={"LockState": "TRACKING", "ExecutionArn": holder})
    assert _record_kind(sfn_target, lock_only) is SPEAKERS
    gone = JobRecord(DOMAIN, JOB, summary=None, lock={"ExecutionArn": f"{holder.rsplit(':', 1)[0]}:gone"})
    assert _record_kind(sfn_target, gone) is FRAUDSTERS
    named = JobRecord(DOMAIN, JOB, summary={"JobKind": "SPEAKER_ENROLLMENT"}, lock={"ExecutionArn": "x"})
    assert _record_kind(sfn_target, named) is SPEAKERS


def test_a_stack_from_the_environment_gives_way_to_local(tmp_path: Any) -> None:
    runner = CliRunner(env={STACK_ENV: "SomeStack", LOCAL_OUTPUTS_ENV: str(tmp_path / "none.json"), "COLUMNS": "200"})
    result = runner.invoke(app, ["--local", "jobs"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: no local cloud outputs at {tmp_path / 'none.json'}")
    both = runner.invoke(app, ["--stack", "Other", "--local", "jobs"])
    assert both.exit_code == 2
    assert "choose --stack NAME or --local, not both" in both.output


def test_the_default_stack_is_the_apps() -> None:
    from infra.config import STACK_NAME

    assert Options().stack == STACK_NAME


def watch_a_dead_holder(sfn_target: Target, *items: dict[str, Any], meanwhile: list[dict[str, Any]]) -> Snapshot:
    """`watch` of a completed enrollment whose lock names a holder that has ended (moto runs no states, so a stopped
    execution stands in for one that finished): `items` are in the table when watch starts, and `meanwhile` is
    written while watch describes the holder (what the holder did between watch's read and its describe)."""
    from tests.unit.test_cli_commands import TABLE, create_table, put

    sfn = sfn_target.stepfunctions()
    holder = stopped_execution(sfn, tracker_state_machine(sfn, waits=True))
    dynamodb = sfn_target.dynamodb()
    create_table(dynamodb)
    for item in items:
        put(dynamodb, {"pk": f"JOB#{DOMAIN}#{JOB}", "ExecutionArn": holder, **item})
    sfn_target.outputs["FailuresTableName"] = TABLE
    real_describe = sfn.describe_execution

    def describe_as_the_holder_moves_on(**kwargs: Any) -> Any:
        for item in meanwhile:
            put(dynamodb, {"pk": f"JOB#{DOMAIN}#{JOB}", "ExecutionArn": holder, **item})
        return real_describe(**kwargs)

    sfn.describe_execution = describe_as_the_holder_moves_on  # type: ignore[method-assign]
    voice_id = boto3.client("voice-id", region_name="us-east-1")
    sfn_target._clients["voice-id"] = voice_id
    with Stubber(voice_id) as stubber:
        stubber.add_response(
            "describe_speaker_enrollment_job",
            {"Job": {"JobStatus": "COMPLETED", "JobProgress": {"PercentComplete": 100}}},
            {"DomainId": DOMAIN, "JobId": JOB},
        )
        watcher = Watcher(sfn_target, JOB, DOMAIN, SPEAKERS, interval=1.0, timeout=60, sleep=lambda _: None)
        return watcher.run(quiet())


def test_watch_notices_a_holder_that_stopped_without_releasing_the_lock(sfn_target: Target) -> None:
    """Watcher.snapshot on moto: a TRACKING lock whose holder was aborted is a dead holder."""
    with pytest.raises(CliError, match=r"the execution holding its lock \(.+\) is ABORTED"):
        watch_a_dead_holder(sfn_target, {"sk": "LOCK", "LockState": "TRACKING"}, meanwhile=[])


def test_a_holder_that_records_between_the_read_and_its_describe_is_not_a_dead_holder(sfn_target: Target) -> None:
    """The race `watch` lost under load: it read the lock TRACKING and the summary RECORDING, then the holder
    recorded the job, released the lock and ended before watch described it. A holder that has ended, with a
    TRACKING lock read before it, is checked against a second read, and the job is recorded."""
    recording = {"sk": "SUMMARY", "RecordState": "RECORDING", "JobStatus": "COMPLETED"}
    recorded = {**recording, "RecordState": "COMPLETE"}
    snapshot = watch_a_dead_holder(
        sfn_target,
        {"sk": "LOCK", "LockState": "TRACKING"},
        recording,
        meanwhile=[recorded, {"sk": "LOCK", "LockState": "RELEASED"}],
    )
    assert snapshot.recorded and snapshot.holder_status is None
