"""Retry an S3 Batch Operations job's failed tasks: a CSV manifest of their objects, and optionally a new job
on it.

The manifest is S3 Batch Operations' own CSV format (`S3BatchOperations_CSV_20180820`, s3batch-facts §3):
one `Bucket,Key[,VersionId]` row per failed task, no header, its key URL-encoded as the format wants (the
failure items hold keys decoded from the report). A manifest's rows all carry a version id or none do, as the
service requires. The file goes to `--output`, else the original job's manifest folder, as
`<original manifest name>-retry-<12 hex>.csv`, with its source job in its metadata (`erase --job` reads it).

`--start` creates a job with the original's operation, role, report configuration and priority (DescribeJob),
on the written manifest named by its ETag, with a description the stack follows: the original's, its tracked
prefix kept whole (`S3BatchJobDescriptionPrefixes`, tracker:s3BatchJobDescriptionPrefixes; the report, the
original's, lies in a tracked report location already). The manifest's name and the job's
`ClientRequestToken` derive from one fingerprint of the source job and the chosen tasks, so running the same
retry again writes the same object (and so the same ETag) and S3, given the same token, returns the job it
already created.
"""

from __future__ import annotations

import csv
import io
import posixpath
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from batch_job_tracker_cli.errors import CliError
from batch_job_tracker_cli.records import FailedRequest, JobRecord
from batch_job_tracker_cli.retry import UNPROCESSED, S3Uri, client_token
from batch_job_tracker_cli.retry import fingerprint as kind_fingerprint
from job_tracker.adapters.s3control import NOT_FOUND_CODES
from job_tracker.bedrock_retry_lines import SOURCE_JOB_METADATA
from job_tracker.kinds.s3_batch_operations import S3_BATCH_OPERATIONS

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3control import S3ControlClient

MANIFEST_FORMAT = "S3BatchOperations_CSV_20180820"
RETRY_MANIFEST_SUFFIX = ".csv"
RETRY_MARK = "-retry-"
# CreateJob's Description is 1-256 characters (botocore's s3control model).
MAX_DESCRIPTION = 256


@dataclass(frozen=True)
class TaskObject:
    """The object a failed task acted on, as the failure item names it (its key decoded)."""

    bucket: str
    key: str
    version_id: str | None

    @classmethod
    def of(cls, failure: FailedRequest) -> TaskObject:
        bucket, key, version = (failure.fields.get(name) for name in ("Bucket", "Key", "VersionId"))
        if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
            raise CliError(f"failed task {failure.request_id} names no Bucket and Key: it cannot be retried")
        return cls(bucket, key, version if isinstance(version, str) and version else None)


def manifest_key(key: str) -> str:
    """An object key as a manifest row holds it: URL-encoded (`photos/a b+c.jpg` as `photos/a%20b%2Bc.jpg`;
    S3 Batch Operations decodes `+` as a space, so it is encoded too), `/` kept."""
    return urllib.parse.quote(key, safe="/")


