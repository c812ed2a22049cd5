"""EventBridge Scheduler schedules from a synthesized-shaped template, fired by the local runner.

Each test deploys `fixtures/scheduled.template.json` under its own stack name onto the shared local cloud,
with a runner of its own (installed as `cloud.scheduler` for the test) whose clock the test controls.
"""

from __future__ import annotations

import json
import math
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local_cloud.cloud import LocalCloud
from local_cloud.lambda_runtime import FunctionNotFoundError, InvokeResult
from local_cloud.provision import Deployment, StackDeployer
from local_cloud.scheduler import (
    MAX_CATCH_UP_FIRES,
    Clock,
    LocalSchedule,
    ManualClock,
    ScaledClock,
    SchedulerRunner,
    rate_seconds,
)
from local_cloud.template import LOCAL_RESOURCE_TYPES, StackTemplate, TemplateError

pytestmark = pytest.mark.xdist_group("local_cloud")

FIXTURE = Path(__file__).parent / "fixtures" / "scheduled.template.json"
SWEEP_HANDLER = """
    def handler(event, context):
        if event.get("fail"):
            raise RuntimeError("sweep failed")
        return {"received": event}
"""
MINUTE = 60.0


@dataclass
class Deployed:
    stack: StackTemplate
    deployment: Deployment
    runner: SchedulerRunner
    clock: Clock

    def name(self, logical_id: str) -> str:
        return self.stack.physical_name(logical_id)

    def record_count(self, logical_id: str) -> int:
        return self.runner.fire_record(self.name(logical_id)).count


Deploy = Callable[..., Deployed]


@pytest.fixture
def deploy(cloud: LocalCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deploy]:
    """Deploy the fixture (optionally edited) as a new stack, with a fresh runner on `clock`."""
    runners: list[SchedulerRunner] = []

    def deploy_(*, clock: Clock | None = None, edit: Callable[[dict[str, Any]], None] | None = None) -> Deployed:
        template = json.loads(FIXTURE.read_text(encoding="utf-8"))
        if edit is not None:
            edit(template)
        stack_name = f"sched-{uuid.uuid4().hex[:8]}"
        cdk_out = tmp_path / stack_name
        (cdk_out / "asset.sweep").mkdir(parents=True)
        (cdk_out / "asset.sweep" / "app.py").write_text(textwrap.dedent(SWEEP_HANDLER), encoding="utf-8")
        template_path = cdk_out / f"{stack_name}.template.json"
        template_path.write_text(json.dumps(template), encoding="utf-8")

        runner_clock = clock or ManualClock()
        runner = SchedulerRunner(
            invoker=cloud.lambdas, sqs_client=lambda: cloud.client("sqs"), clock=runner_clock
        ).start()
        runners.append(runner)
        monkeypatch.setattr(cloud, "scheduler", runner)
        deployer = StackDeployer(cloud, template_path)
        return Deployed(deployer.stack, deployer.deploy(), runner, runner_clock)

    yield deploy_
    for runner in runners:
        runner.stop()


def _dead_letters(cloud: LocalCloud, deployed: Deployed) -> list[dict[str, Any]]:
    sqs = cloud.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=deployed.name("SweepDlq"))["QueueUrl"]
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", [])
    return messages


def _advance(deployed: Deployed, seconds: float) -> None:
    clock = deployed.clock
    assert isinstance(clock, ManualClock)
    clock.advance(seconds)
    assert deployed.runner.wait_idle(), "the runner did not catch up with the clock"


# -- template --------------------------------------------------------------------------------------------------
def test_schedule_types_are_local_and_resolve_like_cloudformation() -> None:
    stack = StackTemplate.load(FIXTURE, region="eu-west-2", account_id="111122223333")
    assert {"AWS::Scheduler::Schedule", "AWS::Scheduler::ScheduleGroup"} <= LOCAL_RESOURCE_TYPES
    assert stack.resource_report().unknown == []
    group = stack.ref("SweepGroup")
    assert group == "scheduled-sweeps"  # explicit Name through Fn::Sub
    assert stack.get_att("SweepGroup", "Arn") == f"arn:aws:scheduler:eu-west-2:111122223333:schedule-group/{group}"
    sweep = stack.ref("SweepSchedule")
    assert sweep.startswith("scheduled-SweepSchedule-")
    assert len(stack.ref("UndeliverableSchedule")) <= 64
    assert stack.get_att("SweepSchedule", "Arn") == (
        f"arn:aws:scheduler:eu-west-2:111122223333:schedule/{group}/{sweep}"
    )
    paused = stack.ref("PausedSchedule")  # no GroupName: the default group
    assert (
        stack.get_att("PausedSchedule", "Arn") == f"arn:aws:scheduler:eu-west-2:111122223333:schedule/default/{paused}"
    )


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("rate(3 days)", 259200),
        ("cron(0 3 * * ? *)", None),
        ("at(2030-01-01T00:00:00)", None),
        ("rate(1 week)", None),
    ],
)
def test_rate_expressions(expression: str, seconds: int | None) -> None:
    assert rate_seconds(expression) == seconds


