"""Retry manifests: the chosen failed requests of a recorded job, copied from its input manifest.

The pure part (`plan_retry`) decides what the manifest holds, where it goes, and the new job's name and
ClientToken; the rest reads and writes S3 and starts the job through Voice ID.

The ClientToken, the manifest's name and the job's name are all derived from one fingerprint of the source
job and the chosen RequestIds, so repeating a retry writes the same object and Voice ID, given the same
token and parameters, returns the job it already started instead of starting another.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from batch_job_tracker_cli.errors import CliError
from batch_job_tracker_cli.records import FailedRequest, JobRecord
from batch_job_tracker_cli.shared import JobKind
from job_tracker.bedrock_retry_lines import SOURCE_JOB_METADATA

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_voice_id import VoiceIDClient

JOB_NAME_MAX = 256
_NAME_CHARACTERS = re.compile(r"[^a-zA-Z0-9_-]")
MAX_CODES = 100  # a DynamoDB IN list
UNPROCESSED = "UNPROCESSED"
# A service's own error code, as a report writes it (S3 Batch Operations: NoSuchKey, AccessDenied,
# PermanentFailure): a letter, then letters, digits, `.`, `_` or `-`.
_SERVICE_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str, what: str = "S3 URI") -> S3Uri:
        if not uri.startswith("s3://"):
            raise CliError(f"{what} must be s3://bucket/key, got {uri!r}")
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise CliError(f"{what} names no bucket: {uri!r}")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_code(text: str, option: str = "CODE") -> int | str:
    """One error code: an HTTP status code; `UNPROCESSED` (the records a stopped, expired or partially
    completed Bedrock job never processed), whatever its case; or a service's own error code as it wrote it
    (an S3 Batch Operations report's NoSuchKey, AccessDenied, PermanentFailure: case matters)."""
    part = text.strip()
    if part.upper() == UNPROCESSED:
        return UNPROCESSED
    if part.isdigit() and 100 <= int(part) <= 599:
        return int(part)
    if _SERVICE_ERROR_CODE.fullmatch(part):
        return part
    raise CliError(
        f"{option} takes HTTP status codes, a service's error codes (NoSuchKey) or {UNPROCESSED}, got {part!r}"
    )


def parse_codes(values: Iterable[str]) -> frozenset[int | str] | None:
    """`--code 400 --code 500` as a set of error codes (None, for none given: every code), each as `parse_code`
    reads it."""
    codes = {parse_code(value, "--code") for value in values if value.strip()}
    if len(codes) > MAX_CODES:
        raise CliError(f"--code takes at most {MAX_CODES} codes")
    return frozenset(codes) or None


def fingerprint(record: JobRecord, kind: JobKind, request_ids: Iterable[str]) -> str:
    """sha256 of the source job and the chosen RequestIds (order does not matter)."""
    chosen = "\n".join(sorted(set(request_ids)))
    text = f"{record.domain_id}\n{record.job_id}\n{kind.name}\n{chosen}"
    return hashlib.sha256(text.encode()).hexdigest()


def client_token(digest: str) -> str:
    """Voice ID's ClientToken (`^[a-zA-Z0-9-_]+$`, 1-64 characters)."""
    return f"retry-{digest}"[:64]


def retry_job_name(original: str | None, job_id: str, digest: str) -> str:
    """`<original name>-retry-<8 hex>` (Voice ID's JobName: `^[a-zA-Z0-9][a-zA-Z0-9_-]*$`, 1-256)."""
    suffix = f"-retry-{digest[:8]}"
    base = _NAME_CHARACTERS.sub("-", original or "") or job_id
    if not base[0].isalnum():
        base = f"job{base}"
    return f"{base[: JOB_NAME_MAX - len(suffix)]}{suffix}"


def retry_manifest_uri(input_uri: S3Uri, output: S3Uri | None, digest: str) -> S3Uri:
    """`<folder>/<input name>-retry-<12 hex>.json`, where the folder is `--output` (a prefix) or the
    input manifest's own folder."""
    stem = posixpath.basename(input_uri.key)
    stem = stem.removesuffix(".json") or "manifest"
    name = f"{stem}-retry-{digest[:12]}.json"
    if output is None:
        folder = posixpath.dirname(input_uri.key)
        return S3Uri(input_uri.bucket, f"{folder}/{name}" if folder else name)
    prefix = output.key if not output.key or output.key.endswith("/") else f"{output.key}/"
    return S3Uri(output.bucket, f"{prefix}{name}")


def left_out(record: JobRecord, codes: frozenset[int | str] | None) -> str | None:
    """What a retry of `codes` leaves out because the record could not name it, or None: the unprocessed
    records a kind's summary counts but could not name (Bedrock's input lines without recordId: its
    UnprocessedRecordCount, UnprocessedNamedCount and UnprocessedUnnamedReason)."""
    if (codes is not None and UNPROCESSED not in codes) or not record.summary:
        return None
    unprocessed = record.summary.get("UnprocessedRecordCount")
    named = record.summary.get("UnprocessedNamedCount")
    reason = record.summary.get("UnprocessedUnnamedReason")
    if isinstance(unprocessed, int) and isinstance(named, int) and unprocessed > named:
        count = f"{unprocessed - named} unprocessed record(s)"
    elif reason and not isinstance(unprocessed, int):
        count = "an unknown number of unprocessed record(s)"
    else:
        return None
    return f"{count} left out: the record could not name them" + (f" ({reason})" if reason else "")


def choose(
    record: JobRecord,
    kind: JobKind,
    failures: Sequence[FailedRequest],
    codes: frozenset[int | str] | None,
    *,
    unnamed: str | None = None,
) -> list[str]:
    """The RequestIds to retry, refusing what cannot be retried: a job not recorded, nothing chosen (saying
    what the record could not name, `unnamed`), or more than one job of the kind may hold."""
    if record.summary is None:
        raise CliError(f"job {record.job_id} is not recorded yet: it has no summary item")
    if not record.is_recorded:
        problem = record.summary.get("RecordProblem")
        raise CliError(
            f"job {record.job_id} is not recorded (RecordState {record.record_state})"
            + (f": {problem}" if problem else "")
            + "; retry it once its record is COMPLETE"
        )
    chosen = [failure.request_id for failure in failures if codes is None or failure.error_code in codes]
    if not chosen:
        which = f" with code {', '.join(sorted(map(str, codes)))}" if codes else ""
        raise CliError(
            f"job {record.job_id} has no failed requests{which}: nothing to retry" + (f"; {unnamed}" if unnamed else "")
        )
    if len(chosen) > kind.max_requests_per_job:
        raise CliError(
            f"{len(chosen)} requests would pass the {kind.noun} quota of {kind.max_requests_per_job} per job; "
            "choose fewer with --code"
        )
    return chosen


def build_manifest(input_manifest: Any, kind: JobKind, request_ids: Sequence[str], source: str) -> dict[str, Any]:
    """A manifest of the kind holding exactly `request_ids`' entries copied from `input_manifest` (in its
    order, each entry whole: RequestId, AudioSpecifications and, for enrollments, SpeakerId)."""
    entries = input_manifest.get(kind.manifest_member) if isinstance(input_manifest, Mapping) else None
    if not isinstance(entries, list):
        raise CliError(f"the input manifest {source} has no {kind.manifest_member} list")
    wanted = set(request_ids)
    copied: list[Any] = []
    seen: set[str] = set()
    for entry in entries:
        request_id = entry.get("RequestId") if isinstance(entry, Mapping) else None
        if request_id in wanted and request_id not in seen:
            seen.add(request_id)
            copied.append(entry)
    missing = [request_id for request_id in request_ids if request_id not in seen]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise CliError(f"the input manifest {source} no longer holds request(s) {shown}; cannot copy them")
    return {"Version": input_manifest.get("Version", "1.0"), kind.manifest_member: copied}


@dataclass(frozen=True)
class RetryPlan:
    record: JobRecord
    kind: JobKind
    request_ids: list[str]
    manifest: dict[str, Any]
    manifest_uri: S3Uri
    client_token: str
    job_name: str


def input_manifest_uri(record: JobRecord) -> S3Uri:
    uri = record.summary.get("InputUri") if record.summary else None
    if not isinstance(uri, str) or not uri:
        raise CliError(f"job {record.job_id}'s summary has no InputUri: its input manifest is unknown")
    return S3Uri.parse(uri, "the summary's InputUri")


def plan_retry(
    record: JobRecord,
    kind: JobKind,
    request_ids: list[str],
    *,
    input_manifest: Any,
    input_uri: S3Uri,
    output: S3Uri | None,
) -> RetryPlan:
    digest = fingerprint(record, kind, request_ids)
    original_name = record.summary.get("JobName") if record.summary else None
    return RetryPlan(
        record=record,
        kind=kind,
        request_ids=request_ids,
        manifest=build_manifest(input_manifest, kind, request_ids, str(input_uri)),
        manifest_uri=retry_manifest_uri(input_uri, output, digest),
        client_token=client_token(digest),
        job_name=retry_job_name(original_name if isinstance(original_name, str) else None, record.job_id, digest),
    )


# -- AWS ------------------------------------------------------------------------------------------------------
def read_manifest(client: S3Client, uri: S3Uri) -> Any:
    try:
        body = client.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
            raise CliError(f"the job's input manifest {uri} no longer exists") from error
        raise
    try:
        return json.loads(body)
    except ValueError as error:
        raise CliError(f"the job's input manifest {uri} is not JSON: {error}") from error


def manifest_body(manifest: Mapping[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=1) + "\n").encode()


def write_manifest(client: S3Client, plan: RetryPlan) -> None:
    client.put_object(
        Bucket=plan.manifest_uri.bucket,
        Key=plan.manifest_uri.key,
        Body=manifest_body(plan.manifest),
        ContentType="application/json",
        # Its source job, as the Bedrock and S3 Batch Operations retry files carry it: `erase --job` then
        # deletes only the source job's manifests.
        Metadata={SOURCE_JOB_METADATA: plan.record.job_id},
    )


def start_retry_job(client: VoiceIDClient, plan: RetryPlan) -> dict[str, Any]:
    """Start a job of the source's kind and config on the retry manifest; returns Voice ID's Job.

    The source job's DataAccessRoleArn, OutputDataConfig and Registration/EnrollmentConfig come from
    Describe<Kind>Job. The same plan gives the same request and ClientToken, so Voice ID returns the job it
    already started."""
    kind, record = plan.kind, plan.record
    config_member = kind.start_config_member
    try:
        source = getattr(client, kind.describe_method)(DomainId=record.domain_id, JobId=record.job_id)["Job"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise CliError(
                f"Voice ID has no {kind.noun} job {record.job_id} in domain {record.domain_id} any more"
            ) from error
        raise
    request: dict[str, Any] = {
        "ClientToken": plan.client_token,
        "JobName": plan.job_name,
        "DomainId": record.domain_id,
        "DataAccessRoleArn": source["DataAccessRoleArn"],
        "InputDataConfig": {"S3Uri": str(plan.manifest_uri)},
        "OutputDataConfig": source["OutputDataConfig"],
    }
    if source.get(config_member):
        request[config_member] = source[config_member]
    try:
        job: dict[str, Any] = getattr(client, kind.start_method)(**request)["Job"]
    except ClientError as error:
        details = error.response.get("Error", {})
        if details.get("Code") == "ConflictException" and "ClientToken" in str(details.get("Message")):
            raise CliError(
                f"this retry of job {record.job_id} (ClientToken {plan.client_token}) was already started with "
                f"other parameters, e.g. another --output: {details.get('Message')}"
            ) from error
        raise
    return job
