"""Model conformance: a property-based sweep of valid and invalid requests, generated from botocore's model.

Every response, success or error, must match the model: successes validate against the operation's output shape
(checked by the emulator's validator on the raw JSON and by botocore's own parser and ParamValidator), errors are
among the operation's modeled errors with the model's HTTP status, and well-formed requests are never rejected
as invalid.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.model import ListShape, OperationModel, Shape, StructureShape
from botocore.parsers import create_parser
from botocore.validate import ParamValidator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voiceid_emulator import Pacing, VoiceIdEmulator, model
from voiceid_emulator.audio import make_wav
from voiceid_emulator.service import SUPPORTED_OPERATIONS
from voiceid_emulator.testing import Env, fraudster_manifest, make_env, speaker_manifest

PROTOCOL_ERRORS = {"SerializationException", "UnknownOperationException"}


class World:
    def __init__(self, env: Env) -> None:
        self.env = env
        self.domain_id = env.create_domain()
        audio = env.put_audio("audio/a.wav", make_wav(3))
        self.manifest = env.put_manifest(fraudster_manifest([("r1", [audio])]))
        self.watchlist_id = env.client.list_watchlists(DomainId=self.domain_id)["WatchlistSummaries"][0]["WatchlistId"]
        job = env.client.start_fraudster_registration_job(**env.job_args(self.domain_id, self.manifest))["Job"]
        self.job_id = job["JobId"]
        env.emulator.run_until_done(self.job_id)
        # A speaker job too, so Describe/ListSpeakerEnrollmentJobs have one to return (with an error item).
        short = env.put_audio("audio/short.wav", make_wav(0.5, 2))
        self.speaker_manifest = env.put_manifest(
            speaker_manifest([("r1", "customer-1", [audio]), ("r2", "customer-2", [short])]),
            key="manifests/speakers.json",
        )
        speaker_job = env.client.start_speaker_enrollment_job(**env.job_args(self.domain_id, self.speaker_manifest))
        self.speaker_job_id = speaker_job["Job"]["JobId"]
        env.emulator.run_until_done(self.speaker_job_id)


@pytest.fixture(scope="module")
def world(moto_endpoint: str) -> Iterator[World]:
    with VoiceIdEmulator(s3_endpoint_url=moto_endpoint, throttling=False, pacing=Pacing.manual_steps()) as emulator:
        yield World(make_env(moto_endpoint, emulator))


def valid_value(shape: Shape, world: World, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values that satisfy every constraint of `shape`, biased towards ids the emulator knows."""
    meta = shape.metadata
    if shape.type_name == "structure":
        assert isinstance(shape, StructureShape)
        required = {
            name: valid_value(member, world, depth + 1)
            for name, member in shape.members.items()
            if name in shape.required_members
        }
        optional = {
            name: valid_value(member, world, depth + 1)
            for name, member in shape.members.items()
            if name not in shape.required_members and name not in {"Tags", "NextToken"}
        }
        return st.fixed_dictionaries(required, optional=optional)
    if shape.type_name == "list":
        assert isinstance(shape, ListShape)
        return st.lists(
            valid_value(shape.member, world, depth + 1),
            min_size=meta.get("min", 0),
            max_size=min(meta.get("max", 3), 3),
        )
    if shape.type_name == "integer":
        return st.integers(min_value=meta.get("min", -(2**31)), max_value=meta.get("max", 2**31 - 1))
    if shape.type_name == "boolean":
        return st.booleans()
    if shape.type_name == "string":
        enum = getattr(shape, "enum", None)
        if enum:
            return st.sampled_from(enum)
        known = {
            "DomainId": [world.domain_id],
            "JobId": [world.job_id, world.speaker_job_id],
            "WatchlistId": [world.watchlist_id],
            "S3Uri": [world.manifest, world.speaker_manifest, f"s3://{world.env.output_bucket}/out"],
            "IamRoleArn": ["arn:aws:iam::123456789012:role/VoiceId"],
        }.get(shape.name)
        low, high = meta.get("min", 0), min(meta.get("max", 64), 64)
        pattern = meta.get("pattern")
        if pattern and "\\p{L}" in pattern:
            # Built from Hypothesis' own Unicode categories, so it also checks the emulator's \p{..} translation.
            alphabet = st.one_of(st.characters(categories=["L", "N", "Z"]), st.sampled_from("_.:/=+-@"))
            generated = st.text(alphabet=alphabet, min_size=low, max_size=high)
        elif pattern:
            generated = st.from_regex(model.translate_pattern(pattern), fullmatch=True)
        else:
            generated = st.text(min_size=low, max_size=high)
        generated = generated.filter(lambda s: low <= len(s) <= meta.get("max", 10**6))
        return st.one_of(st.sampled_from(known), generated) if known else generated
    raise AssertionError(f"unexpected shape type {shape.type_name}")


