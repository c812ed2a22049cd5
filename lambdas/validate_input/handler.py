"""validate-input: the state machine's first step; rejects a bad execution input before anything is written.

For Bedrock it reads the job (GetModelInvocationJob) to check its name and output against the configuration, for
S3 Batch Operations (DescribeJob) its description and report location.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger

from job_tracker.adapters.bedrock import BedrockJobDescriber
from job_tracker.adapters.s3control import S3BatchJobDescriber
from job_tracker.adapters.services import DescriberByService, LazyDescriber
from job_tracker.clients import VALIDATE_BEDROCK, VALIDATE_S3BATCH
from job_tracker.execution_input import normalize_execution_input
from job_tracker.settings import ValidateInputSettings
from job_tracker.tracking import JobDescriber

if TYPE_CHECKING:  # the type only
    from aws_lambda_powertools.utilities.typing import LambdaContext

settings = ValidateInputSettings.from_env()
logger = Logger()
# Only services whose configuration is checked on the job itself need a client here.
describers: dict[str, JobDescriber] = {}
if "bedrock" in settings.tracked.scopes:
    describers["bedrock"] = LazyDescriber(
        lambda: BedrockJobDescriber(boto3.client("bedrock", config=VALIDATE_BEDROCK.config()))
    )
if "s3" in settings.tracked.scopes:
    describers["s3"] = LazyDescriber(
        lambda: S3BatchJobDescriber(boto3.client("s3control", config=VALIDATE_S3BATCH.config()))
    )
describer = DescriberByService(describers)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The state machine passes its whole input under "Input", whatever its JSON type.
    return normalize_execution_input(event.get("Input"), settings.tracked, describer)
