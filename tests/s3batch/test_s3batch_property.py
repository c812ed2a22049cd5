"""A property-based sweep of CreateJob and ListJobs parameters: the emulator accepts exactly what botocore's
model allows and names the member it refuses, and whatever it answers botocore parses as the model says (the
emulator checks each response against the model's output shape before it sends it: an InternalServiceException
here would be a response the model does not allow)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator_core import model
from s3batch_emulator import ALL_STATUSES, Pacing, S3BatchEmulator
from s3batch_emulator.testing import TAGGING, Env, make_env, s3control_client

SERVICE = model.service_model("s3control")
CREATE = SERVICE.operation_model("CreateJob")
DESCRIBE = SERVICE.operation_model("DescribeJob")
LIST = SERVICE.operation_model("ListJobs")


@pytest.fixture(scope="module")
def world(moto_endpoint: str) -> Iterator[tuple[Env, Any, dict[str, Any]]]:
    with S3BatchEmulator(s3_endpoint_url=moto_endpoint, pacing=Pacing.manual_steps(50)) as emulator:
        env = make_env(moto_endpoint, emulator)
        raw = s3control_client(emulator.endpoint_url, validate=False)
        yield env, raw, env.manifest_of(env.put_objects(["a", "b"]))


def _allowed_string(shape_name: str, value: str) -> bool:
    shape = CREATE.input_shape.members[shape_name]  # type: ignore[union-attr]
    meta = shape.metadata
    if not meta.get("min", 0) <= len(value) <= meta.get("max", 10**9):
        return False
    pattern = meta.get("pattern")
    return not pattern or bool(model.compiled_pattern(pattern).fullmatch(value))


texts = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300)
priorities = st.one_of(st.integers(min_value=-3, max_value=5), st.integers(min_value=2**31 - 2, max_value=2**31 + 1))
tags = st.lists(
    # Characters XML can carry (an SDK sending a control character gets MalformedXML, not a model check).
    st.fixed_dictionaries(
        {"Key": st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xD7FF), max_size=130), "Value": texts}
    ),
    max_size=3,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(priority=priorities, description=st.one_of(st.none(), texts), token=st.one_of(texts, st.none()), tag_set=tags)
def test_create_accepts_exactly_what_the_model_allows(
    world: tuple[Env, Any, dict[str, Any]],
    priority: int,
    description: str | None,
    token: str | None,
    tag_set: list[dict[str, str]],
) -> None:
    env, raw, manifest = world
    args = env.job_args(manifest, TAGGING, Priority=priority, Tags=tag_set)
    args["ClientRequestToken"] = (token or "") + uuid.uuid4().hex[:8]
    if description is not None:
        args["Description"] = description
    problems = []
    if not 0 <= priority <= 2**31 - 1:
        problems.append("Priority")
    if description is not None and not _allowed_string("Description", description):
        problems.append("Description")
    if len(args["ClientRequestToken"]) > 64:
        problems.append("ClientRequestToken")
    for tag in tag_set:
        if not 1 <= len(tag["Key"]) <= 128 or not model.compiled_pattern(r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$").fullmatch(
            tag["Key"]
        ):
            problems.append("Tags")
        if len(tag["Value"]) > 256 or not model.compiled_pattern(r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$").fullmatch(
            tag["Value"]
        ):
            problems.append("Tags")
    if priority > 2**31 - 1:
        return  # botocore itself cannot send an int above the model's range as XML an SDK would; skip
    try:
        job_id = raw.create_job(**args)["JobId"]
    except ClientError as error:
        assert problems, f"refused a valid request: {error}"
        assert error.response["Error"]["Code"] == "BadRequestException"
        assert any(name in error.response["Error"]["Message"] for name in problems)
        return
    assert not problems, f"accepted an invalid request ({problems})"
    described = raw.describe_job(AccountId=env.account_id, JobId=job_id)["Job"]
    assert described["Priority"] == priority
    assert described.get("Description") == description
    assert DESCRIBE.output_shape is not None
    assert model.shape_errors(DESCRIBE.output_shape, {"Job": _epoch(described)}) == []


def _epoch(job: dict[str, Any]) -> dict[str, Any]:
    """botocore's parsed job, its datetimes back to the epoch seconds the validator takes."""
    return {key: value.timestamp() if hasattr(value, "timestamp") else value for key, value in job.items()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    max_results=st.one_of(st.none(), st.integers(min_value=-2, max_value=1002)),
    statuses=st.lists(st.sampled_from([*ALL_STATUSES, "Bogus"]), max_size=3),
)
def test_list_accepts_exactly_what_the_model_allows(
    world: tuple[Env, Any, dict[str, Any]], max_results: int | None, statuses: list[str]
) -> None:
    env, raw, _ = world
    env.emulator.run_until_done()
    args: dict[str, Any] = {"AccountId": env.account_id, "JobStatuses": statuses}
    if max_results is not None:
        args["MaxResults"] = max_results
    invalid = (max_results is not None and not 0 <= max_results <= 1000) or "Bogus" in statuses
    try:
        listed = raw.list_jobs(**args)
    except ClientError as error:
        assert invalid, f"refused a valid request: {error}"
        assert error.response["Error"]["Code"] == "InvalidRequestException"
        return
    assert not invalid
    assert all(job["Status"] in statuses for job in listed["Jobs"]) or not statuses
    assert len(listed["Jobs"]) <= (max_results or 1000)


