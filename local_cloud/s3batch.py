"""S3 Batch Operations in the local cloud: the emulator behind the gateway, the job role it acts as, and the
buckets a local job uses.

* The gateway sends S3 Control's job calls (`/v20180820/jobs...`) to the emulator. The SDKs prefix the account
  id to the endpoint's host, so clients use `endpointUrl` (`http://localhost:<gateway port>`, which becomes
  `http://123456789012.localhost:<port>`) with the gateway as their HTTP proxy (`proxyUrl`): boto3
  `Config(proxies={"http": proxyUrl})` or `HTTP_PROXY`, the JS SDK an `http.Agent({proxyEnv})`. The Lambda
  functions get `HTTP_PROXY` (with `NO_PROXY=127.0.0.1`, so every other call goes straight to the gateway as
  before) and `AWS_ENDPOINT_URL_S3_CONTROL`, so a function's unchanged boto3 reaches S3 Control too.
* A job's tasks, its manifest read and its report write go through the gateway signed as the job's role, so
  the local cloud's IAM enforcement decides them: the role this module defines (`roleArn`) may read the input
  bucket, tag, untag and copy objects under `objects/`, write reports and invoke any local function; a task on
  an object outside `objects/` fails with `AccessDenied`, as on AWS with a missing grant.
  `LocalS3Batch.set_role_policy` changes the grants at run time.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from s3batch_emulator import Pacing, S3BatchEmulator
from s3batch_emulator.testing import CompletionReport, csv_manifest, put_manifest, read_report

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3control import S3ControlClient

    from local_cloud.cloud import LocalCloud

INPUT_BUCKET = "s3batch-local-input"
REPORT_BUCKET = "s3batch-local-reports"
MANIFEST_PREFIX = "manifests/"
OBJECTS_PREFIX = "objects/"
REPORT_PREFIX = "reports"
ROLE_NAME = "S3BatchOperations"
ROLE_ARN = "arn:aws:iam::{account}:role/" + ROLE_NAME
# The session S3 Batch Operations' calls show as the role's (its CloudTrail name is not documented).
ROLE_SESSION = "s3-batch-operations"

# Local jobs: a fifth of a second in each status before and after the tasks; tasks as fast as they run.
STAGE_SECONDS = 0.2
TASKS_PER_SECOND = 0.0


def role_policy(account_id: str, region: str) -> dict[str, Any]:
    """The job role's identity policy: what a local S3 Batch Operations job may do."""
    objects = f"arn:aws:s3:::{INPUT_BUCKET}/{OBJECTS_PREFIX}*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadManifestsAndObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"arn:aws:s3:::{INPUT_BUCKET}/*",
            },
            {
                "Sid": "ActOnObjects",
                "Effect": "Allow",
                "Action": [
                    "s3:PutObjectTagging",
                    "s3:PutObjectVersionTagging",
                    "s3:DeleteObjectTagging",
                    "s3:DeleteObjectVersionTagging",
                    "s3:PutObject",
                ],
                "Resource": objects,
            },
            {
                "Sid": "WriteReports",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{REPORT_BUCKET}/*",
            },
            {
                "Sid": "InvokeFunctions",
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": f"arn:aws:lambda:{region}:{account_id}:function:*",
            },
        ],
    }


@dataclass(frozen=True)
class S3BatchSettings:
    pacing: Pacing = field(default_factory=lambda: Pacing.real_time(STAGE_SECONDS, TASKS_PER_SECOND))
    throttling: bool = False


class LocalS3Batch:
    """The S3 Batch Operations emulator of one local cloud, with its role and buckets."""

    def __init__(self, cloud: LocalCloud, settings: S3BatchSettings | None = None) -> None:
        chosen = settings or S3BatchSettings()
        self.cloud = cloud
        self.emulator = S3BatchEmulator(
            region=cloud.region,
            account_id=cloud.account_id,
            s3_client_for_role=self._s3_client_as,
            lambda_client_for_role=self._lambda_client_as,
            events_endpoint_url=cloud.endpoint_url,
            throttling=chosen.throttling,
            pacing=chosen.pacing,
        )

    @property
    def role_arn(self) -> str:
        return ROLE_ARN.format(account=self.cloud.account_id)

    @property
    def endpoint_url(self) -> str:
        """What an SDK's S3 Control endpoint is: the gateway by a name the SDK prefixes with the account id."""
        return f"http://localhost:{self.cloud.gateway.port}"

    @property
    def proxy_url(self) -> str:
        """The gateway, as the HTTP proxy S3 Control clients send their prefixed requests through."""
        return self.cloud.endpoint_url

    def start(self) -> None:
        self.emulator.start()
        self.cloud.gateway.route_s3control(self.emulator.endpoint_url)
        self.cloud.iam.define_role(self.role_arn, ROLE_NAME, role_policy(self.cloud.account_id, self.cloud.region))
        for name, value in lambda_environment(self.endpoint_url, self.proxy_url).items():
            self.cloud.lambdas.set_environment(name, value)

    def create_resources(self, existing_buckets: set[str]) -> None:
        s3 = self.cloud.client("s3")
        for bucket in (INPUT_BUCKET, REPORT_BUCKET):
            if bucket not in existing_buckets:
                s3.create_bucket(Bucket=bucket)

    def stop(self) -> None:
        self.emulator.stop()

    def set_role_policy(self, document: dict[str, Any]) -> None:
        """Hold the job role to this identity policy from now on (a test removes a grant)."""
        self.cloud.iam.define_role(self.role_arn, ROLE_NAME, document)

    def client(self, *, max_attempts: int = 1) -> S3ControlClient:
        """An S3 Control client as a user's: through the gateway (as its proxy), the SDK unchanged."""
        return user_client(self.endpoint_url, self.proxy_url, self.cloud.region, max_attempts=max_attempts)

    # -- what an end-to-end test does as an S3 Batch Operations user ---------------------------------------
    def put_objects(self, keys: list[str], body: bytes = b"data") -> list[str]:
        """Put objects under the input bucket's `objects/` (where the job role may act); their keys."""
        s3 = self.cloud.client("s3")
        found = [key if key.startswith(OBJECTS_PREFIX) else f"{OBJECTS_PREFIX}{key}" for key in keys]
        for key in found:
            s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=body)
        return found

    def manifest_of(self, keys: list[str]) -> dict[str, Any]:
        """A CSV manifest of these input-bucket keys, put under `manifests/`; the job's `Manifest`."""
        body = csv_manifest((INPUT_BUCKET, key) for key in keys)
        return put_manifest(self.cloud.client("s3"), INPUT_BUCKET, f"{MANIFEST_PREFIX}{uuid.uuid4().hex}.csv", body)

    def create_job(self, keys: list[str], operation: dict[str, Any], **extra: Any) -> str:
        """CreateJob through the gateway on these keys, as the local job role, with an AllTasks report and no
        confirmation (override any member with `extra`); the JobId."""
        args: dict[str, Any] = {
            "AccountId": self.cloud.account_id,
            "ConfirmationRequired": False,
            "Operation": operation,
            "Manifest": self.manifest_of(keys),
            "Report": {
                "Bucket": f"arn:aws:s3:::{REPORT_BUCKET}",
                "Format": "Report_CSV_20180820",
                "Enabled": True,
                "Prefix": REPORT_PREFIX,
                "ReportScope": "AllTasks",
            },
            "Priority": 10,
            "RoleArn": self.role_arn,
            "ClientRequestToken": uuid.uuid4().hex,
            **extra,
        }
        job_id: str = self.client().create_job(**args)["JobId"]
        return job_id

    def report(self, job_id: str) -> CompletionReport | None:
        """The job's completion report in the local report bucket (None when none was written)."""
        return read_report(self.cloud.client("s3"), REPORT_BUCKET, REPORT_PREFIX, job_id)

    def outputs(self) -> dict[str, Any]:
        """outputs.json's `s3batch` section: what a test needs to create a job."""
        return {
            "endpointUrl": self.endpoint_url,
            "proxyUrl": self.proxy_url,
            "emulatorUrl": self.emulator.endpoint_url,
            "adminUrl": f"{self.emulator.endpoint_url}/_s3batch/admin/",
            "accountId": self.cloud.account_id,
            "roleArn": self.role_arn,
            "inputBucket": INPUT_BUCKET,
            "manifestPrefix": MANIFEST_PREFIX,
            "objectsPrefix": OBJECTS_PREFIX,
            "reportBucketArn": f"arn:aws:s3:::{REPORT_BUCKET}",
            "reportPrefix": REPORT_PREFIX,
        }

    # -- the job role's clients --------------------------------------------------------------------------
    def _s3_client_as(self, role_arn: str) -> S3Client:
        client: S3Client = self.cloud.client_as(
            "s3",
            role_arn,
            ROLE_SESSION,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 3}),
        )
        return client

    def _lambda_client_as(self, role_arn: str) -> LambdaClient:
        client: LambdaClient = self.cloud.client_as(
            "lambda",
            role_arn,
            ROLE_SESSION,
            config=Config(retries={"mode": "standard", "max_attempts": 2}, read_timeout=120),
        )
        return client


def user_client(endpoint_url: str, proxy_url: str, region: str, *, max_attempts: int | None = None) -> S3ControlClient:
    """An S3 Control client as a user's, from outputs.json's `s3batch` section (`endpointUrl`, `proxyUrl`): the
    gateway as its HTTP proxy, the SDK unchanged; the SDK's default attempts unless `max_attempts`."""
    make_client: Any = boto3.client
    retries: dict[str, Any] = {"mode": "standard"}
    if max_attempts is not None:
        retries["total_max_attempts"] = max_attempts
    client: S3ControlClient = make_client(
        "s3control",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - the local services accept any credentials
        config=Config(proxies={"http": proxy_url}, retries=retries),  # type: ignore[arg-type]
    )
    return client


def job_progress(descriptor: Mapping[str, Any]) -> tuple[str, int]:
    """A DescribeJob `Job`'s status and its (succeeded + failed) / total tasks in percent (0 without a total)."""
    summary = descriptor.get("ProgressSummary") or {}
    total = summary.get("TotalNumberOfTasks") or 0
    done = (summary.get("NumberOfTasksSucceeded") or 0) + (summary.get("NumberOfTasksFailed") or 0)
    return str(descriptor.get("Status")), (100 * done // total if total else 0)


def lambda_environment(endpoint_url: str, proxy_url: str) -> dict[str, str]:
    """What a local function needs for its unchanged boto3 to reach S3 Control: the endpoint (the SDK adds the
    account prefix) and the gateway as proxy for that name alone (everything else uses 127.0.0.1, not proxied)."""
    return {"AWS_ENDPOINT_URL_S3_CONTROL": endpoint_url, "HTTP_PROXY": proxy_url, "NO_PROXY": "127.0.0.1"}


__all__ = [
    "INPUT_BUCKET",
    "MANIFEST_PREFIX",
    "OBJECTS_PREFIX",
    "REPORT_BUCKET",
    "REPORT_PREFIX",
    "LocalS3Batch",
    "S3BatchSettings",
    "job_progress",
    "lambda_environment",
    "role_policy",
    "user_client",
]
