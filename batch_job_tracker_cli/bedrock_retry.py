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
import json
import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from batch_job_tracker_cli.errors import CliError
from batch_job_tracker_cli.records import FailedRequest, JobRecord
from batch_job_tracker_cli.retry import S3Uri
from job_tracker.adapters.s3 import ObjectReader, S3ObjectReader
from job_tracker.bedrock_output import input_files as job_input_files
from job_tracker.errors import OutputFileMissing, TrackerError
from job_tracker.jsonl import lines
from job_tracker.models import S3Location

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_s3 import S3Client

# botocore's bedrock model: ModelInvocationJobName (at most 63 characters here, the pattern's first part).
JOB_NAME_MAX = 63
_NAME_CHARACTERS = re.compile(r"[^a-zA-Z0-9+\-.]")
INPUT_SUFFIX = ".jsonl"
SOURCE_JOB_METADATA = "tracker-source-job-id"


def fingerprint(record: JobRecord, record_ids: Iterable[str]) -> str:
    chosen = "\n".join(sorted(set(record_ids)))
    return hashlib.sha256(f"{record.domain_id}\n{record.job_id}\nBEDROCK\n{chosen}".encode()).hexdigest()


def client_request_token(digest: str) -> str:
    """Bedrock's clientRequestToken: `[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}`."""
    return f"retry-{digest[:48]}"


def retry_job_name(original: str | None, job_id: str, digest: str, tracked_prefixes: Sequence[str] = ()) -> str:
    """`<original name>-retry-<8 hex>`, at most 63 characters: it keeps the original's start, so the rule and the
    sweep (tracker:bedrockJobNamePrefixes) follow the retry. The longest of `tracked_prefixes` the original
    starts with is kept whole whatever its length; the suffix shrinks to the room left after it (to `-<hex>`,
    down to nothing for a 63-character prefix: job names need not be unique, and the clientRequestToken, not
    the name, makes the retry's job its own)."""
    base = _NAME_CHARACTERS.sub("-", original or "") or job_id
    kept = max((prefix for prefix in tracked_prefixes if base.startswith(prefix)), key=len, default="")
    suffix = f"-retry-{digest[:8]}"
    if len(kept) + len(suffix) <= JOB_NAME_MAX:
        return f"{base[: max(JOB_NAME_MAX - len(suffix), len(kept))]}{suffix}"
    room = JOB_NAME_MAX - len(kept)
    return f"{kept}{f'-{digest}'[:room] if room > 1 else digest[:room]}"


def retry_input_uri(folder: S3Uri, original: str | None, job_id: str, digest: str) -> S3Uri:
    """`<folder>/<original name>-retry-<12 hex>.jsonl`."""
    prefix = folder.key if not folder.key or folder.key.endswith("/") else f"{folder.key}/"
    name = _NAME_CHARACTERS.sub("-", original or "") or job_id
    return S3Uri(folder.bucket, f"{prefix}{name}-retry-{digest[:12]}{INPUT_SUFFIX}")


@dataclass(frozen=True)
class RecordSource:
    """Where a chosen record's line can be read back: the failure item's `InputFile` (an unprocessed record)
    or `OutputFile` (a failed one), and its `LineNumber` there."""

    record_id: str
    input_file: str | None = None
    output_file: str | None = None
    line_number: int | None = None

    @classmethod
    def of(cls, failure: FailedRequest) -> RecordSource:
        def text(name: str) -> str | None:
            value = failure.fields.get(name)
            return value if isinstance(value, str) and value else None

        line = failure.fields.get("LineNumber")
        return cls(
            record_id=failure.request_id,
            input_file=text("InputFile"),
            output_file=text("OutputFile"),
            line_number=line if isinstance(line, int) and not isinstance(line, bool) and line > 0 else None,
        )


