"""Bedrock's REST-JSON protocol, read from botocore's models: which operation a method and path are, the request
parameters from the path, query string, headers and body, and responses (headers, a JSON body with timestamps in
ISO 8601, or a raw payload).

The emulator serves two of Bedrock's APIs on one port, as both sign their requests for `bedrock`: batch inference
(botocore's `bedrock` model: the model-invocation-job operations) and the runtime (`bedrock-runtime`: InvokeModel
and Converse, under `/model/{modelId}/`). Their paths do not overlap. Only the models say where each member goes
(`location: uri | querystring | header`, the body, or the `payload` member), so every operation the emulator
serves is parsed the way botocore and the JS SDK serialize it.
"""

from __future__ import annotations

import functools
import json
import math
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from bedrock_emulator.errors import RUNTIME_SERVICE_NAME, SERVICE_NAME, BedrockError, validation_error
from emulator_core import model

OPERATIONS = (
    "CreateModelInvocationJob",
    "GetModelInvocationJob",
    "ListModelInvocationJobs",
    "StopModelInvocationJob",
)
RUNTIME_OPERATIONS = ("InvokeModel", "Converse")
# botocore service model -> the operations of it the emulator serves.
SERVICE_OPERATIONS: Mapping[str, tuple[str, ...]] = {
    SERVICE_NAME: OPERATIONS,
    RUNTIME_SERVICE_NAME: RUNTIME_OPERATIONS,
}
ALL_OPERATIONS = OPERATIONS + RUNTIME_OPERATIONS
# IAM authorizes Converse as bedrock:InvokeModel (bedrock-facts §8.3); every other operation is its own action.
_IAM_ACTIONS = {"Converse": "InvokeModel"}


def iam_action(operation: str) -> str:
    """The `bedrock:` action IAM checks for an operation."""
    return _IAM_ACTIONS.get(operation, operation)


@dataclass(frozen=True)
class Route:
    operation: OperationModel
    method: str
    path: re.Pattern[str]


@dataclass(frozen=True)
class Reply:
    """A response on the wire: the body and the headers the model places members in."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@functools.cache
def routes() -> tuple[Route, ...]:
    found = []
    for service, names in SERVICE_OPERATIONS.items():
        for name in names:
            operation = model.operation_model(service, name)
            assert operation is not None, f"botocore's {service} model has no {name}"
            uri = operation.http["requestUri"].split("?", 1)[0]
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(uri))
            found.append(Route(operation, operation.http["method"], re.compile(pattern)))
    return tuple(found)


def service_of(operation: OperationModel) -> str:
    """The botocore service model an operation the emulator serves belongs to (`bedrock`, `bedrock-runtime`)."""
    return str(operation.service_model.service_name)


def match(method: str, path: str) -> tuple[OperationModel, dict[str, str]]:
    """The operation for `method path`, with its decoded path parameters; UnknownOperationException otherwise."""
    allowed: list[str] = []
    for route in routes():
        found = route.path.fullmatch(path)
        if found is None:
            continue
        if route.method == method:
            return route.operation, {key: urllib.parse.unquote(value) for key, value in found.groupdict().items()}
        allowed.append(route.method)
    if allowed:
        raise BedrockError("UnknownOperationException", f"{method} is not supported on {path}", status=405)
    raise BedrockError("UnknownOperationException", f"No Bedrock operation at {method} {path}", status=404)


def parse_request(
    operation: OperationModel,
    path_params: Mapping[str, str],
    query: Mapping[str, list[str]],
    body: bytes,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The request's parameters by member name, as the model places them. Query values are converted to their
    member's type (a value that does not convert is a ValidationException naming the member); a blob `payload`
    member (InvokeModel's `body`) is the raw request body, as bytes."""
    shape = operation.input_shape
    params: dict[str, Any] = {}
    if shape is None:
        return params
    assert isinstance(shape, StructureShape)
    by_header = {name.lower(): value for name, value in (headers or {}).items()}
    payload = shape.serialization.get("payload")
    has_body = False
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "querystring":
            values = query.get(wire_name)
            if values:
                params[name] = _query_value(values[0], member, name)
        elif location in ("uri", "header"):
            found = path_params.get(wire_name) if location == "uri" else by_header.get(wire_name.lower())
            if found is not None:
                params[name] = found
        elif name == payload and member.type_name == "blob":
            if body:
                params[name] = body
        elif location is None:
            has_body = True
    if has_body and body.strip():
        params.update(_body_members(shape, body))
    return params


