"""The local cloud enforces the template's IAM: a grant the tracker depends on, removed from (or narrowed in)
a copy of the synthesized template, fails a local run with AccessDenied, as it would on AWS, and the failed
execution's Error and Cause tell an operator what is missing.

One local cloud serves every case: `LocalEnvironment.load_iam_policies` makes the gateway evaluate the
changed copy (nothing is redeployed), and the `policies` fixture restores the deployed template's policies.
Each case checks first that the grant is really absent from what is evaluated. Jobs run with their events
lost and finish before an operator starts the one tracker, so each case has exactly one execution.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local_cloud.driver import SPEAKER_ENROLLMENT, AudioRequest, TrackedJob, TrackerDriver
from local_cloud.environment import LocalEnvironment
from local_cloud.testing import wait_for_execution

Template = dict[str, Any]
_seeds = itertools.count(880_000, 10)


# -- finding and changing grants in the synthesized template ------------------------------------------------------
def function_role(template: Template, handler: str) -> str:
    """The logical id of the execution role of the function with `handler`."""
    (role,) = (
        resource["Properties"]["Role"]["Fn::GetAtt"][0]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function" and resource["Properties"].get("Handler") == handler
    )
    return str(role)


def state_machine_role(template: Template) -> str:
    (role,) = (
        resource["Properties"]["RoleArn"]["Fn::GetAtt"][0]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::StepFunctions::StateMachine"
    )
    return str(role)


RECORD_ROLE = "record_failures.handler.lambda_handler"
DESCRIBE_ROLE = "describe_job.handler.lambda_handler"
WAKE_ROLE = "wake_tracker.handler.lambda_handler"


def _statements(template: Template, role: str) -> Iterator[dict[str, Any]]:
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role} in resource["Properties"]["Roles"]:
            yield from resource["Properties"]["PolicyDocument"]["Statement"]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return list(actions) if isinstance(actions, list) else [actions]


def without(template: Template, role: str, *actions: str) -> Template:
    """A copy of `template` whose policies give `role` none of `actions` (emptied statements are dropped)."""
    changed = copy.deepcopy(template)
    found = False
    for resource in changed["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy" or {"Ref": role} not in resource["Properties"]["Roles"]:
            continue
        document = resource["Properties"]["PolicyDocument"]
        kept = []
        for statement in document["Statement"]:
            remaining = [action for action in _actions(statement) if action not in actions]
            found = found or len(remaining) < len(_actions(statement))
            if remaining:
                kept.append({**statement, "Action": remaining if len(remaining) > 1 else remaining[0]})
        document["Statement"] = kept
    assert found, f"{role} is granted none of {actions}: the template changed, and so must this test"
    return changed


def narrowed(template: Template, role: str, action: str, resource: Any) -> Template:
    """A copy of `template` in which every statement of `role` granting `action` is on `resource` instead."""
    changed = copy.deepcopy(template)
    statements = [statement for statement in _statements(changed, role) if action in _actions(statement)]
    assert statements, f"{role} is not granted {action}: the template changed, and so must this test"
    for statement in statements:
        statement["Resource"] = resource
    return changed


class Policies:
    """What the gateway evaluates: the deployed template (`original`) or a changed copy of it (`load`)."""

    def __init__(self, local: LocalEnvironment) -> None:
        self.local = local
        self.original: Template = json.loads(local.template_path.read_text(encoding="utf-8"))

    def load(self, template: Template) -> None:
        self.local.load_iam_policies(template)

    def allows(self, role: str, action: str, resource: str, context: dict[str, str] | None = None) -> bool:
        """Whether the loaded policies let `role` (a logical id) do `action` on `resource`."""
        (arn,) = (arn for arn, policies in self.local.cloud.iam.roles.items() if policies.logical_id == role)
        return self.local.cloud.iam.evaluate(arn, action, resource, context).allowed


@pytest.fixture
def policies(local: LocalEnvironment) -> Iterator[Policies]:
    if not local.enforce_iam:
        pytest.skip("IAM enforcement is off (LOCAL_CLOUD_IAM=off)")
    local.cloud.authorizer.clear_denials()
    try:
        yield Policies(local)
    finally:
        local.load_iam_policies()  # the deployed template's policies, for every other test


# -- running one tracker -------------------------------------------------------------------------------------------
def finished_job(driver: TrackerDriver, domain_id: str) -> TrackedJob:
    """A finished job with one registered and one failed request, whose events were all lost."""
    driver.local.voice_id.admin.set_event_loss(1.0)
    seed = next(_seeds)
    requests = [AudioRequest("iam-good", seed=seed), AudioRequest("iam-missing", missing=True)]
    job = driver.start_job(domain_id, driver.upload_manifest(requests))
    assert driver.local.voice_id.wait_for_job(job.job_id, timeout=60) == "COMPLETED_WITH_ERRORS"
    return job


def track(driver: TrackerDriver, job: TrackedJob) -> dict[str, Any]:
    """Start one tracker for the job, as an operator does, and return its description once it ended."""
    described = wait_for_execution(driver.sfn, driver.start_execution(job), deadline_seconds=90)
    assert described["status"] != "RUNNING", described
    return described


def last_state(driver: TrackerDriver, execution: dict[str, Any]) -> str:
    return list(driver.state_names(execution["executionArn"]))[-1]


def out_object_arn(driver: TrackerDriver, job: TrackedJob) -> str:
    """The job's `.out`: `<OutputDataConfig.S3Uri>/<JobId>/<input file name>.out`."""
    bucket, _, prefix = driver.local.output_s3_uri.removeprefix("s3://").partition("/")
    listed = driver.s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}{job.job_id}/")
    (key,) = (item["Key"] for item in listed["Contents"])
    return f"arn:aws:s3:::{bucket}/{key}"


