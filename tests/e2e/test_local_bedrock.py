"""Bedrock in the whole local cloud: outputs.json names it and its resources, which exist, and a job made with
them through the gateway runs, writes SSE-KMS output and sends its events to the local EventBridge."""

from __future__ import annotations

import json

from bedrock_emulator.testing import claude_input, jsonl
from local_cloud.environment import LocalEnvironment


def test_outputs_name_a_working_bedrock(local: LocalEnvironment) -> None:
    outputs = json.loads(local.outputs_path.read_text(encoding="utf-8"))
    assert outputs["endpoints"]["bedrock"] == local.bedrock.endpoint_url
    section = outputs["bedrock"]
    assert set(section) == {"inputS3Uri", "outputS3Uri", "outputKmsKeyId", "roleArn", "modelIds"}
    s3, kms = local.cloud.client("s3"), local.cloud.client("kms")
    input_bucket, _, input_prefix = section["inputS3Uri"].removeprefix("s3://").partition("/")
    output_bucket = section["outputS3Uri"].removeprefix("s3://").split("/", 1)[0]
    for bucket in (input_bucket, output_bucket):
        s3.head_bucket(Bucket=bucket)
    assert kms.describe_key(KeyId=section["outputKmsKeyId"])["KeyMetadata"]["Enabled"]

    local.bedrock.admin.set_quota(min_records_per_job=1)
    try:
        s3.put_object(
            Bucket=input_bucket,
            Key=f"{input_prefix}e2e/batch.jsonl",
            Body=jsonl([{"recordId": f"r{i}", "modelInput": claude_input(f"p{i}")} for i in range(3)]),
        )
        bedrock = local.cloud.client("bedrock")  # through the gateway (endpoints.aws), routed by signing name
        arn = bedrock.create_model_invocation_job(
            jobName="local-e2e",
            roleArn=section["roleArn"],
            modelId=section["modelIds"][0],
            inputDataConfig={"s3InputDataConfig": {"s3Uri": f"{section['inputS3Uri']}e2e/"}},
            outputDataConfig={
                "s3OutputDataConfig": {"s3Uri": section["outputS3Uri"], "s3EncryptionKeyId": section["outputKmsKeyId"]}
            },
        )["jobArn"]
        assert local.bedrock.wait_for_job(arn, timeout=60) == "Completed"
    finally:
        local.bedrock.admin.reset_quotas()
    job_id = arn.rsplit("/", 1)[1]
    output_prefix = section["outputS3Uri"].removeprefix(f"s3://{output_bucket}/")
    head = s3.head_object(Bucket=output_bucket, Key=f"{output_prefix}{job_id}/batch.jsonl.out")
    assert head["ServerSideEncryption"] == "aws:kms"
    received = local.cloud.events.events_received(source="aws.bedrock", detail_type="Batch Inference Job State Change")
    statuses = [event["detail"]["status"] for event in received if event["resources"] == [arn]]
    assert statuses == ["Submitted", "Validating", "Scheduled", "InProgress", "Completed"]
