"""S3 Batch Operations through the local cloud's gateway: S3 Control's job calls routed by path and account
header (signed for `s3`, like the data plane), reached through the gateway as an HTTP proxy (the SDK's account-id
host prefix), the caller held to its IAM policies per API (s3:CreateJob and iam:PassRole, s3:PutJobTagging for
tags, s3:ListJobs, s3:DescribeJob on the job ARN), and each task's S3 call held to the job's role."""

from __future__ import annotations

import http.client
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local_cloud.cloud import LocalCloud
from local_cloud.identity import role_access_key
from s3batch_emulator import Pacing, S3BatchEmulator
from s3batch_emulator.testing import TAGGING, csv_manifest, put_manifest, read_report
from tests.local_cloud.iam_roles import Roles, allow, client_as

pytestmark = pytest.mark.xdist_group("local_cloud")


@pytest.fixture
def s3batch(cloud: LocalCloud) -> Iterator[S3BatchEmulator]:
    def s3_as(role_arn: str) -> Any:
        config = Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1})
        return client_as(cloud, "s3", role_arn, "s3-batch-operations", config=config)

    with S3BatchEmulator(
        region=cloud.region, account_id=cloud.account_id, s3_client_for_role=s3_as, pacing=Pacing.manual_steps(10)
    ) as emulator:
        cloud.gateway.route_s3control(emulator.endpoint_url)
        yield emulator


def _s3control_as(cloud: LocalCloud, role_arn: str) -> Any:
    """As the SDK is used against the local cloud: endpoint `localhost:<gateway>`, the gateway as its proxy."""
    make_client: Any = boto3.client
    return make_client(
        "s3control",
        endpoint_url=f"http://localhost:{cloud.gateway.port}",
        region_name=cloud.region,
        aws_access_key_id=role_access_key(role_arn, "caller"),
        aws_secret_access_key="local",
        config=Config(proxies={"http": cloud.endpoint_url}, retries={"total_max_attempts": 1}),
    )


def _world(cloud: LocalCloud) -> tuple[str, dict[str, Any]]:
    s3 = cloud.client("s3")
    bucket = f"s3batch-gw-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="objects/a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="private/b", Body=b"b")
    body = csv_manifest([(bucket, "objects/a"), (bucket, "private/b")])
    return bucket, put_manifest(s3, bucket, "manifest.csv", body)


def _args(cloud: LocalCloud, bucket: str, manifest: dict[str, Any], role: str, **extra: Any) -> dict[str, Any]:
    return {
        "AccountId": cloud.account_id,
        "ConfirmationRequired": False,
        "Operation": TAGGING,
        "Manifest": manifest,
        "Report": {"Bucket": f"arn:aws:s3:::{bucket}", "Format": "Report_CSV_20180820", "Enabled": True},
        "Priority": 1,
        "RoleArn": role,
        "ClientRequestToken": uuid.uuid4().hex,
        **extra,
    }


def _denied(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return str(raised.value.response["Error"]["Message"])


def test_callers_and_the_job_role_are_held_to_their_policies(
    cloud: LocalCloud, roles: Roles, s3batch: S3BatchEmulator
) -> None:
    bucket, manifest = _world(cloud)
    jobs = f"arn:aws:s3:{cloud.region}:{cloud.account_id}:job/*"
    job_role = roles.add(
        allow(["s3:GetObject"], f"arn:aws:s3:::{bucket}/*"),
        allow(["s3:PutObjectTagging"], f"arn:aws:s3:::{bucket}/objects/*"),
        allow(["s3:PutObject"], f"arn:aws:s3:::{bucket}/job-*"),
    )
    passes = allow(
        "iam:PassRole",
        job_role,
        Condition={"StringEquals": {"iam:PassedToService": "batchoperations.s3.amazonaws.com"}},
    )
    caller = roles.add(allow("s3:CreateJob", "*"), allow("s3:DescribeJob", jobs), passes)
    no_pass = roles.add(allow("s3:CreateJob", "*"))
    client = _s3control_as(cloud, caller)

    job_id = client.create_job(**_args(cloud, bucket, manifest, job_role))["JobId"]
    assert client.describe_job(AccountId=cloud.account_id, JobId=job_id)["Job"]["Status"] == "New"
    assert "s3:ListJobs" in _denied(client.list_jobs, AccountId=cloud.account_id)
    assert "s3:PutJobTagging" in _denied(
        client.create_job, **_args(cloud, bucket, manifest, job_role, Tags=[{"Key": "k", "Value": "v"}])
    )
    assert "iam:PassRole" in _denied(
        _s3control_as(cloud, no_pass).create_job, **_args(cloud, bucket, manifest, job_role)
    )

    s3batch.run_until_done(job_id)
    report = read_report(cloud.client("s3"), bucket, "", job_id)
    assert report is not None
    rows = {row[1]: row[3:6] for row in report.rows()}
    assert rows == {"objects/a": ["succeeded", "200", ""], "private/b": ["failed", "403", "AccessDenied"]}


def test_an_absolute_url_request_line_is_served_as_its_path(cloud: LocalCloud, s3batch: S3BatchEmulator) -> None:
    """A client using the gateway as its HTTP proxy sends the whole URL; any service behind it answers."""
    bucket, _ = _world(cloud)
    gateway = urllib.parse.urlsplit(cloud.endpoint_url)
    connection = http.client.HTTPConnection(gateway.hostname or "", gateway.port)
    connection.request(
        "GET",
        f"http://{cloud.account_id}.localhost:{gateway.port}/v20180820/jobs",
        headers={"x-amz-account-id": cloud.account_id, "Host": f"{cloud.account_id}.localhost:{gateway.port}"},
    )
    response = connection.getresponse()
    assert response.status == 200 and b"<ListJobsResult" in response.read()
    # A presigned GetObject (moto reads a bucket from a Host name's first label: this one names the gateway).
    s3 = cloud.client("s3", config=Config(s3={"addressing_style": "path"}))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "objects/a"})
    connection.request("GET", url)
    response = connection.getresponse()
    assert response.status == 200 and response.read() == b"a"  # moto, through the same path