def _output_bucket(local: LocalEnvironment) -> str:
    return local.output_s3_uri.removeprefix("s3://").split("/", 1)[0]


def table_arn(local: LocalEnvironment) -> str:
    return f"arn:aws:dynamodb:{local.cloud.region}:{local.cloud.account_id}:table/{local.table_name}"


def domain_arn(local: LocalEnvironment, domain_id: str) -> str:
    return f"arn:aws:voiceid:{local.cloud.region}:{local.cloud.account_id}:domain/{domain_id}"


def function_arn(local: LocalEnvironment, template: Template, handler: str) -> str:
    (logical_id,) = (
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function" and resource["Properties"].get("Handler") == handler
    )
    name = next(name for name in local.stack.functions if logical_id in name)
    return f"arn:aws:lambda:{local.cloud.region}:{local.cloud.account_id}:function:{name}"


def assert_tracking_failed(driver: TrackerDriver, execution: dict[str, Any], *needles: str) -> None:
    """The tracker's own AccessDenied: the lock released, "Tracking failed", the Cause naming what is missing."""
    assert (execution["status"], execution["error"]) == ("FAILED", "AccessDenied"), execution
    assert last_state(driver, execution) == "Tracking failed"
    for needle in needles:
        assert needle in execution["cause"], (needle, execution["cause"])


# -- the record Lambda ---------------------------------------------------------------------------------------------
def test_without_kms_decrypt_the_output_cannot_be_read(
    driver: TrackerDriver, policies: Policies, domain_id: str
) -> None:
    role = function_role(policies.original, RECORD_ROLE)
    job = finished_job(driver, domain_id)
    policies.load(without(policies.original, role, "kms:Decrypt"))
    key = driver.local.output_kms_key_id
    via_s3 = {"kms:ViaService": f"s3.{driver.local.cloud.region}.amazonaws.com"}
    assert not policies.allows(role, "kms:Decrypt", key, via_s3)

    execution = track(driver, job)
    assert_tracking_failed(driver, execution, f"kms:Decrypt on resource: {key}", "is not authorized to perform", ".out")
    items = driver.items(job)
    assert items["SUMMARY"]["RecordState"] == "FAILED"
    assert "kms:Decrypt" in items["SUMMARY"]["RecordProblem"]
    assert items["LOCK"]["LockState"] == "RELEASED"
    assert not [sort_key for sort_key in items if sort_key.startswith("FAILURE#")]


def test_without_batch_write_item_no_failure_is_written(
    driver: TrackerDriver, policies: Policies, domain_id: str
) -> None:
    role = function_role(policies.original, RECORD_ROLE)
    job = finished_job(driver, domain_id)
    policies.load(without(policies.original, role, "dynamodb:BatchWriteItem"))
    table = table_arn(driver.local)
    assert not policies.allows(role, "dynamodb:BatchWriteItem", table)
    assert policies.allows(role, "dynamodb:UpdateItem", table)

    execution = track(driver, job)
    assert_tracking_failed(driver, execution, f"dynamodb:BatchWriteItem on resource: {table}", "DynamoDB denied")
    items = driver.items(job)
    assert items["SUMMARY"]["RecordState"] == "FAILED"
    assert "dynamodb:BatchWriteItem" in items["SUMMARY"]["RecordProblem"]
    assert not [sort_key for sort_key in items if sort_key.startswith("FAILURE#")]


