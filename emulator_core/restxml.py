"""The REST-XML wire form (botocore's `rest-xml` protocol), read from botocore's model: request bodies to member
dicts, member dicts to response bodies, and the wrapped error document.

Used by `s3batch_emulator` (S3 Control); the JSON emulators do not need it. Only the model says how a member is
named on the wire (`locationName`), whether a list is flattened and what its items are called (`member` unless
the model names them), and how a map's entries look (`<entry><key/><value/></entry>`), so a request is read the
way botocore and the JS SDK serialize it and a response is written the way they parse it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from botocore.model import ListShape, MapShape, Shape, StructureShape


class XmlBodyError(ValueError):
    """The request body is not well-formed XML, or not the document the operation takes."""


# --- requests ----------------------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_body(body: bytes, shape: StructureShape) -> dict[str, Any]:
    """The members a request's XML body carries (body members only: the caller adds header, path and query
    members). Values that do not convert to their member's type are left as strings, for the model validator
    to name."""
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - loopback emulator, the SDKs' own documents
    except ElementTree.ParseError as exc:
        raise XmlBodyError(f"The XML you provided was not well-formed: {exc}") from exc
    payload = shape.serialization.get("payload")
    if payload:
        member = shape.members[payload]
        return {payload: _read(root, member)}
    body_members = {name: m for name, m in shape.members.items() if m.serialization.get("location") is None}
    return _read_structure(root, body_members)


def _read_structure(element: ElementTree.Element, members: dict[str, Shape]) -> dict[str, Any]:
    by_wire = {member.serialization.get("name", name): (name, member) for name, member in members.items()}
    found: dict[str, Any] = {}
    for child in element:
        wire = _local(child.tag)
        if wire not in by_wire:
            continue
        name, member = by_wire[wire]
        if isinstance(member, ListShape) and member.serialization.get("flattened"):
            found.setdefault(name, []).append(_read(child, member.member))
        else:
            found[name] = _read(child, member)
    return found


def _read(element: ElementTree.Element, shape: Shape) -> Any:
    if isinstance(shape, StructureShape):
        return _read_structure(element, dict(shape.members))
    if isinstance(shape, ListShape):
        item_name = shape.member.serialization.get("name", "member")
        return [_read(child, shape.member) for child in element if _local(child.tag) == item_name]
    if isinstance(shape, MapShape):
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        result: dict[str, Any] = {}
        for entry in element:
            key = entry.find(f"./{{*}}{key_name}")
            if key is None:
                key = entry.find(key_name)
            value = entry.find(f"./{{*}}{value_name}")
            if value is None:
                value = entry.find(value_name)
            if key is not None:
                result[key.text or ""] = _read(value, shape.value) if value is not None else None
        return result
    return scalar_from_text(element.text or "", shape)


def scalar_from_text(text: str, shape: Shape) -> Any:  # noqa: PLR0911 - one return per type
    """A scalar's text (an XML element, a header or a query value) as its member's type; the text itself when
    it does not convert, so that validation names the member."""
    type_name = shape.type_name
    if type_name in {"integer", "long"}:
        try:
            return int(text)
        except ValueError:
            return text
    if type_name in {"float", "double"}:
        try:
            return float(text)
        except ValueError:
            return text
    if type_name == "boolean":
        lowered = text.strip().lower()
        return {"true": True, "false": False}.get(lowered, text)
    if type_name == "timestamp":
        parsed = parse_timestamp(text)
        return text if parsed is None else parsed
    return text


def parse_timestamp(value: str) -> float | None:
    """Epoch seconds from ISO 8601 (the rest-xml default) or epoch seconds; None when it is neither."""
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        return number if math.isfinite(number) else None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


# --- responses ---------------------------------------------------------------------------------------------


def iso8601(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def serialize(value: dict[str, Any], shape: StructureShape, namespace: str | None = None) -> bytes:
    """A response body: `<ShapeName xmlns="...">` (the output shape's name, as the SDKs that check the root
    expect: `CreateJobResult`, `DescribeJobResult`...) holding the members in the model's order."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    root = shape.name
    parts.append(f'<{root} xmlns="{namespace}">' if namespace else f"<{root}>")
    _write_members(parts, value, shape)
    parts.append(f"</{root}>")
    return "".join(parts).encode()


def _write_members(parts: list[str], value: dict[str, Any], shape: StructureShape) -> None:
    for name, member in shape.members.items():
        if member.serialization.get("location") is not None or value.get(name) is None:
            continue
        item = value[name]
        wire = member.serialization.get("name", name)
        if isinstance(member, ListShape) and member.serialization.get("flattened"):
            for entry in item:
                _write(parts, wire, entry, member.member)
        else:
            _write(parts, wire, item, member)


def _write(parts: list[str], tag: str, value: Any, shape: Shape) -> None:
    if isinstance(shape, StructureShape):
        parts.append(f"<{tag}>")
        _write_members(parts, value, shape)
        parts.append(f"</{tag}>")
    elif isinstance(shape, ListShape):
        item_name = shape.member.serialization.get("name", "member")
        parts.append(f"<{tag}>")
        for entry in value:
            _write(parts, item_name, entry, shape.member)
        parts.append(f"</{tag}>")
    elif isinstance(shape, MapShape):
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        parts.append(f"<{tag}>")
        for key, item in value.items():
            parts.append("<entry>")
            _write(parts, key_name, key, shape.key)
            _write(parts, value_name, item, shape.value)
            parts.append("</entry>")
        parts.append(f"</{tag}>")
    else:
        parts.append(f"<{tag}>{escape(scalar_to_text(value, shape))}</{tag}>")


def scalar_to_text(value: Any, shape: Shape) -> str:
    if shape.type_name == "boolean":
        return "true" if value else "false"
    if shape.type_name == "timestamp" and isinstance(value, int | float) and not isinstance(value, bool):
        return iso8601(float(value))
    return str(value)


def error_document(code: str, message: str, request_id: str) -> bytes:
    """The *wrapped* rest-xml error (S3 Control's; the S3 data plane's is unwrapped): botocore reads either,
    the AWS SDK for Rust expects this one (s3batch-facts §1.1)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<ErrorResponse><Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{escape(request_id)}</RequestId></ErrorResponse>"
    ).encode()


__all__ = [
    "XmlBodyError",
    "error_document",
    "iso8601",
    "parse_body",
    "parse_timestamp",
    "scalar_from_text",
    "scalar_to_text",
    "serialize",
]
