"""Benchmark the record step on a 10,000-entry speaker enrollment output, against DynamoDB Local.

Throughput: the record Lambda's code (stream the `.out`, write one item per failure with its batch writer,
remove stale items, write the summary) against raw BatchWriteItem of the same items, 25 at a time, through
the same endpoint, in the same run. Memory: the record step's peak for 10,000 entries against 10 entries,
each in a fresh process, as the process's peak resident set (what a Lambda's memory size must hold) and,
for transparency, as Python's own allocations during the step (tracemalloc). Run with `make bench`.
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

from job_tracker import table_schema as schema
from job_tracker.adapters.dynamodb import MAX_BATCH_ITEMS, DynamoDbFailureStore, _to_attribute_values
from job_tracker.kinds import JOB_KINDS
from job_tracker.models import JobDescription, JobRef, JobStatus, S3Location
from job_tracker.output_file import FailedRequest
from job_tracker.recording import failure_item, record_job_outcome
from local_cloud.dynamodb_local import DynamoDBLocal

ENROLLMENTS = JOB_KINDS["SPEAKER_ENROLLMENT"]
ENTRIES = 10_000
SMALL = 10
ROUNDS = 3
CHUNK_BYTES = 64 * 1024
DOMAIN_ID = "BenchDomainAAAAAAAAAAA"


def enrollment_output(entries: int) -> bytes:
    """The worst case: every request failed (409s and 400s), so every entry becomes an item."""
    errors = [
        {
            "RequestId": f"request-{n:05d}",
            "ErrorCode": 409 if n % 2 else 400,
            "ErrorMessage": "You cannot request an enrollment for an opted out speaker"
            if n % 2
            else "The audio does not have enough speech",
        }
        for n in range(entries)
    ]
    return json.dumps({"Version": "1.0", "Errors": errors, "SuccessfulEnrollments": []}).encode()


class BytesReader:
    """S3 stand-in: the output file in memory, in the Lambda's chunk size (S3 is not what is measured)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def chunks(self, location: S3Location) -> Iterator[bytes]:
        for start in range(0, len(self._data), CHUNK_BYTES):
            yield self._data[start : start + CHUNK_BYTES]

    def keys(self, prefix: S3Location) -> Iterator[str]:
        return iter(())  # Voice ID's one .out is named by the job, never listed


def job(job_id: str) -> JobDescription:
    return JobDescription(
        ref=JobRef(DOMAIN_ID, job_id),
        kind=ENROLLMENTS,
        status=JobStatus.COMPLETED_WITH_ERRORS,
        percent_complete=100,
        job_name="bench",
        created_at="2026-11-25T10:00:00+00:00",
        ended_at="2026-11-25T11:00:00+00:00",
        failure_details=None,
        output=S3Location("bench-output", f"out/{job_id}/speakers.json.out"),
    )


def create_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": schema.PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": schema.SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": schema.PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": schema.SORT_KEY, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def record_with_tracker_code(client: Any, table: str, data: bytes, job_id: str) -> int:
    result = record_job_outcome(job(job_id), BytesReader(data), DynamoDbFailureStore(client, table))
    return result.failed


def raw_batch_writes(client: Any, table: str, data: bytes, job_id: str) -> int:
    """The same failure items, built in advance, sent with nothing but BatchWriteItem."""
    described = job(job_id)
    errors = json.loads(data)["Errors"]
    items = [
        _to_attribute_values(failure_item(described, FailedRequest(e["RequestId"], e["ErrorCode"], e["ErrorMessage"])))
        for e in errors
    ]
    for start in range(0, len(items), MAX_BATCH_ITEMS):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + MAX_BATCH_ITEMS]]
        pending: Any = {table: batch}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or None
    return len(items)


def throughput(endpoint: str) -> tuple[float, float, int]:
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - DynamoDB Local accepts any credentials
    )
    data = enrollment_output(ENTRIES)
    tracker_times: list[float] = []
    raw_times: list[float] = []
    for round_ in range(ROUNDS):
        # Alternate, each into a fresh table, so neither profits from the other's warm-up or table size.
        for name, run, times in (
            ("tracker", record_with_tracker_code, tracker_times),
            ("raw", raw_batch_writes, raw_times),
        ):
            table = f"bench-{name}-{round_}"
            create_table(client, table)
            started = time.perf_counter()
            written = run(client, table, data, f"Job{round_:019d}")
            times.append(time.perf_counter() - started)
            client.delete_table(TableName=table)
    return statistics.median(tracker_times), statistics.median(raw_times), written


MEMORY_PROBE = """
import sys, tracemalloc, boto3
sys.path[:0] = {paths!r}
from benchmarks.process_memory import own_peak_rss
from benchmarks.bench_record_enrollment import enrollment_output, record_with_tracker_code, create_table
client = boto3.client("dynamodb", endpoint_url={endpoint!r}, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x")
table = {table!r}
create_table(client, table)
data = enrollment_output({entries})
tracemalloc.start()
record_with_tracker_code(client, table, data, "Job0000000000000000001")
print(tracemalloc.get_traced_memory()[1], own_peak_rss())
"""


def peak_memory(endpoint: str, entries: int) -> tuple[int, int]:
    """(Python allocations during the step, process peak RSS), in bytes, from a fresh process."""
    root = Path(__file__).resolve().parent.parent
    code = MEMORY_PROBE.format(
        paths=[str(root), str(root / "lambdas")], endpoint=endpoint, table=f"bench-memory-{entries}", entries=entries
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    return int(out[0]), int(out[1])


def main() -> None:
    with tempfile.TemporaryDirectory() as logs, DynamoDBLocal(log_path=Path(logs) / "dynamodb-local.log") as dynamodb:
        tracker, raw, written = throughput(dynamodb.endpoint_url)
        small_traced, small_rss = peak_memory(dynamodb.endpoint_url, SMALL)
        large_traced, large_rss = peak_memory(dynamodb.endpoint_url, ENTRIES)
    print(f"Record step, {ENTRIES:,}-entry speaker enrollment output (every entry a failure), DynamoDB Local:")
    print(
        f"  throughput: tracker {written / tracker:,.0f} items/s, raw BatchWriteItem {written / raw:,.0f} items/s "
        f"-> {raw / tracker:.0%} of raw (target >= 80%)"
    )
    mib = 2**20
    print(
        f"  peak memory, {ENTRIES:,} vs {SMALL} entries: process RSS {large_rss / mib:.1f} / {small_rss / mib:.1f}"
        f" MiB = {large_rss / small_rss:.2f}x (target <= 1.5x); Python allocations during the step"
        f" {large_traced / mib:.2f} / {small_traced / mib:.2f} MiB (the set of failed RequestIds grows with the file)"
    )


if __name__ == "__main__":
    main()
