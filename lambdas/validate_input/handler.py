"""validate-input: the state machine's first step; rejects a bad execution input before anything is written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from job_tracker.execution_input import normalize_execution_input
from job_tracker.settings import ValidateInputSettings

if TYPE_CHECKING:  # the type only
    from aws_lambda_powertools.utilities.typing import LambdaContext

settings = ValidateInputSettings.from_env()
logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The state machine passes its whole input under "Input", whatever its JSON type.
    return normalize_execution_input(event.get("Input"), settings.domain_ids)
