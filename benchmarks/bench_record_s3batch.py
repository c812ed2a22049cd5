"""Benchmark the record step on an S3 Batch Operations job, against DynamoDB Local.

The job: 1,000,000 tasks, 5 % failed (`NoSuchKey`, 404), one key in seven with spaces and parentheses (URL-encoded
in the report, decoded on the item). It runs through the local S3 Batch Operations service (the emulator, its
tasks simulated, at pacing 0, on a moto S3) so its completion report is laid out exactly as that service writes
it: `manifest.json` and the succeeded and failed tasks' results CSVs. The report is then copied to a local
folder and read from there in 64 KiB chunks, as S3ObjectReader hands them to the step: S3 is not what is
measured. DescribeJob, through the tracker's own adapter, gives the job as the record step sees it.

Throughput: the record Lambda's code (read manifest.json, stream every results CSV line by line, one item per
failed task with its batch writer, the cross-check against ProgressSummary, the summary) against a baseline of
`csv.reader` over the same report files plus raw BatchWriteItem of the same failure items, 25 at a time, through
the same endpoint, in the same run, alternating, median of 3. Memory: the record step's process peak RSS (VmHWM) on
that job against a 1,000-task job's, each in a fresh process. Run with `make bench`; `BENCH_S3BATCH_TASKS=20000` runs a
smaller job (while developing the step).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import pickle
import posixpath
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from benchmarks.bench_record_bedrock import dynamodb_client
from benchmarks.bench_record_enrollment import create_table
from job_tracker.adapters.dynamodb import MAX_BATCH_ITEMS, DynamoDbFailureStore, _to_attribute_values
from job_tracker.adapters.s3control import S3BatchJobDescriber
from job_tracker.errors import OutputFileMissing
from job_tracker.kinds import JOB_KINDS
from job_tracker.models import JobDescription, JobRef, S3Location
from job_tracker.output_file import FailedRequest
from job_tracker.recording import failure_item, record_job_outcome
from job_tracker.s3batch_report import MANIFEST_NAME
from local_cloud.dynamodb_local import DynamoDBLocal

if TYPE_CHECKING:
    from s3batch_emulator import S3BatchEmulator

S3_BATCH = JOB_KINDS["S3_BATCH_OPERATIONS"]
TASKS = int(os.environ.get("BENCH_S3BATCH_TASKS", "1000000"))
SMALL = 1_000
FAILED_FRACTION = 0.05
ENCODED_KEY_EVERY = 7  # keys with spaces and parentheses, URL-encoded in the manifest and the report
ROUNDS = 3
CHUNK_BYTES = 64 * 1024
ACCOUNT_ID = "123456789012"
CREDENTIALS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}  # moto and the emulator take any
FAILURE = {"errorCode": "NoSuchKey", "httpStatus": 404, "message": "The specified key does not exist."}


def object_key(number: int) -> str:
    if number % ENCODED_KEY_EVERY == 0:
        return f"photos/2026/holiday {number:07d} (copy).jpg"
    return f"photos/2026/img{number:07d}.jpg"


class ReportFolder:
    """S3 stand-in: report objects copied to a local folder (`<root>/<bucket>/<key>`), read in 64 KiB chunks."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, location: S3Location) -> Path:
        return self.root / location.bucket / location.key

    def chunks(self, location: S3Location) -> Iterator[bytes]:
        path = self.path(location)
        if not path.is_file():
            raise OutputFileMissing(f"{location.uri} does not exist")
        with path.open("rb") as file:
            while chunk := file.read(CHUNK_BYTES):
                yield chunk

    def keys(self, prefix: S3Location) -> Iterator[str]:
        folder = self.root / prefix.bucket
        found = (str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())
        yield from sorted(key for key in found if key.startswith(prefix.key))


