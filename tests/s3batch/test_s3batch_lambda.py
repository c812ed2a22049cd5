"""LambdaInvoke tasks on the local Lambda runtime: invocation schemas 1.0 and 2.0, and each result code
(TemporaryFailure redriven), as the completion report records them."""

from __future__ import annotations

import json

from s3batch_emulator.testing import Env
from tests.s3batch.conftest import FUNCTION_ARN


def _operation(schema: str | None, **extra: object) -> dict[str, object]:
    invoke: dict[str, object] = {"FunctionArn": FUNCTION_ARN, **extra}
    if schema is not None:
        invoke["InvocationSchemaVersion"] = schema
    return {"LambdaInvoke": invoke}


def test_schema_1_0_names_the_bucket_by_arn_and_keeps_the_key_url_encoded(lambda_env: Env) -> None:
    keys = lambda_env.put_objects(["photos/a b.jpg"])
    job_id = lambda_env.create(lambda_env.manifest_of(keys), _operation("1.0"))
    lambda_env.emulator.run_until_done(job_id)
    assert lambda_env.describe(job_id)["Status"] == "Complete"
    report = lambda_env.read_report(job_id)
    assert report is not None
    [row] = report.rows("succeeded")
    assert row[:6] == [lambda_env.input_bucket, "photos/a%20b.jpg", "", "succeeded", "200", ""]
    echoed = json.loads(row[6])  # the function's resultString lands in ResultMessage
    assert echoed == {
        "schema": "1.0",
        "job": {"id": job_id},
        "task": ["s3BucketArn", "s3Key", "s3VersionId", "taskId"],
        "key": "photos/a b.jpg",
    }


def test_schema_2_0_names_the_bucket_and_passes_user_arguments(lambda_env: Env) -> None:
    keys = lambda_env.put_objects(["doc.txt"])
    job_id = lambda_env.create(lambda_env.manifest_of(keys), _operation("2.0", UserArguments={"mode": "scan"}))
    lambda_env.emulator.run_until_done(job_id)
    report = lambda_env.read_report(job_id)
    assert report is not None
    echoed = json.loads(report.rows("succeeded")[0][6])
    assert echoed["schema"] == "2.0"
    assert echoed["job"] == {"id": job_id, "userArguments": {"mode": "scan"}}
    assert echoed["task"] == ["s3Bucket", "s3Key", "s3VersionId", "taskId"]


def test_result_codes_and_the_redrive_of_temporary_failures(lambda_env: Env) -> None:
    keys = lambda_env.put_objects(["ok", "flaky-1", "always-temp", "perm", "raise"])
    job_id = lambda_env.create(lambda_env.manifest_of(keys), _operation(None))  # 1.0 is the default
    lambda_env.emulator.run_until_done(job_id)
    job = lambda_env.describe(job_id)
    assert job["Status"] == "Complete"
    assert job["ProgressSummary"]["NumberOfTasksSucceeded"] == 2  # ok, and flaky-1 on its redrive
    assert job["ProgressSummary"]["NumberOfTasksFailed"] == 3
    assert job["FailureReasons"] == []  # task failures alone never fill FailureReasons
    report = lambda_env.read_report(job_id)
    assert report is not None
    failed = {row[1]: row[3:] for row in report.rows("failed")}
    assert failed["always-temp"] == ["failed", "200", "TemporaryFailure", "still busy"]
    assert failed["perm"] == ["failed", "200", "PermanentFailure", "refused"]
    status, code, message = failed["raise"][1:]
    assert (status, code) == ("200", "PermanentFailure")
    assert message.startswith("Lambda returned function error: ") and "boom" in message
    assert sorted(row[1] for row in report.rows("succeeded")) == ["flaky-1", "ok"]
