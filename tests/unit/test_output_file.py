"""The `.out` reader: schema checks, and identical results however the bytes are chunked."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from job_tracker.errors import OutputFileInvalid
from job_tracker.kinds import JOB_KINDS
from job_tracker.output_file import FailedRequest, OutputTally, read_output_file
from tests.unit.conftest import output_document

SOURCE = "s3://bucket/out/job/manifest.json.out"
FRAUDSTERS = JOB_KINDS["FRAUDSTER_REGISTRATION"]


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def read(data: bytes, size: int = 64 * 1024) -> tuple[OutputTally, list[FailedRequest]]:
    failures: list[FailedRequest] = []
    tally = read_output_file(chunked(data, size), SOURCE, failures.append, FRAUDSTERS)
    return tally, failures


def test_counts_failures_registrations_and_duplicates() -> None:
    document = output_document(
        errors=[("r1", 400, "not enough speech"), ("r2", 402, "fraudster limit exceeded")],
        registered=3,
        duplicates=2,
    )
    tally, failures = read(json.dumps(document).encode())
    assert [f.request_id for f in failures] == ["r1", "r2"]
    assert failures[1] == FailedRequest("r2", 402, "fraudster limit exceeded")
    assert (tally.failed, tally.count("RegisteredRequestCount"), tally.count("DuplicateSkippedRequestCount")) == (
        2,
        3,
        2,
    )
    assert tally.failed_request_ids == {"r1", "r2"}


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13, 64])
def test_same_result_for_every_chunk_size(size: int) -> None:
    # Non-ASCII messages put multi-byte characters across chunk boundaries; numbers get split too.
    document = output_document(
        errors=[(f"req-{n}", 400 + n, f"échec n°{n} \u2013 ☎") for n in range(12)], registered=4, duplicates=1
    )
    data = json.dumps(document, ensure_ascii=False, indent=1).encode()
    _, expected = read(data)
    tally, failures = read(data, size)
    assert failures == expected
    assert (tally.failed, tally.count("RegisteredRequestCount"), tally.count("DuplicateSkippedRequestCount")) == (
        12,
        4,
        1,
    )
    assert failures[5].error_message == "échec n°5 \u2013 ☎"
    assert failures[5].error_code == 405


def test_accepts_new_fraudster_status_from_the_docs_prose() -> None:
    tally, _ = read(json.dumps(output_document(registered=2, status_word="NEW_FRAUDSTER")).encode())
    assert tally.count("RegisteredRequestCount") == 2


def test_empty_arrays_are_a_complete_file() -> None:
    tally, failures = read(b'{"Version":"1.0","Errors":[],"SuccessfulRegistrations":[]}')
    assert failures == [] and tally.failed == tally.count("RegisteredRequestCount") == 0


def test_undocumented_member_is_tolerated_and_reported() -> None:
    document = output_document(errors=[("r1", 500, "internal")])
    document["Warnings"] = [{"anything": True}]
    tally, failures = read(json.dumps(document).encode())
    assert tally.undocumented_members == ["Warnings"]
    assert len(failures) == 1


def _with(**changes: object) -> bytes:
    document = output_document(errors=[("r1", 400, "x")], registered=1, duplicates=1)
    for key, value in changes.items():
        if value is None:
            document.pop(key)
        else:
            document[key] = value
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "is empty"),
        (b"   \n", "is empty"),
        (b"[]", "expected '{'"),
        (b'{"Version":"1.0","Errors":[', "is not valid JSON"),
        (_with(Version="2.0"), "Version '2.0'"),
        (_with(Version=None), "lacks the required member(s) Version"),
        (_with(Errors=None), "lacks the required member(s) Errors"),
        (_with(SuccessfulRegistrations=None), "SuccessfulRegistrations"),
        (_with(Errors=[{"RequestId": "a", "ErrorCode": "400", "ErrorMessage": "m"}]), "ErrorCode"),
        (_with(Errors=[{"RequestId": "a", "ErrorCode": 42, "ErrorMessage": "m"}]), "ErrorCode"),
        (_with(Errors=[{"RequestId": "a", "ErrorCode": True, "ErrorMessage": "m"}]), "ErrorCode"),
        (_with(Errors=[{"RequestId": "a", "ErrorCode": 400}]), "ErrorMessage"),
        (_with(Errors=[{"ErrorCode": 400, "ErrorMessage": "m"}]), "RequestId at Errors[0]"),
        (_with(Errors=["r1"]), "non-object entry at Errors[0]"),
        (
            _with(Errors=[{"RequestId": "a", "ErrorCode": 400, "ErrorMessage": "m"}] * 2),
            "RequestId 'a' in Errors twice",
        ),
        (
            _with(
                SuccessfulRegistrations=[
                    {
                        "RequestId": "a",
                        "GeneratedFraudsterId": "fraudster-1",
                        "RegistrationStatus": "NEW_REGISTRATION",
                    }
                ]
            ),
            "GeneratedFraudsterId",
        ),
        (
            _with(
                SuccessfulRegistrations=[
                    {
                        "RequestId": "a",
                        "GeneratedFraudsterId": "id#" + "a" * 22,
                        "RegistrationStatus": "REGISTERED",
                    }
                ]
            ),
            "unknown RegistrationStatus 'REGISTERED'",
        ),
        (
            _with(
                SuccessfulRegistrations=[
                    {
                        "RequestId": "a",
                        "GeneratedFraudsterId": "id#" + "a" * 22,
                        "RegistrationStatus": "DUPLICATE_SKIPPED",
                        "FraudsterSimilarityScore": 101,
                    }
                ]
            ),
            "FraudsterSimilarityScore outside 0-100",
        ),
        (_with() + b"{}", "data after the closing brace"),
        (b'{"Version":"1.0","Version":"1.0"}', "repeats the top-level member 'Version'"),
        (b'{"Version":"1.0" "Errors":[]}', "expected ','"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_rejects_files_that_break_the_schema(data: bytes, problem: str) -> None:
    with pytest.raises(OutputFileInvalid) as raised:
        read(data, size=5)
    assert SOURCE in str(raised.value)
    assert problem in str(raised.value)


def test_failures_read_before_a_broken_tail_are_already_handed_over() -> None:
    data = b'{"Version":"1.0","Errors":[{"RequestId":"r1","ErrorCode":400,"ErrorMessage":"m"},{"Req'
    failures: list[FailedRequest] = []
    with pytest.raises(OutputFileInvalid):
        read_output_file(chunked(data, 8), SOURCE, failures.append, FRAUDSTERS)
    assert [f.request_id for f in failures] == ["r1"]


def test_reads_a_large_file_in_bounded_chunks() -> None:
    document = output_document(errors=[(f"r{n}", 400, "not enough speech" * 5) for n in range(10_000)])
    data = json.dumps(document).encode()
    largest_chunk = 0

    def tracked() -> Iterator[bytes]:
        nonlocal largest_chunk
        for chunk in chunked(data, 4096):
            largest_chunk = max(largest_chunk, len(chunk))
            yield chunk

    count = 0

    def count_failure(_: FailedRequest) -> None:
        nonlocal count
        count += 1

    tally = read_output_file(tracked(), SOURCE, count_failure, FRAUDSTERS)
    assert count == tally.failed == 10_000
    assert largest_chunk == 4096


def test_request_ids_must_fit_in_a_dynamodb_key() -> None:
    fits = "é" * 450  # 900 bytes in UTF-8
    too_long = "é" * 451
    tally, _ = read(_with(Errors=[{"RequestId": fits, "ErrorCode": 400, "ErrorMessage": "m"}]))
    assert tally.failed == 1
    with pytest.raises(OutputFileInvalid, match="RequestId longer than 900 bytes at Errors\\[0\\]"):
        read(_with(Errors=[{"RequestId": too_long, "ErrorCode": 400, "ErrorMessage": "m"}]))