def test_without_any_dynamodb_write_nothing_is_recorded(
    driver: TrackerDriver, policies: Policies, domain_id: str
) -> None:
    role = function_role(policies.original, RECORD_ROLE)
    job = finished_job(driver, domain_id)
    writes = ("dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query")
    policies.load(without(policies.original, role, *writes))
    table = table_arn(driver.local)
    assert not any(policies.allows(role, action, table) for action in writes)

    execution = track(driver, job)
    # The first write, flagging the summary RECORDING, is refused.
    assert_tracking_failed(driver, execution, f"dynamodb:UpdateItem on resource: {table}")
    assert set(driver.items(job)) == {"LOCK"}


def test_without_s3_get_object_the_output_cannot_be_read(
    driver: TrackerDriver, policies: Policies, domain_id: str
) -> None:
    role = function_role(policies.original, RECORD_ROLE)
    job = finished_job(driver, domain_id)
    policies.load(without(policies.original, role, "s3:GetObject"))
    out = out_object_arn(driver, job)
    assert not policies.allows(role, "s3:GetObject", out)

    execution = track(driver, job)
    assert_tracking_failed(driver, execution, f"s3:GetObject on resource: {out}")


# -- the describe Lambda -------------------------------------------------------------------------------------------
def test_without_describe_job_the_job_cannot_be_followed(
    driver: TrackerDriver, policies: Policies, domain_id: str
) -> None:
    role = function_role(policies.original, DESCRIBE_ROLE)
    job = finished_job(driver, domain_id)
    describes = ("voiceid:DescribeFraudsterRegistrationJob", "voiceid:DescribeSpeakerEnrollmentJob")
    policies.load(without(policies.original, role, *describes))
    domain = domain_arn(driver.local, domain_id)
    assert not any(policies.allows(role, action, domain) for action in describes)

    execution = track(driver, job)
    assert_tracking_failed(
        driver, execution, f"voiceid:DescribeFraudsterRegistrationJob on resource: {domain}", "DescribeFraudster"
    )
    assert driver.items(job)["LOCK"]["LockState"] == "RELEASED"


# -- the state machine's own calls ---------------------------------------------------------------------------------
def test_without_lambda_invoke_the_state_machine_stops_at_its_first_task(
    driver: TrackerDriver, policies: Policies, domain_id: str
) -> None:
    role = state_machine_role(policies.original)
    job = finished_job(driver, domain_id)
    policies.load(without(policies.original, role, "lambda:InvokeFunction"))
    validate = function_arn(driver.local, policies.original, "validate_input.handler.lambda_handler")
    assert not policies.allows(role, "lambda:InvokeFunction", validate)

    execution = track(driver, job)
    assert execution["status"] == "FAILED"
    assert last_state(driver, execution) == "Input check failed"
    assert "/StepFunctions is not authorized to perform" in execution["cause"]
    assert f"lambda:InvokeFunction on resource: {validate}" in execution["cause"]
    assert driver.items(job) == {}


def test_without_the_lock_actions_the_state_machine_stops_before_any_work(
    driver: TrackerDriver, policies: Policies, domain_id: str
) -> None:
    role = state_machine_role(policies.original)
    job = finished_job(driver, domain_id)
    lock_actions = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
    policies.load(without(policies.original, role, *lock_actions))
    table = table_arn(driver.local)
    assert not any(policies.allows(role, action, table) for action in lock_actions)

    execution = track(driver, job)
    assert (execution["status"], execution["error"]) == ("FAILED", "DynamoDB.AccessDeniedException")
    assert last_state(driver, execution) == "Tracking stopped"
    assert f"dynamodb:PutItem on resource: {table}" in execution["cause"]
    assert driver.items(job) == {}


