"""The services whose batch jobs the tracker follows, and how their jobs are named (`JobRef`)."""

from __future__ import annotations

import re

from job_tracker.ids import VOICE_ID_RESOURCE_ID, VOICE_ID_RESOURCE_ID_SHAPE
from job_tracker.kinds.base import JobService

# Bedrock's and S3 Batch Operations' jobs are scoped by the account (their "domain").
AWS_ACCOUNT_ID = re.compile(r"[0-9]{12}")
AWS_ACCOUNT_ID_SHAPE = "an AWS account id of 12 digits"

VOICE_ID = JobService(
    key="voiceid",
    name="Voice ID",
    client_name="voice-id",
    event_source="aws.voiceid",
    scope_noun="Voice ID domain",
    scope_id=VOICE_ID_RESOURCE_ID,
    scope_id_shape=VOICE_ID_RESOURCE_ID_SHAPE,
    job_id=VOICE_ID_RESOURCE_ID,
    job_id_shape=VOICE_ID_RESOURCE_ID_SHAPE,
    throttle_metric="VoiceIdThrottles",
    # The detail-type every kind's outcome event had before Bedrock, kept for Voice ID's jobs so that the rules
    # written then keep matching them; the other services' jobs are announced as `Batch Job Recorded`.
    outcome_event_detail_type="Voice ID Job Recorded",
)

# botocore's bedrock model: ModelInvocationJobArn ends in `model-invocation-job/[a-z0-9]{12}`; the jobs of an
# account and Region share one id space, so the account is the "domain".
BEDROCK = JobService(
    key="bedrock",
    name="Amazon Bedrock",
    client_name="bedrock",
    event_source="aws.bedrock",
    scope_noun="AWS account",
    scope_id=AWS_ACCOUNT_ID,
    scope_id_shape=AWS_ACCOUNT_ID_SHAPE,
    job_id=re.compile(r"[a-z0-9]{12}"),
    job_id_shape="12 lowercase letters or digits (^[a-z0-9]{12}$)",
    throttle_metric="BedrockThrottles",
)

# botocore's s3control model: a JobId is 5-36 of `[a-zA-Z0-9\-\_]`, and every id S3 hands out (the AWS CLI's
# examples, the local service) is a UUID. The tracker takes the UUID form: the model's wider pattern would also
# match Voice ID's and Bedrock's ids, and a job id alone could no longer say its service. The jobs of an account
# and Region share one id space (every S3 Control call names the AccountId), so the account is the "domain".
S3_BATCH_SERVICE = JobService(
    # The IAM prefix of the job actions: s3:DescribeJob, s3:ListJobs, s3:CreateJob.
    key="s3",
    name="S3 Batch Operations",
    client_name="s3control",
    # CloudTrail's JobCreated and JobStatusChanged, as EventBridge delivers them (there is no native job event).
    event_source="aws.s3",
    scope_noun="AWS account",
    scope_id=AWS_ACCOUNT_ID,
    scope_id_shape=AWS_ACCOUNT_ID_SHAPE,
    job_id=re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
    job_id_shape="a UUID (8-4-4-4-12 hexadecimal digits)",
    throttle_metric="S3BatchThrottles",
)
