"""Every job operation through boto3, and every modelled error in the wrapped rest-xml form the SDKs parse,
including the `<account>.` host prefix the SDKs add."""

from __future__ import annotations

import http.client
import urllib.parse
from typing import Any

import pytest
from botocore.exceptions import ClientError

from s3batch_emulator.testing import TAGGING, Env, s3control_client


def _error(call: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def test_create_describe_list_and_tagging(env: Env) -> None:
    manifest = env.manifest_of(env.put_objects(["a"]))
    args = env.job_args(manifest, TAGGING, Description="tag them", Tags=[{"Key": "team", "Value": "ops"}])
    job_id = env.client.create_job(**args)["JobId"]
    assert env.client.create_job(**args)["JobId"] == job_id  # the same ClientRequestToken: the same job
    job = env.describe(job_id)
    assert job["JobArn"] == f"arn:aws:s3:us-east-1:{env.account_id}:job/{job_id}"
    assert (job["Status"], job["Priority"], job["Description"]) == ("New", 10, "tag them")
    assert job["Manifest"] == manifest and job["Operation"] == TAGGING
    assert job["Report"] == env.report() and job["RoleArn"] == args["RoleArn"]
    assert job["ProgressSummary"]["TotalNumberOfTasks"] == 0
    listed = env.client.list_jobs(AccountId=env.account_id)["Jobs"]
    assert [(entry["JobId"], entry["Operation"], entry["Status"]) for entry in listed] == [
        (job_id, "S3PutObjectTagging", "New")
    ]
    assert env.client.list_jobs(AccountId=env.account_id, JobStatuses=["Complete", "Failed"])["Jobs"] == []
    assert env.client.get_job_tagging(AccountId=env.account_id, JobId=job_id)["Tags"] == [
        {"Key": "team", "Value": "ops"}
    ]
    env.client.put_job_tagging(AccountId=env.account_id, JobId=job_id, Tags=[{"Key": "a", "Value": "1"}])
    assert env.client.get_job_tagging(AccountId=env.account_id, JobId=job_id)["Tags"] == [{"Key": "a", "Value": "1"}]
    env.client.delete_job_tagging(AccountId=env.account_id, JobId=job_id)
    assert env.client.get_job_tagging(AccountId=env.account_id, JobId=job_id)["Tags"] == []
    answer = env.client.update_job_priority(AccountId=env.account_id, JobId=job_id, Priority=99)
    assert (answer["JobId"], answer["Priority"]) == (job_id, 99)
    assert env.describe(job_id)["Priority"] == 99


def test_list_jobs_pages_newest_first(env: Env) -> None:
    manifest = env.manifest_of(env.put_objects(["a"]))
    ids = [env.create(manifest, TAGGING) for _ in range(3)]
    first = env.client.list_jobs(AccountId=env.account_id, MaxResults=2)
    second = env.client.list_jobs(AccountId=env.account_id, MaxResults=2, NextToken=first["NextToken"])
    assert [job["JobId"] for job in first["Jobs"] + second["Jobs"]] == ids[::-1]
    assert "NextToken" not in second


def test_every_modelled_error(env: Env) -> None:
    raw = s3control_client(env.emulator.endpoint_url, validate=False)
    manifest = env.manifest_of(env.put_objects(["a"]))
    account = env.account_id
    # CreateJob: BadRequestException for what the model refuses, and for what it cannot say.
    code, status, message = _error(raw.create_job, **env.job_args(manifest, TAGGING, Priority=-1))
    assert (code, status) == ("BadRequestException", 400) and "Priority" in message
    both = env.job_args(
        manifest,
        TAGGING,
        ManifestGenerator={"S3JobManifestGenerator": {"SourceBucket": "arn:aws:s3:::b", "EnableManifestOutput": False}},
    )
    assert _error(raw.create_job, **both)[0] == "BadRequestException"
    two_operations = env.job_args(manifest, {**TAGGING, "S3DeleteObjectTagging": {}})
    assert "exactly one" in _error(raw.create_job, **two_operations)[2]
    # IdempotencyException: the same token for a different request.
    args = env.job_args(manifest, TAGGING)
    env.client.create_job(**args)
    code, status, _ = _error(env.client.create_job, **{**args, "Priority": 11})
    assert (code, status) == ("IdempotencyException", 400)
    # NotFoundException for every per-job operation.
    for call in (raw.describe_job, raw.get_job_tagging, raw.delete_job_tagging):
        assert _error(call, AccountId=account, JobId="00000000-0000-0000-0000-000000000000")[:2] == (
            "NotFoundException",
            404,
        )
    assert _error(raw.update_job_priority, AccountId=account, JobId="no-such-job", Priority=1)[0] == "NotFoundException"
    assert _error(raw.put_job_tagging, AccountId=account, JobId="no-such-job", Tags=[])[0] == "NotFoundException"
    # JobStatusException: confirming a job that is not Suspended.
    job_id = env.create(manifest, TAGGING)
    assert _error(raw.update_job_status, AccountId=account, JobId=job_id, RequestedJobStatus="Ready")[0] == (
        "JobStatusException"
    )
    # TooManyTagsException.
    tags = [{"Key": f"k{index}", "Value": "v"} for index in range(51)]
    assert _error(raw.put_job_tagging, AccountId=account, JobId=job_id, Tags=tags)[0] == "TooManyTagsException"
    # ListJobs: InvalidRequestException (it has no BadRequestException) and InvalidNextTokenException.
    assert _error(raw.list_jobs, AccountId=account, MaxResults=1001)[:2] == ("InvalidRequestException", 400)
    assert _error(raw.list_jobs, AccountId=account, NextToken="bm90IGEgdG9rZW4=")[0] == "InvalidNextTokenException"
    # TooManyRequestsException (throttling) and InternalServiceException (5xx), through the admin faults.
    env.emulator.admin.inject_internal_errors(1, ["DescribeJob"])
    assert _error(raw.describe_job, AccountId=account, JobId=job_id)[:2] == ("InternalServiceException", 500)
    env.emulator.admin.set_throttling(True, 0.001)
    raw.list_jobs(AccountId=account)  # the burst's one token
    assert _error(raw.list_jobs, AccountId=account)[0] == "TooManyRequestsException"
    env.emulator.admin.set_throttling(False)


def _raw_request(env: Env, method: str, path: str, host: str, account: str) -> tuple[int, bytes]:
    endpoint = urllib.parse.urlsplit(env.emulator.endpoint_url)
    connection = http.client.HTTPConnection(endpoint.hostname or "", endpoint.port)
    connection.request(method, path, headers={"Host": host, "x-amz-account-id": account})
    response = connection.getresponse()
    return response.status, response.read()


def test_errors_are_the_wrapped_rest_xml_document(env: Env) -> None:
    status, body = _raw_request(env, "GET", "/v20180820/jobs/missing-job", "localhost", env.account_id)
    assert status == 404
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Code>NotFoundException')
    assert b"</Message></Error><RequestId>" in body and body.endswith(b"</RequestId></ErrorResponse>")


def test_the_host_prefix_must_name_the_header_account(env: Env) -> None:
    status, body = _raw_request(env, "GET", "/v20180820/jobs", "999999999999.localhost", env.account_id)
    assert status == 400 and b"<Code>BadRequestException</Code>" in body
    status, _ = _raw_request(env, "GET", "/v20180820/jobs", f"{env.account_id}.localhost", env.account_id)
    assert status == 200


def test_boto3_sends_the_account_prefix_and_reaches_the_emulator_through_it_as_proxy(env: Env) -> None:
    seen: list[str] = []
    env.client.meta.events.register("before-send", lambda request, **_: seen.append(request.url))
    env.client.list_jobs(AccountId=env.account_id)
    assert seen == [f"http://{env.account_id}.localhost:{env.emulator.port}/v20180820/jobs"]


def test_another_accounts_jobs_are_refused(env: Env) -> None:
    code, status, _ = _error(env.client.list_jobs, AccountId="210987654321")
    assert (code, status) == ("AccessDenied", 403)


def test_a_lambda_invoke_job_describes_its_user_arguments_map(env: Env) -> None:
    """The map members travel as `<entry><key/><value/></entry>` both ways."""
    operation = {
        "LambdaInvoke": {
            "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
            "InvocationSchemaVersion": "2.0",
            "UserArguments": {"mode": "scan", "depth": "2"},
        }
    }
    job_id = env.create(env.manifest_of(env.put_objects(["m"])), operation)
    assert env.describe(job_id)["Operation"] == operation
    raw = s3control_client(env.emulator.endpoint_url, validate=False)
    old_schema = {"LambdaInvoke": {**operation["LambdaInvoke"], "InvocationSchemaVersion": "1.0"}}
    code, _, message = _error(raw.create_job, **env.job_args(env.manifest_of(["m"]), old_schema))
    assert code == "BadRequestException" and "2.0" in message
