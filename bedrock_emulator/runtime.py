"""bedrock-runtime's InvokeModel and Converse (botocore's `bedrock-runtime` model, API 2023-09-30), answered as a
batch record with the same model input is (`formats`): the same checks, the same error message, the same
deterministic answer. On request parameters already validated against botocore's model.

A caller names the record a request answers through the request metadata AWS offers for invocation logs
(`{"recordId": "..."}`: InvokeModel's `X-Amzn-Bedrock-Request-Metadata` header, a JSON object; Converse's
`requestMetadata`), so that the admin API's forced record errors (`faults.RecordErrorRule`) can fail a record on
demand as in a batch job. On-demand calls are throttled per model when the admin API sets a rate.
"""

from __future__ import annotations

import json
from typing import Any

from bedrock_emulator import formats
from bedrock_emulator.errors import RUNTIME_SERVICE_NAME, BedrockError
from bedrock_emulator.faults import BedrockFaults, RecordError
from bedrock_emulator.jobs import JobEngine
from bedrock_emulator.service import model_arn_reachable
from bedrock_emulator.store import AccountState, Quotas
from emulator_core.service import EmulatorService, Handler

# The request-metadata key that names the record a request answers (for forced record errors).
RECORD_ID_METADATA_KEY = "recordId"
JSON_CONTENT_TYPE = "application/json"
# InvokeModel's body is JSON; botocore sends application/octet-stream for a body given without contentType.
_ACCEPTED_CONTENT_TYPES = frozenset({JSON_CONTENT_TYPE, "application/octet-stream"})
_ACCEPTED_RESPONSE_TYPES = frozenset({JSON_CONTENT_TYPE, "*/*"})
# A forced record error's HTTP status -> the exception bedrock-runtime raises with that status (its model lists
# ThrottlingException and ModelNotReadyException at 429, ValidationException and ServiceQuotaExceededException at
# 400: the first of each is what a model's refusal of a record is). A status none names is the model's own error:
# ModelErrorException (424) with the status in originalStatusCode, as Bedrock reports a model's failure.
_EXCEPTION_FOR_STATUS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
MODEL_ERROR = "ModelErrorException"


def runtime_error(code: str, message: str, **members: Any) -> BedrockError:
    """An error of bedrock-runtime, its status from that model."""
    return BedrockError(code, message, service=RUNTIME_SERVICE_NAME, members=members or None)


def forced_error(error: RecordError, model_id: str) -> BedrockError:
    """The runtime's answer to a record the admin API forces to fail with `error.error_code`."""
    code = _EXCEPTION_FOR_STATUS.get(error.error_code)
    if code is None:
        return runtime_error(
            MODEL_ERROR, error.error_message, originalStatusCode=error.error_code, resourceName=model_id
        )
    return runtime_error(code, error.error_message)


class RuntimeService(EmulatorService[AccountState, JobEngine, BedrockFaults, Quotas]):
    def _handlers(self) -> dict[str, Handler]:
        return {"InvokeModel": self.invoke_model, "Converse": self.converse}

    # --- InvokeModel -------------------------------------------------------------------------------------------

    def invoke_model(self, params: dict[str, Any]) -> dict[str, Any]:
        model_id = params["modelId"]
        family = self._family(model_id, "InvokeModel")
        content_type = params.get("contentType", JSON_CONTENT_TYPE).split(";", 1)[0].strip().lower()
        if content_type not in _ACCEPTED_CONTENT_TYPES:
            raise runtime_error(
                "ValidationException",
                f"The contentType {params['contentType']!r} is not supported: use application/json",
            )
        accept = params.get("accept", JSON_CONTENT_TYPE).split(";", 1)[0].strip().lower()
        if accept not in _ACCEPTED_RESPONSE_TYPES:
            raise runtime_error(
                "ValidationException", f"The accept {params['accept']!r} is not supported: use application/json"
            )
        self._no_guardrail(params.get("guardrailIdentifier"))
        record_id = _record_id(_header_metadata(params.get("requestMetadata")))
        try:
            model_input = json.loads(params.get("body", b""))
        except (ValueError, UnicodeDecodeError):
            raise runtime_error(
                "ValidationException",
                "Malformed input request: the body is not JSON, please reformat your input and try again.",
            ) from None
        output = self._answer(family, model_id, model_input, record_id)
        return {"body": json.dumps(output).encode(), "contentType": JSON_CONTENT_TYPE}

    # --- Converse ----------------------------------------------------------------------------------------------

    def converse(self, params: dict[str, Any]) -> dict[str, Any]:
        model_id = params["modelId"]
        family = self._family(model_id, "Converse")
        guardrail = params.get("guardrailConfig") or {}
        self._no_guardrail(guardrail.get("guardrailIdentifier"))
        if "promptVariables" in params:
            raise runtime_error(
                "ValidationException",
                "promptVariables apply only to a prompt resource (a prompt ARN as modelId); this emulator has none",
            )
        model_input = {key: params[key] for key in sorted(formats.CONVERSE_REQUEST_KEYS) if key in params}
        record_id = _record_id(params.get("requestMetadata") or {})
        return self._answer(family, model_id, model_input, record_id)

    # --- shared ------------------------------------------------------------------------------------------------

    def _family(self, model_id: str, invocation_type: str) -> formats.Family:
        if model_id.startswith("arn:") and not model_arn_reachable(model_id, self.account_id):
            raise runtime_error(
                "ResourceNotFoundException",
                f"The model {model_id} could not be found: this account has no custom or provisioned models, and an "
                "inference profile must be one of this account's",
            )
        family = formats.family_for(model_id, invocation_type)
        if family is None:
            raise runtime_error(
                "ValidationException",
                f"The provided model identifier is invalid: {model_id} (this emulator answers Anthropic Claude "
                "(anthropic.claude*) and Amazon Nova (amazon.nova*) models)",
            )
        return family

    def _answer(self, family: formats.Family, model_id: str, model_input: Any, record_id: str | None) -> dict[str, Any]:
        """A record's answer, in the order a batch job answers one: a forced error first, then the format's
        check (its message is the batch record's errorMessage), then the deterministic response."""
        if self.faults.invocation_throttled(model_id):
            raise runtime_error(
                "ThrottlingException",
                f"Too many requests for {model_id}, please wait before trying again (the emulator's invocation rate)",
            )
        self.faults.count_record_invocation(record_id)
        forced = self.faults.take_record_error(record_id, model_id, model_input)
        if forced is not None:
            raise forced_error(forced, model_id)
        try:
            output, _ = formats.process(family, model_id, model_input)
        except formats.InvalidModelInput as exc:
            raise runtime_error("ValidationException", str(exc)) from None
        return output

    @staticmethod
    def _no_guardrail(identifier: str | None) -> None:
        if identifier:
            raise runtime_error(
                "ResourceNotFoundException", f"The guardrail {identifier} could not be found: this emulator has none"
            )


def _header_metadata(header: str | None) -> dict[str, Any]:
    """InvokeModel's request metadata: the header's JSON object (absent: none)."""
    if header is None:
        return {}
    try:
        metadata = json.loads(header)
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict) or not all(isinstance(value, str) for value in metadata.values()):
        raise runtime_error(
            "ValidationException",
            'requestMetadata must be a JSON object of string values, e.g. {"recordId": "r1"}',
        )
    return metadata


def _record_id(metadata: dict[str, Any]) -> str | None:
    value = metadata.get(RECORD_ID_METADATA_KEY)
    return value if isinstance(value, str) and value else None
