"""Completion reports byte for byte against the documented layout (s3batch-facts §4), and the tasks that made
them really ran on S3: copies, tags, a missing key."""

from __future__ import annotations

import hashlib
import json
import re

from s3batch_emulator import REPORT_SCHEMA
from s3batch_emulator.jobs import run_order
from s3batch_emulator.store import Task
from s3batch_emulator.testing import TAGGING, Env, csv_manifest, put_inventory, put_manifest


def test_an_all_tasks_report_byte_for_byte(env: Env) -> None:
    keys = env.put_objects(["a b.txt", "dir/c,d.txt"])
    job_id = env.create(env.manifest_of([*keys, "missing.txt"]), TAGGING)
    env.emulator.run_until_done(job_id)
    folder = f"reports/job-{job_id}"
    listed = sorted(item["Key"] for item in env.s3.list_objects_v2(Bucket=env.output_bucket)["Contents"])
    assert f"{folder}/manifest.json" in listed
    results = [key for key in listed if key != f"{folder}/manifest.json"]
    assert len(results) == 2 and all(re.fullmatch(rf"{folder}/results/[0-9a-f]{{40}}\.csv", key) for key in results)
    report = env.read_report(job_id)
    assert report is not None
    manifest = report.manifest
    assert list(manifest) == ["Format", "ReportCreationDate", "Results", "ReportSchema"]
    assert manifest["Format"] == "Report_CSV_20180820"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", manifest["ReportCreationDate"])
    assert manifest["ReportSchema"] == REPORT_SCHEMA
    assert REPORT_SCHEMA == "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"
    succeeded, failed = manifest["Results"]
    assert [succeeded["TaskExecutionStatus"], failed["TaskExecutionStatus"]] == ["succeeded", "failed"]
    for entry in manifest["Results"]:
        assert list(entry) == ["TaskExecutionStatus", "Bucket", "MD5Checksum", "Key"]
        assert entry["Bucket"] == env.output_bucket  # a bare name, not an ARN
        assert entry["MD5Checksum"] == hashlib.md5(report.files[entry["Key"]]).hexdigest()
    bucket = env.input_bucket
    # Tasks run (and are reported) in the job's own order, not the manifest's.
    manifest_rows = [Task(bucket, raw, raw, None) for raw in ("a%20b.txt", "dir/c%2Cd.txt", "missing.txt")]
    ran = [task.raw_key for task in run_order(job_id, manifest_rows) if task.raw_key != "missing.txt"]
    # No header row; the HTTP status before the error code, as every row AWS publishes; keys URL-encoded.
    assert report.files[succeeded["Key"]] == "".join(f"{bucket},{key},,succeeded,200,,\n" for key in ran).encode()
    assert report.files[failed["Key"]] == (
        f"{bucket},missing.txt,,failed,404,NoSuchKey,The specified key does not exist.\n".encode()
    )


def test_reports_are_sse_s3_encrypted(env: Env) -> None:
    job_id = env.create(env.manifest_of(env.put_objects(["x"])), TAGGING)
    env.emulator.run_until_done(job_id)
    for item in env.s3.list_objects_v2(Bucket=env.output_bucket, Prefix=f"reports/job-{job_id}/")["Contents"]:
        assert env.s3.head_object(Bucket=env.output_bucket, Key=item["Key"])["ServerSideEncryption"] == "AES256"


def test_failed_tasks_only_leaves_out_the_succeeded_file(env: Env) -> None:
    keys = env.put_objects(["ok"])
    job_id = env.create(env.manifest_of([*keys, "gone"]), TAGGING, Report=env.report(scope="FailedTasksOnly"))
    env.emulator.run_until_done(job_id)
    report = env.read_report(job_id)
    assert report is not None
    assert [entry["TaskExecutionStatus"] for entry in report.manifest["Results"]] == ["failed"]
    assert [row[1] for row in report.rows()] == ["gone"]


def test_a_job_whose_every_task_succeeded_has_no_failed_file_and_no_prefix_means_the_bucket_root(env: Env) -> None:
    report_settings = {k: v for k, v in env.report().items() if k != "Prefix"}
    job_id = env.create(env.manifest_of(env.put_objects(["p"])), TAGGING, Report=report_settings)
    env.emulator.run_until_done(job_id)
    report = env.read_report(job_id, prefix="")
    assert report is not None
    assert [entry["TaskExecutionStatus"] for entry in report.manifest["Results"]] == ["succeeded"]
    assert report.manifest["Results"][0]["Key"].startswith(f"job-{job_id}/results/")


def test_a_disabled_report_is_not_written(env: Env) -> None:
    job_id = env.create(env.manifest_of(env.put_objects(["q"])), TAGGING, Report={"Enabled": False})
    env.emulator.run_until_done(job_id)
    assert env.describe(job_id)["Status"] == "Complete"
    assert "Contents" not in env.s3.list_objects_v2(Bucket=env.output_bucket)


