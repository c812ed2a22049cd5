"""Benchmark the streaming `.out` reader against loading the whole file with `json.loads`.

Figures are ratios against that baseline, measured in the same run on the same data, so they mean the same
on a fast or a busy machine: time (streaming / whole-file) and peak memory (streaming / whole-file) for a
speaker-enrollment-sized output of 10,000 failed requests. Run with `make bench`.
"""

from __future__ import annotations

import json
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator

from job_tracker.kinds import JOB_KINDS
from job_tracker.output_file import FailedRequest, read_output_file

REQUESTS = 10_000
CHUNK_BYTES = 64 * 1024
ROUNDS = 5


def make_output(requests: int) -> bytes:
    errors = [
        {"RequestId": f"request-{n:05d}", "ErrorCode": 400, "ErrorMessage": "The audio does not have enough speech"}
        for n in range(requests)
    ]
    return json.dumps({"Version": "1.0", "Errors": errors, "SuccessfulRegistrations": []}).encode()


def chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK_BYTES):
        yield data[start : start + CHUNK_BYTES]


def whole_file(data: bytes) -> int:
    document = json.loads(b"".join(chunks(data)))
    return sum(1 for _ in document["Errors"])


def streaming(data: bytes) -> int:
    seen: list[FailedRequest] = []
    # Keep only a count, as the record Lambda does: each failure goes to the batch writer and is dropped.
    tally = read_output_file(chunks(data), "s3://bench/out", lambda failure: seen.clear(), JOB_KINDS["FRAUDSTER_REGISTRATION"])
    return tally.failed


def median_seconds(run: Callable[[bytes], int], data: bytes) -> float:
    timings = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        assert run(data) == REQUESTS
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def peak_bytes(run: Callable[[bytes], int], data: bytes) -> int:
    tracemalloc.start()
    run(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    data = make_output(REQUESTS)
    time_ratio = median_seconds(streaming, data) / median_seconds(whole_file, data)
    memory_ratio = peak_bytes(streaming, data) / peak_bytes(whole_file, data)
    print(f".out reader, {REQUESTS:,} failed requests, {len(data) / 1e6:.1f} MB, {CHUNK_BYTES // 1024} KiB chunks")
    print(f"  time,        streaming / json.loads whole file: {time_ratio:5.2f}x")
    print(f"  peak memory, streaming / json.loads whole file: {memory_ratio:5.2f}x")


if __name__ == "__main__":
    main()
