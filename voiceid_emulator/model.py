"""Voice ID's side of the shared model-driven validation (`emulator_core.model`), bound to botocore's `voice-id`."""

from __future__ import annotations

from botocore.model import OperationModel, ServiceModel

from emulator_core import model as core
from emulator_core.model import (
    compiled_pattern,
    format_validation_message,
    request_errors,
    response_errors,
    shape_errors,
    translate_pattern,
    validate_value,
)
from voiceid_emulator.errors import SMITHY_HTTP_STATUS

SERVICE_NAME = "voice-id"

__all__ = [
    "SERVICE_NAME",
    "compiled_pattern",
    "format_validation_message",
    "http_status_for",
    "operation_model",
    "request_errors",
    "response_errors",
    "service_model",
    "shape_errors",
    "translate_pattern",
    "validate_value",
]


def service_model() -> ServiceModel:
    return core.service_model(SERVICE_NAME)


def operation_model(name: str) -> OperationModel | None:
    return core.operation_model(SERVICE_NAME, name)


def http_status_for(error_code: str) -> int:
    """HTTP status of an exception: botocore's `error.httpStatusCode` if the model has it, else Smithy's."""
    return core.http_status_for(SERVICE_NAME, error_code, SMITHY_HTTP_STATUS)
