"""Reading a job's manifest (s3batch-facts §3): a CSV of `Bucket,Key[,VersionId]` rows with URL-encoded keys
(`S3BatchOperations_CSV_20180820`, its columns named by `Spec.Fields`), or an S3 Inventory report's
`manifest.json` whose CSV data files (gzipped) list the objects (`S3InventoryReport_CSV_20161130`). The object's
ETag must be the one the job names, else the job fails before any task runs."""

from __future__ import annotations

import csv
import gzip
import io
import json
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from s3batch_emulator.store import Task

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CSV_FORMAT = "S3BatchOperations_CSV_20180820"
INVENTORY_FORMAT = "S3InventoryReport_CSV_20161130"
DEFAULT_FIELDS = ("Bucket", "Key")


class ManifestError(Exception):
    """The job fails before any task runs: `code` and `reason` are its FailureReasons entry."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason[:256]


@dataclass(frozen=True)
class ObjectArn:
    bucket: str
    key: str

    @classmethod
    def parse(cls, arn: str) -> ObjectArn:
        """`arn:aws:s3:::bucket/key` (the key may hold `/`)."""
        resource = arn.split(":", 5)[-1] if arn.count(":") >= 5 else ""
        bucket, _, key = resource.partition("/")
        if not bucket or not key:
            raise ManifestError("InvalidManifest", f"The manifest ObjectArn {arn} does not name an S3 object")
        return cls(bucket, key)


def _strip_etag(etag: str) -> str:
    return etag.strip().strip('"')


def read_object(s3: S3Client, bucket: str, key: str, version_id: str | None, etag: str | None) -> bytes:
    """The manifest object's bytes, after checking its ETag (quotes ignored: the docs pass it unquoted)."""
    extra: dict[str, Any] = {"VersionId": version_id} if version_id else {}
    try:
        response = s3.get_object(Bucket=bucket, Key=key, **extra)
    except Exception as exc:  # botocore's ClientError and connection errors alike fail the job
        code = _error_code(exc)
        # The CLI shows "Reading the manifest is forbidden: AccessDenied" (s3batch-facts §2).
        verb = "forbidden" if code in ("AccessDenied", "403") else "not possible"
        raise ManifestError(code, f"Reading the manifest is {verb}: {code}") from exc
    body: bytes = response["Body"].read()
    if etag is not None and _strip_etag(response.get("ETag", "")) != _strip_etag(etag):
        # A mismatch fails the job; AWS's wording is not published [unconfirmed], the console's read failure is
        # "Unable to get the manifest object's ETag" (s3batch-facts §2).
        raise ManifestError(
            "ManifestETagMismatch",
            f"The ETag of the manifest object s3://{bucket}/{key} is {response.get('ETag')}, not the {etag} the "
            "job names",
        )
    return body


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", "Unknown"))
        return {"404": "NoSuchKey", "403": "AccessDenied"}.get(code, code)
    return type(exc).__name__