def _body_members(shape: StructureShape, body: bytes) -> dict[str, Any]:
    """The members a JSON request body carries."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BedrockError("SerializationException", f"Request body is not valid JSON: {exc}", 400) from exc
    if not isinstance(document, dict):
        raise BedrockError("SerializationException", "Request body must be a JSON object", 400)
    return {
        name: _from_wire(document[name], member)
        for name, member in shape.members.items()
        if member.serialization.get("location") is None and name in document
    }


def serialize_response(operation: OperationModel, response: dict[str, Any]) -> Reply:
    """The wire form of a handler's response: header members as headers; a blob `payload` member (InvokeModel's
    `body`) as the raw body, its `Content-Type` from the model's header member; otherwise the other members as a
    JSON object, timestamps in ISO 8601."""
    shape = operation.output_shape
    if shape is None:
        return Reply(b"{}", {"Content-Type": "application/json"})
    assert isinstance(shape, StructureShape)
    headers: dict[str, str] = {}
    document: dict[str, Any] = {}
    payload = shape.serialization.get("payload")
    raw: bytes | None = None
    for name, value in response.items():
        member = shape.members[name]
        if member.serialization.get("location") == "header":
            headers[member.serialization.get("name", name)] = str(value)
        elif name == payload and member.type_name == "blob":
            raw = value
        else:
            document[name] = to_wire(value, member)
    if raw is not None:
        return Reply(raw, {"Content-Type": "application/octet-stream", **headers})
    return Reply(json.dumps(document).encode(), {"Content-Type": "application/json", **headers})


def _query_value(value: str, shape: Shape, name: str) -> Any:
    if shape.type_name in {"integer", "long"}:
        try:
            return int(value)
        except ValueError:
            raise validation_error(
                f"1 validation error detected: Value '{value}' at '{name}' failed to satisfy constraint: "
                f"Member must be of type {shape.type_name}"
            ) from None
    if shape.type_name == "timestamp":
        parsed = parse_timestamp(value)
        if parsed is None:
            raise validation_error(
                f"1 validation error detected: Value '{value}' at '{name}' failed to satisfy constraint: "
                "Member must be a timestamp in ISO 8601 format"
            )
        return parsed
    if shape.type_name == "boolean":
        return value.lower() == "true"
    return value


def parse_timestamp(value: Any) -> float | None:
    """Epoch seconds from an ISO 8601 string or a number; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _from_wire(value: Any, shape: Shape) -> Any:
    """JSON body value -> internal value: timestamps to epoch seconds (left as-is when unparseable, for the
    validator to name), everything else unchanged."""
    if shape.type_name == "timestamp":
        parsed = parse_timestamp(value)
        return value if parsed is None else parsed
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        return {
            key: _from_wire(item, shape.members[key]) if key in shape.members else item for key, item in value.items()
        }
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [_from_wire(item, shape.member) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {key: _from_wire(item, shape.value) for key, item in value.items()}
    return value


def to_wire(value: Any, shape: Shape | None) -> Any:
    """Internal value -> JSON response value: timestamps (epoch seconds) as ISO 8601 with milliseconds, UTC."""
    if shape is None:
        return value
    if shape.type_name == "timestamp" and isinstance(value, int | float) and not isinstance(value, bool):
        return iso8601(float(value))
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        return {key: to_wire(item, shape.members.get(key)) for key, item in value.items()}
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [to_wire(item, shape.member) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {key: to_wire(item, shape.value) for key, item in value.items()}
    return value


def iso8601(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