def test_without_put_events_the_job_is_recorded_but_not_announced(
    driver: TrackerDriver, policies: Policies, domain_id: str
) -> None:
    role = state_machine_role(policies.original)
    job = finished_job(driver, domain_id)
    policies.load(without(policies.original, role, "events:PutEvents"))
    bus = f"arn:aws:events:{driver.local.cloud.region}:{driver.local.cloud.account_id}:event-bus/default"
    assert not policies.allows(role, "events:PutEvents", bus)

    execution = track(driver, job)
    # Announcing never undoes the record: the catch goes on to "Job recorded".
    assert execution["status"] == "SUCCEEDED"
    assert driver.items(job)["SUMMARY"]["RecordState"] == "COMPLETE"
    announced = driver.local.cloud.events.events_received(source="voiceid.job-tracker")
    assert not [event for event in announced if event["detail"]["JobId"] == job.job_id]
    assert ("events:PutEvents", bus) in {(d.action, d.resource) for d in driver.local.cloud.authorizer.denials()}


def with_poll_cap_2_as_the_tracker(driver: TrackerDriver, name: str) -> str:
    """The deployed definition with a cap of 2 polls, as a second state machine run by the deployed state
    machine's role (held to its policies); its hand-overs start executions of itself ($$.StateMachine.Id)."""
    sfn = driver.sfn
    deployed = sfn.describe_state_machine(stateMachineArn=driver.local.state_machine_arn)
    definition = json.loads(deployed["definition"])
    for rule in definition["States"]["Poll cap reached?"]["Choices"]:  # stop when outlived, else hand over
        cap = rule["And"][0] if "And" in rule else rule
        assert cap["Variable"] == "$.Job.PollCount", rule
        cap["NumericGreaterThanEquals"] = 2
    created = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=deployed["roleArn"])
    return str(created["stateMachineArn"])


def test_without_start_execution_the_hand_over_fails_cleanly_and_a_later_tracker_records_the_job(
    driver: TrackerDriver, policies: Policies, domain_id: str
) -> None:
    """At its poll cap a tracker hands the job over by StartExecution of its own state machine. Refused, it
    fails (paging) naming the grant, releases the lock and records nothing, so the next tracker (an event's, a
    sweep's, an operator's) takes the job and records it."""
    role = state_machine_role(policies.original)
    low_cap = with_poll_cap_2_as_the_tracker(driver, "tracker-iam-hand-over-at-2")
    # The deployed grant, on this state machine (the deployed one is scoped to itself)...
    handing_over = narrowed(policies.original, role, "states:StartExecution", low_cap)
    policies.load(handing_over)
    assert policies.allows(role, "states:StartExecution", low_cap)
    # ...then taken away, and nothing else.
    policies.load(without(handing_over, role, "states:StartExecution"))
    assert not policies.allows(role, "states:StartExecution", low_cap)
    describe = function_arn(driver.local, policies.original, DESCRIBE_ROLE)
    assert policies.allows(role, "lambda:InvokeFunction", describe)
    assert policies.allows(role, "dynamodb:UpdateItem", table_arn(driver.local))
    driver.local.voice_id.admin.set_event_loss(1.0)
    seed = next(_seeds)
    requests = [AudioRequest(f"iam-hand-over-{n}", seconds_speech=2.5, seed=seed + n) for n in range(40)]
    job = driver.start_job(domain_id, driver.upload_manifest(requests))
    started = driver.sfn.start_execution(
        stateMachineArn=low_cap,
        name=f"hand-over-{job.job_id}",
        input=json.dumps({"DomainId": job.domain_id, "JobId": job.job_id}),
    )["executionArn"]

    execution = wait_for_execution(driver.sfn, started, deadline_seconds=90)
    assert (execution["status"], execution["error"]) == ("FAILED", "Sfn.AccessDeniedException"), execution
    names = list(driver.state_names(started))
    assert names.count("Describe job") == 2, names
    assert names[-3:] == ["Hand over to a new execution", "Release job lock after error", "Tracking stopped"]
    assert "/StepFunctions is not authorized to perform" in execution["cause"]
    assert f"states:StartExecution on resource: {low_cap}" in execution["cause"], execution["cause"]
    # No successor started, nothing recorded, and the lock released for the next tracker.
    assert [e["executionArn"] for e in driver.sfn.list_executions(stateMachineArn=low_cap)["executions"]] == [started]
    items = driver.items(job)
    assert items["LOCK"]["LockState"] == "RELEASED"
    assert "SUMMARY" not in items
    assert driver.local.voice_id.wait_for_job(job.job_id, timeout=60) == "COMPLETED"

    policies.load(policies.original)
    later = track(driver, job)
    assert later["status"] == "SUCCEEDED", later
    assert driver.items(job)["SUMMARY"]["RecordState"] == "COMPLETE"


