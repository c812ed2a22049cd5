"""Helpers for tests (and the local cloud's e2e tests) that drive S3 Batch Operations: an S3 Control client that
reaches an emulator or gateway as the SDKs do (account-id host prefix, through it as the HTTP proxy: see
protocol.py), manifests in both formats, reading a job's completion report, and one test's world on moto."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import urllib.parse
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from emulator_core.testing import FAKE_ACCESS_KEY, FAKE_SECRET_KEY, REGION, EmulatorEnv, new_buckets
from s3batch_emulator.emulator import S3BatchEmulator
from s3batch_emulator.manifest import CSV_FORMAT, INVENTORY_FORMAT

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3control import S3ControlClient

ACCOUNT_ID = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/S3BatchOperations"


def s3control_client(
    proxy_url: str,
    *,
    endpoint_url: str | None = None,
    region: str = REGION,
    max_attempts: int = 1,
    access_key_id: str = FAKE_ACCESS_KEY,
    validate: bool = True,
) -> S3ControlClient:
    """A boto3 S3 Control client whose requests (to `endpoint_url`, default `http://localhost:<proxy port>`,
    with the `<account>.` prefix the SDK adds) go through `proxy_url`, the emulator or the local cloud's gateway.
    No boto3 code is changed: `proxies` is botocore's own option (HTTP_PROXY does the same)."""
    port = urllib.parse.urlsplit(proxy_url).port
    make_client: Any = boto3.client
    client: S3ControlClient = make_client(
        "s3control",
        endpoint_url=endpoint_url or f"http://localhost:{port}",
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=FAKE_SECRET_KEY,
        config=Config(
            proxies={"http": proxy_url},
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            parameter_validation=validate,
        ),
    )
    return client


def csv_manifest(rows: Iterable[tuple[str, str] | tuple[str, str, str]]) -> bytes:
    """A CSV manifest: one `bucket,key[,versionId]` row per object, keys URL-encoded as AWS requires."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([row[0], urllib.parse.quote(row[1], safe="/"), *row[2:]])
    return out.getvalue().encode()


def put_manifest(s3: S3Client, bucket: str, key: str, body: bytes) -> dict[str, Any]:
    """Put a CSV manifest; the job's `Manifest` (format, columns, ARN and ETag)."""
    etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
    first = body.split(b"\n", 1)[0].decode()
    fields = ["Bucket", "Key", "VersionId"] if first.count(",") >= 2 else ["Bucket", "Key"]
    return {
        "Spec": {"Format": CSV_FORMAT, "Fields": fields},
        "Location": {"ObjectArn": f"arn:aws:s3:::{bucket}/{key}", "ETag": etag},
    }


def put_inventory(
    s3: S3Client, bucket: str, prefix: str, source_bucket: str, keys: list[str], *, versions: list[str] | None = None
) -> dict[str, Any]:
    """An S3 Inventory report (CSV, gzipped data file, its manifest.json) of `keys`; the job's `Manifest`. With
    `versions` (one per key, "" for a null version) the schema is `Bucket, Key, VersionId, IsLatest`, as an
    all-versions inventory's."""
    rows = []
    for index, key in enumerate(keys):
        fields = [source_bucket, urllib.parse.quote(key, safe="/")]
        if versions is not None:
            fields += [versions[index], "true"]
        rows.append(",".join(f'"{field}"' for field in fields) + "\n")
    data = gzip.compress("".join(rows).encode())
    data_key = f"{prefix}/data/{uuid.uuid4()}.csv.gz"
    s3.put_object(Bucket=bucket, Key=data_key, Body=data)
    document = {
        "sourceBucket": source_bucket,
        "destinationBucket": f"arn:aws:s3:::{bucket}",
        "version": "2016-11-30",
        "creationTimestamp": "1767225600000",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key" if versions is None else "Bucket, Key, VersionId, IsLatest",
        "files": [{"key": data_key, "size": len(data), "MD5checksum": hashlib.md5(data).hexdigest()}],  # noqa: S324
    }
    manifest_key = f"{prefix}/manifest.json"
    etag = s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(document).encode())["ETag"].strip('"')
    return {
        "Spec": {"Format": INVENTORY_FORMAT},
        "Location": {"ObjectArn": f"arn:aws:s3:::{bucket}/{manifest_key}", "ETag": etag},
    }


