"""A property-based sweep of Create and List parameters: the emulator accepts exactly what botocore's model
allows and names the member it refuses, and whatever it answers botocore parses as the model says."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import StringShape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bedrock_emulator import BedrockEmulator, Pacing
from bedrock_emulator.testing import Env, make_env, records
from emulator_core import model

SERVICE = model.service_model("bedrock")
CREATE = SERVICE.operation_model("CreateModelInvocationJob")
JOB_NAME = CREATE.input_shape.members["jobName"]  # type: ignore[union-attr]
TOKEN = CREATE.input_shape.members["clientRequestToken"]  # type: ignore[union-attr]


def allowed(shape: Any, value: str) -> bool:
    meta = shape.metadata
    return meta["min"] <= len(value) <= meta["max"] and bool(model.compiled_pattern(meta["pattern"]).fullmatch(value))


@pytest.fixture(scope="module")
def world(moto_endpoint: str) -> Iterator[tuple[Env, Any, str]]:
    with BedrockEmulator(s3_endpoint_url=moto_endpoint, pacing=Pacing.manual_steps()) as emulator:
        env = make_env(moto_endpoint, emulator)
        raw = boto3.client(
            "bedrock",
            endpoint_url=emulator.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
        )
        emulator.admin.set_quota(max_unfinished_jobs=100_000)
        yield env, raw, env.put_input("in/a.jsonl", records(1))


names = st.one_of(
    st.from_regex(re.compile(JOB_NAME.metadata["pattern"]), fullmatch=True).filter(lambda s: len(s) <= 63),
    st.text(min_size=0, max_size=70),
)
tokens = st.one_of(
    st.none(),
    st.from_regex(re.compile(r"[a-zA-Z0-9]{1,20}(-[a-zA-Z0-9]{1,5}){0,3}"), fullmatch=True),
    st.text(max_size=10),
)
hours = st.one_of(st.none(), st.integers(min_value=-5, max_value=200))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, token=tokens, timeout=hours)
def test_create_accepts_exactly_what_the_model_allows(
    world: tuple[Env, Any, str], name: str, token: str | None, timeout: int | None
) -> None:
    env, raw, uri = world
    args: dict[str, Any] = {**env.job_args(uri), "jobName": name}
    if token is not None:
        args["clientRequestToken"] = token + uuid.uuid4().hex  # a fresh token per example
    else:
        args["clientRequestToken"] = uuid.uuid4().hex
    if timeout is not None:
        args["timeoutDurationInHours"] = timeout
    problems = []
    if not allowed(JOB_NAME, name):
        problems.append("jobName")
    if not allowed(TOKEN, args["clientRequestToken"]):
        problems.append("clientRequestToken")
    if timeout is not None and not 24 <= timeout <= 168:
        problems.append("timeoutDurationInHours")
    jobs_before = len(env.emulator.state.jobs)
    try:
        arn = raw.create_model_invocation_job(**args)["jobArn"]
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ValidationException", error.response
        assert problems, f"a valid request was refused: {error}"
        for member in problems:
            assert f"at '{member}'" in error.response["Error"]["Message"]
        assert len(env.emulator.state.jobs) == jobs_before
        return
    assert not problems, f"{problems} accepted"
    job = raw.get_model_invocation_job(jobIdentifier=arn)
    assert job["jobName"] == name
    assert job["timeoutDurationInHours"] == (timeout if timeout is not None else 168)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    max_results=st.one_of(st.none(), st.integers(min_value=-2, max_value=1200)),
    status=st.one_of(st.none(), st.sampled_from(["Completed", "InProgress", "Done", "completed"])),
    order=st.one_of(st.none(), st.sampled_from(["Ascending", "Descending", "Sideways"])),
)
def test_list_accepts_exactly_what_the_model_allows(
    world: tuple[Env, Any, str], max_results: int | None, status: str | None, order: str | None
) -> None:
    _, raw, _ = world
    params = {
        key: value
        for key, value in (("maxResults", max_results), ("statusEquals", status), ("sortOrder", order))
        if value is not None
    }
    status_shape = SERVICE.shape_for("ModelInvocationJobStatus")
    assert isinstance(status_shape, StringShape)
    statuses = status_shape.enum
    problems = [
        member
        for member, bad in (
            ("maxResults", max_results is not None and not 1 <= max_results <= 1000),
            ("statusEquals", status is not None and status not in statuses),
            ("sortOrder", order is not None and order not in ("Ascending", "Descending")),
        )
        if bad
    ]
    try:
        page = raw.list_model_invocation_jobs(**params)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ValidationException"
        assert problems
        for member in problems:
            assert f"at '{member}'" in error.response["Error"]["Message"]
        return
    assert not problems
    summaries = page["invocationJobSummaries"]
    assert len(summaries) <= (max_results or 1000)
    if status is not None:
        assert all(summary["status"] == status for summary in summaries)