def parse_csv_rows(
    text: str, fields: tuple[str, ...], source: str, max_tasks: int, *, inventory: bool = False
) -> list[Task]:
    """Tasks from CSV rows whose columns `fields` names (`Ignore` columns skipped). In a CSV manifest every row
    carries a version id, or none (s3batch-facts §3); in an inventory with a VersionId column an empty one (a
    null version) is kept as "" for the task to fail on."""
    if "Bucket" not in fields or "Key" not in fields:
        raise ManifestError(
            "InvalidManifestContent", "Required fields are missing in the schema: Bucket, Key must both be named"
        )
    bucket_at, key_at = fields.index("Bucket"), fields.index("Key")
    version_at = fields.index("VersionId") if "VersionId" in fields else None
    tasks: list[Task] = []
    with_versions: bool | None = None
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) <= max(bucket_at, key_at):
            raise ManifestError(
                "InvalidManifestContent", f"Invalid Manifest Content: row {number} of {source} has {len(row)} fields"
            )
        bucket, raw_key = row[bucket_at], row[key_at]
        version: str | None = None
        if version_at is not None:
            version = row[version_at] if version_at < len(row) else ""
            if not inventory:
                has_version = bool(version)
                if with_versions is not None and with_versions != has_version:
                    raise ManifestError(
                        "InvalidManifestContent",
                        f"Invalid Manifest Content: row {number} of {source}: either every row has a version id "
                        "or none",
                    )
                with_versions = has_version
                version = version or None
        if not bucket or not raw_key:
            raise ManifestError(
                "InvalidManifestContent",
                f"Invalid Manifest Content: row {number} of {source} has an empty bucket or key",
            )
        key = urllib.parse.unquote_plus(raw_key) if "%" in raw_key or "+" in raw_key else raw_key
        tasks.append(Task(bucket, raw_key, key, version))
        if len(tasks) > max_tasks:
            raise ManifestError(
                "InvalidManifestContent", f"The manifest contains more keys than the maximum allowed ({max_tasks})"
            )
    return tasks


def read_manifest(s3: S3Client, manifest: dict[str, Any], max_tasks: int) -> list[Task]:
    """Every task the job's manifest lists, in manifest order."""
    location = manifest["Location"]
    spec = manifest["Spec"]
    where = ObjectArn.parse(location["ObjectArn"])
    body = read_object(s3, where.bucket, where.key, location.get("ObjectVersionId"), location["ETag"])
    source = f"s3://{where.bucket}/{where.key}"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError("InvalidManifestContent", f"Invalid Manifest Content: {source} is not UTF-8") from exc
    if spec["Format"] == CSV_FORMAT:
        fields = tuple(spec.get("Fields") or DEFAULT_FIELDS)
        return parse_csv_rows(text, fields, source, max_tasks)
    return _read_inventory(s3, text, source, max_tasks)


def _read_inventory(s3: S3Client, text: str, source: str, max_tasks: int) -> list[Task]:
    """An inventory report: its manifest.json names the CSV data files (in the destination bucket) and their
    column schema (s3batch-facts §3)."""
    try:
        document = json.loads(text)
        destination = str(document["destinationBucket"]).rsplit(":", 1)[-1]
        schema = tuple(name.strip() for name in str(document["fileSchema"]).split(","))
        files = [str(entry["key"]) for entry in document["files"]]
        file_format = document.get("fileFormat", "CSV")
    except (ValueError, KeyError, TypeError) as exc:
        missing = str(exc) if isinstance(exc, KeyError) else ""
        raise ManifestError(
            "InvalidManifestContent",
            f"Required fields are missing in the schema: {missing}" if missing else f"Invalid Manifest Content: {exc}",
        ) from exc
    if file_format != "CSV":
        raise ManifestError("InvalidManifestContent", f"Invalid Manifest Content: inventory format {file_format}")
    fields = tuple(name if name in ("Bucket", "Key", "VersionId") else "Ignore" for name in schema)
    tasks: list[Task] = []
    for key in files:
        try:
            raw = read_object(s3, destination, key, None, None)
        except ManifestError as exc:
            raise ManifestError(exc.code, f"{exc.reason} (inventory file {key})") from exc
        data = gzip.decompress(raw) if key.endswith(".gz") else raw
        tasks.extend(
            parse_csv_rows(data.decode("utf-8"), fields, f"s3://{destination}/{key}", max_tasks, inventory=True)
        )
        if len(tasks) > max_tasks:
            raise ManifestError(
                "InvalidManifestContent", f"The manifest contains more keys than the maximum allowed ({max_tasks})"
            )
    # An all-versions inventory writes an empty VersionId for a null version; the task then fails with
    # "Task failed due to missing VersionId" (s3batch-facts §3), which tasks.py applies.
    return tasks


__all__ = ["CSV_FORMAT", "INVENTORY_FORMAT", "ManifestError", "read_manifest"]
