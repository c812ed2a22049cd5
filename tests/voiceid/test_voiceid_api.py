"""boto3 round-trips for every emulated operation and its error paths."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError, ParamValidationError

from voiceid_emulator import Pacing, Quotas, VoiceIdEmulator
from voiceid_emulator.audio import make_wav
from voiceid_emulator.testing import ROLE_ARN, Env, fraudster_manifest, make_env, speaker_manifest

UNKNOWN_ID = "A" * 22


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, dict[str, Any]]:
    response: dict[str, Any] = dict(exc.value.response)
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response


def simple_manifest(env: Env) -> str:
    uri = env.put_audio("audio/a.wav", make_wav(3))
    return env.put_manifest(fraudster_manifest([("r1", [uri])]))


def test_create_describe_list_domains(env: Env) -> None:
    created = env.client.create_domain(
        Name="my-domain",
        Description="Tracker domain: 1",
        ServerSideEncryptionConfiguration={"KmsKeyId": env.kms_key_id},
        Tags=[{"Key": "team", "Value": "fraud"}],
    )["Domain"]
    assert created["DomainStatus"] == "ACTIVE"
    assert created["Arn"] == f"arn:aws:voiceid:us-east-1:123456789012:domain/{created['DomainId']}"
    described = env.client.describe_domain(DomainId=created["DomainId"])["Domain"]
    assert described["Name"] == "my-domain"
    assert described["WatchlistDetails"]["DefaultWatchlistId"] == created["WatchlistDetails"]["DefaultWatchlistId"]
    listed = env.client.list_domains()["DomainSummaries"]
    assert [d["DomainId"] for d in listed] == [created["DomainId"]]


def test_domain_quota_is_three_per_account(env: Env) -> None:
    for index in range(3):
        env.create_domain(f"d{index}")
    with pytest.raises(ClientError) as exc:
        env.create_domain("d4")
    code, status, _ = error_of(exc)
    assert (code, status) == ("ServiceQuotaExceededException", 402)


def test_list_domains_pages(env: Env) -> None:
    ids = [env.create_domain(f"d{i}") for i in range(3)]
    first = env.client.list_domains(MaxResults=2)
    assert len(first["DomainSummaries"]) == 2
    second = env.client.list_domains(MaxResults=2, NextToken=first["NextToken"])
    assert "NextToken" not in second
    assert [d["DomainId"] for d in first["DomainSummaries"] + second["DomainSummaries"]] == ids


def test_describe_unknown_domain_is_not_found_with_resource_type(env: Env) -> None:
    with pytest.raises(ClientError) as exc:
        env.client.describe_domain(DomainId=UNKNOWN_ID)
    code, status, response = error_of(exc)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert response["ResourceType"] == "DOMAIN"
    assert UNKNOWN_ID in response["Error"]["Message"]


def test_watchlists_create_list_and_quota(env: Env) -> None:
    domain_id = env.create_domain()
    created = env.client.create_watchlist(DomainId=domain_id, Name="high-risk", Description="Known fraud")
    watchlist = created["Watchlist"]
    assert watchlist["DefaultWatchlist"] is False
    listed = env.client.list_watchlists(DomainId=domain_id)["WatchlistSummaries"]
    assert {w["Name"] for w in listed} == {"Default", "high-risk"}
    assert sum(1 for w in listed if w["DefaultWatchlist"]) == 1
    page = env.client.list_watchlists(DomainId=domain_id, MaxResults=1)
    assert len(page["WatchlistSummaries"]) == 1 and "NextToken" in page
    env.client.create_watchlist(DomainId=domain_id, Name="third")
    with pytest.raises(ClientError) as exc:
        env.client.create_watchlist(DomainId=domain_id, Name="fourth")
    assert error_of(exc)[:2] == ("ServiceQuotaExceededException", 402)


def test_create_watchlist_in_unknown_domain(env: Env) -> None:
    with pytest.raises(ClientError) as exc:
        env.client.create_watchlist(DomainId=UNKNOWN_ID, Name="x")
    code, _, response = error_of(exc)
    assert code == "ResourceNotFoundException" and response["ResourceType"] == "DOMAIN"


def test_start_describe_list_fraudster_job(env: Env) -> None:
    domain_id = env.create_domain()
    manifest = simple_manifest(env)
    job = env.client.start_fraudster_registration_job(**env.job_args(domain_id, manifest, JobName="nightly-1"))["Job"]
    assert job["JobStatus"] == "SUBMITTED"
    assert job["JobProgress"]["PercentComplete"] == 0
    assert job["RegistrationConfig"]["DuplicateRegistrationAction"] == "SKIP"
    assert len(job["JobId"]) == 22 and job["JobId"].isalnum()
    described = env.client.describe_fraudster_registration_job(DomainId=domain_id, JobId=job["JobId"])["Job"]
    assert described["JobName"] == "nightly-1"
    assert described["InputDataConfig"]["S3Uri"] == manifest
    summaries = env.client.list_fraudster_registration_jobs(DomainId=domain_id)["JobSummaries"]
    assert [s["JobId"] for s in summaries] == [job["JobId"]]
    assert "InputDataConfig" not in summaries[0]


def test_start_describe_list_speaker_job(env: Env) -> None:
    domain_id = env.create_domain()
    uri = env.put_audio("audio/s.wav", make_wav(3))
    manifest = env.put_manifest(speaker_manifest([("r1", "customer-1", [uri])]))
    job = env.client.start_speaker_enrollment_job(**env.job_args(domain_id, manifest))["Job"]
    assert job["JobStatus"] == "SUBMITTED"
    assert job["EnrollmentConfig"] == {
        "ExistingEnrollmentAction": "SKIP",
        "FraudDetectionConfig": {"FraudDetectionAction": "FAIL"},
    }
    env.emulator.run_until_done(job["JobId"])
    described = env.client.describe_speaker_enrollment_job(DomainId=domain_id, JobId=job["JobId"])["Job"]
    assert described["JobStatus"] == "COMPLETED"
    assert described["EndedAt"] >= described["CreatedAt"]
    listed = env.client.list_speaker_enrollment_jobs(DomainId=domain_id, JobStatus="COMPLETED")["JobSummaries"]
    assert [s["JobId"] for s in listed] == [job["JobId"]]
    assert env.client.list_fraudster_registration_jobs(DomainId=domain_id)["JobSummaries"] == []


def test_describe_unknown_job_is_batch_job_not_found(env: Env) -> None:
    domain_id = env.create_domain()
    for call in (env.client.describe_fraudster_registration_job, env.client.describe_speaker_enrollment_job):
        with pytest.raises(ClientError) as exc:
            call(DomainId=domain_id, JobId=UNKNOWN_ID)
        code, status, response = error_of(exc)
        assert (code, status, response["ResourceType"]) == ("ResourceNotFoundException", 404, "BATCH_JOB")


def test_fraudster_job_id_is_not_a_speaker_job(env: Env) -> None:
    domain_id = env.create_domain()
    job_id = env.client.start_fraudster_registration_job(**env.job_args(domain_id, simple_manifest(env)))["Job"][
        "JobId"
    ]
    with pytest.raises(ClientError) as exc:
        env.client.describe_speaker_enrollment_job(DomainId=domain_id, JobId=job_id)
    assert error_of(exc)[0] == "ResourceNotFoundException"


@pytest.mark.parametrize(
    "operation",
    ["start_fraudster_registration_job", "start_speaker_enrollment_job"],
)
def test_start_in_unknown_domain(env: Env, operation: str) -> None:
    with pytest.raises(ClientError) as exc:
        getattr(env.client, operation)(**env.job_args(UNKNOWN_ID, "s3://bucket-x/m.json"))
    code, status, response = error_of(exc)
    assert (code, status, response["ResourceType"]) == ("ResourceNotFoundException", 404, "DOMAIN")


def test_start_with_unknown_watchlist(env: Env) -> None:
    domain_id = env.create_domain()
    args = env.job_args(domain_id, simple_manifest(env), RegistrationConfig={"WatchlistIds": [UNKNOWN_ID]})
    with pytest.raises(ClientError) as exc:
        env.client.start_fraudster_registration_job(**args)
    code, _, response = error_of(exc)
    assert code == "ResourceNotFoundException" and response["ResourceType"] == "WATCHLIST"


def test_second_concurrent_start_exceeds_the_active_job_quota(env: Env) -> None:
    domain_id = env.create_domain()
    manifest = simple_manifest(env)
    first = env.client.start_fraudster_registration_job(**env.job_args(domain_id, manifest))["Job"]
    with pytest.raises(ClientError) as exc:
        env.client.start_fraudster_registration_job(**env.job_args(domain_id, manifest))
    code, status, response = error_of(exc)
    assert (code, status) == ("ServiceQuotaExceededException", 402)
    assert first["JobId"] in response["Error"]["Message"]
    # The quota is per job kind: a speaker enrollment job may run alongside.
    speaker = env.client.start_speaker_enrollment_job(**env.job_args(domain_id, manifest))["Job"]
    assert speaker["JobStatus"] == "SUBMITTED"
    env.emulator.run_until_done()
    second = env.client.start_fraudster_registration_job(**env.job_args(domain_id, manifest))["Job"]
    assert second["JobId"] != first["JobId"]


def test_client_token_same_parameters_returns_the_same_job(env: Env) -> None:
    domain_id = env.create_domain()
    args = env.job_args(domain_id, simple_manifest(env), ClientToken="token-1")
    first = env.client.start_fraudster_registration_job(**args)["Job"]
    env.emulator.run_until_done(first["JobId"])
    again = env.client.start_fraudster_registration_job(**args)["Job"]
    assert again["JobId"] == first["JobId"]
    assert again["JobStatus"] == "COMPLETED"
    assert len(env.client.list_fraudster_registration_jobs(DomainId=domain_id)["JobSummaries"]) == 1
    submitted = [e for e in env.emulator.events if e["detail"]["status"] == "SUBMITTED"]
    assert len(submitted) == 1


def test_client_token_with_different_parameters_is_a_conflict(env: Env) -> None:
    domain_id = env.create_domain()
    args = env.job_args(domain_id, simple_manifest(env), ClientToken="token-2")
    env.client.start_fraudster_registration_job(**args)
    args["JobName"] = "different"
    with pytest.raises(ClientError) as exc:
        env.client.start_fraudster_registration_job(**args)
    code, status, response = error_of(exc)
    assert (code, status) == ("ConflictException", 409)
    assert "ClientToken" in response["Error"]["Message"]


def test_list_jobs_pages_and_filters_by_status(env: Env) -> None:
    domain_id = env.create_domain()
    manifest = simple_manifest(env)
    ids = []
    for _ in range(3):
        job_id = env.client.start_fraudster_registration_job(**env.job_args(domain_id, manifest))["Job"]["JobId"]
        env.emulator.run_until_done(job_id)
        ids.append(job_id)
    env.client.start_fraudster_registration_job(**env.job_args(domain_id, manifest))
    paginator = env.client.get_paginator("list_fraudster_registration_jobs")
    pages = list(paginator.paginate(DomainId=domain_id, JobStatus="COMPLETED", PaginationConfig={"PageSize": 2}))
    assert [len(p["JobSummaries"]) for p in pages] == [2, 1]
    assert [s["JobId"] for p in pages for s in p["JobSummaries"]] == ids
    submitted = env.client.list_fraudster_registration_jobs(DomainId=domain_id, JobStatus="SUBMITTED")
    assert len(submitted["JobSummaries"]) == 1
    assert env.client.list_fraudster_registration_jobs(DomainId=domain_id, JobStatus="FAILED")["JobSummaries"] == []


SUMMARY_KEYS = {"CreatedAt", "DomainId", "JobId", "JobStatus"}


@pytest.mark.parametrize("kind", ["fraudster", "speaker"])
def test_job_listings_page_every_job_exactly_once(env: Env, kind: str) -> None:
    """Jobs of the other kind interleave with the listed ones; the paginator must still see each job once."""
    domain_id = env.create_domain()
    fraudster_uri = simple_manifest(env)
    audio = env.put_audio("audio/s.wav", make_wav(3, seed=9))
    speaker_uri = env.put_manifest(speaker_manifest([("r1", "customer-1", [audio])]), key="manifests/s.json")
    listed_ids: list[str] = []
    for _ in range(5):
        fraudster = env.client.start_fraudster_registration_job(**env.job_args(domain_id, fraudster_uri))["Job"]
        speaker = env.client.start_speaker_enrollment_job(**env.job_args(domain_id, speaker_uri))["Job"]
        env.emulator.run_until_done()
        listed_ids.append(fraudster["JobId"] if kind == "fraudster" else speaker["JobId"])
    operation = "list_fraudster_registration_jobs" if kind == "fraudster" else "list_speaker_enrollment_jobs"
    paginator = env.client.get_paginator(operation)  # type: ignore[call-overload]
    pages = list(paginator.paginate(DomainId=domain_id, PaginationConfig={"PageSize": 2}))
    assert [len(p["JobSummaries"]) for p in pages] == [2, 2, 1]
    assert ["NextToken" in p for p in pages] == [True, True, False]
    summaries = [s for p in pages for s in p["JobSummaries"]]
    assert [s["JobId"] for s in summaries] == listed_ids
    for summary in summaries:
        assert set(summary) >= SUMMARY_KEYS
        assert summary["DomainId"] == domain_id and summary["JobStatus"] == "COMPLETED"
    exact = (
        env.client.list_fraudster_registration_jobs if kind == "fraudster" else env.client.list_speaker_enrollment_jobs
    )
    first = exact(DomainId=domain_id, MaxResults=5)
    assert [s["JobId"] for s in first["JobSummaries"]] == listed_ids and "NextToken" not in first


def test_status_filtered_pages_stay_exact_when_jobs_change_status_between_pages(moto_endpoint: str) -> None:
    with VoiceIdEmulator(
        s3_endpoint_url=moto_endpoint,
        throttling=False,
        pacing=Pacing.manual_steps(),
        quotas=Quotas(active_jobs_per_domain_per_kind=4),
    ) as emulator:
        env = make_env(moto_endpoint, emulator)
        domain_id = env.create_domain()
        manifest = simple_manifest(env)
        ids = [
            env.client.start_fraudster_registration_job(**env.job_args(domain_id, manifest))["Job"]["JobId"]
            for _ in range(4)
        ]
        first = env.client.list_fraudster_registration_jobs(DomainId=domain_id, JobStatus="SUBMITTED", MaxResults=2)
        assert [s["JobId"] for s in first["JobSummaries"]] == ids[:2]
        emulator.step_job(ids[0])  # leaves the SUBMITTED filter before the next page is read
        second = env.client.list_fraudster_registration_jobs(
            DomainId=domain_id, JobStatus="SUBMITTED", MaxResults=2, NextToken=first["NextToken"]
        )
        assert [s["JobId"] for s in second["JobSummaries"]] == ids[2:]
        assert "NextToken" not in second


def test_next_token_from_another_listing_is_rejected(env: Env) -> None:
    domain_id = env.create_domain()
    env.create_domain("other")
    token = env.client.list_domains(MaxResults=1)["NextToken"]
    with pytest.raises(ClientError) as exc:
        env.client.list_fraudster_registration_jobs(DomainId=domain_id, NextToken=token)
    code, status, response = error_of(exc)
    assert (code, status) == ("ValidationException", 400)
    assert "NextToken" in response["Error"]["Message"]


@pytest.mark.parametrize(
    ("field", "override", "fragment"),
    [
        ("DomainId", {"DomainId": "x" * 21 + "-"}, "'DomainId'"),
        ("S3Uri", {"InputDataConfig": {"S3Uri": "https://bucket/key.json"}}, "'InputDataConfig.S3Uri'"),
        (
            "DataAccessRoleArn",
            {"DataAccessRoleArn": "arn:aws:iam::12:user/someone-else"},
            "'DataAccessRoleArn'",
        ),
        ("JobName", {"JobName": "-starts-with-dash"}, "'JobName'"),
        ("ClientToken", {"ClientToken": "has space"}, "'ClientToken'"),
        (
            "OutputDataConfig.S3Uri",
            {"OutputDataConfig": {"S3Uri": "s3://UPPER/x"}},
            "'OutputDataConfig.S3Uri'",
        ),
    ],
)
def test_pattern_violations_are_validation_errors_naming_the_field(
    env: Env, field: str, override: dict[str, Any], fragment: str
) -> None:
    domain_id = env.create_domain()
    args = {**env.job_args(domain_id, "s3://bucket-x/m.json"), **override}
    with pytest.raises(ClientError) as exc:
        env.client.start_fraudster_registration_job(**args)
    code, status, response = error_of(exc)
    assert (code, status) == ("ValidationException", 400)
    assert fragment in response["Error"]["Message"]
    assert "regular expression pattern" in response["Error"]["Message"]


def test_sensitive_values_are_not_echoed(env: Env) -> None:
    domain_id = env.create_domain()
    args = {**env.job_args(domain_id, "s3://bucket-x/m.json"), "JobName": "secret name!"}
    with pytest.raises(ClientError) as exc:
        env.client.start_fraudster_registration_job(**args)
    message = exc.value.response["Error"]["Message"]
    assert "'JobName'" in message and "secret name!" not in message


def post(env: Env, target: str | None, body: Any) -> requests.Response:
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    if target is not None:
        headers["X-Amz-Target"] = target
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(env.emulator.endpoint_url + "/", data=data, headers=headers, timeout=30)


def test_wire_level_checks_the_client_side_validator_would_hide(env: Env) -> None:
    """The service re-checks required members, lengths, ranges and enums: boto3 is not the only client."""
    domain_id = env.create_domain()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"DomainId": domain_id}, "'JobId' failed to satisfy constraint: Member must not be null"),
        ({"DomainId": "short", "JobId": UNKNOWN_ID}, "length greater than or equal to 22"),
    ]
    for body, fragment in cases:
        response = post(env, "VoiceID.DescribeFraudsterRegistrationJob", body)
        assert response.status_code == 400
        assert response.json()["__type"] == "com.amazonaws.voiceid#ValidationException"
        assert fragment in response.json()["Message"]
    listing = post(env, "VoiceID.ListFraudsterRegistrationJobs", {"DomainId": domain_id, "MaxResults": 101})
    assert listing.status_code == 400 and "'MaxResults'" in listing.json()["Message"]
    status = post(env, "VoiceID.ListSpeakerEnrollmentJobs", {"DomainId": domain_id, "JobStatus": "DONE"})
    assert status.status_code == 400 and "enum value set" in status.json()["Message"]
    config = {
        **env.job_args(domain_id, "s3://bucket-x/m.json"),
        "RegistrationConfig": {"FraudsterSimilarityThreshold": 101, "WatchlistIds": ["a" * 22, "b" * 22]},
    }
    response = post(env, "VoiceID.StartFraudsterRegistrationJob", config)
    message = response.json()["Message"]
    assert message.startswith("2 validation errors detected")
    assert "'RegistrationConfig.FraudsterSimilarityThreshold'" in message
    assert "'RegistrationConfig.WatchlistIds'" in message


def test_botocore_client_side_validation_still_applies(env: Env) -> None:
    with pytest.raises(ParamValidationError):
        env.client.describe_fraudster_registration_job(DomainId="short", JobId=UNKNOWN_ID)


def test_protocol_errors(env: Env) -> None:
    unknown = post(env, "VoiceID.MakeCoffee", {})
    assert unknown.status_code == 400
    assert unknown.json()["__type"].endswith("#UnknownOperationException")
    missing = post(env, None, {})
    assert missing.status_code == 400
    unsupported = post(env, "VoiceID.EvaluateSession", {"DomainId": UNKNOWN_ID, "SessionNameOrId": "s"})
    assert unsupported.status_code == 400 and "does not implement EvaluateSession" in unsupported.json()["Message"]
    garbage = post(env, "VoiceID.ListDomains", b"{not json")
    assert garbage.status_code == 400
    assert garbage.json()["__type"].endswith("#SerializationException")
    assert unknown.headers["Content-Type"] == "application/x-amz-json-1.0"


def test_speaker_job_validation_of_enrollment_config(env: Env) -> None:
    domain_id = env.create_domain()
    args = env.job_args(
        domain_id,
        "s3://bucket-x/m.json",
        EnrollmentConfig={"FraudDetectionConfig": {"RiskThreshold": 50, "WatchlistIds": ["a" * 21 + " "]}},
    )
    with pytest.raises(ClientError) as exc:
        env.client.start_speaker_enrollment_job(**args)
    assert "'EnrollmentConfig.FraudDetectionConfig.WatchlistIds.1'" in exc.value.response["Error"]["Message"]


def test_role_arn_constant_is_valid() -> None:
    assert ROLE_ARN.startswith("arn:aws:iam::123456789012:role/")
