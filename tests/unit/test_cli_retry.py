"""The CLI's retry manifests, as plain data: what is chosen, what is copied, and the names and token derived."""

from __future__ import annotations

import re
from typing import Any

import pytest

from batch_job_tracker_cli.errors import CliError
from batch_job_tracker_cli.records import FailedRequest, JobRecord
from batch_job_tracker_cli.retry import (
    S3Uri,
    build_manifest,
    choose,
    client_token,
    fingerprint,
    parse_codes,
    plan_retry,
    retry_job_name,
    retry_manifest_uri,
)
from batch_job_tracker_cli.shared import JOB_KINDS

DOMAIN = "DomainAAAAAAAAAAAAAAAA"
JOB = "JobBBBBBBBBBBBBBBBBBBB"
FRAUDSTERS = JOB_KINDS["FRAUDSTER_REGISTRATION"]
SPEAKERS = JOB_KINDS["SPEAKER_ENROLLMENT"]


def record(record_state: str | None = "COMPLETE", **summary: Any) -> JobRecord:
    item = None if record_state is None else {"RecordState": record_state, "JobName": "nightly", **summary}
    return JobRecord(domain_id=DOMAIN, job_id=JOB, summary=item, lock=None)


def failure(request_id: str, code: int = 400) -> FailedRequest:
    return FailedRequest(request_id, code, "bad audio")


def speaker_manifest() -> dict[str, Any]:
    return {
        "Version": "1.0",
        "SpeakerEnrollmentRequests": [
            {"RequestId": f"r{n}", "SpeakerId": f"customer-{n}", "AudioSpecifications": [{"S3Uri": f"s3://in/{n}.wav"}]}
            for n in range(4)
        ],
    }


def test_codes_are_parsed_and_bad_ones_refused() -> None:
    assert parse_codes([]) is None
    assert parse_codes([" 400", "500", "400"]) == frozenset({400, 500})
    for bad in ("4xx", "42", "700", "400,500"):
        with pytest.raises(CliError, match="--code takes HTTP status codes"):
            parse_codes([bad])


def test_the_client_token_is_a_valid_voice_id_token_derived_from_job_and_selection_only() -> None:
    one = fingerprint(record(), FRAUDSTERS, ["a", "b"])
    token = client_token(one)
    assert re.fullmatch(r"[a-zA-Z0-9-_]{1,64}", token)
    assert len(token) == 64
    assert client_token(fingerprint(record(), FRAUDSTERS, ["b", "a", "b"])) == token  # order and repeats
    assert client_token(fingerprint(record(), FRAUDSTERS, ["a"])) != token
    other_job = JobRecord(domain_id=DOMAIN, job_id="JobCCCCCCCCCCCCCCCCCCC", summary={}, lock=None)
    assert client_token(fingerprint(other_job, FRAUDSTERS, ["a", "b"])) != token


def test_the_job_name_follows_voice_ids_pattern() -> None:
    digest = "0123456789abcdef" * 4
    assert retry_job_name("nightly-fraudsters", JOB, digest) == "nightly-fraudsters-retry-01234567"
    assert retry_job_name(None, JOB, digest) == f"{JOB}-retry-01234567"
    assert retry_job_name("_odd name", JOB, digest) == "job_odd-name-retry-01234567"
    long_name = retry_job_name("x" * 300, JOB, digest)
    assert len(long_name) == 256 and long_name.endswith("-retry-01234567")
    assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_-]*", long_name)


def test_the_manifest_goes_next_to_the_input_or_under_output() -> None:
    digest = "abcdef012345" + "0" * 52
    source = S3Uri.parse("s3://input/batch-1/nightly.json")
    assert str(retry_manifest_uri(source, None, digest)) == "s3://input/batch-1/nightly-retry-abcdef012345.json"
    assert str(retry_manifest_uri(S3Uri.parse("s3://input/top.json"), None, digest)) == (
        "s3://input/top-retry-abcdef012345.json"
    )
    for output in ("s3://out/retries/", "s3://out/retries"):
        assert str(retry_manifest_uri(source, S3Uri.parse(output), digest)) == (
            "s3://out/retries/nightly-retry-abcdef012345.json"
        )
    assert (
        str(retry_manifest_uri(source, S3Uri.parse("s3://out"), digest)) == "s3://out/nightly-retry-abcdef012345.json"
    )
    with pytest.raises(CliError, match="--output must be s3://"):
        S3Uri.parse("/tmp/here", "--output")


def test_an_enrollment_manifest_copies_each_chosen_entry_whole_with_its_speaker() -> None:
    manifest = build_manifest(speaker_manifest(), SPEAKERS, ["r3", "r1"], "s3://in/m.json")
    assert manifest == {
        "Version": "1.0",
        "SpeakerEnrollmentRequests": [
            {"RequestId": "r1", "SpeakerId": "customer-1", "AudioSpecifications": [{"S3Uri": "s3://in/1.wav"}]},
            {"RequestId": "r3", "SpeakerId": "customer-3", "AudioSpecifications": [{"S3Uri": "s3://in/3.wav"}]},
        ],
    }


def test_a_request_the_manifest_no_longer_holds_is_refused() -> None:
    with pytest.raises(CliError, match=r"s3://in/m.json no longer holds request\(s\) gone-7"):
        build_manifest(speaker_manifest(), SPEAKERS, ["r1", "gone-7"], "s3://in/m.json")
    with pytest.raises(CliError, match="has no SpeakerEnrollmentRequests list"):
        build_manifest({"Version": "1.0", "FraudsterRegistrationRequests": []}, SPEAKERS, ["r1"], "s3://in/m.json")


def test_choosing_refuses_unrecorded_jobs_empty_selections_and_the_quota() -> None:
    failures = [failure("a", 400), failure("b", 500)]
    assert choose(record(), FRAUDSTERS, failures, None) == ["a", "b"]
    assert choose(record(), FRAUDSTERS, failures, frozenset({500})) == ["b"]
    with pytest.raises(CliError, match="not recorded yet: it has no summary"):
        choose(record(None), FRAUDSTERS, failures, None)
    with pytest.raises(CliError, match=r"not recorded \(RecordState RECORDING\)"):
        choose(record("RECORDING"), FRAUDSTERS, failures, None)
    with pytest.raises(CliError, match="OutputFileInvalid: bad"):
        choose(record("FAILED", RecordProblem="OutputFileInvalid: bad"), FRAUDSTERS, failures, None)
    with pytest.raises(CliError, match="has no failed requests with code 402: nothing to retry"):
        choose(record(), FRAUDSTERS, failures, frozenset({402}))
    many = [failure(f"r{n}") for n in range(501)]
    with pytest.raises(CliError, match="501 requests would pass the fraudster registration quota of 500"):
        choose(record(), FRAUDSTERS, many, None)
    assert len(choose(record(), SPEAKERS, many, None)) == 501  # enrollments allow 10,000 a job


def test_a_plan_is_the_same_each_time() -> None:
    source = S3Uri.parse("s3://in/batch/speakers.json")
    plans = [
        plan_retry(record(), SPEAKERS, ids, input_manifest=speaker_manifest(), input_uri=source, output=None)
        for ids in (["r1", "r2"], ["r2", "r1"])
    ]
    assert plans[0].client_token == plans[1].client_token
    assert plans[0].manifest_uri == plans[1].manifest_uri
    assert plans[0].job_name == plans[1].job_name
    assert plans[0].job_name.startswith("nightly-retry-")