# -- grants narrowed to the wrong resource -------------------------------------------------------------------------
def test_describe_scoped_to_another_domain_is_denied(driver: TrackerDriver, policies: Policies, domain_id: str) -> None:
    role = function_role(policies.original, DESCRIBE_ROLE)
    job = finished_job(driver, domain_id)
    other = domain_arn(driver.local, "OtherDomainId000000001")
    policies.load(narrowed(policies.original, role, "voiceid:DescribeFraudsterRegistrationJob", other))
    assert policies.allows(role, "voiceid:DescribeFraudsterRegistrationJob", other)
    assert not policies.allows(role, "voiceid:DescribeFraudsterRegistrationJob", domain_arn(driver.local, domain_id))

    execution = track(driver, job)
    assert_tracking_failed(driver, execution, f"on resource: {domain_arn(driver.local, domain_id)}")


def test_get_object_scoped_to_another_prefix_is_denied(
    driver: TrackerDriver, policies: Policies, domain_id: str
) -> None:
    role = function_role(policies.original, RECORD_ROLE)
    job = finished_job(driver, domain_id)
    elsewhere = f"arn:aws:s3:::{_output_bucket(driver.local)}/another-prefix/*"
    policies.load(narrowed(policies.original, role, "s3:GetObject", elsewhere))
    out = out_object_arn(driver, job)
    assert not policies.allows(role, "s3:GetObject", out)

    execution = track(driver, job)
    assert_tracking_failed(driver, execution, f"s3:GetObject on resource: {out}")


def test_writes_scoped_to_another_table_are_denied(driver: TrackerDriver, policies: Policies, domain_id: str) -> None:
    role = function_role(policies.original, RECORD_ROLE)
    job = finished_job(driver, domain_id)
    other = f"arn:aws:dynamodb:{driver.local.cloud.region}:{driver.local.cloud.account_id}:table/AnotherTable"
    policies.load(narrowed(policies.original, role, "dynamodb:BatchWriteItem", other))
    table = table_arn(driver.local)
    assert policies.allows(role, "dynamodb:BatchWriteItem", other)
    assert not policies.allows(role, "dynamodb:UpdateItem", table)

    execution = track(driver, job)
    assert_tracking_failed(driver, execution, f"dynamodb:UpdateItem on resource: {table}")


def test_invoke_scoped_to_other_functions_stops_at_the_record_step(
    driver: TrackerDriver, policies: Policies, domain_id: str
) -> None:
    role = state_machine_role(policies.original)
    job = finished_job(driver, domain_id)
    record = function_arn(driver.local, policies.original, RECORD_ROLE)
    others = [
        function_arn(driver.local, policies.original, handler)
        for handler in ("validate_input.handler.lambda_handler", DESCRIBE_ROLE, WAKE_ROLE)
    ]
    policies.load(narrowed(policies.original, role, "lambda:InvokeFunction", others))
    assert not policies.allows(role, "lambda:InvokeFunction", record)

    execution = track(driver, job)
    assert execution["status"] == "FAILED"
    assert last_state(driver, execution) == "Tracking stopped"
    assert f"lambda:InvokeFunction on resource: {record}" in execution["cause"]
    assert driver.items(job)["LOCK"]["LockState"] == "RELEASED"


