"""Validation of requests and responses against botocore's own service models (shared by the emulators).

The shapes are never copied by hand: everything here walks the model that ships with botocore, loaded with
botocore's loader, for the service an emulator names (`voice-id`, `bedrock`). The model's regex patterns use
Java/Smithy syntax (`\\p{L}`, `\\p{ASCII}`, ...) that Python's `re` lacks, so they are translated to
equivalent character classes before compiling. Messages follow AWS's (Coral) validation format, naming each
field by its member path.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import unicodedata
from collections.abc import Mapping
from typing import Any

from botocore.loaders import create_loader
from botocore.model import (
    ListShape,
    MapShape,
    OperationModel,
    ServiceModel,
    Shape,
    StringShape,
    StructureShape,
)


@functools.cache
def service_model(service_name: str) -> ServiceModel:
    """botocore's model of `service_name` (its newest API version), loaded once."""
    raw = create_loader().load_service_model(service_name, "service-2")
    return ServiceModel(raw, service_name=service_name)


def operation_model(service_name: str, name: str) -> OperationModel | None:
    model = service_model(service_name)
    if name not in model.operation_names:
        return None
    return model.operation_model(name)


def http_status_for(service_name: str, error_code: str, fallback: Mapping[str, int]) -> int:
    """HTTP status of an exception: botocore's `error.httpStatusCode` if the model has it, else `fallback`
    (the Smithy model's `httpError` values, for a service whose botocore model omits them)."""
    try:
        shape = service_model(service_name).shape_for(error_code)
    except Exception:
        return fallback.get(error_code, 400)
    error_meta = shape.metadata.get("error", {})
    status = error_meta.get("httpStatusCode") if isinstance(error_meta, dict) else None
    if isinstance(status, int):
        return status
    if shape.metadata.get("fault"):
        return fallback.get(error_code, 500)
    return fallback.get(error_code, 400)


# --- Java-style regex translation ------------------------------------------------------------------


@functools.cache
def _category_class(category: str) -> str:
    """A `re` character-class body listing every code point of a Unicode general category (e.g. "L")."""
    ranges: list[tuple[int, int]] = []
    for cp in range(sys.maxunicode + 1):
        if unicodedata.category(chr(cp)).startswith(category):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(
        re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in ranges
    )


def _property_class(name: str) -> str:
    if name == "ASCII":
        return "\\x00-\\x7f"
    if name in {"L", "N", "Z", "P", "S", "M", "C"}:
        return _category_class(name)
    raise ValueError(f"unsupported regex property \\p{{{name}}}")


_PROPERTY = re.compile(r"\\p\{(\w+)\}")


