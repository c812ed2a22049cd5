"""Benchmark the Bedrock emulator on a 50,000-record job (the default maximum) at pacing 0.

The job (Submitted to Completed: list and read the input, check and answer every record, write the output and
the manifest) against its own S3 traffic alone (read the same input, write output of the same size and the
manifest) through the same moto server, in the same run, median of 3. The ratio says what the emulator adds on
top of the I/O any job does; a 50,000-record job finishing in seconds is what lets the tests run big jobs.
Run with `make bench`.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
import uuid
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from bedrock_emulator import BedrockEmulator, Pacing
from bedrock_emulator.testing import claude_input, jsonl

RECORDS = 50_000
ROUNDS = 3
CREDENTIALS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}  # moto and the emulator take any


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
    lines = [{"recordId": f"r{n:05d}", "modelInput": claude_input(f"Item {n}", max_tokens=16)} for n in range(RECORDS)]
    s3.put_object(Bucket=bucket, Key="input/batch.jsonl", Body=jsonl(lines))
    job_seconds: list[float] = []
    io_seconds: list[float] = []
    output_bytes = 0
    try:
        with BedrockEmulator(s3_endpoint_url=endpoint, pacing=Pacing.instant()) as emulator:
            client = make_client("bedrock", endpoint_url=emulator.endpoint_url, region_name="us-east-1", **CREDENTIALS)
            for round_number in range(ROUNDS):
                started = time.perf_counter()
                arn = client.create_model_invocation_job(
                    jobName=f"bench-{round_number}",
                    roleArn="arn:aws:iam::123456789012:role/Bench",
                    modelId="anthropic.claude-3-haiku-20240307-v1:0",
                    inputDataConfig={"s3InputDataConfig": {"s3Uri": f"s3://{bucket}/input/"}},
                    outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/output/"}},
                )["jobArn"]
                status = emulator.wait_for_job(arn, timeout=600)
                job_seconds.append(time.perf_counter() - started)
                assert status == "Completed", status
                key = f"output/{arn.rsplit('/', 1)[1]}/batch.jsonl.out"
                output = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                output_bytes = len(output)

                started = time.perf_counter()
                s3.list_objects_v2(Bucket=bucket, Prefix="input/")
                s3.get_object(Bucket=bucket, Key="input/batch.jsonl")["Body"].read()
                s3.put_object(Bucket=bucket, Key=f"io-only/{round_number}.jsonl.out", Body=output)
                s3.put_object(Bucket=bucket, Key=f"io-only/{round_number}.manifest", Body=json.dumps({}).encode())
                io_seconds.append(time.perf_counter() - started)
    finally:
        server.stop()
    job, io = statistics.median(job_seconds), statistics.median(io_seconds)
    size = f"output {output_bytes / 1e6:.1f} MB"
    print(f"Bedrock emulator, {RECORDS:,}-record job at pacing 0 ({size}), median of {ROUNDS}:")
    print(f"  job {job:.2f} s ({RECORDS / job:,.0f} records/s); its S3 traffic alone {io:.2f} s")
    print(f"  -> the job takes {job / io:.1f}x its I/O")
    rounds = ", ".join(f"{s:.2f}" for s in job_seconds), ", ".join(f"{s:.2f}" for s in io_seconds)
    print(f"  rounds: job {rounds[0]} s; I/O {rounds[1]} s")


if __name__ == "__main__":
    main()