def test_send_task_success_is_authorized_on_the_tokens_state_machine(
    driver: TrackerDriver, policies: Policies, domain_id: str
) -> None:
    """wake-tracker's SendTaskSuccess, scoped to another state machine, is refused on the one the waiting
    tracker's token belongs to. A second execution, as a later event starts one, checks the lock holder
    (the state machine's DescribeExecution, granted) and asks wake-tracker to wake it: refused, so it stops
    as "Job already tracked", and the tracker records the job at a planned poll."""
    role = function_role(policies.original, WAKE_ROLE)
    machine = driver.local.state_machine_arn
    policies.load(narrowed(policies.original, role, "states:SendTaskSuccess", machine + "-other"))
    assert not policies.allows(role, "states:SendTaskSuccess", machine)
    driver.local.voice_id.admin.set_event_loss(1.0)
    seed = next(_seeds)
    requests = [AudioRequest(f"iam-wake-{n}", seconds_speech=2.5, seed=seed + n) for n in range(30)]
    job = driver.start_job(domain_id, driver.upload_manifest(requests))
    tracker = driver.start_execution(job)
    deadline = time.monotonic() + 30
    while "WakeToken" not in driver.items(job).get("LOCK", {}):  # the tracker parks on its token
        assert time.monotonic() < deadline, "the tracker never waited on a wake-up token"
        time.sleep(0.1)

    second = wait_for_execution(driver.sfn, driver.start_execution(job), deadline_seconds=60)
    assert second["status"] == "SUCCEEDED"
    names = list(driver.state_names(second["executionArn"]))
    assert "Check lock holder" in names
    assert names[-3:] == ["Wake lock holder", "Job already tracked", "Nothing to do"]
    refused = [d for d in driver.local.cloud.authorizer.denials() if d.action == "states:SendTaskSuccess"]
    assert [d.resource for d in refused] == [machine]
    roles = driver.local.cloud.iam.roles
    machine_role = state_machine_role(policies.original)
    checked = {(roles[arn].logical_id, action) for arn, action in driver.local.cloud.authorizer.granted()}
    assert (machine_role, "states:DescribeExecution") in checked  # the aws-sdk:sfn task ran as the role
    described = wait_for_execution(driver.sfn, tracker, deadline_seconds=90)
    assert described["status"] == "SUCCEEDED"
    assert driver.items(job)["SUMMARY"]["RecordState"] == "COMPLETE"


# -- the deployed template ---------------------------------------------------------------------------------------
def test_the_deployed_policies_refuse_nothing_the_stack_does(
    driver: TrackerDriver, policies: Policies, domain_id: str
) -> None:
    """Both kinds with their events (a wake-up included), and a sweep: every call the stack makes is
    evaluated, and each is granted."""
    seed = next(_seeds)
    jobs: list[TrackedJob] = []
    for kind in ("FRAUDSTER_REGISTRATION", SPEAKER_ENROLLMENT):
        requests = [AudioRequest(f"iam-{kind[:5]}-{n}", seconds_speech=2.5, seed=seed + n) for n in range(4)] + [
            AudioRequest(f"iam-{kind[:5]}-missing", missing=True)
        ]
        jobs.append(driver.start_job(domain_id, driver.upload_manifest(requests, kind=kind), kind=kind))
    for job in jobs:
        driver.wait_until_settled(job, expected_executions=2)
        assert driver.items(job)["SUMMARY"]["RecordState"] == "COMPLETE"
    enrollment_failure = driver.failures(jobs[1])[f"iam-{SPEAKER_ENROLLMENT[:5]}-missing"]
    assert enrollment_failure["CustomerSpeakerId"] == f"iam-{SPEAKER_ENROLLMENT[:5]}-missing"  # the manifest was read
    driver.run_sweep()
    authorizer = driver.local.cloud.authorizer
    assert authorizer.denials() == []
    granted: dict[str, set[str]] = {}
    for role_arn, action in authorizer.granted():
        granted.setdefault(driver.local.cloud.iam.roles[role_arn].logical_id, set()).add(action)
    template = policies.original
    assert granted[state_machine_role(template)] >= {
        "lambda:InvokeFunction",
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "events:PutEvents",
    }
    assert granted[function_role(template, DESCRIBE_ROLE)] >= {
        "voiceid:DescribeFraudsterRegistrationJob",
        "voiceid:DescribeSpeakerEnrollmentJob",
    }
    assert granted[function_role(template, RECORD_ROLE)] >= {
        "s3:GetObject",
        "kms:Decrypt",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "dynamodb:BatchWriteItem",
        "dynamodb:PutItem",
    }
    # Whether a later event's execution finds the tracker parked on a token is timing; when it wakes it,
    # these are its calls (test_send_task_success_is_authorized_on_the_tokens_state_machine makes them surely):
    # read the lock, send the token or leave a wake request.
    assert granted.get(function_role(template, WAKE_ROLE), set()) <= {
        "states:SendTaskSuccess",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
    }
    assert granted[function_role(template, "sweep.handler.lambda_handler")] >= {
        "voiceid:ListFraudsterRegistrationJobs",
        "voiceid:ListSpeakerEnrollmentJobs",
        "dynamodb:GetItem",
    }
