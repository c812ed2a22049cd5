"""Benchmark the streaming `.out` reader against loading the whole file with `json.loads`, and against ijson.

Figures are ratios against that baseline, measured in the same run on the same data, so they mean the same
on a fast or a busy machine: time (reader / whole-file) and peak memory (reader / whole-file) for a
speaker-enrollment-sized output of 10,000 failed requests. Run with `make bench`.

Two streaming readers are compared, both validating the same schema and both handing each failed request on
as soon as it is read:

- the chunk cursor the Lambda ships (`job_tracker/output_file.py`): `json.JSONDecoder.raw_decode`, the
  standard library's C scanner, on one array element at a time;
- ijson with its C backend (`yajl2_c`): a streaming JSON parser in C whose events the reader assembles
  into the same entries (ijson is pinned in requirements-dev.txt for this comparison; the Lambdas do not
  ship it). Also timed: ijson yielding the `Errors` entries alone, with no other checks - a floor no
  validating ijson reader can beat.
"""

from __future__ import annotations

import importlib.metadata
import json
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import ijson

from job_tracker.errors import OutputFileInvalid
from job_tracker.kinds import JOB_KINDS, JobKind, SuccessSchema
from job_tracker.output_file import (
    MAX_REQUEST_ID_BYTES,
    SUPPORTED_VERSION,
    FailedRequest,
    OutputTally,
    read_output_file,
)

REQUESTS = 10_000
CHUNK_BYTES = 64 * 1024
ROUNDS = 5
KIND = JOB_KINDS["FRAUDSTER_REGISTRATION"]
YAJL2_C = ijson.get_backend("yajl2_c")


def make_output(requests: int) -> bytes:
    errors = [
        {"RequestId": f"request-{n:05d}", "ErrorCode": 400, "ErrorMessage": "The audio does not have enough speech"}
        for n in range(requests)
    ]
    registrations = [
        {
            "RequestId": f"registered-{n:05d}",
            "GeneratedFraudsterId": f"id#{n:022d}",
            "RegistrationStatus": "NEW_REGISTRATION",
        }
        for n in range(requests // 10)
    ]
    return json.dumps({"Version": "1.0", "Errors": errors, "SuccessfulRegistrations": registrations}).encode()


def chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK_BYTES):
        yield data[start : start + CHUNK_BYTES]


class _ChunkFile:
    """The chunks as the file object ijson reads from."""

    def __init__(self, source: Iterable[bytes]) -> None:
        self._chunks = iter(source)

    def read(self, size: int = -1) -> bytes:
        return b"" if size == 0 else next(self._chunks, b"")


def _invalid(source: str, problem: str) -> OutputFileInvalid:
    return OutputFileInvalid(f"{source} {problem}")


def _request_id(entry: Any, name: str, index: int, source: str) -> str:
    if not isinstance(entry, dict):
        raise _invalid(source, f"has a non-object entry at {name}[{index}]")
    request_id = entry.get("RequestId")
    if not isinstance(request_id, str) or not request_id or len(request_id.encode()) > MAX_REQUEST_ID_BYTES:
        raise _invalid(source, f"has no valid RequestId at {name}[{index}]")
    return request_id


def _ijson_failed_request(entry: Any, index: int, source: str) -> FailedRequest:
    request_id = _request_id(entry, "Errors", index, source)
    code, message = entry.get("ErrorCode"), entry.get("ErrorMessage")
    if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
        raise _invalid(source, f"has an ErrorCode that is not an HTTP status code at Errors[{index}]")
    if not isinstance(message, str):
        raise _invalid(source, f"has no ErrorMessage string at Errors[{index}]")
    return FailedRequest(request_id, code, message)


def _successes(kind: JobKind) -> SuccessSchema:
    if kind.successes is None:
        raise ValueError(f"{kind.name} jobs do not write Voice ID's .out format")
    return kind.successes


def _ijson_success(entry: Any, index: int, source: str, kind: JobKind) -> str:
    schema = _successes(kind)
    where = f"{schema.member}[{index}]"
    _request_id(entry, schema.member, index, source)
    count = kind.count_for(entry.get(schema.status_field))
    if count is None:
        raise _invalid(source, f"has an unknown {schema.status_field} at {where}")
    problem = schema.check_entry(entry)
    if problem is not None:
        raise _invalid(source, f"has {problem} at {where}")
    return count.summary_attribute


_ENDS_A_VALUE = frozenset({"end_map", "end_array", "string", "number", "boolean", "null"})


