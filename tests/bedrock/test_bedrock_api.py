"""The four operations through boto3: round trips, lookups by ARN and id, idempotency, listing, and a clear error
(with nothing created, written or sent) for each bad call."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bedrock_emulator import ManualClock
from bedrock_emulator.testing import CLAUDE_MODEL_ID, NOVA_MODEL_ID, ROLE_ARN, Env, records


def _error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def unvalidated_client(env: Env) -> Any:
    """A client that sends what it is given: botocore's own parameter checks off, so the service's are seen."""
    return boto3.client(
        "bedrock",
        endpoint_url=env.emulator.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
    )


def assert_nothing_happened(env: Env, jobs_before: int, events_before: int) -> None:
    assert len(env.emulator.state.jobs) == jobs_before
    assert len(env.emulator.events) == events_before
    assert env.s3.list_objects_v2(Bucket=env.output_bucket).get("KeyCount", 0) == 0


def test_create_get_list_stop_round_trip(env: Env) -> None:
    uri = env.put_input("in/batch.jsonl", records(3))
    arn = env.create(uri, name="round-trip", timeoutDurationInHours=24, tags=[{"key": "team", "value": "ml"}])
    job_id = arn.rsplit("/", 1)[1]
    assert arn == f"arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/{job_id}"
    assert len(job_id) == 12 and job_id.isalnum() and job_id.islower()
    by_arn: dict[str, Any] = dict(env.client.get_model_invocation_job(jobIdentifier=arn))
    by_id: dict[str, Any] = dict(env.client.get_model_invocation_job(jobIdentifier=job_id))
    by_arn.pop("ResponseMetadata")
    by_id.pop("ResponseMetadata")
    assert by_arn == by_id
    assert by_arn["status"] == "Submitted"
    assert by_arn["jobName"] == "round-trip"
    assert by_arn["modelId"] == CLAUDE_MODEL_ID
    assert by_arn["roleArn"] == ROLE_ARN
    assert by_arn["inputDataConfig"] == {"s3InputDataConfig": {"s3Uri": uri, "s3InputFormat": "JSONL"}}
    assert by_arn["timeoutDurationInHours"] == 24
    assert (by_arn["jobExpirationTime"] - by_arn["submitTime"]).total_seconds() == 24 * 3600
    assert by_arn["clientRequestToken"]  # botocore fills the idempotency token in
    assert [by_arn[k] for k in ("totalRecordCount", "processedRecordCount", "successRecordCount")] == [0, 0, 0]
    assert "endTime" not in by_arn and "message" not in by_arn
    listed = env.client.list_model_invocation_jobs()["invocationJobSummaries"]
    assert [summary["jobArn"] for summary in listed] == [arn]
    assert env.client.stop_model_invocation_job(jobIdentifier=job_id)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert env.client.get_model_invocation_job(jobIdentifier=arn)["status"] == "Stopping"
    env.emulator.run_until_done(arn)
    ended = env.client.get_model_invocation_job(jobIdentifier=arn)
    assert ended["status"] == "Stopped"
    assert ended["endTime"] >= ended["submitTime"]


def test_the_same_client_request_token_returns_the_same_job(env: Env) -> None:
    uri = env.put_input("in/batch.jsonl", records(2))
    args = env.job_args(uri, clientRequestToken="token-1")
    first = env.client.create_model_invocation_job(**args)["jobArn"]
    events = len(env.emulator.events)
    again = env.client.create_model_invocation_job(**args)["jobArn"]
    assert again == first
    assert len(env.emulator.state.jobs) == 1
    assert len(env.emulator.events) == events  # no second Submitted event
    with pytest.raises(ClientError) as excinfo:
        env.client.create_model_invocation_job(**{**args, "jobName": "something-else"})
    code, status, message = _error(excinfo)
    assert (code, status) == ("ConflictException", 400)
    assert "token-1" in message
    assert len(env.emulator.state.jobs) == 1


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        ({"jobName": "bad name!"}, "jobName", "regular expression pattern"),
        ({"roleArn": "arn:aws:iam::123:user/x"}, "roleArn", "regular expression pattern"),
        ({"timeoutDurationInHours": 23}, "timeoutDurationInHours", "greater than or equal to 24"),
        ({"timeoutDurationInHours": 169}, "timeoutDurationInHours", "less than or equal to 168"),
        ({"clientRequestToken": "has spaces"}, "clientRequestToken", "regular expression pattern"),
        ({"modelInvocationType": "Chat"}, "modelInvocationType", "enum value set"),
        (
            {"inputDataConfig": {"s3InputDataConfig": {"s3Uri": "https://x/y"}}},
            "inputDataConfig.s3InputDataConfig.s3Uri",
            "pattern",
        ),
        ({"inputDataConfig": {}}, "inputDataConfig", "exactly one of [s3InputDataConfig]"),
        (
            {"inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://bucket-a/x", "s3InputFormat": "CSV"}}},
            "inputDataConfig.s3InputDataConfig.s3InputFormat",
            "enum",
        ),
        (
            {
                "outputDataConfig": {
                    "s3OutputDataConfig": {"s3Uri": "s3://bucket-a/x", "s3EncryptionKeyId": "not a key"}
                }
            },
            "outputDataConfig.s3OutputDataConfig.s3EncryptionKeyId",
            "pattern",
        ),
        (
            {"vpcConfig": {"subnetIds": [], "securityGroupIds": ["sg-1"]}},
            "vpcConfig.subnetIds",
            "length greater than or equal to 1",
        ),
        ({"jobName": None}, "jobName", "must not be null"),
    ],
)
def test_create_validation_errors_name_the_field(env: Env, change: dict[str, Any], field: str, expected: str) -> None:
    client = unvalidated_client(env)
    args = {
        key: value
        for key, value in {**env.job_args(env.put_input("in/a.jsonl", records(1))), **change}.items()
        if value is not None
    }
    before = (len(env.emulator.state.jobs), len(env.emulator.events))
    with pytest.raises(ClientError) as excinfo:
        client.create_model_invocation_job(**args)
    code, status, message = _error(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert f"at '{field}'" in message
    assert expected in message
    assert_nothing_happened(env, *before)


def test_create_refuses_a_model_without_batch_support(env: Env) -> None:
    before = (len(env.emulator.state.jobs), len(env.emulator.events))
    with pytest.raises(ClientError) as excinfo:
        env.create(env.put_input("in/a.jsonl", records(1)), model_id="meta.llama3-8b-instruct-v1:0")
    code, status, message = _error(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert "meta.llama3-8b-instruct-v1:0" in message
    assert_nothing_happened(env, *before)


def test_create_does_not_find_a_custom_model(env: Env) -> None:
    before = (len(env.emulator.state.jobs), len(env.emulator.events))
    model_arn = "arn:aws:bedrock:us-east-1:123456789012:custom-model/anthropic.claude-v2:1/abcdefabcdef"
    with pytest.raises(ClientError) as excinfo:
        env.create(env.put_input("in/a.jsonl", records(1)), model_id=model_arn)
    code, status, _ = _error(excinfo)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert_nothing_happened(env, *before)


def test_unfinished_jobs_per_model_quota(env: Env) -> None:
    env.emulator.admin.set_quota(NOVA_MODEL_ID, max_unfinished_jobs=2)
    uri = env.put_input("in/a.jsonl", records(1))
    first = env.create(uri, model_id=NOVA_MODEL_ID)
    env.create(uri, model_id=NOVA_MODEL_ID)
    env.create(uri, model_id=CLAUDE_MODEL_ID)  # another model has its own quota
    before = (len(env.emulator.state.jobs), len(env.emulator.events))
    with pytest.raises(ClientError) as excinfo:
        env.create(uri, model_id=NOVA_MODEL_ID)
    code, status, message = _error(excinfo)
    assert (code, status) == ("ServiceQuotaExceededException", 400)
    assert "2 unfinished" in message and NOVA_MODEL_ID in message
    assert (len(env.emulator.state.jobs), len(env.emulator.events)) == before
    env.client.stop_model_invocation_job(jobIdentifier=first)
    env.emulator.run_until_done(first)
    env.create(uri, model_id=NOVA_MODEL_ID)  # room again once one ended


def test_a_role_the_caller_may_not_pass_is_access_denied(env: Env) -> None:
    env.emulator.admin.deny_roles([ROLE_ARN])
    before = (len(env.emulator.state.jobs), len(env.emulator.events))
    with pytest.raises(ClientError) as excinfo:
        env.create(env.put_input("in/a.jsonl", records(1)))
    code, status, message = _error(excinfo)
    assert (code, status) == ("AccessDeniedException", 403)
    assert "iam:PassRole" in message and ROLE_ARN in message
    assert_nothing_happened(env, *before)


@pytest.mark.parametrize(
    "identifier",
    [
        "abcdefabcdef",
        "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdefabcdef",
    ],
)
def test_unknown_jobs_are_not_found(env: Env, identifier: str) -> None:
    for call in (env.client.get_model_invocation_job, env.client.stop_model_invocation_job):
        with pytest.raises(ClientError) as excinfo:
            call(jobIdentifier=identifier)
        code, status, message = _error(excinfo)
        assert (code, status) == ("ResourceNotFoundException", 404)
        assert identifier in message


def test_a_job_arn_of_another_account_is_not_found(env: Env) -> None:
    arn = env.create(env.put_input("in/a.jsonl", records(1)))
    other = arn.replace("123456789012", "210987654321")
    with pytest.raises(ClientError) as excinfo:
        env.client.get_model_invocation_job(jobIdentifier=other)
    assert _error(excinfo)[:2] == ("ResourceNotFoundException", 404)


def test_a_malformed_job_identifier_is_a_validation_error(env: Env) -> None:
    with pytest.raises(ClientError) as excinfo:
        env.client.get_model_invocation_job(jobIdentifier="NOT-A-JOB")
    code, status, message = _error(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert "at 'jobIdentifier'" in message


def test_an_ended_job_cannot_be_stopped(env: Env) -> None:
    arn = env.create(env.put_input("in/a.jsonl", records(1)))
    env.emulator.run_until_done(arn)
    events = len(env.emulator.events)
    with pytest.raises(ClientError) as excinfo:
        env.client.stop_model_invocation_job(jobIdentifier=arn)
    code, status, message = _error(excinfo)
    assert (code, status) == ("ConflictException", 400)
    assert "Completed" in message
    assert env.client.get_model_invocation_job(jobIdentifier=arn)["status"] == "Completed"
    assert len(env.emulator.events) == events


def test_stopping_twice_is_accepted_once(env: Env) -> None:
    arn = env.create(env.put_input("in/a.jsonl", records(1)))
    env.client.stop_model_invocation_job(jobIdentifier=arn)
    events = len(env.emulator.events)
    env.client.stop_model_invocation_job(jobIdentifier=arn)
    assert len(env.emulator.events) == events


def test_list_filters_sorts_and_pages(env: Env, clock: ManualClock) -> None:
    uri = env.put_input("in/a.jsonl", records(1))
    arns = []
    for index in range(5):
        arns.append(env.create(uri, name=f"{'alpha' if index % 2 == 0 else 'beta'}-{index}"))
        clock.advance(60)
    env.emulator.run_until_done(arns[0])
    assert env.emulator.job(arns[0]).status == "Completed"
    listed = env.client.list_model_invocation_jobs()["invocationJobSummaries"]
    assert [s["jobArn"] for s in listed] == arns[::-1]  # newest first by default
    ascending = env.client.list_model_invocation_jobs(sortBy="CreationTime", sortOrder="Ascending")
    assert [s["jobArn"] for s in ascending["invocationJobSummaries"]] == arns
    named = env.client.list_model_invocation_jobs(nameContains="alpha", sortOrder="Ascending")
    assert [s["jobName"] for s in named["invocationJobSummaries"]] == ["alpha-0", "alpha-2", "alpha-4"]
    done = env.client.list_model_invocation_jobs(statusEquals="Completed")["invocationJobSummaries"]
    assert [s["jobArn"] for s in done] == [arns[0]]
    second_submit = env.client.get_model_invocation_job(jobIdentifier=arns[1])["submitTime"]
    fourth_submit = env.client.get_model_invocation_job(jobIdentifier=arns[3])["submitTime"]
    window = env.client.list_model_invocation_jobs(
        submitTimeAfter=second_submit, submitTimeBefore=fourth_submit, sortOrder="Ascending"
    )
    assert [s["jobArn"] for s in window["invocationJobSummaries"]] == [arns[2]]
    pages = env.client.get_paginator("list_model_invocation_jobs").paginate(
        sortOrder="Ascending", PaginationConfig={"PageSize": 2}
    )
    sizes: list[int] = []
    seen: list[str] = []
    for page in pages:
        sizes.append(len(page["invocationJobSummaries"]))
        seen.extend(s["jobArn"] for s in page["invocationJobSummaries"])
    assert sizes == [2, 2, 1]
    assert seen == arns


def test_a_page_token_is_tied_to_its_listing(env: Env) -> None:
    uri = env.put_input("in/a.jsonl", records(1))
    for _ in range(3):
        env.create(uri)
    token = env.client.list_model_invocation_jobs(maxResults=1)["nextToken"]
    bad_pages: list[dict[str, Any]] = [{"nextToken": "garbage!"}, {"nextToken": token, "nameContains": "job"}]
    for bad in bad_pages:
        with pytest.raises(ClientError) as excinfo:
            env.client.list_model_invocation_jobs(maxResults=1, **bad)
        code, status, message = _error(excinfo)
        assert (code, status) == ("ValidationException", 400)
        assert "nextToken" in message


def test_list_query_values_are_checked(env: Env) -> None:
    client = unvalidated_client(env)
    for params, field in (
        ({"maxResults": 0}, "maxResults"),
        ({"statusEquals": "Done"}, "statusEquals"),
        ({"sortOrder": "Up"}, "sortOrder"),
    ):
        with pytest.raises(ClientError) as excinfo:
            client.list_model_invocation_jobs(**params)
        code, status, message = _error(excinfo)
        assert (code, status) == ("ValidationException", 400)
        assert f"at '{field}'" in message


def test_throttling_and_injected_errors(env: Env) -> None:
    env.emulator.admin.set_throttling(True, tps=1)
    env.client.list_model_invocation_jobs()
    with pytest.raises(ClientError) as excinfo:
        env.client.list_model_invocation_jobs()
    assert _error(excinfo)[:2] == ("ThrottlingException", 429)
    env.emulator.admin.reset_faults()
    env.emulator.admin.inject_internal_errors(1, ["GetModelInvocationJob"])
    env.client.list_model_invocation_jobs()  # another operation is not affected
    with pytest.raises(ClientError) as excinfo:
        env.client.get_model_invocation_job(jobIdentifier="abcdefabcdef")
    assert _error(excinfo)[:2] == ("InternalServerException", 500)
