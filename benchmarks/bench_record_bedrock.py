"""Benchmark the record step on a Bedrock batch inference job, against DynamoDB Local.

The job: 50,000 records in two input files, 20 % failed, over 100 MB of `.jsonl.out` (every line copies its
prompt, as Bedrock's do). Throughput: the record Lambda's code (list the output folder, stream every
`.jsonl.out` line by line, one item per failed record with its batch writer, the manifest cross-check, the
summary) against a baseline of `json.loads` on each line plus raw BatchWriteItem of the same failure items,
25 at a time, through the same endpoint, in the same run. Memory: the record step's process peak RSS for
that job and for a single 1 GB `.jsonl.out`, each against a 100-record job, each in a fresh process. The
output is generated as it is read (S3 is not what is measured, and holding 1 GB in memory would measure the
benchmark, not the step). Run with `make bench`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3

from benchmarks.bench_record_enrollment import create_table
from job_tracker.adapters.dynamodb import MAX_BATCH_ITEMS, DynamoDbFailureStore, _to_attribute_values
from job_tracker.bedrock_output import MANIFEST_NAME
from job_tracker.jsonl import lines
from job_tracker.kinds import JOB_KINDS
from job_tracker.models import JobDescription, JobRef, JobStatus, S3Location
from job_tracker.output_file import FailedRequest
from job_tracker.recording import failure_item, record_job_outcome
from local_cloud.dynamodb_local import DynamoDBLocal

BEDROCK = JOB_KINDS["BEDROCK_BATCH_INFERENCE"]
RECORDS = 50_000
SMALL = 100
FAILED_EVERY = 5  # 20 %
PROMPT_CHARACTERS = 2_000  # about 2.1 KB a line: 50,000 lines are over 100 MB
LARGE_FILE_PROMPT_CHARACTERS = 20_500  # 50,000 lines of about 21 KB: one file over 1 GB
ROUNDS = 3
CHUNK_BYTES = 64 * 1024
ACCOUNT = "123456789012"
BUCKET = "bench-bedrock-output"


def output_line(number: int, prompt_characters: int) -> bytes:
    record: dict[str, Any] = {
        "recordId": f"rec{number:07d}",
        "modelInput": {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 256,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "p" * prompt_characters}]}],
        },
    }
    if number % FAILED_EVERY == 0:
        record["error"] = {"errorCode": 400, "errorMessage": "messages.0.content: text must not be empty"}
    else:
        record["modelOutput"] = {
            "content": [{"type": "text", "text": "A deterministic summary of the prompt."}],
            "usage": {"input_tokens": 512, "output_tokens": 12},
        }
    return json.dumps(record).encode()


class GeneratedOutput:
    """S3 stand-in: a job's output folder whose `.jsonl.out` files are generated as they are read."""

    def __init__(self, job_id: str, files: int, records: int, prompt_characters: int) -> None:
        self.folder = S3Location(BUCKET, f"out/{job_id}/")
        self._files = [f"{self.folder.key}input-{n}.jsonl.out" for n in range(files)]
        self._records = records
        self._prompt = prompt_characters

    def keys(self, prefix: S3Location) -> Iterator[str]:
        yield from [f"{self.folder.key}{MANIFEST_NAME}", *self._files]

    def numbers(self, key: str) -> range:
        index, count = self._files.index(key), len(self._files)
        per_file = -(-self._records // count)
        return range(index * per_file, min((index + 1) * per_file, self._records))

    def chunks(self, location: S3Location) -> Iterator[bytes]:
        if location.key.endswith(MANIFEST_NAME):
            failed = -(-self._records // FAILED_EVERY)
            yield json.dumps(
                {
                    "totalRecordCount": self._records,
                    "processedRecordCount": self._records,
                    "successRecordCount": self._records - failed,
                    "errorRecordCount": failed,
                    "inputTokenCount": 512 * self._records,
                    "outputTokenCount": 12 * (self._records - failed),
                }
            ).encode()
            return
        pending = bytearray()
        for number in self.numbers(location.key):
            pending += output_line(number, self._prompt) + b"\n"
            if len(pending) >= CHUNK_BYTES:
                yield bytes(pending)
                pending.clear()
        if pending:
            yield bytes(pending)

    def size(self) -> int:
        return sum(len(chunk) for key in self._files for chunk in self.chunks(S3Location(BUCKET, key)))


def job(output: GeneratedOutput, job_id: str) -> JobDescription:
    return JobDescription(
        ref=JobRef(ACCOUNT, job_id),
        kind=BEDROCK,
        status=JobStatus.COMPLETED_WITH_ERRORS,
        percent_complete=100,
        job_name="tracked-bench",
        created_at="2026-11-25T10:00:00+00:00",
        ended_at="2026-11-25T11:00:00+00:00",
        failure_details=None,
        output=output.folder,
        service_status="Completed",
    )


def record_with_tracker_code(client: Any, table: str, output: GeneratedOutput, job_id: str) -> int:
    result = record_job_outcome(job(output, job_id), output, DynamoDbFailureStore(client, table))
    return result.failed


def baseline(client: Any, table: str, output: GeneratedOutput, job_id: str) -> int:
    """`json.loads` on each line, and the failure items sent with nothing but BatchWriteItem."""
    described = job(output, job_id)
    batch: list[dict[str, Any]] = []
    written = 0

    def send() -> None:
        pending: Any = {table: batch}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or None

    for key in output.keys(output.folder):
        if not key.endswith(".jsonl.out"):
            continue
        for number, line in enumerate(lines(output.chunks(S3Location(BUCKET, key)), source=key), start=1):
            record = json.loads(line)
            error = record.get("error")
            if error is None:
                continue
            failed = FailedRequest(
                record["recordId"],
                error["errorCode"],
                error["errorMessage"],
                {"RecordId": record["recordId"], "OutputFile": key, "LineNumber": number},
            )
            batch.append({"PutRequest": {"Item": _to_attribute_values(failure_item(described, failed))}})
            written += 1
            if len(batch) == MAX_BATCH_ITEMS:
                send()
                batch = []
    if batch:
        send()
    return written


def dynamodb_client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - DynamoDB Local accepts any credentials
    )


def throughput(endpoint: str) -> tuple[float, float, int]:
    client = dynamodb_client(endpoint)
    tracker_times: list[float] = []
    raw_times: list[float] = []
    written = 0
    for round_ in range(ROUNDS):
        # Alternate, each into a fresh table, so neither profits from the other's warm-up or table size.
        for name, run, times in (("tracker", record_with_tracker_code, tracker_times), ("raw", baseline, raw_times)):
            table = f"bench-bedrock-{name}-{round_}"
            create_table(client, table)
            job_id = f"job{round_:09d}"
            output = GeneratedOutput(job_id, files=2, records=RECORDS, prompt_characters=PROMPT_CHARACTERS)
            started = time.perf_counter()
            written = run(client, table, output, job_id)
            times.append(time.perf_counter() - started)
            client.delete_table(TableName=table)
    return statistics.median(tracker_times), statistics.median(raw_times), written


MEMORY_PROBE = """
import sys, boto3
sys.path[:0] = {paths!r}
from benchmarks.process_memory import own_peak_rss
from benchmarks.bench_record_bedrock import GeneratedOutput, dynamodb_client, record_with_tracker_code
from benchmarks.bench_record_enrollment import create_table
client = dynamodb_client({endpoint!r})
create_table(client, {table!r})
output = GeneratedOutput("job000000001", files={files}, records={records}, prompt_characters={prompt})
record_with_tracker_code(client, {table!r}, output, "job000000001")
print(own_peak_rss())
"""


def peak_rss(endpoint: str, files: int, records: int, prompt: int) -> int:
    root = Path(__file__).resolve().parent.parent
    code = MEMORY_PROBE.format(
        paths=[str(root), str(root / "lambdas")],
        endpoint=endpoint,
        table=f"bench-bedrock-memory-{records}-{prompt}",
        files=files,
        records=records,
        prompt=prompt,
    )
    return int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


def main() -> None:
    size = GeneratedOutput("size", files=2, records=RECORDS, prompt_characters=PROMPT_CHARACTERS).size()
    with tempfile.TemporaryDirectory() as logs, DynamoDBLocal(log_path=Path(logs) / "dynamodb-local.log") as dynamodb:
        tracker, raw, written = throughput(dynamodb.endpoint_url)
        small = peak_rss(dynamodb.endpoint_url, 2, SMALL, PROMPT_CHARACTERS)
        large = peak_rss(dynamodb.endpoint_url, 2, RECORDS, PROMPT_CHARACTERS)
        huge = peak_rss(dynamodb.endpoint_url, 1, RECORDS, LARGE_FILE_PROMPT_CHARACTERS)
    mib = 2**20
    print(
        f"Record step, Bedrock job of {RECORDS:,} records in 2 files, {written:,} failed (20 %), "
        f"{size / 10**6:,.0f} MB of .jsonl.out, DynamoDB Local:"
    )
    print(
        f"  throughput: tracker {tracker:.2f} s, baseline (json.loads each line + raw BatchWriteItem) {raw:.2f} s "
        f"-> {raw / tracker:.0%} of the baseline's speed (target >= 80%)"
    )
    print(
        f"  peak RSS: {RECORDS:,}-record job {large / mib:.1f} MiB, one 1 GB .jsonl.out {huge / mib:.1f} MiB, "
        f"{SMALL}-record job {small / mib:.1f} MiB -> {large / small:.2f}x and {huge / small:.2f}x (target <= 1.5x)"
    )


if __name__ == "__main__":
    main()
