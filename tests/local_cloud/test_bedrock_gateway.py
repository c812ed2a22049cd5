"""Bedrock through the local cloud's gateway: routed by signing name, the caller held to its IAM policies per API
(bedrock:* on the job ARN, iam:PassRole on the service role), and each job's S3 access held to its service role."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bedrock_emulator import BedrockEmulator, Pacing
from bedrock_emulator.testing import CLAUDE_MODEL_ID, jsonl, records
from local_cloud.cloud import LocalCloud
from tests.local_cloud.iam_roles import Roles, allow, client_as

pytestmark = pytest.mark.xdist_group("local_cloud")


@pytest.fixture
def bedrock(cloud: LocalCloud) -> Iterator[BedrockEmulator]:
    def s3_as(role_arn: str) -> Any:
        config = Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1})
        return client_as(cloud, "s3", role_arn, "BedrockBatchInference", config=config)

    with BedrockEmulator(
        region=cloud.region, account_id=cloud.account_id, s3_client_for_role=s3_as, pacing=Pacing.manual_steps(10)
    ) as emulator:
        emulator.admin.set_quota(min_records_per_job=1)
        cloud.gateway.route_signed_service("bedrock", emulator.endpoint_url)
        yield emulator


def _buckets(cloud: LocalCloud) -> tuple[str, str]:
    s3 = cloud.client("s3")
    names = (f"bedrock-in-{uuid.uuid4().hex[:8]}", f"bedrock-out-{uuid.uuid4().hex[:8]}")
    for name in names:
        s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=names[0], Key="input/batch.jsonl", Body=jsonl(records(3)))
    return names


def _job_args(service_role: str, input_bucket: str, output_bucket: str) -> dict[str, Any]:
    return {
        "jobName": f"gw-{uuid.uuid4().hex[:8]}",
        "roleArn": service_role,
        "modelId": CLAUDE_MODEL_ID,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{input_bucket}/input/"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{output_bucket}/output/"}},
    }


def _error(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    response: Any = raised.value.response
    return dict(response)


def test_a_callers_bedrock_calls_are_held_to_its_policies(
    cloud: LocalCloud, roles: Roles, bedrock: BedrockEmulator
) -> None:
    input_bucket, output_bucket = _buckets(cloud)
    service_role = f"arn:aws:iam::{cloud.account_id}:role/BedrockBatchInference"
    jobs = f"arn:aws:bedrock:{cloud.region}:{cloud.account_id}:model-invocation-job/*"
    model = f"arn:aws:bedrock:{cloud.region}::foundation-model/{CLAUDE_MODEL_ID}"
    caller = roles.add(
        allow(["bedrock:CreateModelInvocationJob", "bedrock:GetModelInvocationJob"], [jobs, model]),
        allow(
            "iam:PassRole",
            service_role,
            Condition={"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}},
        ),
    )
    client = roles.client(
        "bedrock", caller, config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"})
    )
    arn = client.create_model_invocation_job(**_job_args(service_role, input_bucket, output_bucket))["jobArn"]
    assert client.get_model_invocation_job(jobIdentifier=arn)["status"] == "Submitted"
    assert client.get_model_invocation_job(jobIdentifier=arn.rsplit("/", 1)[1])["jobArn"] == arn

    stop = _error(lambda: client.stop_model_invocation_job(jobIdentifier=arn))
    assert (stop["Error"]["Code"], stop["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDeniedException", 403)
    assert f"bedrock:StopModelInvocationJob on resource: {arn}" in stop["Error"]["Message"]
    assert bedrock.job(arn).status == "Submitted"  # the refused call never reached the service
    listing = _error(client.list_model_invocation_jobs)
    assert "bedrock:ListModelInvocationJobs on resource: *" in listing["Error"]["Message"]

    other_role = f"arn:aws:iam::{cloud.account_id}:role/SomeoneElses"
    passing = _error(lambda: client.create_model_invocation_job(**_job_args(other_role, input_bucket, output_bucket)))
    assert f"iam:PassRole on resource: {other_role}" in passing["Error"]["Message"]
    nova = _error(
        lambda: client.create_model_invocation_job(
            **{**_job_args(service_role, input_bucket, output_bucket), "modelId": "amazon.nova-micro-v1:0"}
        )
    )
    assert "foundation-model/amazon.nova-micro-v1:0" in nova["Error"]["Message"]  # the model is a resource too
    assert len(bedrock.state.jobs) == 1
    # A user's calls go through the gateway to the emulator unrestricted.
    user = cloud.client("bedrock")
    assert [s["jobArn"] for s in user.list_model_invocation_jobs()["invocationJobSummaries"]] == [arn]


def test_a_job_reads_and_writes_s3_as_its_service_role(
    cloud: LocalCloud, roles: Roles, bedrock: BedrockEmulator
) -> None:
    input_bucket, output_bucket = _buckets(cloud)
    read_only = roles.add(
        allow("s3:ListBucket", f"arn:aws:s3:::{input_bucket}"),
        allow("s3:GetObject", f"arn:aws:s3:::{input_bucket}/*"),
    )
    read_write = roles.add(
        allow("s3:ListBucket", f"arn:aws:s3:::{input_bucket}"),
        allow("s3:GetObject", f"arn:aws:s3:::{input_bucket}/*"),
        allow("s3:PutObject", f"arn:aws:s3:::{output_bucket}/*"),
    )
    no_access = roles.add(allow("s3:GetObject", "arn:aws:s3:::some-other-bucket/*"))
    user = cloud.client("bedrock")
    results = {}
    for name, role in (("read_only", read_only), ("read_write", read_write), ("no_access", no_access)):
        arn = user.create_model_invocation_job(**_job_args(role, input_bucket, output_bucket))["jobArn"]
        bedrock.run_until_done(arn)
        results[name] = user.get_model_invocation_job(jobIdentifier=arn)
    assert results["read_write"]["status"] == "Completed"
    assert results["read_only"]["status"] == "Failed"
    assert "Unable to write the job output" in results["read_only"]["message"]
    assert "AccessDenied" in results["read_only"]["message"]
    assert results["no_access"]["status"] == "Failed"
    assert "Unable to read the input" in results["no_access"]["message"]
    written = cloud.client("s3").list_objects_v2(Bucket=output_bucket)["Contents"]
    job_id = results["read_write"]["jobArn"].rsplit("/", 1)[1]
    assert sorted(item["Key"] for item in written) == [
        f"output/{job_id}/batch.jsonl.out",
        f"output/{job_id}/manifest.json.out",
    ]
    body = cloud.client("s3").get_object(Bucket=output_bucket, Key=f"output/{job_id}/manifest.json.out")["Body"]
    assert json.loads(body.read())["successRecordCount"] == 3


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("GET", "/model-invocation-jobs", None, [("bedrock:ListModelInvocationJobs", "*")]),
        (
            "GET",
            "/model-invocation-job/abcdefabcdef",
            None,
            [
                (
                    "bedrock:GetModelInvocationJob",
                    "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdefabcdef",
                )
            ],
        ),
        (
            "POST",
            "/model-invocation-job/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Amodel-invocation-job%2Fabcdefabcdef/stop",
            None,
            [
                (
                    "bedrock:StopModelInvocationJob",
                    "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdefabcdef",
                )
            ],
        ),
        (
            "POST",
            "/model-invocation-job",
            {"modelId": "us.anthropic.claude-3-haiku-20240307-v1:0", "roleArn": "arn:aws:iam::123456789012:role/r"},
            [
                ("bedrock:CreateModelInvocationJob", "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/*"),
                (
                    "bedrock:CreateModelInvocationJob",
                    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
                ),
                ("iam:PassRole", "arn:aws:iam::123456789012:role/r"),
            ],
        ),
    ],
)
def test_what_each_bedrock_call_needs(method: str, path: str, body: Any, expected: list[tuple[str, str]]) -> None:
    from local_cloud.iam_requests import AwsRequest, Scope, requirements
    from local_cloud.identity import RoleSession

    headers = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request, Signature=x"}
    request = AwsRequest.create(method, path, headers, json.dumps(body).encode() if body else None)
    session = RoleSession("arn:aws:iam::123456789012:role/caller", "s")
    found = requirements(request, session, Scope("us-east-1", "123456789012"), lambda *_: None)
    assert isinstance(found, list)
    assert [(item.action, item.resource) for item in found] == expected
    unknown = requirements(
        AwsRequest.create("DELETE", "/model-invocation-job/x", headers),
        session,
        Scope("us-east-1", "1"),
        lambda *_: None,
    )
    assert not isinstance(unknown, list)  # an API it cannot tell is not attributed: denied