def run_job(emulator: S3BatchEmulator, s3: Any, bucket: str, tasks: int, folder: Path) -> JobDescription:
    """Run a `tasks`-task job through the local service, copy its report under `folder`, and return the job as
    DescribeJob tells the tracker."""
    from s3batch_emulator.testing import TAGGING, csv_manifest, put_manifest, s3control_client

    manifest_key = f"manifests/{tasks}.csv"
    manifest = put_manifest(s3, bucket, manifest_key, csv_manifest((bucket, object_key(n)) for n in range(tasks)))
    client = s3control_client(emulator.endpoint_url)
    job_id = client.create_job(
        AccountId=ACCOUNT_ID,
        ConfirmationRequired=False,
        Operation=TAGGING,  # type: ignore[arg-type]
        Manifest=manifest,  # type: ignore[arg-type]
        Report={
            "Bucket": f"arn:aws:s3:::{bucket}",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "Prefix": f"reports/{tasks}",
            "ReportScope": "AllTasks",
        },
        Priority=1,
        RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/Bench",
        ClientRequestToken=uuid.uuid4().hex,
        Description="tracked-bench",
    )["JobId"]
    status = emulator.wait_for_job(job_id, timeout=900)
    if status != "Complete":
        raise RuntimeError(f"the benchmark's {tasks}-task job ended {status}, not Complete")
    job = S3BatchJobDescriber(client).describe(JobRef(ACCOUNT_ID, job_id), S3_BATCH)
    assert job.output is not None
    listing = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=job.output.key)
    for page in listing:
        for item in page.get("Contents", []):
            target = folder / bucket / item["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(target))
    return job


def record_with_tracker_code(client: Any, table: str, report: ReportFolder, job: JobDescription) -> int:
    return record_job_outcome(job, report, DynamoDbFailureStore(client, table)).failed


def baseline(client: Any, table: str, report: ReportFolder, job: JobDescription) -> int:
    """`csv.reader` over each results CSV the report's manifest.json lists, and the same failure items sent with
    nothing but BatchWriteItem."""
    assert job.output is not None
    manifest = json.loads(report.path(S3Location(job.output.bucket, job.output.key + MANIFEST_NAME)).read_bytes())
    batch: list[dict[str, Any]] = []
    written = 0

    def send() -> None:
        pending: Any = {table: batch}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or None

    for entry in manifest["Results"]:
        location = S3Location(entry["Bucket"], entry["Key"])
        name = posixpath.basename(location.key)
        with report.path(location).open(encoding="utf-8", newline="") as file:
            rows = csv.reader(file)
            for row in rows:
                if row[3] != "failed":
                    continue
                bucket, key, version_id, _, http_status, error_code, message = row
                failed = FailedRequest(
                    f"{name}:{rows.line_num}",
                    error_code,
                    message,
                    {
                        "Bucket": bucket,
                        "Key": urllib.parse.unquote_plus(key),
                        "VersionId": version_id or None,
                        "ErrorCode": error_code,
                        "HTTPStatusCode": int(http_status),
                        "ResultMessage": message,
                        "ReportFile": location.uri,
                        "LineNumber": rows.line_num,
                    },
                )
                batch.append({"PutRequest": {"Item": _to_attribute_values(failure_item(job, failed))}})
                written += 1
                if len(batch) == MAX_BATCH_ITEMS:
                    send()
                    batch = []
    if batch:
        send()
    return written


def throughput(endpoint: str, report: ReportFolder, job: JobDescription) -> tuple[list[float], list[float], int]:
    client = dynamodb_client(endpoint)
    tracker_times: list[float] = []
    raw_times: list[float] = []
    counts: set[int] = set()
    for round_ in range(ROUNDS):
        # Alternate, each into a fresh table, so neither profits from the other's warm-up or table size.
        for name, run, times in (("tracker", record_with_tracker_code, tracker_times), ("raw", baseline, raw_times)):
            table = f"bench-s3batch-{name}-{round_}"
            create_table(client, table)
            started = time.perf_counter()
            counts.add(run(client, table, report, job))
            times.append(time.perf_counter() - started)
            client.delete_table(TableName=table)
    if len(counts) != 1:
        raise RuntimeError(f"the tracker and the baseline wrote different numbers of failure items: {sorted(counts)}")
    return tracker_times, raw_times, counts.pop()


# The probe's own high-water mark (benchmarks.process_memory): this parent held the emulator's million task
# results, which ru_maxrss would report instead.
MEMORY_PROBE = """
import pickle, sys
sys.path[:0] = {paths!r}
from pathlib import Path
from benchmarks.bench_record_bedrock import dynamodb_client
from benchmarks.bench_record_enrollment import create_table
from benchmarks.bench_record_s3batch import ReportFolder, record_with_tracker_code
job = pickle.loads(Path({job!r}).read_bytes())
client = dynamodb_client({endpoint!r})
create_table(client, {table!r})
record_with_tracker_code(client, {table!r}, ReportFolder(Path({root!r})), job)
from benchmarks.process_memory import own_peak_rss
print(own_peak_rss())
"""


def peak_rss(endpoint: str, root: Path, job: JobDescription) -> int:
    """The record step's peak RSS on `job`, in a fresh process."""
    project = Path(__file__).resolve().parent.parent
    pickled = root / f"{job.ref.job_id}.pickle"
    pickled.write_bytes(pickle.dumps(job))
    code = MEMORY_PROBE.format(
        paths=[str(project), str(project / "lambdas")],
        job=str(pickled),
        endpoint=endpoint,
        table=f"bench-s3batch-memory-{job.ref.job_id}",
        root=str(root),
    )
    return int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


def main() -> None:
    # Imported here, not at the top: the memory probe imports this module, and moto's server and the local
    # service (about 19 MiB) would then weigh on both of its cases alike, pulling their ratio towards 1.
    from moto.server import ThreadedMotoServer

    from s3batch_emulator import Pacing, S3BatchEmulator

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    make_client: Any = boto3.client
    s3 = make_client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1", **CREDENTIALS)
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        try:
            pacing = Pacing.instant(simulate_tasks=True)
            with S3BatchEmulator(s3_endpoint_url=f"http://{host}:{port}", pacing=pacing) as emulator:
                emulator.admin.set_task_failures({"fraction": FAILED_FRACTION, "seed": 25, "failure": FAILURE})
                large = run_job(emulator, s3, bucket, TASKS, root / "report")
                small = run_job(emulator, s3, bucket, SMALL, root / "report")
        finally:
            server.stop()
        report = ReportFolder(root / "report")
        assert large.output is not None
        files = [path for path in report.path(large.output).rglob("*") if path.is_file()]
        size = sum(path.stat().st_size for path in files)
        logs = root / "dynamodb-local.log"
        with DynamoDBLocal(log_path=logs) as dynamodb:
            tracker_times, raw_times, written = throughput(dynamodb.endpoint_url, report, large)
            small_rss = peak_rss(dynamodb.endpoint_url, root / "report", small)
            large_rss = peak_rss(dynamodb.endpoint_url, root / "report", large)
    tracker, raw = statistics.median(tracker_times), statistics.median(raw_times)
    mib = 2**20
    print(
        f"Record step, S3 Batch Operations job of {TASKS:,} tasks, {written:,} failed "
        f"({written / TASKS:.1%}), report {size / 10**6:,.1f} MB in {len(files) - 1} results CSVs "
        "as the local service writes it, DynamoDB Local:"
    )
    print(
        f"  throughput: tracker {tracker:.2f} s, baseline (csv.reader + raw BatchWriteItem) {raw:.2f} s "
        f"-> {raw / tracker:.0%} of the baseline's speed (target >= 80%)"
    )
    rounds = ", ".join(f"{s:.2f}" for s in tracker_times), ", ".join(f"{s:.2f}" for s in raw_times)
    print(f"  rounds: tracker {rounds[0]} s; baseline {rounds[1]} s")
    print(
        f"  peak RSS: {TASKS:,}-task job {large_rss / mib:.1f} MiB, {SMALL:,}-task job {small_rss / mib:.1f} MiB "
        f"-> {large_rss / small_rss:.2f}x (target <= 1.5x)"
    )


if __name__ == "__main__":
    main()
