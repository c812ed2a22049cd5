"""Missing evidence is never a zero (issue 22, points 1 and 2, the record step): a Bedrock job's output or
input that cannot be found or read is said on its summary, never recorded as nothing failed or nothing left
unprocessed. Against moto's S3 and DynamoDB, through the record step's own entry point."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from job_tracker.adapters.dynamodb import DynamoDbFailureStore
from job_tracker.adapters.s3 import S3ObjectReader
from job_tracker.bedrock_output import input_files
from job_tracker.errors import RecordingIncomplete
from job_tracker.models import S3Location, job_to_payload
from job_tracker.tracking import record_job
from tests.unit.conftest import OUTPUT_BUCKET, TABLE
from tests.unit.test_bedrock_kind import (
    ACCOUNT,
    JOB_ID,
    OUT,
    described,
    items,
    put,
    put_input,
    put_manifest,
    record,
    record_line,
)

INPUT_FOLDER = f"s3://{OUTPUT_BUCKET}/bedrock-in/"


def failure_items(dynamodb: Any) -> dict[str, dict[str, Any]]:
    return {key.removeprefix("FAILURE#"): item for key, item in items(dynamodb).items() if key.startswith("FAILURE#")}


def with_input(uri: str) -> dict[str, Any]:
    return {"inputDataConfig": {"s3InputDataConfig": {"s3Uri": uri}}}


# --- no .jsonl.out, though the job processed records ------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """What says a job processed records: its status, the API's counts or the manifest's."""

    status: str
    said: str
    api: dict[str, int] = field(default_factory=dict)
    manifest: dict[str, int] | None = None


@pytest.mark.parametrize(
    "evidence",
    [
        Evidence("Completed", "the job ended Completed"),
        Evidence("PartiallyCompleted", "the job ended PartiallyCompleted"),
        Evidence("Stopped", "processedRecordCount 2", api={"totalRecordCount": 4, "processedRecordCount": 2}),
        Evidence("Expired", "manifest.json.out says", manifest={"totalRecordCount": 4, "processedRecordCount": 1}),
    ],
    ids=lambda evidence: evidence.status,
)
def test_a_job_that_processed_records_but_left_no_jsonl_out_is_not_recorded(
    s3: Any, dynamodb: Any, evidence: Evidence
) -> None:
    put_input(s3, "a.jsonl", ["a1", "a2", "a3", "a4"])
    if evidence.manifest is not None:
        put_manifest(s3, **evidence.manifest)
    folder = f"s3://{OUTPUT_BUCKET}/{OUT}"
    with pytest.raises(RecordingIncomplete, match=rf"{folder} holds no \.jsonl\.out file, yet .*{evidence.said}"):
        record(s3, dynamodb, described(evidence.status, **evidence.api))
    stored = items(dynamodb)
    # The state machine retries RecordingIncomplete, then marks the summary FAILED; meanwhile it says why.
    assert stored["SUMMARY"]["RecordState"] == {"S": "RECORDING"}
    assert f"{folder} holds no .jsonl.out file" in stored["SUMMARY"]["RecordProblem"]["S"]
    assert "FailedRecordCount" not in stored["SUMMARY"]
    assert failure_items(dynamodb) == {}  # not every input record named UNPROCESSED


def test_once_the_output_is_listed_the_retried_record_completes(s3: Any, dynamodb: Any) -> None:
    job = described("Completed", totalRecordCount=2, processedRecordCount=2, errorRecordCount=1)
    with pytest.raises(RecordingIncomplete):
        record(s3, dynamodb, job)
    put(s3, f"{OUT}a.jsonl.out", b"\n".join([record_line("a1", error=(400, "bad")), record_line("a2")]))
    record(s3, dynamodb, job)
    summary = items(dynamodb)["SUMMARY"]
    assert summary["RecordState"] == {"S": "COMPLETE"} and "RecordProblem" not in summary
    assert summary["FailedRecordCount"] == {"N": "1"} and set(failure_items(dynamodb)) == {"a1"}


# --- the input cannot be listed or read ------------------------------------------------------------------


def test_an_input_folder_that_lists_empty_leaves_the_unprocessed_count_unknown(s3: Any, dynamodb: Any) -> None:
    put(s3, f"{OUT}a.jsonl.out", record_line("a1"))
    record(s3, dynamodb, described("Stopped"))  # no manifest, no counts from the API
    summary = items(dynamodb)["SUMMARY"]
    assert summary["RecordState"] == {"S": "COMPLETE"}
    assert "UnprocessedRecordCount" not in summary  # unknown, not 0
    reason = summary["UnprocessedUnnamedReason"]["S"]
    assert reason.startswith("How many records have no output line is unknown")
    assert f"{INPUT_FOLDER} lists no .jsonl file" in reason


@pytest.mark.parametrize("source", ["manifest.json.out", "GetModelInvocationJob"])
def test_an_empty_input_folder_takes_the_unprocessed_count_from_the_reported_total(
    s3: Any, dynamodb: Any, source: str
) -> None:
    put(s3, f"{OUT}a.jsonl.out", b"\n".join([record_line("a1"), record_line("a2", error=(400, "bad"))]))
    counts = {"totalRecordCount": 5, "processedRecordCount": 2, "successRecordCount": 1, "errorRecordCount": 1}
    if source == "manifest.json.out":
        put_manifest(s3, **counts)
    record(s3, dynamodb, described("Stopped", **({} if source == "manifest.json.out" else counts)))
    summary = items(dynamodb)["SUMMARY"]
    assert summary["UnprocessedRecordCount"] == {"N": "3"} and summary["TotalRecordCount"] == {"N": "5"}
    assert summary["UnprocessedUnnamedReason"]["S"] == (
        f"3 record(s) have no output line and cannot be named: the input could not be read ({INPUT_FOLDER} lists "
        f"no .jsonl file); counted from {source}'s totalRecordCount 5 less the 2 output line(s)"
    )
    assert set(failure_items(dynamodb)) == {"a2"}


class ListsAGoneFile(S3ObjectReader):
    """S3 as it can be: the listing still names an input file that reading no longer finds."""

    def keys(self, prefix: S3Location) -> Iterator[str]:
        yield from super().keys(prefix)
        yield f"{prefix.key}b.jsonl"


def test_one_unreadable_input_file_among_several_names_the_others_and_counts_only_the_rest(
    s3: Any, dynamodb: Any
) -> None:
    put_input(s3, "a.jsonl", ["a1", "a2", "a3"])
    put(s3, f"{OUT}a.jsonl.out", record_line("a1"))
    put_manifest(s3, totalRecordCount=6, processedRecordCount=1, successRecordCount=1, errorRecordCount=0)
    request = {"DomainId": ACCOUNT, "JobId": JOB_ID, "Job": job_to_payload(described("Stopped"))}
    record_job(request, ListsAGoneFile(s3), DynamoDbFailureStore(dynamodb, TABLE))
    failures = failure_items(dynamodb)
    assert set(failures) == {"a2", "a3"} and failures["a2"]["ErrorCode"] == {"S": "UNPROCESSED"}
    summary = items(dynamodb)["SUMMARY"]
    assert summary["UnprocessedRecordCount"] == {"N": "5"} and summary["UnprocessedNamedCount"] == {"N": "2"}
    reason = summary["UnprocessedUnnamedReason"]["S"]
    assert reason.startswith("3 record(s) have no output line and cannot be named: the input could not be read (")
    assert f"{INPUT_FOLDER}b.jsonl does not exist" in reason
    assert reason.endswith("; 2 were named from the input that could be read")


def test_a_re_record_whose_input_is_gone_keeps_the_unprocessed_items_an_earlier_record_wrote(
    s3: Any, dynamodb: Any
) -> None:
    put_input(s3, "a.jsonl", ["a1", "a2", "a3", "a4"])
    put(s3, f"{OUT}a.jsonl.out", b"\n".join([record_line("a1", error=(400, "bad")), record_line("a4")]))
    put_manifest(s3, totalRecordCount=4, processedRecordCount=2, successRecordCount=1, errorRecordCount=1)
    record(s3, dynamodb, described("Stopped"))
    first = failure_items(dynamodb)
    assert set(first) == {"a1", "a2", "a3"}
    s3.delete_object(Bucket=OUTPUT_BUCKET, Key="bedrock-in/a.jsonl")
    result = record(s3, dynamodb, described("Stopped"))
    assert failure_items(dynamodb) == first
    summary = items(dynamodb)["SUMMARY"]
    assert summary["KeptFailureItemCount"] == {"N": "2"} and summary["FailedRecordCount"] == {"N": "3"}
    assert summary["UnprocessedRecordCount"] == {"N": "2"} and "lists no .jsonl file" in json.dumps(summary)
    assert result.failed == 3


# --- an input URI that is not a .jsonl names a folder ----------------------------------------------------


def test_a_bare_input_prefix_is_a_folder_and_its_siblings_are_not_the_job_s(s3: Any, dynamodb: Any) -> None:
    put_input(s3, "in/a.jsonl", ["a1", "a2"])
    put_input(s3, "in/nested/c.jsonl", ["c1"])
    put_input(s3, "in-old/x.jsonl", ["x1"])
    put_input(s3, "in2.jsonl", ["y1"])
    put(s3, f"{OUT}in/a.jsonl.out", record_line("a1"))
    record(s3, dynamodb, described("Stopped", **with_input(f"s3://{OUTPUT_BUCKET}/bedrock-in/in")))
    assert set(failure_items(dynamodb)) == {"a2", "c1"}  # nothing of in-old/ or in2.jsonl
    assert items(dynamodb)["SUMMARY"]["UnprocessedRecordCount"] == {"N": "2"}
    reader = S3ObjectReader(s3)
    listed = input_files(S3Location(OUTPUT_BUCKET, "bedrock-in/in"), reader)
    assert [location.key for location in listed] == ["bedrock-in/in/a.jsonl", "bedrock-in/in/nested/c.jsonl"]
    assert input_files(S3Location(OUTPUT_BUCKET, "bedrock-in/in/"), reader) == listed
    assert input_files(S3Location(OUTPUT_BUCKET, "bedrock-in/in2.jsonl"), reader) == [
        S3Location(OUTPUT_BUCKET, "bedrock-in/in2.jsonl")
    ]