def manifest_body(objects: Sequence[TaskObject]) -> tuple[bytes, list[str]]:
    """The CSV manifest's bytes (rows in the given order, LF line ends) and its `Spec.Fields`."""
    versioned = [obj for obj in objects if obj.version_id]
    if versioned and len(versioned) != len(objects):
        raise CliError(
            f"{len(versioned)} of the {len(objects)} chosen tasks name a version id and the others none; a manifest's "
            "rows must all have one or none: choose them apart with --code"
        )
    fields = ["Bucket", "Key", "VersionId"] if versioned else ["Bucket", "Key"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for obj in objects:
        row = [obj.bucket, manifest_key(obj.key)]
        writer.writerow([*row, obj.version_id] if versioned else row)
    return buffer.getvalue().encode(), fields


def read_manifest_rows(body: bytes) -> list[TaskObject]:
    """The objects a CSV manifest lists (keys decoded as S3 Batch Operations decodes them): what `erase` reads
    in the retry manifests."""
    objects: list[TaskObject] = []
    for row in csv.reader(io.StringIO(body.decode("utf-8", "replace"))):
        if len(row) >= 2 and row[0] and row[1]:
            version = row[2] if len(row) > 2 and row[2] else None
            objects.append(TaskObject(row[0], urllib.parse.unquote_plus(row[1]), version))
    return objects


def fingerprint(record: JobRecord, request_ids: Iterable[str]) -> str:
    """sha256 of the source job and the chosen tasks (their RequestIds, `<report file>:<line>`), as a Voice ID
    retry's (retry.fingerprint)."""
    return kind_fingerprint(record, S3_BATCH_OPERATIONS, request_ids)


def client_request_token(digest: str) -> str:
    """CreateJob's ClientRequestToken (1-64 characters): Voice ID's ClientToken shape fits it."""
    return client_token(digest)


def retry_manifest_uri(folder: S3Uri, original_manifest: S3Uri | None, job_id: str, digest: str) -> S3Uri:
    """`<folder>/<original manifest name>-retry-<12 hex>.csv` (the job id when the manifest is unknown)."""
    stem = posixpath.splitext(posixpath.basename(original_manifest.key))[0] if original_manifest else ""
    prefix = folder.key if not folder.key or folder.key.endswith("/") else f"{folder.key}/"
    return S3Uri(folder.bucket, f"{prefix}{stem or job_id}{RETRY_MARK}{digest[:12]}{RETRY_MANIFEST_SUFFIX}")


def retry_description(original: str | None, job_id: str, digest: str, tracked_prefixes: Sequence[str] = ()) -> str:
    """`<original description> retry-<8 hex>`, at most 256 characters, its tracked prefix kept whole: the stack
    follows a job by the start of its description (`S3BatchJobDescriptionPrefixes`). An original
    that starts with no tracked prefix gets the first one in front."""
    suffix = f" retry-{digest[:8]}"
    base = original or f"retry of {job_id}"
    if tracked_prefixes and not any(base.startswith(prefix) for prefix in tracked_prefixes):
        base = f"{tracked_prefixes[0]}{base}"
    kept = max((len(prefix) for prefix in tracked_prefixes if base.startswith(prefix)), default=0)
    room = max(MAX_DESCRIPTION - len(suffix), kept)
    return f"{base[:room]}{suffix}"[:MAX_DESCRIPTION]


def left_out(record: JobRecord, codes: frozenset[int | str] | None) -> str | None:
    """The failed tasks a retry leaves out because no report names them (UnnamedFailedTaskCount: the report was
    disabled or lists fewer than ProgressSummary counts), and, for UNPROCESSED, the tasks a cancelled or
    failed job never ran (UnprocessedTaskCount): neither is in any report, so no manifest row can name them."""
    summary = record.summary or {}
    notes = []
    unnamed = summary.get("UnnamedFailedTaskCount")
    if isinstance(unnamed, int) and unnamed > 0 and (codes is None or codes - {UNPROCESSED}):
        reason = summary.get("NoReportReason")
        notes.append(f"{unnamed} failed task(s) no report names" + (f" ({reason})" if reason else ""))
    unprocessed = summary.get("UnprocessedTaskCount")
    if isinstance(unprocessed, int) and unprocessed > 0 and (codes is None or UNPROCESSED in codes):
        notes.append(f"{unprocessed} task(s) the job never ran")
    return f"left out: {'; '.join(notes)}; rerun the original manifest for them" if notes else None


@dataclass(frozen=True)
class S3BatchRetryPlan:
    record: JobRecord
    request_ids: list[str]
    objects: list[TaskObject]
    manifest_uri: S3Uri
    body: bytes
    fields: list[str]
    client_request_token: str
    description: str


def plan(
    record: JobRecord,
    failures: Sequence[FailedRequest],
    folder: S3Uri,
    original_manifest: S3Uri | None,
    tracked_prefixes: Sequence[str] = (),
) -> S3BatchRetryPlan:
    """The manifest (its rows in the failures' order, each object once) and where it goes, the token and the
    new job's description."""
    request_ids = [failure.request_id for failure in failures]
    objects = list(dict.fromkeys(TaskObject.of(failure) for failure in failures))
    body, fields = manifest_body(objects)
    digest = fingerprint(record, request_ids)
    original = record.summary.get("JobName") if record.summary else None
    return S3BatchRetryPlan(
        record=record,
        request_ids=request_ids,
        objects=objects,
        manifest_uri=retry_manifest_uri(folder, original_manifest, record.job_id, digest),
        body=body,
        fields=fields,
        client_request_token=client_request_token(digest),
        description=retry_description(
            original if isinstance(original, str) else None, record.job_id, digest, tracked_prefixes
        ),
    )


# -- AWS ------------------------------------------------------------------------------------------------------
def write_manifest(client: S3Client, plan: S3BatchRetryPlan) -> str:
    """Put the manifest; returns its ETag (without quotes, as CreateJob's examples pass it)."""
    response = client.put_object(
        Bucket=plan.manifest_uri.bucket,
        Key=plan.manifest_uri.key,
        Body=plan.body,
        ContentType="text/csv",
        # Which job's tasks it holds: `erase --job` reads it (a key may name a person).
        Metadata={SOURCE_JOB_METADATA: plan.record.job_id},
    )
    return str(response["ETag"]).strip('"')


def _present(value: Mapping[str, Any]) -> dict[str, Any]:
    return {name: inner for name, inner in value.items() if inner is not None}


def create_retry_job(client: S3ControlClient, plan: S3BatchRetryPlan, etag: str) -> str:
    """CreateJob on the retry manifest with the source job's Operation, RoleArn, Report and Priority
    (DescribeJob), confirmed at once; returns the new job's id."""
    record = plan.record
    try:
        source: Any = client.describe_job(AccountId=record.domain_id, JobId=record.job_id)["Job"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in NOT_FOUND_CODES:
            raise CliError(
                f"S3 Batch Operations has no job {record.job_id} in account {record.domain_id} any more (it keeps "
                "ended jobs 90 days): start a job on the manifest yourself"
            ) from error
        raise
    request: dict[str, Any] = {
        "AccountId": record.domain_id,
        "ConfirmationRequired": False,
        "Operation": source["Operation"],
        "Report": _present(source["Report"]),
        "ClientRequestToken": plan.client_request_token,
        "Manifest": {
            "Spec": {"Format": MANIFEST_FORMAT, "Fields": plan.fields},
            "Location": {
                "ObjectArn": f"arn:aws:s3:::{plan.manifest_uri.bucket}/{plan.manifest_uri.key}",
                "ETag": etag,
            },
        },
        "Priority": source["Priority"],
        "RoleArn": source["RoleArn"],
        "Description": plan.description,
    }
    try:
        created = client.create_job(**request)
    except ClientError as error:
        details = error.response.get("Error", {})
        raise CliError(
            f"S3 Batch Operations refused the retry job of {record.job_id} ({details.get('Code')}): "
            f"{details.get('Message')}"
        ) from error
    return str(created["JobId"])