class _IjsonReader:
    """`read_output_file`'s checks, on ijson's events."""

    def __init__(self, source: str, on_failure: Callable[[FailedRequest], None], kind: JobKind) -> None:
        self.source, self.on_failure, self.kind = source, on_failure, kind
        self.tally = OutputTally(counts={count.summary_attribute: 0 for count in kind.counts})
        self.arrays = ("Errors", _successes(kind).member)
        self.items = {f"{name}.item": name for name in self.arrays}
        self.positions = dict.fromkeys(self.arrays, 0)
        self.seen: set[str] = set()

    def member(self, event: str, value: Any) -> None:
        """An event of the top-level object itself."""
        if event == "map_key":
            if value in self.seen:
                raise _invalid(self.source, f"repeats the top-level member {value!r}")
            self.seen.add(value)
            if value not in self.positions and value != "Version":
                self.tally.undocumented_members.append(value)
        elif event not in ("start_map", "end_map"):
            raise _invalid(self.source, "is not valid JSON: expected '{' at the start of the file")

    def entry(self, array: str, entry: Any) -> None:
        index, self.positions[array] = self.positions[array], self.positions[array] + 1
        tally = self.tally
        if array == "Errors":
            failed = _ijson_failed_request(entry, index, self.source)
            if failed.request_id in tally.failed_request_ids:
                raise _invalid(self.source, f"lists RequestId {failed.request_id!r} in Errors twice")
            tally.failed_request_ids.add(failed.request_id)
            tally.failed += 1
            self.on_failure(failed)
        else:
            tally.counts[_ijson_success(entry, index, self.source, self.kind)] += 1

    def read(self, stream: Iterable[bytes]) -> OutputTally:
        builder: ijson.ObjectBuilder | None = None
        events = YAJL2_C.parse(_ChunkFile(stream), buf_size=CHUNK_BYTES, use_float=True)
        for prefix, event, value in events:
            if builder is not None or prefix in self.items:
                # An array element: assembled from its events, checked as soon as it ends.
                builder = builder or ijson.ObjectBuilder()
                builder.event(event, value)
                if prefix in self.items and event in _ENDS_A_VALUE:
                    self.entry(self.items[prefix], builder.value)
                    builder = None
            elif prefix == "":
                self.member(event, value)
            elif prefix == "Version" and value != SUPPORTED_VERSION:
                raise _invalid(self.source, f"has Version {value!r}; only {SUPPORTED_VERSION!r} is documented")
            elif prefix in self.positions and event not in ("start_array", "end_array"):
                raise _invalid(self.source, f"has a {prefix} that is not an array")
        missing = {"Version", *self.arrays} - self.seen
        if missing:
            raise _invalid(self.source, f"lacks the required member(s) {', '.join(sorted(missing))}")
        return self.tally


def read_output_file_ijson(
    stream: Iterable[bytes], source: str, on_failure: Callable[[FailedRequest], None], kind: JobKind
) -> OutputTally:
    """The same checks as `read_output_file`: a top-level object whose members appear once each (the three
    documented ones required), and every array element validated as soon as it ends."""
    try:
        return _IjsonReader(source, on_failure, kind).read(stream)
    except ijson.JSONError as error:
        raise _invalid(source, f"is not valid JSON: {error}") from error


def whole_file(data: bytes) -> int:
    document = json.loads(b"".join(chunks(data)))
    return sum(1 for _ in document["Errors"])


def cursor(data: bytes) -> int:
    seen: list[FailedRequest] = []
    # Keep only a count, as the record Lambda does: each failure goes to the batch writer and is dropped.
    tally = read_output_file(chunks(data), "s3://bench/out", lambda failure: seen.clear(), KIND)
    return tally.failed


def ijson_validating(data: bytes) -> int:
    seen: list[FailedRequest] = []
    tally = read_output_file_ijson(chunks(data), "s3://bench/out", lambda failure: seen.clear(), KIND)
    return tally.failed


def ijson_errors_only(data: bytes) -> int:
    return sum(1 for _ in YAJL2_C.items(_ChunkFile(chunks(data)), "Errors.item", buf_size=CHUNK_BYTES))


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


def installed_bytes(distribution: str) -> int:
    files = importlib.metadata.files(distribution) or []
    return sum(Path(str(file.locate())).stat().st_size for file in files if Path(str(file.locate())).is_file())


def main() -> None:
    data = make_output(REQUESTS)
    # Both streaming readers agree on the result before either is timed.
    expected: list[FailedRequest] = []
    got: list[FailedRequest] = []
    tally = read_output_file(chunks(data), "s3://bench/out", expected.append, KIND)
    assert read_output_file_ijson(chunks(data), "s3://bench/out", got.append, KIND) == tally and got == expected
    baseline_time, baseline_memory = median_seconds(whole_file, data), peak_bytes(whole_file, data)
    print(f".out reader, {REQUESTS:,} failed requests, {len(data) / 1e6:.1f} MB, {CHUNK_BYTES // 1024} KiB chunks")
    print("  reader / json.loads of the whole file   time    peak memory")
    for name, run in (
        ("chunk cursor (shipped)", cursor),
        ("ijson yajl2_c, same checks", ijson_validating),
        ("ijson yajl2_c, Errors only", ijson_errors_only),
    ):
        time_ratio = median_seconds(run, data) / baseline_time
        memory_ratio = peak_bytes(run, data) / baseline_memory
        print(f"  {name:<38} {time_ratio:5.2f}x  {memory_ratio:5.2f}x")
    source_bytes = Path(read_output_file.__code__.co_filename).stat().st_size
    print(
        f"  size: chunk cursor {source_bytes / 1024:.0f} KiB of source in the code asset; ijson "
        f"{importlib.metadata.version('ijson')} {installed_bytes('ijson') / 1024:.0f} KiB installed here "
        "(with its C extension and libyajl)"
    )


if __name__ == "__main__":
    main()