safe_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=20)
operations = st.one_of(
    st.builds(
        lambda tags: {"S3PutObjectTagging": {"TagSet": tags}},
        st.lists(
            st.fixed_dictionaries(
                {
                    "Key": st.from_regex(r"[a-z][a-z0-9]{0,9}", fullmatch=True),
                    "Value": st.from_regex(r"[a-z0-9]{0,9}", fullmatch=True),
                }
            ),
            max_size=3,
        ),
    ),
    st.just({"S3DeleteObjectTagging": {}}),
    st.builds(
        lambda prefix, storage, directive: {
            "S3PutObjectCopy": {
                "TargetResource": "arn:aws:s3:::target-bucket",
                "TargetKeyPrefix": prefix,
                "StorageClass": storage,
                "MetadataDirective": directive,
            }
        },
        safe_text,
        st.sampled_from(["STANDARD", "STANDARD_IA", "GLACIER", "DEEP_ARCHIVE"]),
        st.sampled_from(["COPY", "REPLACE"]),
    ),
    st.builds(
        lambda schema, arguments: {
            "LambdaInvoke": {
                "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                "InvocationSchemaVersion": schema,
                **({"UserArguments": arguments} if arguments else {}),
            }
        },
        st.sampled_from(["1.0", "2.0"]),
        st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), safe_text, max_size=12),
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operation=operations, confirm=st.booleans(), scope=st.sampled_from(["AllTasks", "FailedTasksOnly", None]))
def test_every_accepted_job_describes_and_lists_as_the_model_says(
    world: tuple[Env, Any, dict[str, Any]], operation: dict[str, Any], confirm: bool, scope: str | None
) -> None:
    env, raw, manifest = world
    report: dict[str, Any] = env.report() if scope else {"Enabled": False}
    if scope:
        report["ReportScope"] = scope
    args = env.job_args(manifest, operation, ConfirmationRequired=confirm, Report=report)
    invoke = operation.get("LambdaInvoke", {})
    too_many = len(invoke.get("UserArguments", {})) > 10
    needs_two = bool(invoke.get("UserArguments")) and invoke.get("InvocationSchemaVersion") != "2.0"
    try:
        job_id = raw.create_job(**args)["JobId"]
    except ClientError as error:
        assert too_many or needs_two, f"refused a valid job: {error}"
        assert error.response["Error"]["Code"] == "BadRequestException"
        return
    assert not too_many and not needs_two
    env.emulator.step_job(job_id)  # New -> Preparing: a moving job answers too
    described = raw.describe_job(AccountId=env.account_id, JobId=job_id)["Job"]
    assert described["Operation"] == operation
    assert described["ConfirmationRequired"] is confirm and described["Report"] == report
    [newest] = raw.list_jobs(AccountId=env.account_id, MaxResults=1)["Jobs"]  # newest first
    assert (newest["JobId"], newest["Operation"]) == (job_id, next(iter(operation)))
