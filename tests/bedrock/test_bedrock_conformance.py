"""Conformance with botocore's `bedrock` model: every operation answers in its output shape, and every error
the model lists for an operation comes back with the model's HTTP status, parsed by botocore as that error."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.loaders import create_loader
from botocore.model import ServiceModel

from bedrock_emulator.protocol import OPERATIONS
from bedrock_emulator.testing import Env, records
from emulator_core import model

SERVICE = ServiceModel(create_loader().load_service_model("bedrock", "service-2"), "bedrock")


def _job(env: Env) -> str:
    return env.create(env.put_input("in/a.jsonl", records(1)))


def _first_job(env: Env) -> str:
    """The job the test made before its faults were set (the call under test must be the only one faulted)."""
    return next(iter(env.emulator.state.jobs.values())).arn


def _ended_job(env: Env) -> str:
    arn = _job(env)
    env.emulator.run_until_done(arn)
    return arn


CALLS: dict[str, Callable[[Env], Any]] = {
    "CreateModelInvocationJob": lambda env: env.client.create_model_invocation_job(
        **env.job_args(env.put_input("in/a.jsonl", records(1)), clientRequestToken="conformance-token")
    ),
    "GetModelInvocationJob": lambda env: env.client.get_model_invocation_job(jobIdentifier=_first_job(env)),
    "ListModelInvocationJobs": lambda env: env.client.list_model_invocation_jobs(),
    "StopModelInvocationJob": lambda env: env.client.stop_model_invocation_job(jobIdentifier=_first_job(env)),
}


def _throttle(env: Env) -> None:
    env.emulator.admin.set_throttling(True, tps=1)
    with contextlib.suppress(ClientError):
        env.client.list_model_invocation_jobs()


def _create_with_a_denied_role(env: Env) -> str:
    env.emulator.admin.deny_roles([env.job_args("s3://bucket-a/x.jsonl")["roleArn"]])
    return env.create("s3://bucket-a/x.jsonl")


# (operation, error) -> what makes the service answer it before the operation's call above, or a call of its own.
SETUPS: dict[str, Callable[[Env], None]] = {
    "ThrottlingException": _throttle,
    "InternalServerException": lambda env: env.emulator.admin.inject_internal_errors(1),
}
# Get and Stop act on a job made before any fault is set.
NEEDS_JOB = frozenset({"GetModelInvocationJob", "StopModelInvocationJob"})
OWN_CALLS: dict[tuple[str, str], Callable[[Env], object]] = {
    ("CreateModelInvocationJob", "ResourceNotFoundException"): lambda env: env.create(
        "s3://bucket-a/x.jsonl", model_id="arn:aws:bedrock:us-east-1:123456789012:custom-model/a.b/abcdefabcdef"
    ),
    ("CreateModelInvocationJob", "ValidationException"): lambda env: env.create(
        "s3://bucket-a/x.jsonl", model_id="cohere.command-r-v1:0"
    ),
    ("CreateModelInvocationJob", "ConflictException"): lambda env: [
        env.client.create_model_invocation_job(**env.job_args("s3://bucket-a/x.jsonl", clientRequestToken="t1")),
        env.client.create_model_invocation_job(**env.job_args("s3://bucket-b/x.jsonl", clientRequestToken="t1")),
    ],
    ("CreateModelInvocationJob", "ServiceQuotaExceededException"): lambda env: [
        env.emulator.admin.set_quota(max_unfinished_jobs=1),
        env.create("s3://bucket-a/x.jsonl"),
        env.create("s3://bucket-a/x.jsonl"),
    ],
    ("CreateModelInvocationJob", "AccessDeniedException"): _create_with_a_denied_role,
    ("GetModelInvocationJob", "ResourceNotFoundException"): lambda env: env.client.get_model_invocation_job(
        jobIdentifier="abcdefabcdef"
    ),
    ("GetModelInvocationJob", "ValidationException"): lambda env: env.client.get_model_invocation_job(
        jobIdentifier="Not-A-Job"
    ),
    ("ListModelInvocationJobs", "ValidationException"): lambda env: env.client.list_model_invocation_jobs(
        nextToken="nope"
    ),
    ("StopModelInvocationJob", "ResourceNotFoundException"): lambda env: env.client.stop_model_invocation_job(
        jobIdentifier="abcdefabcdef"
    ),
    ("StopModelInvocationJob", "ValidationException"): lambda env: env.client.stop_model_invocation_job(
        jobIdentifier="Not-A-Job"
    ),
    ("StopModelInvocationJob", "ConflictException"): lambda env: env.client.stop_model_invocation_job(
        jobIdentifier=_ended_job(env)
    ),
}

CASES = [
    (operation, error.name) for operation in OPERATIONS for error in SERVICE.operation_model(operation).error_shapes
]


def test_the_emulator_serves_the_four_operations() -> None:
    assert set(OPERATIONS) == {name for name in SERVICE.operation_names if "ModelInvocationJob" in name}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_responses_match_the_output_shape(env: Env, operation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, dict[str, Any]]] = []
    handle = env.emulator.service.handle

    def recording(name: str, params: dict[str, Any]) -> dict[str, Any]:
        response = handle(name, params)
        sent.append((name, response))
        return response

    if operation in NEEDS_JOB:
        _job(env)
    monkeypatch.setattr(env.emulator.service, "handle", recording)
    parsed = dict(CALLS[operation](env))
    parsed.pop("ResponseMetadata")
    name, raw = sent[-1]
    operation_model = SERVICE.operation_model(operation)
    assert name == operation
    assert model.response_errors(operation_model, raw) == []  # what the emulator sent, checked against the model
    assert set(parsed) == set(raw)  # and botocore read every member of it
    output_shape = operation_model.output_shape
    assert output_shape is not None
    assert set(raw) <= set(output_shape.members)


@pytest.mark.parametrize(("operation", "error"), CASES)
def test_every_modelled_error(env: Env, operation: str, error: str) -> None:
    if operation in NEEDS_JOB:
        _job(env)
    if error == "AccessDeniedException" and operation != "CreateModelInvocationJob":
        env.emulator.admin.deny_operations([operation])
    if error in SETUPS:
        SETUPS[error](env)
    call: Callable[[Env], object] = OWN_CALLS.get((operation, error)) or CALLS[operation]
    with pytest.raises(ClientError) as excinfo:
        call(env)
    response = excinfo.value.response
    expected_status = SERVICE.shape_for(error).metadata["error"]["httpStatusCode"]
    assert response["Error"]["Code"] == error
    assert response["ResponseMetadata"]["HTTPStatusCode"] == expected_status
    assert response["Error"]["Message"]
    assert excinfo.value.operation_name == operation
