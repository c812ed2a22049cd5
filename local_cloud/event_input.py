"""What an EventBridge target receives: Input, InputPath or InputTransformer applied to the event.

Input transformer rules (eb-transform-target-input docs): ``InputPathsMap`` variables are JSON paths into
the event (dot notation, array indices); ``<var>`` placeholders in ``InputTemplate`` are replaced - outside
a JSON string by the value as JSON (strings get quotes), inside a JSON string by the raw value (strings
unquoted and, as AWS does, not escaped). A path that is absent from the event yields ``null`` outside a
string and nothing inside one. Predefined variables: ``aws.events.rule-arn``, ``aws.events.rule-name``,
``aws.events.event.ingestion-time``, ``aws.events.event`` (the event without ``detail``) and
``aws.events.event.json`` (the whole event).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_MISSING = object()


class InvalidInputPathError(ValueError):
    """A JSON path this router cannot evaluate (EventBridge supports only a simple subset too)."""


def resolve_path(document: Any, path: str) -> Any:
    """Value at a ``$.a.b[0]`` path, or the module's ``_MISSING`` sentinel if absent."""
    if path == "$":
        return document
    if not path.startswith("$"):
        raise InvalidInputPathError(f"JSON path must start with '$': {path!r}")
    position, current = 1, document
    while position < len(path):
        token = _PATH_TOKEN.match(path, position)
        if token is None:
            raise InvalidInputPathError(f"unsupported JSON path syntax at {path[position:]!r} in {path!r}")
        position = token.end()
        key, index = token.group(1), token.group(2)
        if key is not None:
            if key == "*":
                raise InvalidInputPathError(f"wildcards are not supported by the local router: {path!r}")
            if not isinstance(current, Mapping) or key not in current:
                return _MISSING
            current = current[key]
        else:
            if not isinstance(current, list) or int(index) >= len(current):
                return _MISSING
            current = current[int(index)]
    return current


def is_missing(value: Any) -> bool:
    return value is _MISSING


def predefined_variables(
    event: Mapping[str, Any], rule_name: str, rule_arn: str, ingestion_time: str
) -> dict[str, Any]:
    return {
        "aws.events.rule-arn": rule_arn,
        "aws.events.rule-name": rule_name,
        "aws.events.event.ingestion-time": ingestion_time,
        "aws.events.event": {key: value for key, value in event.items() if key != "detail"},
        "aws.events.event.json": dict(event),
    }


def render_input_template(template: str, variables: Mapping[str, Any]) -> str:
    """Substitute ``<var>`` placeholders, quoting by whether the placeholder sits inside a JSON string.

    Placeholders that name no variable are left as they are (the template may contain literal ``<b>``).
    Absent values (see :func:`resolve_path`) render as ``null`` / empty string.
    """
    output: list[str] = []
    in_string = False
    position = 0
    while position < len(template):
        char = template[position]
        if char == "\\" and in_string:
            output.append(template[position : position + 2])
            position += 2
            continue
        if char == '"':
            in_string = not in_string
        elif char == "<":
            placeholder = _PLACEHOLDER.match(template, position)
            if placeholder and placeholder.group(1) in variables:
                output.append(_render_value(variables[placeholder.group(1)], in_string=in_string))
                position = placeholder.end()
                continue
        output.append(char)
        position += 1
    return "".join(output)


def _render_value(value: Any, *, in_string: bool) -> str:
    if value is _MISSING:
        return "" if in_string else "null"
    if in_string and isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def transformed_input(
    input_paths_map: Mapping[str, str],
    input_template: str,
    event: Mapping[str, Any],
    predefined: Mapping[str, Any],
) -> str:
    """The target input of an InputTransformer; JSON results are minified, as AWS delivers them."""
    variables = dict(predefined)
    for name, path in input_paths_map.items():
        variables[name] = resolve_path(event, path)
    rendered = render_input_template(input_template, variables)
    try:
        return json.dumps(json.loads(rendered), separators=(",", ":"))
    except ValueError:
        return rendered
