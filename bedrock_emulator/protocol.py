"""Bedrock's REST-JSON protocol, read from botocore's model: which operation a method and path are, the request
parameters from the path, query string and JSON body, and responses with timestamps in ISO 8601.

Only the model says where each member goes (`location: uri | querystring`, or the body), so every operation the
emulator serves is parsed the way botocore and the JS SDK serialize it.
"""

from __future__ import annotations

import functools
import json
import math
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from bedrock_emulator.errors import SERVICE_NAME, BedrockError, validation_error
from emulator_core import model

OPERATIONS = (
    "CreateModelInvocationJob",
    "GetModelInvocationJob",
    "ListModelInvocationJobs",
    "StopModelInvocationJob",
)


@dataclass(frozen=True)
class Route:
    operation: OperationModel
    method: str
    path: re.Pattern[str]


@functools.cache
def routes() -> tuple[Route, ...]:
    found = []
    for name in OPERATIONS:
        operation = model.operation_model(SERVICE_NAME, name)
        assert operation is not None, f"botocore's bedrock model has no {name}"
        uri = operation.http["requestUri"].split("?", 1)[0]
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(uri))
        found.append(Route(operation, operation.http["method"], re.compile(pattern)))
    return tuple(found)


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
    operation: OperationModel, path_params: Mapping[str, str], query: Mapping[str, list[str]], body: bytes
) -> dict[str, Any]:
    """The request's parameters by member name, as the model places them. Query values are converted to their
    member's type (a value that does not convert is a ValidationException naming the member)."""
    shape = operation.input_shape
    params: dict[str, Any] = {}
    if shape is None:
        return params
    assert isinstance(shape, StructureShape)
    has_body = False
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            if wire_name in path_params:
                params[name] = path_params[wire_name]
        elif location == "querystring":
            values = query.get(wire_name)
            if values:
                params[name] = _query_value(values[0], member, name)
        elif location is None:
            has_body = True
    if has_body and body.strip():
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BedrockError("SerializationException", f"Request body is not valid JSON: {exc}", 400) from exc
        if not isinstance(document, dict):
            raise BedrockError("SerializationException", "Request body must be a JSON object", 400)
        for name, member in shape.members.items():
            if member.serialization.get("location") is None and name in document:
                params[name] = _from_wire(document[name], member)
    return params


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