@dataclass(frozen=True)
class CompletionReport:
    """A job's report as written: its manifest.json, and each result file's raw bytes and parsed rows."""

    manifest: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)

    def rows(self, status: str | None = None) -> list[list[str]]:
        """Every CSV row (of `succeeded` or `failed` files only, when named), in file order."""
        found: list[list[str]] = []
        for entry in self.manifest["Results"]:
            if status is None or entry["TaskExecutionStatus"] == status:
                found.extend(csv.reader(io.StringIO(self.files[entry["Key"]].decode())))
        return found


def read_report(s3: S3Client, bucket: str, prefix: str, job_id: str) -> CompletionReport | None:
    """The completion report at `<prefix>/job-<id>/` (None when there is none)."""
    folder = f"{prefix.strip('/')}/job-{job_id}" if prefix.strip("/") else f"job-{job_id}"
    try:
        body = s3.get_object(Bucket=bucket, Key=f"{folder}/manifest.json")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    document = json.loads(body)
    files = {
        entry["Key"]: s3.get_object(Bucket=entry["Bucket"], Key=entry["Key"])["Body"].read()
        for entry in document["Results"]
    }
    return CompletionReport(document, files)


@dataclass
class Env(EmulatorEnv):
    """One test's world: input (objects, manifests) and output (reports, copies) buckets on moto, an emulator
    and an S3 Control client for it."""

    emulator: S3BatchEmulator
    client: S3ControlClient
    account_id: str = ACCOUNT_ID

    def put_objects(self, keys: Iterable[str], body: bytes = b"data") -> list[str]:
        found = list(keys)
        for key in found:
            self.s3.put_object(Bucket=self.input_bucket, Key=key, Body=body)
        return found

    def manifest_of(self, keys: Iterable[str], name: str = "manifest.csv") -> dict[str, Any]:
        body = csv_manifest((self.input_bucket, key) for key in keys)
        return put_manifest(self.s3, self.input_bucket, f"manifests/{uuid.uuid4().hex}/{name}", body)

    def report(self, prefix: str = "reports", scope: str = "AllTasks") -> dict[str, Any]:
        return {
            "Bucket": f"arn:aws:s3:::{self.output_bucket}",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "Prefix": prefix,
            "ReportScope": scope,
        }

    def job_args(self, manifest: dict[str, Any], operation: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "AccountId": self.account_id,
            "ConfirmationRequired": False,
            "Operation": operation,
            "Manifest": manifest,
            "Report": self.report(),
            "Priority": 10,
            "RoleArn": ROLE_ARN,
            "ClientRequestToken": uuid.uuid4().hex,
            **extra,
        }

    def create(self, manifest: dict[str, Any], operation: dict[str, Any], **extra: Any) -> str:
        return self.client.create_job(**self.job_args(manifest, operation, **extra))["JobId"]

    def describe(self, job_id: str) -> dict[str, Any]:
        job: dict[str, Any] = dict(self.client.describe_job(AccountId=self.account_id, JobId=job_id)["Job"])
        return job

    def read_report(self, job_id: str, prefix: str = "reports") -> CompletionReport | None:
        return read_report(self.s3, self.output_bucket, prefix, job_id)


TAGGING = {"S3PutObjectTagging": {"TagSet": [{"Key": "batch", "Value": "done"}]}}


def make_env(moto_endpoint: str, emulator: S3BatchEmulator) -> Env:
    return Env(emulator=emulator, client=s3control_client(emulator.endpoint_url), **new_buckets(moto_endpoint, "s3b"))


__all__ = [
    "ACCOUNT_ID",
    "FAKE_ACCESS_KEY",
    "ROLE_ARN",
    "TAGGING",
    "CompletionReport",
    "Env",
    "csv_manifest",
    "make_env",
    "put_inventory",
    "put_manifest",
    "read_report",
    "s3control_client",
]
