"""Erasure that lasts (issue 26, point 1): `erase` keeps a hash of what it erased in the erasure register, and
every writer of items that name a person applies it. Each kind's job is recorded on moto, its subject erased, the
job re-recorded: the item is not written again and the summary says why (ErasedRecordCount). The automatic
retries drop an erased record, and `erase` deletes the Voice ID retry manifests naming a speaker."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from rich.console import Console

from batch_job_tracker_cli.erasure import erase
from batch_job_tracker_cli.records import JobRecord
from batch_job_tracker_cli.render import job_view
from job_tracker.erasure_register import REGISTER_PARTITION_PREFIX, ErasedSubjects, subject_hash
from job_tracker.recording import ERASED_COUNT
from tests.unit import test_bedrock_kind as bedrock
from tests.unit import test_job_kinds as enrollments
from tests.unit import test_s3batch_kind as s3batch
from tests.unit.conftest import DOMAIN_ID, JOB_ID, OUTPUT_BUCKET, REGION, TABLE, put_output
from tests.unit.test_bedrock_retries import ACCOUNT, World
from tests.unit.test_cli_commands import create_table as create_indexed_table


@pytest.fixture
def dynamodb(aws: None) -> Any:
    """The failures table with its indexes (erase finds items through FailuresBySubject)."""
    client = boto3.client("dynamodb", region_name=REGION)
    create_indexed_table(client)
    return client


def register(dynamodb: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return [item for item in items if item["pk"]["S"].startswith(REGISTER_PARTITION_PREFIX)]


def test_the_register_keeps_a_salted_hash_and_how_it_was_erased_never_the_value(dynamodb: Any) -> None:
    erase(dynamodb, TABLE, "CustomerSpeakerId", "cust-42")
    erase(dynamodb, TABLE, "RecordId", "CALL0042", job_id="abcdef123456")
    again = erase(dynamodb, TABLE, "CustomerSpeakerId", "cust-42")
    assert not again.newly_registered
    entries = {item["pk"]["S"]: item for item in register(dynamodb)}
    assert set(entries) == {"ERASED#CustomerSpeakerId", "ERASED#RecordId"}
    speaker = entries["ERASED#CustomerSpeakerId"]
    assert "cust-42" not in json.dumps(speaker)
    # Not the plain SHA-256 of the id, which anyone could look up: the digest is over a fixed prefix.
    assert speaker["SubjectHash"]["S"] != hashlib.sha256(b"cust-42").hexdigest()
    assert speaker["sk"]["S"] == speaker["SubjectHash"]["S"] == subject_hash("CustomerSpeakerId", "cust-42")
    assert speaker["ErasedBy"] == {"S": "--customer-speaker-id"} and "ErasedAt" in speaker
    assert "ExpiresAt" not in speaker  # an erasure outlasts every retention
    record = entries["ERASED#RecordId"]
    assert record["sk"]["S"] == f"{subject_hash('RecordId', 'CALL0042')}#JOB#abcdef123456"
    assert record["JobId"] == {"S": "abcdef123456"} and record["ErasedBy"] == {"S": "--record-id"}


def test_a_job_scoped_erasure_applies_to_that_job_only() -> None:
    subjects = ErasedSubjects.of_sort_keys("RecordId", [f"{subject_hash('RecordId', 'r-1')}#JOB#job-a"])
    assert subjects.erases("r-1", "job-a") and not subjects.erases("r-1", "job-b")
    assert not subjects.erases("r-2", "job-a")


def test_an_erased_speaker_is_not_written_again_by_a_re_record_and_the_summary_counts_it(
    s3: Any, dynamodb: Any
) -> None:
    errors = [("opted-out", 409, "opted out"), ("short", 400, "not enough speech")]
    put_output(s3, enrollments.OUT_KEY, enrollments.enrollment_output(errors, ["NEW_ENROLLMENT"]))
    put_output(s3, enrollments.MANIFEST_KEY, enrollments.manifest(["opted-out", "short", "ok-0"]))
    enrollments.record_enrollment(s3, dynamodb)
    erased = erase(dynamodb, TABLE, "CustomerSpeakerId", "speaker-of-opted-out")
    assert [item.sort_key for item in erased.items] == ["FAILURE#opted-out"]

    output = enrollments.record_enrollment(s3, dynamodb)  # a re-record reads the same files again
    stored = enrollments.items(dynamodb)
    assert "FAILURE#opted-out" not in stored and "FAILURE#short" in stored
    summary = stored["SUMMARY"]
    assert summary["FailedRequestCount"] == {"N": "1"} and summary[ERASED_COUNT] == {"N": "1"}
    assert (output["FailedRequests"], output[ERASED_COUNT]) == (1, 1)
    # Nothing of the erased speaker came back for erase to find.
    assert erase(dynamodb, TABLE, "CustomerSpeakerId", "speaker-of-opted-out").items == []


def test_a_speaker_whose_manifest_cannot_be_read_stays_erased_by_the_id_its_message_names(
    s3: Any, dynamodb: Any
) -> None:
    errors = [("opted-out", 409, "You cannot enroll an opted out speaker (cust-42)"), ("short", 400, "cust-420")]
    put_output(s3, enrollments.OUT_KEY, enrollments.enrollment_output(errors, []))
    enrollments.record_enrollment(s3, dynamodb)
    assert [item.sort_key for item in erase(dynamodb, TABLE, "CustomerSpeakerId", "cust-42").items] == [
        "FAILURE#opted-out"
    ]
    enrollments.record_enrollment(s3, dynamodb)
    stored = enrollments.items(dynamodb)
    assert "FAILURE#opted-out" not in stored and "FAILURE#short" in stored  # cust-420 is someone else
    assert stored["SUMMARY"][ERASED_COUNT] == {"N": "1"} and stored["SUMMARY"]["SubjectUnreadCount"] == {"N": "1"}


def put_bedrock_job(s3: Any) -> Any:
    bedrock.put_input(s3, "a.jsonl", ["a1", "a2", "a3"])
    lines = [bedrock.record_line("a1", error=(400, "bad")), bedrock.record_line("a2", error=(429, "slow"))]
    bedrock.put(s3, f"{bedrock.OUT}a.jsonl.out", b"\n".join([*lines, bedrock.record_line("a3")]))
    counts = {"totalRecordCount": 3, "processedRecordCount": 3, "successRecordCount": 1, "errorRecordCount": 2}
    bedrock.put_manifest(s3, **counts)
    return bedrock.described("Completed", **counts)


def test_an_erased_bedrock_record_is_not_written_again_and_one_erased_in_another_job_still_is(
    s3: Any, dynamodb: Any
) -> None:
    job = put_bedrock_job(s3)
    bedrock.record(s3, dynamodb, job)
    erase(dynamodb, TABLE, "RecordId", "a1")
    erase(dynamodb, TABLE, "RecordId", "a2", job_id="otherjob0001")  # a2 of another job: not this one's
    result = bedrock.record(s3, dynamodb, job)
    stored = bedrock.items(dynamodb)
    assert sorted(key for key in stored if key.startswith("FAILURE#")) == ["FAILURE#a2"]
    summary = stored["SUMMARY"]
    assert summary["FailedRecordCount"] == {"N": "1"} and summary[ERASED_COUNT] == {"N": "1"}
    assert summary["SucceededRecordCount"] == {"N": "1"}  # 1 failed + 1 erased + 1 succeeded: the 3 records
    assert result.failed == 1


def test_an_erased_object_key_is_not_written_again(s3: Any, dynamodb: Any) -> None:
    failed = s3batch.csv_rows(
        [
            ["src", "scans/customer-7731/passport.jpg", "", "failed", "404", "NoSuchKey", "gone"],
            ["src", "scans/customer-12/passport.jpg", "", "failed", "404", "NoSuchKey", "gone"],
        ]
    )
    s3batch.put_report(s3, [("succeeded", s3batch.csv_rows(s3batch.SUCCEEDED_ROWS)), ("failed", failed)])
    job = s3batch.described("Complete", total=4, succeeded=2, failed=2)
    s3batch.record(s3, dynamodb, job)
    assert len(erase(dynamodb, TABLE, "Key", "scans/customer-7731/passport.jpg").items) == 1
    s3batch.record(s3, dynamodb, job)
    assert [item["Key"] for item in s3batch.failures(dynamodb).values()] == ["scans/customer-12/passport.jpg"]
    summary = s3batch.items(dynamodb)["SUMMARY"]
    assert (summary["FailedTaskCount"], summary[ERASED_COUNT]) == (1, 1)


def record_opted_out_enrollment(s3: Any, dynamodb: Any) -> None:
    """A recorded speaker enrollment whose request `opted-out` failed (409) and whose manifest also lists `short`."""
    put_output(s3, enrollments.OUT_KEY, enrollments.enrollment_output([("opted-out", 409, "opted out")], []))
    put_output(s3, enrollments.MANIFEST_KEY, enrollments.manifest(["opted-out", "short"]))
    enrollments.record_enrollment(s3, dynamodb)


@pytest.fixture
def world(s3: Any, dynamodb: Any) -> World:
    return World(s3, dynamodb)


def test_erase_deletes_a_pooled_record_s_items_and_the_dispatcher_never_sends_it_again(world: World) -> None:
    world.original("job000000010", ok=["a"], failed={"t1": 429, "t2": 429})
    world.dispatcher.on_job_recorded(ACCOUNT, "job000000010")
    assert set(world.lineage("job000000010")) == {"t1", "t2"}

    erased = erase(world.dynamodb, TABLE, "RecordId", "t1")
    assert {item.sort_key for item in erased.items} == {"FAILURE#t1", "RETRY#t1", f"{ACCOUNT}#job000000010#t1"}
    assert set(world.lineage("job000000010")) == {"t2"}
    (pool,) = world.store.pools()
    assert [member["RecordId"] for member in world.store.members(pool["PoolKey"])] == ["t2"]

    world.now += timedelta(seconds=world.settings.policy.pool_wait_seconds + 1)
    world.dispatcher.run()
    assert world.runtime.calls == ["t2"]
    assert set(world.failure_states("job000000010")) == {"t2"}  # t1's failure item is not written back


def test_the_dispatcher_drops_a_pooled_record_erased_behind_its_back(world: World) -> None:
    """A record pooled before the retries' items were keyed for erase (or erased while a run was under way):
    the register alone keeps the dispatcher from sending it, and its pooled item and lineage go."""
    world.original("job000000011", ok=["a"], failed={"t1": 429, "t2": 429})
    world.dispatcher.on_job_recorded(ACCOUNT, "job000000011")
    world.dynamodb.put_item(
        TableName=TABLE,
        Item={"pk": {"S": "ERASED#RecordId"}, "sk": {"S": subject_hash("RecordId", "t1")}},
    )
    world.now += timedelta(seconds=world.settings.policy.pool_wait_seconds + 1)
    report = world.dispatcher.run()
    assert world.runtime.calls == ["t2"] and report.erased == 1
    assert report.to_output()["ErasedRecordsDropped"] == 1
    assert set(world.lineage("job000000011")) == {"t2"}


def test_erase_deletes_the_voice_id_retry_manifests_naming_the_speaker_and_no_one_else_s_files(
    s3: Any, dynamodb: Any
) -> None:
    record_opted_out_enrollment(s3, dynamodb)
    # What `retry` writes beside the input manifest (indented, one field a line), and files that are not its own.
    retry_manifest = {
        "Version": "1.0",
        "SpeakerEnrollmentRequests": [{"RequestId": "opted-out", "SpeakerId": "speaker-of-opted-out"}],
    }
    s3.put_object(
        Bucket=OUTPUT_BUCKET,
        Key="in/speakers-retry-0123456789ab.json",
        Body=json.dumps(retry_manifest, indent=1).encode(),
    )
    other = {**retry_manifest, "SpeakerEnrollmentRequests": [{"RequestId": "x", "SpeakerId": "speaker-of-short"}]}
    s3.put_object(
        Bucket=OUTPUT_BUCKET, Key="in/speakers-retry-ba9876543210.json", Body=json.dumps(other, indent=1).encode()
    )

    erased = erase(dynamodb, TABLE, "CustomerSpeakerId", "speaker-of-opted-out", s3=s3)
    assert erased.retry_files == [f"s3://{OUTPUT_BUCKET}/in/speakers-retry-0123456789ab.json"]
    left = {entry["Key"] for entry in s3.list_objects_v2(Bucket=OUTPUT_BUCKET, Prefix="in/")["Contents"]}
    # The job's own manifest names the speaker too, but it is the account's: never touched.
    assert left == {enrollments.MANIFEST_KEY, "in/speakers-retry-ba9876543210.json"}


def test_show_gives_the_erased_count_beside_the_failed_one() -> None:
    kind = enrollments.ENROLLMENTS
    summary = {"JobKind": kind.name, "RecordState": "COMPLETE", "FailedRequestCount": 1, ERASED_COUNT: 1}
    record = JobRecord(domain_id="DomainAAAAAAAAAAAAAAAA", job_id="JobBBBBBBBBBBBBBBBBBBB", summary=summary, lock=None)
    console = Console(width=120, record=True)
    console.print(job_view(record, kind, []))
    shown = console.export_text()
    rows = [line.split() for line in shown.splitlines()]
    assert ["FailedRequestCount", "1"] in rows and [ERASED_COUNT, "1"] in rows


def test_a_job_scoped_erasure_follows_the_record_into_the_retry_job_that_ran_it_again(world: World) -> None:
    """`erase --record-id t1 --job J`: t1 ran again in retry job J2 (its lineage's RetriedBy), which has an id of
    its own. The erasure reaches J2 too: J2's failure item goes, and the register names J2, so J2's re-record
    leaves t1 out; t1 of an unrelated job stays."""
    world.original("job000000012", ok=["a"], failed={"t1": 429})
    world.dispatcher.on_job_recorded(ACCOUNT, "job000000012")
    world.original("retryjob0012", ok=[], failed={"t1": 500})  # the retry job: t1 failed there too
    world.original("otherjob0012", ok=[], failed={"t1": 500})  # another job's own t1
    world.dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": f"JOB#{ACCOUNT}#job000000012"}, "sk": {"S": "RETRY#t1"}},
        UpdateExpression="SET RetriedBy = :by",
        ExpressionAttributeValues={":by": {"S": "retryjob0012"}},
    )

    erased = erase(world.dynamodb, TABLE, "RecordId", "t1", job_id="job000000012")

    assert {item.job_id for item in erased.items} == {"job000000012", "retryjob0012"}
    scopes = {item["sk"]["S"].split("#JOB#")[1] for item in register(world.dynamodb)}
    assert scopes == {"job000000012", "retryjob0012"}
    world.record("retryjob0012", "Completed", name="tracked-nightly")
    assert "t1" not in world.failure_states("retryjob0012")
    assert "t1" in world.failure_states("otherjob0012")


def test_erase_with_job_deletes_only_that_job_s_voice_id_retry_manifests(s3: Any, dynamodb: Any) -> None:
    """`retry` keeps the source job in each manifest's metadata, so a job-limited erasure leaves another job's
    manifest naming the same speaker."""
    from batch_job_tracker_cli.retry import RetryPlan, S3Uri, write_manifest

    record_opted_out_enrollment(s3, dynamodb)
    manifest = {
        "Version": "1.0",
        "SpeakerEnrollmentRequests": [{"RequestId": "r", "SpeakerId": "speaker-of-opted-out"}],
    }
    for job_id, key in (
        (JOB_ID, "in/speakers-retry-0123456789ab.json"),
        ("Other", "in/x-retry-ba9876543210.json"),
    ):
        record = JobRecord(domain_id=DOMAIN_ID, job_id=job_id, summary={}, lock=None)
        uri = S3Uri.parse(f"s3://{OUTPUT_BUCKET}/{key}", "test")
        write_manifest(s3, RetryPlan(record, enrollments.ENROLLMENTS, ["r"], manifest, uri, "token", "name"))

    erased = erase(dynamodb, TABLE, "CustomerSpeakerId", "speaker-of-opted-out", job_id=JOB_ID, s3=s3)

    assert erased.retry_files == [f"s3://{OUTPUT_BUCKET}/in/speakers-retry-0123456789ab.json"]
    left = {entry["Key"] for entry in s3.list_objects_v2(Bucket=OUTPUT_BUCKET, Prefix="in/")["Contents"]}
    assert "in/x-retry-ba9876543210.json" in left


def test_a_retry_file_s3_keeps_is_listed_with_the_command_the_caller_gives(s3: Any, dynamodb: Any) -> None:
    """A file S3 refuses to delete is listed with the command that deletes it on the CLI's target (on the local
    cloud: its endpoint and credentials, batch_job_tracker_cli.target.Target.aws_command)."""
    from botocore.exceptions import ClientError

    from batch_job_tracker_cli.errors import CliError

    record_opted_out_enrollment(s3, dynamodb)
    body = json.dumps({"SpeakerEnrollmentRequests": [{"SpeakerId": "speaker-of-opted-out"}]}, indent=1).encode()
    s3.put_object(Bucket=OUTPUT_BUCKET, Key="in/speakers-retry-0123456789ab.json", Body=body)

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DeleteObject")

    s3.delete_object = refuse
    with pytest.raises(CliError) as refused:
        erase(
            dynamodb,
            TABLE,
            "CustomerSpeakerId",
            "speaker-of-opted-out",
            s3=s3,
            delete_command=lambda uri: f"rm-it {uri}",
        )
    assert f"  rm-it s3://{OUTPUT_BUCKET}/in/speakers-retry-0123456789ab.json" in str(refused.value)