# -- deployment ------------------------------------------------------------------------------------------------
def test_rate_schedule_fires_once_per_period_of_the_clock(cloud: LocalCloud, deploy: Deploy) -> None:
    deployed = deploy()
    sweep = deployed.name("SweepSchedule")
    assert sorted(deployed.deployment.schedules) == sorted(
        deployed.name(logical_id)
        for logical_id in ("SweepSchedule", "PausedSchedule", "FailingSchedule", "UndeliverableSchedule")
    )
    assert deployed.deployment.to_dict()["schedules"] == deployed.deployment.schedules
    # moto holds the schedule too, so the Scheduler API answers as in AWS.
    described = cloud.client("scheduler").get_schedule(Name=sweep, GroupName=deployed.stack.ref("SweepGroup"))
    assert (described["ScheduleExpression"], described["State"]) == ("rate(1 minute)", "ENABLED")
    assert described["Arn"] == deployed.stack.get_att("SweepSchedule", "Arn")

    _advance(deployed, MINUTE - 1)
    assert deployed.record_count("SweepSchedule") == 0  # the first fire is one period after deployment
    _advance(deployed, 1)
    assert deployed.record_count("SweepSchedule") == 1
    _advance(deployed, 3 * MINUTE)
    record = deployed.runner.fire_record(sweep)
    assert record.count == 4
    assert sorted(fire.slot or 0 for fire in record.fires) == [1, 2, 3, 4]
    expected_input = {"sweep": True, "schedule": deployed.stack.get_att("SweepSchedule", "Arn")}
    for fire in record.fires:
        assert fire.ok, fire
        assert json.loads(fire.response) == {"received": expected_input}
    # The daily and weekly schedules are not due yet.
    assert deployed.record_count("FailingSchedule") == deployed.record_count("UndeliverableSchedule") == 0


def test_a_scaled_clock_fires_at_the_rate_in_simulated_minutes(deploy: Deploy) -> None:
    clock = ScaledClock(time_scale=600)  # a simulated minute lasts 0.1 s
    started = clock.now()
    deployed = deploy(clock=clock)
    sweep = deployed.name("SweepSchedule")
    deadline = time.monotonic() + 60
    while deployed.runner.fire_record(sweep).count < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    count = deployed.runner.fire_record(sweep).count
    elapsed_minutes = (clock.now() - started) / MINUTE
    deployed.runner.stop()
    assert count >= 3
    assert count <= math.floor(elapsed_minutes)  # never more than one fire per simulated minute
    fires = sorted(deployed.runner.fire_record(sweep).fires, key=lambda fire: fire.slot or 0)
    assert [fire.slot for fire in fires[:3]] == [1, 2, 3]
    period_starts = [fire.scheduled_at - fires[0].scheduled_at for fire in fires[:3]]
    assert period_starts == pytest.approx([0, MINUTE, 2 * MINUTE])
    assert all(fire.ok for fire in fires)


def test_a_disabled_schedule_never_fires(deploy: Deploy) -> None:
    deployed = deploy()
    paused = deployed.name("PausedSchedule")
    assert not deployed.runner.get(paused).enabled
    _advance(deployed, 5 * MINUTE)
    assert deployed.record_count("SweepSchedule") == 5  # time did pass for the enabled schedule
    assert deployed.runner.fire_record(paused).count == 0


def test_fire_now_invokes_once_with_the_schedules_input(deploy: Deploy) -> None:
    deployed = deploy()
    sweep = deployed.name("SweepSchedule")
    fire = deployed.runner.fire_now(sweep)
    assert (fire.ok, fire.attempts, fire.slot) == (True, 1, None)
    schedule_arn = deployed.stack.get_att("SweepSchedule", "Arn")
    assert json.loads(fire.input) == {"sweep": True, "schedule": schedule_arn}
    assert json.loads(fire.response) == {"received": {"sweep": True, "schedule": schedule_arn}}
    record = deployed.runner.fire_record(sweep)
    assert (record.count, record.last) == (1, fire)


