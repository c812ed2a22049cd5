"""The AWS SDK for JavaScript v3 as a second, independent client (tests/s3batch/js/s3control_client.mjs),
account-id host prefix included."""

from __future__ import annotations

from pathlib import Path

from emulator_core.testing import run_js_client
from s3batch_emulator.testing import ROLE_ARN, Env

SCRIPT = Path(__file__).parent / "js" / "s3control_client.mjs"


def test_js_sdk_every_operation_and_its_errors(env: Env) -> None:
    manifest = env.manifest_of(env.put_objects(["js-object"]))
    out = run_js_client(
        SCRIPT,
        "@aws-sdk/client-s3-control",
        {
            "S3CONTROL_ENDPOINT": env.emulator.sdk_endpoint_url,
            "S3CONTROL_PROXY": env.emulator.proxy_url,
            "ACCOUNT_ID": env.account_id,
            "MANIFEST_ARN": manifest["Location"]["ObjectArn"],
            "MANIFEST_ETAG": manifest["Location"]["ETag"],
            "REPORT_BUCKET_ARN": f"arn:aws:s3:::{env.output_bucket}",
            "ROLE_ARN": ROLE_ARN,
        },
    )
    job_id = out["create"]["JobId"]
    assert out["repeat"]["JobId"] == job_id  # the same ClientRequestToken: the same job
    job = out["describe"]["Job"]
    assert (job["JobId"], job["Status"], job["Priority"], job["Description"]) == (job_id, "New", 5, "from the JS SDK")
    assert job["Operation"] == {"S3PutObjectTagging": {"TagSet": [{"Key": "from", "Value": "js"}]}}
    assert job["Manifest"]["Spec"]["Fields"] == ["Bucket", "Key"]
    assert out["creationTimeIsDate"] is True
    assert [entry["JobId"] for entry in out["list"]["Jobs"]] == [job_id]
    assert out["priority"] == {"JobId": job_id, "Priority": 7}
    assert out["tags"]["Tags"] == [{"Key": "team", "Value": "js"}]
    assert out["tagsAfterPut"]["Tags"] == [{"Key": "a", "Value": "b"}]
    assert out["tagsAfterDelete"]["Tags"] == []
    assert out["notFound"]["name"] == "NotFoundException" and out["notFound"]["status"] == 404
    assert out["notSuspended"]["name"] == "JobStatusException"
    assert out["idempotency"]["name"] == "IdempotencyException"
    assert out["badPriority"]["name"] == "BadRequestException" and "Priority" in out["badPriority"]["message"]
    assert out["tooManyTags"]["name"] == "TooManyTagsException"
    assert out["cancel"] == {"JobId": job_id, "Status": "Cancelled", "StatusUpdateReason": "js"}
    assert out["hosts"] == [f"{env.account_id}.localhost:{env.emulator.port}"]