def _input_record_id(line: bytes, source: str, number: int) -> str | None:
    """An input line's recordId, None when it has none (Bedrock then generates one); CliError naming the file
    and line when the line is not a JSON object or its recordId is not a non-empty string."""
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError) as error:
        raise CliError(f"{source} line {number} is not JSON: {error}") from error
    if not isinstance(record, dict):
        raise CliError(f"{source} line {number} is not a JSON object")
    record_id = record.get("recordId")
    if record_id is not None and (not isinstance(record_id, str) or not record_id):
        raise CliError(f"{source} line {number} has a recordId that is not a non-empty string: {record_id!r}")
    return record_id


def _pick_from_inputs(
    files: Iterable[tuple[str, Iterable[bytes]]], remaining: set[str], found: dict[str, bytes]
) -> None:
    """Each input line whose recordId is in `remaining`, verbatim (moved from `remaining` to `found`). A file
    that no longer exists holds none: its records may still be in another file, or in their output lines."""
    for source, chunks in files:
        if not remaining:
            return
        try:
            for number, line in enumerate(lines(chunks, source=source), start=1):
                if not remaining:
                    break
                if not line.strip():
                    continue
                record_id = _input_record_id(line, source, number)
                if record_id in remaining:
                    remaining.discard(record_id)
                    found[record_id] = line.rstrip(b"\r")
        except OutputFileMissing:
            continue


def _retry_line_from_output(line: bytes, source: RecordSource, where: str) -> bytes:
    """The retry line of a record read back from its output line: its recordId (the id Bedrock generated,
    when the input gave none) and its `modelInput`, which Bedrock copies from the input into every output line."""
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError) as error:
        raise CliError(f"{where} is not JSON: {error}") from error
    if not isinstance(record, dict) or record.get("recordId") != source.record_id:
        raise CliError(f"{where} is not record {source.record_id}'s output line; the output changed since the record")
    if not isinstance(record.get("modelInput"), dict):
        raise CliError(f"{where} holds no modelInput object to retry record {source.record_id} with")
    retry_line = {"recordId": source.record_id, "modelInput": record["modelInput"]}
    return json.dumps(retry_line, ensure_ascii=False, separators=(",", ":")).encode()


def _pick_from_outputs(
    open_file: Callable[[str], Iterable[bytes]],
    sources: Sequence[RecordSource],
    remaining: set[str],
    found: dict[str, bytes],
) -> None:
    """For the records no input line holds (no recordId in the input), their output line's modelInput."""
    by_file: dict[str, dict[int, RecordSource]] = {}
    for source in sources:
        if source.record_id in remaining and source.output_file and source.line_number:
            by_file.setdefault(source.output_file, {})[source.line_number] = source
    for output_file, wanted in by_file.items():
        last = max(wanted)
        for number, line in enumerate(lines(open_file(output_file), source=output_file), start=1):
            if number in wanted:
                source = wanted[number]
                found[source.record_id] = _retry_line_from_output(line, source, f"{output_file} line {number}")
                remaining.discard(source.record_id)
            if number >= last:
                break


def pick_lines(
    open_file: Callable[[str], Iterable[bytes]], input_files: Iterable[str], sources: Sequence[RecordSource]
) -> list[bytes]:
    """The chosen records' retry lines, in the order of `sources`: each record's input line verbatim, found by
    recordId in the input file its failure item names first, then in the job's other input files; a record
    no input line holds (its input line had no recordId) from its output line (`OutputFile`, `LineNumber`).
    CliError naming the records found nowhere, or the file and line that is malformed."""
    remaining = {source.record_id for source in sources}
    found: dict[str, bytes] = {}
    named = list(dict.fromkeys(source.input_file for source in sources if source.input_file))
    others = [uri for uri in input_files if uri not in named]
    try:
        _pick_from_inputs(((uri, open_file(uri)) for uri in [*named, *others]), remaining, found)
        _pick_from_outputs(open_file, sources, remaining, found)
    except TrackerError as error:  # a file missing or unreadable, a line past the length limit
        raise CliError(f"cannot read the records to retry: {error}") from error
    if remaining:
        missing = [source.record_id for source in sources if source.record_id in remaining]
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise CliError(f"neither the job's input nor its output holds record(s) {shown} any more; cannot copy them")
    return [found[source.record_id] for source in sources]


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
        [RecordSource.of(failure) for failure in failures],
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