def test_reports_split_at_the_rows_per_file_quota(env: Env) -> None:
    env.emulator.admin.set_quotas(report_rows_per_file=2)
    job_id = env.create(env.manifest_of(env.put_objects(["1", "2", "3", "4", "5"])), TAGGING)
    env.emulator.run_until_done(job_id)
    report = env.read_report(job_id)
    assert report is not None
    assert [len(report.files[entry["Key"]].splitlines()) for entry in report.manifest["Results"]] == [2, 2, 1]
    assert len({entry["Key"] for entry in report.manifest["Results"]}) == 3


def test_copy_and_delete_tagging_really_act_on_s3(env: Env) -> None:
    env.s3.put_object(Bucket=env.input_bucket, Key="src/a.txt", Body=b"hello", Tagging="keep=1")
    copy = {
        "S3PutObjectCopy": {
            "TargetResource": f"arn:aws:s3:::{env.output_bucket}",
            "TargetKeyPrefix": "copies/",
            "MetadataDirective": "REPLACE",
            "NewObjectMetadata": {"UserMetadata": {"origin": "batch"}},
        }
    }
    job_id = env.create(env.manifest_of(["src/a.txt"]), copy)
    env.emulator.run_until_done(job_id)
    copied = env.s3.get_object(Bucket=env.output_bucket, Key="copies/src/a.txt")
    assert copied["Body"].read() == b"hello" and copied["Metadata"] == {"origin": "batch"}
    report = env.read_report(job_id)
    assert report is not None
    [row] = report.rows("succeeded")
    assert row[3:6] == ["succeeded", "200", ""] and "ETag" in json.loads(row[6])

    untag = env.create(env.manifest_of(["src/a.txt"]), {"S3DeleteObjectTagging": {}})
    env.emulator.run_until_done(untag)
    assert env.s3.get_object_tagging(Bucket=env.input_bucket, Key="src/a.txt")["TagSet"] == []


def test_forced_task_failures_by_key_land_in_the_report(env: Env) -> None:
    env.emulator.admin.set_task_failures(
        {"keys": {"b": {"errorCode": "SlowDown", "httpStatus": 503, "message": "Please reduce your request rate."}}}
    )
    job_id = env.create(env.manifest_of(env.put_objects(["a", "b"])), TAGGING)
    env.emulator.run_until_done(job_id)
    report = env.read_report(job_id)
    assert report is not None
    assert report.rows("failed") == [
        [env.input_bucket, "b", "", "failed", "503", "SlowDown", "Please reduce your request rate."]
    ]
    assert "TagSet" in env.s3.get_object_tagging(Bucket=env.input_bucket, Key="a")
    assert env.s3.get_object_tagging(Bucket=env.input_bucket, Key="b")["TagSet"] == []  # never ran


def test_version_ids_in_the_manifest_act_on_that_version(env: Env) -> None:
    env.s3.put_bucket_versioning(Bucket=env.input_bucket, VersioningConfiguration={"Status": "Enabled"})
    first = env.s3.put_object(Bucket=env.input_bucket, Key="v.txt", Body=b"one")["VersionId"]
    env.s3.put_object(Bucket=env.input_bucket, Key="v.txt", Body=b"two")
    body = csv_manifest([(env.input_bucket, "v.txt", first)])
    job_id = env.create(put_manifest(env.s3, env.input_bucket, "versions.csv", body), TAGGING)
    env.emulator.run_until_done(job_id)
    assert env.describe(job_id)["ProgressSummary"]["NumberOfTasksSucceeded"] == 1
    tagged = env.s3.get_object_tagging(Bucket=env.input_bucket, Key="v.txt", VersionId=first)["TagSet"]
    latest = env.s3.get_object_tagging(Bucket=env.input_bucket, Key="v.txt")["TagSet"]
    assert (tagged, latest) == ([{"Key": "batch", "Value": "done"}], [])
    report = env.read_report(job_id)
    assert report is not None and report.rows()[0][:4] == [env.input_bucket, "v.txt", first, "succeeded"]


def test_a_csv_manifest_with_version_ids_on_some_rows_only_fails_the_job(env: Env) -> None:
    body = f"{env.input_bucket},a,v1\n{env.input_bucket},b,\n".encode()
    job_id = env.create(put_manifest(env.s3, env.input_bucket, "mixed.csv", body), TAGGING)
    env.emulator.run_until_done(job_id)
    job = env.describe(job_id)
    assert job["Status"] == "Failed" and job["FailureReasons"][0]["FailureCode"] == "InvalidManifestContent"


def test_a_null_version_in_an_all_versions_inventory_fails_its_task(env: Env) -> None:
    keys = env.put_objects(["nv"])
    manifest = put_inventory(env.s3, env.input_bucket, "inv-versions", env.input_bucket, keys, versions=[""])
    job_id = env.create(manifest, TAGGING)
    env.emulator.run_until_done(job_id)
    report = env.read_report(job_id)
    assert report is not None
    assert report.rows("failed") == [
        [env.input_bucket, "nv", "", "failed", "400", "InvalidRequest", "Task failed due to missing VersionId"]
    ]
