"""The services whose batch jobs the tracker follows, and how their jobs are named (`JobRef`)."""

from __future__ import annotations

import re

from job_tracker.ids import VOICE_ID_RESOURCE_ID, VOICE_ID_RESOURCE_ID_SHAPE
from job_tracker.kinds.base import JobService

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
)

# botocore's bedrock model: ModelInvocationJobArn ends in `model-invocation-job/[a-z0-9]{12}`; the jobs of an
# account and Region share one id space, so the account is the "domain".
BEDROCK = JobService(
    key="bedrock",
    name="Amazon Bedrock",
    client_name="bedrock",
    event_source="aws.bedrock",
    scope_noun="AWS account",
    scope_id=re.compile(r"[0-9]{12}"),
    scope_id_shape="an AWS account id of 12 digits",
    job_id=re.compile(r"[a-z0-9]{12}"),
    job_id_shape="12 lowercase letters or digits (^[a-z0-9]{12}$)",
    throttle_metric="BedrockThrottles",
)