JUNK = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30), st.lists(st.integers(), max_size=2))


def maybe_broken(operation: OperationModel, world: World) -> st.SearchStrategy[tuple[bool, dict[str, Any]]]:
    """(is_valid, request): a valid request, or one with a member replaced by junk or a required one dropped."""
    shape = operation.input_shape
    assert shape is not None
    valid = valid_value(shape, world).map(lambda body: (True, body))

    @st.composite
    def broken(draw: st.DrawFn) -> tuple[bool, dict[str, Any]]:
        body = dict(draw(valid_value(shape, world)))
        assert isinstance(shape, StructureShape)
        name = draw(st.sampled_from(sorted(shape.members)))
        if draw(st.booleans()) and name in shape.required_members:
            body.pop(name, None)
        else:
            body[name] = draw(JUNK)
        return False, body

    return st.one_of(valid, broken())


def unknown_keys(value: Any, shape: Shape, path: str = "") -> list[str]:
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        problems = [f"{path}.{k}" for k in value if k not in shape.members]
        for key, item in value.items():
            if key in shape.members:
                problems += unknown_keys(item, shape.members[key], f"{path}.{key}")
        return problems
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [p for item in value for p in unknown_keys(item, shape.member, path + "[]")]
    return []


def check_response(operation: OperationModel, valid: bool, response: requests.Response) -> None:
    body = response.json()
    if response.status_code == 200:
        assert operation.output_shape is not None
        assert model.response_errors(operation, body) == []
        assert unknown_keys(body, operation.output_shape) == []
        parsed = create_parser("json").parse(
            {"status_code": 200, "headers": dict(response.headers), "body": response.content},
            operation.output_shape,
        )
        parsed.pop("ResponseMetadata", None)
        report = ParamValidator().validate(parsed, operation.output_shape)
        assert not report.has_errors(), report.generate_report()
        return
    code = body["__type"].split("#", 1)[1]
    modeled = {shape.name: shape for shape in operation.error_shapes}
    if code in PROTOCOL_ERRORS:
        assert not valid
        return
    assert code in modeled, code
    assert response.status_code == model.http_status_for(code)
    assert model.shape_errors(modeled[code], {k: v for k, v in body.items() if k != "__type"}) == []
    if valid:
        assert code != "ValidationException", body["Message"]


@pytest.mark.parametrize("operation_name", SUPPORTED_OPERATIONS)
def test_responses_conform_to_the_model(world: World, operation_name: str) -> None:
    operation = model.operation_model(operation_name)
    assert operation is not None

    @settings(max_examples=18, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=maybe_broken(operation, world))
    def sweep(case: tuple[bool, dict[str, Any]]) -> None:
        valid, body = case
        response = requests.post(
            world.env.emulator.endpoint_url + "/",
            data=json.dumps(body),
            headers={
                "X-Amz-Target": f"VoiceID.{operation_name}",
                "Content-Type": "application/x-amz-json-1.0",
            },
            timeout=30,
        )
        check_response(operation, valid, response)
        # Fail leftover jobs so the next Start can succeed instead of always hitting the active-job quota.
        for job in list(world.env.emulator.state.active_jobs()):
            world.env.emulator.admin.force_job_failure(job.job_id, 500, "sweep cleanup")
            world.env.emulator.step_job(job.job_id)

    sweep()


def call(env: Env, operation: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        env.emulator.endpoint_url + "/",
        data=json.dumps(body),
        headers={"X-Amz-Target": f"VoiceID.{operation}", "Content-Type": "application/x-amz-json-1.0"},
        timeout=30,
    )