def test_an_invocation_lambda_rejects_is_retried_then_sent_to_the_dead_letter_queue(
    cloud: LocalCloud, deploy: Deploy
) -> None:
    deployed = deploy()
    undeliverable = deployed.name("UndeliverableSchedule")
    fire = deployed.runner.fire_now(undeliverable)  # its Input is not JSON: Lambda refuses the payload
    assert (fire.delivered, fire.attempts) == (False, 3)  # MaximumRetryAttempts 2
    dlq_arn = deployed.stack.get_att("SweepDlq", "Arn")
    assert fire.dead_letter == dlq_arn
    assert fire.response.startswith("InvalidRequestContentException")
    (message,) = _dead_letters(cloud, deployed)
    assert message["Body"] == "sweep everything"
    attributes = {key: value["StringValue"] for key, value in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "InvalidRequestContentException"
    assert attributes["RETRY_ATTEMPTS"] == "2"
    assert attributes["SCHEDULE_ARN"] == deployed.stack.get_att("UndeliverableSchedule", "Arn")
    assert attributes["TARGET_ARN"] == deployed.stack.get_att("SweepFn", "Arn")
    assert attributes["EXECUTION_ID"] == fire.execution_id


def test_a_handler_error_is_lambdas_to_handle_not_the_schedulers_dead_letter_queue(
    cloud: LocalCloud, deploy: Deploy
) -> None:
    deployed = deploy()
    fire = deployed.runner.fire_now(deployed.name("FailingSchedule"))
    # Scheduler invokes Lambda asynchronously: the invocation was accepted, so nothing is dead-lettered.
    assert (fire.delivered, fire.function_error, fire.attempts, fire.dead_letter) == (True, "Unhandled", 1, None)
    assert json.loads(fire.response)["errorMessage"] == "sweep failed"
    assert not fire.ok
    assert _dead_letters(cloud, deployed) == []


@pytest.mark.parametrize(
    ("logical_id", "path", "value", "message"),
    [
        ("SweepSchedule", ("ScheduleExpression",), "cron(0 3 * * ? *)", "cron(...) expressions are not run"),
        ("PausedSchedule", ("ScheduleExpression",), "at(2030-01-01T00:00:00)", "at(...) expressions are not run"),
        ("FailingSchedule", ("Target", "Arn"), {"Fn::GetAtt": ["SweepDlq", "Arn"]}, "is not a Lambda function"),
        (
            "SweepSchedule",
            ("Target", "Arn"),
            "arn:aws:lambda:us-east-1:123456789012:function:elsewhere",
            "is not a function of the stack",
        ),
    ],
    ids=["cron", "at", "sqs-target", "foreign-function"],
)
def test_schedules_the_local_cloud_cannot_run_fail_the_deployment_by_logical_id(
    cloud: LocalCloud, deploy: Deploy, *, logical_id: str, path: tuple[str, ...], value: Any, message: str
) -> None:
    def edit(template: dict[str, Any]) -> None:
        node = template["Resources"][logical_id]["Properties"]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    with pytest.raises(TemplateError) as failed:
        deploy(edit=edit)
    assert str(failed.value).startswith(f"schedule {logical_id}: ")
    assert message in str(failed.value)
    assert cloud.scheduler.names() == []  # no schedule of the stack was registered


# -- the runner on its own -------------------------------------------------------------------------------------
class _Answering:
    """An invoker whose function returns the number of calls so far."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def invoke(self, name_or_arn: str, payload: bytes) -> InvokeResult:
        with self._lock:
            self.calls += 1
            return InvokeResult(str(self.calls).encode(), None)


class _Unreachable:
    """An invoker whose function is gone."""

    def __init__(self) -> None:
        self.calls = 0

    def invoke(self, name_or_arn: str, payload: bytes) -> InvokeResult:
        self.calls += 1
        raise FunctionNotFoundError(name_or_arn)


def _schedule(**overrides: Any) -> LocalSchedule:
    fields: dict[str, Any] = {
        "name": "nightly",
        "arn": "arn:aws:scheduler:us-east-1:123456789012:schedule/default/nightly",
        "expression": "rate(1 day)",
        "period_seconds": 86400.0,
        "target_arn": "arn:aws:lambda:us-east-1:123456789012:function:gone",
    }
    return LocalSchedule(**{**fields, **overrides})


def test_the_cloud_runs_a_scheduler_and_stopping_ends_its_thread(cloud: LocalCloud) -> None:
    assert isinstance(cloud.scheduler, SchedulerRunner)
    assert cloud.scheduler.running
    runner = SchedulerRunner(invoker=_Unreachable(), clock=ScaledClock()).start()
    runner.add(_schedule())  # next fire a day away: the thread sleeps until stop wakes it
    assert runner.running
    stopper = threading.Thread(target=runner.stop)
    stopper.start()
    stopper.join(30)
    assert not stopper.is_alive()
    assert not runner.running


def test_without_a_dead_letter_queue_a_failed_fire_is_only_recorded() -> None:
    invoker = _Unreachable()
    runner = SchedulerRunner(invoker=invoker, clock=ManualClock())
    runner.add(_schedule(maximum_retry_attempts=4))
    fire = runner.fire_now("nightly")
    assert (fire.delivered, fire.attempts, invoker.calls, fire.dead_letter) == (False, 5, 5, None)
    assert fire.response.startswith("ResourceNotFoundException")
    with pytest.raises(KeyError, match="no schedule named 'other'"):
        runner.fire_now("other")
    with pytest.raises(ValueError, match="already registered"):
        runner.add(_schedule())


def test_after_a_clock_jump_only_the_latest_missed_fires_are_made() -> None:
    invoker, clock = _Answering(), ManualClock()
    runner = SchedulerRunner(invoker=invoker, clock=clock).start()
    try:
        runner.add(_schedule(expression="rate(1 minute)", period_seconds=MINUTE))
        clock.advance(60 * MINUTE)
        assert runner.wait_idle()
        record = runner.fire_record("nightly")
    finally:
        runner.stop()
    assert record.count == invoker.calls == MAX_CATCH_UP_FIRES
    assert sorted(fire.slot or 0 for fire in record.fires) == list(range(61 - MAX_CATCH_UP_FIRES, 61))
