"""Retry a Bedrock batch inference job's failed and unprocessed records: a JSONL of their lines, and
optionally a new model invocation job on it.

Each chosen record's line is copied byte for byte from the job's input files (`{"recordId", "modelInput"}`
as the operator wrote it), found by `recordId`, never by position: first in the input file its failure item
names (`InputFile`), then in the job's other input files. A record whose input line has no `recordId` (Bedrock
gave it a generated id) is found in no input line: its retry line is built from its output line (`OutputFile`,
`LineNumber`), which copies the record's `modelInput`, under the generated id. Files are streamed line by
line. The JSONL's name, the new job's name and its `clientRequestToken` derive from one fingerprint of the
source job and the chosen record ids, so running the same retry again writes the same object and Bedrock,
given the same token, returns the job it already created.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from batch_job_tracker_cli.errors import CliError
from batch_job_tracker_cli.records import FailedRequest, JobRecord
from batch_job_tracker_cli.retry import S3Uri
from job_tracker.adapters.s3 import ObjectReader, S3ObjectReader
from job_tracker.bedrock_output import input_files as job_input_files
from job_tracker.bedrock_retry_lines import (
    INPUT_SUFFIX,
    JOB_NAME_UNSAFE,
    SOURCE_JOB_METADATA,
    RecordSource,
    RetryLinesUnavailable,
    client_request_token,
    retry_job_name,
)
from job_tracker.bedrock_retry_lines import pick_lines as shared_pick_lines
from job_tracker.errors import TrackerError
from job_tracker.models import S3Location

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_s3 import S3Client


def fingerprint(record: JobRecord, record_ids: Iterable[str]) -> str:
    chosen = "\n".join(sorted(set(record_ids)))
    return hashlib.sha256(f"{record.domain_id}\n{record.job_id}\nBEDROCK\n{chosen}".encode()).hexdigest()


def retry_input_uri(folder: S3Uri, original: str | None, job_id: str, digest: str) -> S3Uri:
    """`<folder>/<original name>-retry-<12 hex>.jsonl`."""
    prefix = folder.key if not folder.key or folder.key.endswith("/") else f"{folder.key}/"
    name = JOB_NAME_UNSAFE.sub("-", original or "") or job_id
    return S3Uri(folder.bucket, f"{prefix}{name}-retry-{digest[:12]}{INPUT_SUFFIX}")


def record_source(failure: FailedRequest) -> RecordSource:
    """Where the failure item says the record's line is."""
    return RecordSource.of_fields(failure.request_id, failure.fields)


def pick_lines(
    open_file: Callable[[str], Iterable[bytes]], input_files: Iterable[str], sources: Sequence[RecordSource]
) -> list[bytes]:
    """`bedrock_retry_lines.pick_lines`, its errors as the CLI's (one line, no traceback)."""
    try:
        return shared_pick_lines(open_file, input_files, sources)
    except RetryLinesUnavailable as error:
        raise CliError(str(error)) from error


@dataclass(frozen=True)
class BedrockRetryPlan:
    record: JobRecord
    record_ids: list[str]
    input_uri: S3Uri
    client_request_token: str
    job_name: str


def plan(
    record: JobRecord, record_ids: list[str], folder: S3Uri, tracked_prefixes: Sequence[str] = ()
) -> BedrockRetryPlan:
    """The retry's JSONL location, token and job name; `tracked_prefixes` are the stack's job name prefixes
    (BedrockJobNamePrefixes), kept whole in the name."""
    digest = fingerprint(record, record_ids)
    original = record.summary.get("JobName") if record.summary else None
    original = original if isinstance(original, str) else None
    return BedrockRetryPlan(
        record=record,
        record_ids=record_ids,
        input_uri=retry_input_uri(folder, original, record.job_id, digest),
        client_request_token=client_request_token(digest),
        job_name=retry_job_name(original, record.job_id, digest, tracked_prefixes),
    )


# -- AWS ------------------------------------------------------------------------------------------------------
def input_files(reader: ObjectReader, input_uri: S3Uri) -> list[str]:
    """The job's input `.jsonl` files, by the record step's own rule (`bedrock_output.input_files`: a URI not
    ending in `.jsonl` names the folder `<key>/`, as Bedrock lists it, so its siblings give no line)."""
    try:
        files = job_input_files(S3Location(input_uri.bucket, input_uri.key), reader)
    except TrackerError as error:
        raise CliError(f"cannot list the job's input: {error}") from error
    return [location.uri for location in files]


def original_lines(client: S3Client, input_uri: S3Uri, failures: Sequence[FailedRequest]) -> list[bytes]:
    """The chosen records' retry lines, read back from the job's input files (the summary's InputUri) and,
    for records without recordId, from their output lines."""
    reader = S3ObjectReader(client, chunk_bytes=1024 * 1024)
    return pick_lines(
        lambda uri: reader.chunks(S3Location.parse(uri)),
        input_files(reader, input_uri),
        [record_source(failure) for failure in failures],
    )


def write_jsonl(client: S3Client, plan: BedrockRetryPlan, picked: Sequence[bytes]) -> None:
    client.put_object(
        Bucket=plan.input_uri.bucket,
        Key=plan.input_uri.key,
        Body=b"\n".join(picked) + b"\n",
        ContentType="application/jsonl",
        # Which job's records it holds: `erase --job` reads it (the file holds customers' records verbatim).
        Metadata={SOURCE_JOB_METADATA: plan.record.job_id},
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