def conforming(env: Env, operation_name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Call the operation on the wire, check the 200 response against botocore's output shape, return it."""
    operation = model.operation_model(operation_name)
    assert operation is not None
    response = call(env, operation_name, body)
    assert response.status_code == 200, response.text
    check_response(operation, True, response)
    result: dict[str, Any] = response.json()
    return result


def test_speaker_enrollment_jobs_conform_to_the_model_in_every_status(env: Env) -> None:
    domain_id = env.create_domain()
    watchlist_id = env.client.list_watchlists(DomainId=domain_id)["WatchlistSummaries"][0]["WatchlistId"]
    good = env.put_audio("audio/good.wav", make_wav(3, seed=1))
    short = env.put_audio("audio/short.wav", make_wav(0.5, 2, seed=2))
    mixed = env.put_manifest(speaker_manifest([("r1", "alice", [good]), ("r2", "bob", [short])]), key="m/mixed.json")
    clean = env.put_manifest(speaker_manifest([("r1", "carol", [good])]), key="m/clean.json")
    full_config = {
        "ExistingEnrollmentAction": "OVERWRITE",
        "FraudDetectionConfig": {"FraudDetectionAction": "FAIL", "RiskThreshold": 60, "WatchlistIds": [watchlist_id]},
    }
    start = {**env.job_args(domain_id, mixed), "JobName": "enroll-1", "EnrollmentConfig": full_config}
    job = conforming(env, "StartSpeakerEnrollmentJob", start)["Job"]
    job_id = job["JobId"]
    assert job["EnrollmentConfig"] == full_config
    statuses: list[str] = []

    def check(expected: str, job_id: str = job_id) -> None:
        described = conforming(env, "DescribeSpeakerEnrollmentJob", {"DomainId": domain_id, "JobId": job_id})["Job"]
        assert described["JobStatus"] == expected
        assert {"CreatedAt", "DataAccessRoleArn", "EnrollmentConfig", "InputDataConfig", "OutputDataConfig"} <= set(
            described
        )
        assert ("EndedAt" in described) == (expected not in {"SUBMITTED", "IN_PROGRESS"})
        assert ("FailureDetails" in described) == (expected == "FAILED")
        for status_filter in (None, expected):
            body = {"DomainId": domain_id, **({"JobStatus": status_filter} if status_filter else {})}
            summaries = conforming(env, "ListSpeakerEnrollmentJobs", body)["JobSummaries"]
            mine = [s for s in summaries if s["JobId"] == job_id]
            assert [s["JobStatus"] for s in mine] == [expected]
            assert "EnrollmentConfig" not in mine[0] and "InputDataConfig" not in mine[0]
        statuses.append(expected)

    check("SUBMITTED")
    env.emulator.step_job(job_id)
    check("IN_PROGRESS")
    env.emulator.run_until_done(job_id)
    check("COMPLETED_WITH_ERRORS")
    completed = conforming(env, "StartSpeakerEnrollmentJob", env.job_args(domain_id, clean))["Job"]["JobId"]
    env.emulator.run_until_done(completed)
    check("COMPLETED", completed)
    missing = env.job_args(domain_id, f"s3://{env.input_bucket}/m/missing.json")
    failed = conforming(env, "StartSpeakerEnrollmentJob", missing)["Job"]["JobId"]
    env.emulator.run_until_done(failed)
    check("FAILED", failed)
    assert statuses == ["SUBMITTED", "IN_PROGRESS", "COMPLETED_WITH_ERRORS", "COMPLETED", "FAILED"]
    # And the paginated listing of all three, checked page by page.
    first = conforming(env, "ListSpeakerEnrollmentJobs", {"DomainId": domain_id, "MaxResults": 2})
    second = conforming(
        env, "ListSpeakerEnrollmentJobs", {"DomainId": domain_id, "MaxResults": 2, "NextToken": first["NextToken"]}
    )
    assert [s["JobId"] for s in first["JobSummaries"] + second["JobSummaries"]] == [job_id, completed, failed]
    assert "NextToken" not in second