def translate_pattern(pattern: str) -> str:
    """Rewrite `\\p{X}` escapes so Python's `re` accepts the pattern with Java's meaning."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        match = _PROPERTY.match(pattern, i)
        if match:
            body = _property_class(match.group(1))
            out.append(body if in_class else f"[{body}]")
            i = match.end()
            continue
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class:
            in_class = False
        out.append(ch)
        i += 1
    return "".join(out)


@functools.cache
def compiled_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(translate_pattern(pattern))


# --- Shape validation -------------------------------------------------------------------------------------


def _describe(value: Any, shape: Shape) -> str:
    if shape.metadata.get("sensitive") or getattr(shape, "serialization", {}).get("sensitive"):
        return "Value"
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    if len(text) > 120:
        text = text[:117] + "..."
    return f"Value {text}"


def validate_value(  # noqa: PLR0911, PLR0912, PLR0915 - one branch per model type keeps it readable
    value: Any, shape: Shape, path: str, errors: list[str], *, check_constraints: bool
) -> None:
    """Append one message per violation; each names the member path (e.g. `InputDataConfig.S3Uri`)."""
    type_name = shape.type_name
    where = f"at '{path}'" if path else "at the top level"

    def fail(constraint: str) -> None:
        errors.append(f"{_describe(value, shape)} {where} failed to satisfy constraint: {constraint}")

    if type_name == "structure":
        assert isinstance(shape, StructureShape)
        if not isinstance(value, dict):
            fail("Member must be a structure")
            return
        if shape.metadata.get("union"):
            chosen = [key for key, item in value.items() if item is not None and key in shape.members]
            if len(chosen) != 1:
                fail(f"Member must have exactly one of [{', '.join(shape.members)}] set")
        for required in shape.required_members:
            if value.get(required) is None:
                member_path = f"{path}.{required}" if path else required
                errors.append(f"Value null at '{member_path}' failed to satisfy constraint: Member must not be null")
        for key, member_value in value.items():
            member_shape = shape.members.get(key)
            if member_shape is None or member_value is None:
                continue
            member_path = f"{path}.{key}" if path else key
            validate_value(member_value, member_shape, member_path, errors, check_constraints=check_constraints)
        return
    if type_name == "list":
        assert isinstance(shape, ListShape)
        if not isinstance(value, list):
            fail("Member must be a list")
            return
        if check_constraints:
            _check_length(len(value), shape, fail, unit="length")
        for index, item in enumerate(value):
            validate_value(item, shape.member, f"{path}.{index + 1}", errors, check_constraints=check_constraints)
        return
    if type_name == "map":
        assert isinstance(shape, MapShape)
        if not isinstance(value, dict):
            fail("Member must be a map")
            return
        for key, item in value.items():
            validate_value(key, shape.key, f"{path}.key", errors, check_constraints=check_constraints)
            validate_value(item, shape.value, f"{path}.{key}", errors, check_constraints=check_constraints)
        return
    if type_name == "string":
        if not isinstance(value, str):
            fail("Member must be a string")
            return
        if not check_constraints:
            return
        assert isinstance(shape, StringShape)
        if shape.enum and value not in shape.enum:
            fail(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
            return
        if _check_length(len(value), shape, fail, unit="length"):
            pattern = shape.metadata.get("pattern")
            if pattern and not compiled_pattern(pattern).fullmatch(value):
                fail(f"Member must satisfy regular expression pattern: {pattern}")
        return
    if type_name in {"integer", "long"}:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(f"Member must be of type {type_name}")
            return
        if check_constraints:
            _check_range(value, shape, fail)
        return
    if type_name in {"float", "double"}:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            fail(f"Member must be of type {type_name}")
        return
    if type_name == "boolean":
        if not isinstance(value, bool):
            fail("Member must be of type boolean")
        return
    if type_name == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail("Member must be a timestamp in epoch seconds")
        return
    if type_name == "blob":
        # In a JSON body a blob is base64 text; as an operation's raw payload (bedrock-runtime's InvokeModel
        # body) it is the bytes themselves, whose length the model bounds.
        if isinstance(value, bytes):
            if check_constraints:
                _check_length(len(value), shape, fail, unit="length")
        elif not isinstance(value, str):
            fail("Member must be a base64 string")


def _check_length(length: int, shape: Shape, fail: Any, *, unit: str) -> bool:
    low = shape.metadata.get("min")
    high = shape.metadata.get("max")
    if low is not None and length < low:
        fail(f"Member must have {unit} greater than or equal to {low}")
        return False
    if high is not None and length > high:
        fail(f"Member must have {unit} less than or equal to {high}")
        return False
    return True


def _check_range(value: int, shape: Shape, fail: Any) -> None:
    low = shape.metadata.get("min")
    high = shape.metadata.get("max")
    if low is not None and value < low:
        fail(f"Member must have value greater than or equal to {low}")
    elif high is not None and value > high:
        fail(f"Member must have value less than or equal to {high}")


def request_errors(operation: OperationModel, params: Any) -> list[str]:
    shape = operation.input_shape
    errors: list[str] = []
    if shape is not None:
        validate_value(params, shape, "", errors, check_constraints=True)
    return errors


def format_validation_message(errors: list[str]) -> str:
    noun = "error" if len(errors) == 1 else "errors"
    return f"{len(errors)} validation {noun} detected: " + "; ".join(errors)


def shape_errors(shape: Shape, value: Any) -> list[str]:
    errors: list[str] = []
    validate_value(value, shape, "", errors, check_constraints=True)
    return errors


def response_errors(operation: OperationModel, body: Any) -> list[str]:
    shape = operation.output_shape
    errors: list[str] = []
    if shape is not None:
        validate_value(body, shape, "", errors, check_constraints=True)
    return errors
