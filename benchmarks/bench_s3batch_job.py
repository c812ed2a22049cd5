"""Benchmark the S3 Batch Operations emulator on a 1,000,000-task job at pacing 0, its tasks simulated
(`Pacing.instant(simulate_tasks=True)`: each task ends as the forced failures say, here 1 % SlowDown, without
an S3 call of its own, as a tag-only job's would cost a million calls to moto).

The job (create to Complete: read the manifest and check its ETag, run every task, write the completion
report: its CSVs and manifest.json) against its own S3 traffic alone (read the same manifest, write report
objects of the same sizes) through the same moto server, in the same run, median of 3. The ratio says what
the emulator adds on top of the I/O any such job does; a million-task job finishing in seconds is what lets the
tracker's tests and benchmarks use one. Run with `make bench`.
"""

from __future__ import annotations

import logging
import statistics
import time
import uuid
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from s3batch_emulator import Pacing, S3BatchEmulator
from s3batch_emulator.testing import TAGGING, csv_manifest, put_manifest, s3control_client

TASKS = 1_000_000
ROUNDS = 3
CREDENTIALS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}  # moto and the emulator take any
ACCOUNT_ID = "123456789012"


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    make_client: Any = boto3.client
    s3 = make_client("s3", endpoint_url=endpoint, region_name="us-east-1", **CREDENTIALS)
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    manifest = put_manifest(
        s3, bucket, "manifest.csv", csv_manifest((bucket, f"objects/k{n:07d}") for n in range(TASKS))
    )
    job_seconds: list[float] = []
    io_seconds: list[float] = []
    report_bytes = 0
    try:
        with S3BatchEmulator(s3_endpoint_url=endpoint, pacing=Pacing.instant(simulate_tasks=True)) as emulator:
            emulator.admin.set_task_failures(
                {"fraction": 0.01, "seed": 1, "failure": {"errorCode": "SlowDown", "httpStatus": 503}}
            )
            client = s3control_client(emulator.endpoint_url)
            for round_number in range(ROUNDS):
                started = time.perf_counter()
                job_id = client.create_job(
                    AccountId=ACCOUNT_ID,
                    ConfirmationRequired=False,
                    Operation=TAGGING,  # type: ignore[arg-type]
                    Manifest=manifest,  # type: ignore[arg-type]
                    Report={
                        "Bucket": f"arn:aws:s3:::{bucket}",
                        "Format": "Report_CSV_20180820",
                        "Enabled": True,
                        "Prefix": f"reports/{round_number}",
                        "ReportScope": "AllTasks",
                    },
                    Priority=1,
                    RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/Bench",
                    ClientRequestToken=uuid.uuid4().hex,
                )["JobId"]
                status = emulator.wait_for_job(job_id, timeout=900)
                job_seconds.append(time.perf_counter() - started)
                assert status == "Complete", status
                folder = f"reports/{round_number}/job-{job_id}"
                reports = {
                    item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                    for item in s3.list_objects_v2(Bucket=bucket, Prefix=folder)["Contents"]
                }
                report_bytes = sum(len(body) for body in reports.values())

                started = time.perf_counter()
                s3.get_object(Bucket=bucket, Key="manifest.csv")["Body"].read()
                for index, body in enumerate(reports.values()):
                    s3.put_object(Bucket=bucket, Key=f"io-only/{round_number}/{index}", Body=body)
                io_seconds.append(time.perf_counter() - started)
    finally:
        server.stop()
    job, io = statistics.median(job_seconds), statistics.median(io_seconds)
    size = f"report {report_bytes / 1e6:.1f} MB"
    print(f"S3 Batch Operations emulator, {TASKS:,}-task job at pacing 0 ({size}), median of {ROUNDS}:")
    print(f"  job {job:.2f} s ({TASKS / job:,.0f} tasks/s); its S3 traffic alone {io:.2f} s")
    print(f"  -> the job takes {job / io:.1f}x its I/O")
    rounds = ", ".join(f"{s:.2f}" for s in job_seconds), ", ".join(f"{s:.2f}" for s in io_seconds)
    print(f"  rounds: job {rounds[0]} s; I/O {rounds[1]} s")


if __name__ == "__main__":
    main()
