"""Retry a Bedrock batch inference job's failed and unprocessed records: a JSONL of their original lines, and
optionally a new model invocation job on it.

Each chosen record's line is copied byte for byte from the job's input files (`{"recordId", "modelInput"}`
as the operator wrote it), found by `recordId`, never by position. The input files are streamed line by
line. The JSONL's name, the new job's name and its `clientRequestToken` derive from one fingerprint of the
source job and the chosen record ids, so running the same retry again writes the same object and Bedrock,
given the same token, returns the job it already created.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from job_tracker.errors import OutputFileInvalid
from job_tracker.jsonl import lines
from voiceid_tracker_cli.errors import CliError
from voiceid_tracker_cli.records import JobRecord
from voiceid_tracker_cli.retry import S3Uri

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_s3 import S3Client

# botocore's bedrock model: ModelInvocationJobName (at most 63 characters here, the pattern's first part).
JOB_NAME_MAX = 63
_NAME_CHARACTERS = re.compile(r"[^a-zA-Z0-9+\-.]")
INPUT_SUFFIX = ".jsonl"


def fingerprint(record: JobRecord, record_ids: Iterable[str]) -> str:
    chosen = "\n".join(sorted(set(record_ids)))
    return hashlib.sha256(f"{record.domain_id}\n{record.job_id}\nBEDROCK\n{chosen}".encode()).hexdigest()


def client_request_token(digest: str) -> str:
    """Bedrock's clientRequestToken: `[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}`."""
    return f"retry-{digest[:48]}"


def retry_job_name(original: str | None, job_id: str, digest: str) -> str:
    """`<original name>-retry-<8 hex>`: it keeps the original's start, so the retry is followed by the same
    job-name prefix (tracker:bedrockJobNamePrefixes)."""
    suffix = f"-retry-{digest[:8]}"
    base = _NAME_CHARACTERS.sub("-", original or "") or job_id
    return f"{base[: JOB_NAME_MAX - len(suffix)]}{suffix}"


def retry_input_uri(folder: S3Uri, original: str | None, job_id: str, digest: str) -> S3Uri:
    """`<folder>/<original name>-retry-<12 hex>.jsonl`."""
    prefix = folder.key if not folder.key or folder.key.endswith("/") else f"{folder.key}/"
    name = _NAME_CHARACTERS.sub("-", original or "") or job_id
    return S3Uri(folder.bucket, f"{prefix}{name}-retry-{digest[:12]}{INPUT_SUFFIX}")


def pick_lines(files: Iterable[tuple[str, Iterable[bytes]]], wanted: Sequence[str]) -> list[bytes]:
    """The input lines whose recordId is in `wanted`, verbatim, in the order of `wanted`; CliError naming the
    records no input line holds."""
    remaining = set(wanted)
    found: dict[str, bytes] = {}
    try:
        for source, chunks in files:
            for number, line in enumerate(lines(chunks, source=source), start=1):
                if not remaining:
                    break
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as error:
                    raise CliError(f"{source} line {number} is not JSON: {error}") from error
                record_id = record.get("recordId") if isinstance(record, dict) else None
                if record_id in remaining:
                    remaining.discard(record_id)
                    found[record_id] = line.rstrip(b"\r")
    except OutputFileInvalid as error:  # a line past the length limit
        raise CliError(str(error)) from error
    if remaining:
        missing = sorted(remaining)
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise CliError(f"the job's input no longer holds record(s) {shown}; cannot copy them")
    return [found[record_id] for record_id in wanted]


@dataclass(frozen=True)
class BedrockRetryPlan:
    record: JobRecord
    record_ids: list[str]
    input_uri: S3Uri
    client_request_token: str
    job_name: str


def plan(record: JobRecord, record_ids: list[str], folder: S3Uri) -> BedrockRetryPlan:
    digest = fingerprint(record, record_ids)
    original = record.summary.get("JobName") if record.summary else None
    original = original if isinstance(original, str) else None
    return BedrockRetryPlan(
        record=record,
        record_ids=record_ids,
        input_uri=retry_input_uri(folder, original, record.job_id, digest),
        client_request_token=client_request_token(digest),
        job_name=retry_job_name(original, record.job_id, digest),
    )


# -- AWS ------------------------------------------------------------------------------------------------------
def _input_files(client: S3Client, input_uri: S3Uri) -> list[S3Uri]:
    if input_uri.key.endswith(INPUT_SUFFIX):
        return [input_uri]
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=input_uri.bucket, Prefix=input_uri.key):
        keys += [entry["Key"] for entry in page.get("Contents", []) if entry["Key"].endswith(INPUT_SUFFIX)]
    return [S3Uri(input_uri.bucket, key) for key in keys]


def _chunks(client: S3Client, uri: S3Uri) -> Iterator[bytes]:
    body = client.get_object(Bucket=uri.bucket, Key=uri.key)["Body"]
    try:
        yield from body.iter_chunks(1024 * 1024)
    finally:
        body.close()


def original_lines(client: S3Client, input_uri: S3Uri, record_ids: Sequence[str]) -> list[bytes]:
    """The chosen records' lines, read back from the job's input files (the summary's InputUri)."""
    files = _input_files(client, input_uri)
    return pick_lines(((str(uri), _chunks(client, uri)) for uri in files), record_ids)


def write_jsonl(client: S3Client, plan: BedrockRetryPlan, picked: Sequence[bytes]) -> None:
    client.put_object(
        Bucket=plan.input_uri.bucket,
        Key=plan.input_uri.key,
        Body=b"\n".join(picked) + b"\n",
        ContentType="application/jsonl",
    )


def create_retry_job(client: BedrockClient, plan: BedrockRetryPlan) -> str:
    """CreateModelInvocationJob with the source job's model, role and output configuration (and its timeout,
    VPC and invocation type when it had them); returns the new job's ARN."""
    job_id = plan.record.job_id
    try:
        source: Any = client.get_model_invocation_job(jobIdentifier=job_id)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise CliError(f"Bedrock has no model invocation job {job_id} any more") from error
        raise
    request: dict[str, Any] = {
        "jobName": plan.job_name,
        "clientRequestToken": plan.client_request_token,
        "roleArn": source["roleArn"],
        "modelId": source["modelId"],
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": str(plan.input_uri), "s3InputFormat": "JSONL"}},
        "outputDataConfig": source["outputDataConfig"],
    }
    for optional in ("timeoutDurationInHours", "vpcConfig", "modelInvocationType"):
        if source.get(optional):
            request[optional] = source[optional]
    try:
        created: Any = client.create_model_invocation_job(**request)
    except ClientError as error:
        details = error.response.get("Error", {})
        raise CliError(
            f"Bedrock refused the retry job of {job_id} ({details.get('Code')}): {details.get('Message')}"
        ) from error
    return str(created["jobArn"])


def job_id_of(job_arn: str) -> str:
    return posixpath.basename(job_arn)
