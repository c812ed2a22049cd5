"""EventBridge content filtering: does an event match a rule's event pattern?

Follows https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html and
eb-create-pattern-operators.html: every field of the pattern must match; a leaf is a list of matchers of
which one must match; when the event's value is an array, any element may match; nested objects match
recursively; ``$or`` takes a list of sub-patterns. Supported matchers: exact values (string, number, bool,
null), ``prefix``, ``suffix``, ``equals-ignore-case``, ``anything-but`` (value, list, prefix, suffix,
equals-ignore-case), ``exists``, ``numeric``, ``wildcard``, ``cidr``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_NUMERIC_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class InvalidEventPatternError(ValueError):
    """The pattern uses syntax EventBridge would reject (or this router does not implement)."""


def matches_pattern(pattern: Mapping[str, Any], event: Any) -> bool:
    """True if ``event`` (a full event envelope, or a nested part of one) matches ``pattern``."""
    for key, rule in pattern.items():
        if key == "$or":
            if not isinstance(rule, list) or not any(matches_pattern(option, event) for option in rule):
                return False
            continue
        present = isinstance(event, Mapping) and key in event
        value = event[key] if present else None
        if isinstance(rule, Mapping):
            if not _matches_nested(rule, present, value):
                return False
        elif isinstance(rule, list):
            if not _matches_leaf(rule, present, value):
                return False
        else:
            raise InvalidEventPatternError(f"pattern field {key!r} must be an object or an array, not {rule!r}")
    return True


def validate_pattern(pattern: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidEventPatternError` for syntax this module cannot evaluate.

    Matching only looks at the fields an event has, so without this a bad operator in a rule would go
    unnoticed until the first event that carries the field.
    """
    for key, rule in pattern.items():
        if key == "$or":
            if not isinstance(rule, list):
                raise InvalidEventPatternError(f"$or takes a list of patterns: {rule!r}")
            for option in rule:
                validate_pattern(option)
        elif isinstance(rule, Mapping):
            validate_pattern(rule)
        elif isinstance(rule, list):
            for matcher in rule:
                if isinstance(matcher, Mapping) and "exists" in matcher and len(matcher) == 1:
                    if not isinstance(matcher["exists"], bool):
                        raise InvalidEventPatternError(f"exists takes true or false: {dict(matcher)}")
                    continue
                for probe in ("", 0):  # each operator checks its operand when given a value of its kind
                    _matches_one(matcher, probe)
        else:
            raise InvalidEventPatternError(f"pattern field {key!r} must be an object or an array, not {rule!r}")


def _matches_nested(rule: Mapping[str, Any], present: bool, value: Any) -> bool:
    if present and isinstance(value, list):
        return any(matches_pattern(rule, element) for element in value)
    # A missing object behaves like an empty one, so that {"exists": false} below it still matches.
    return matches_pattern(rule, value if present and isinstance(value, Mapping) else {})


def _matches_leaf(matchers: Sequence[Any], present: bool, value: Any) -> bool:
    if not present:
        return any(_is_exists(matcher, expected=False) for matcher in matchers)
    candidates = value if isinstance(value, list) else [value]
    return any(_matches_one(matcher, candidate) for matcher in matchers for candidate in candidates) or any(
        _is_exists(matcher, expected=True) for matcher in matchers
    )


def _is_exists(matcher: Any, *, expected: bool) -> bool:
    return isinstance(matcher, Mapping) and matcher.get("exists") is expected


def _equal(expected: Any, actual: Any) -> bool:
    # bool is an int in Python; in JSON, true is not 1.
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected is actual
    if _is_number(expected) and _is_number(actual):
        return float(expected) == float(actual)
    return bool(expected == actual) and type(expected) is type(actual)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _matches_one(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, Mapping):
        return _equal(matcher, value)
    if len(matcher) != 1:
        raise InvalidEventPatternError(f"a matcher object must have exactly one operator: {dict(matcher)}")
    ((operator, operand),) = matcher.items()
    if operator == "exists":
        return False  # handled by _matches_leaf: it is about presence, not about a value
    if operator in ("prefix", "suffix"):
        return _affix(operator, operand, value)
    operator_matcher = _OPERATORS.get(operator)
    if operator_matcher is None:
        raise InvalidEventPatternError(f"unsupported pattern operator {operator!r}")
    return operator_matcher(operand, value)


def _equals_ignore_case(operand: Any, value: Any) -> bool:
    return isinstance(value, str) and isinstance(operand, str) and value.casefold() == operand.casefold()


def _wildcard(operand: Any, value: Any) -> bool:
    return isinstance(value, str) and _wildcard_regex(operand).fullmatch(value) is not None


def _affix(operator: str, operand: Any, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if isinstance(operand, Mapping) and "equals-ignore-case" in operand:
        operand, value = str(operand["equals-ignore-case"]).casefold(), value.casefold()
    if not isinstance(operand, str):
        raise InvalidEventPatternError(f"{operator} needs a string: {operand!r}")
    text: str = value
    return text.startswith(operand) if operator == "prefix" else text.endswith(operand)


def _anything_but(operand: Any, value: Any) -> bool:
    if isinstance(operand, Mapping):
        if len(operand) != 1:
            raise InvalidEventPatternError(f"anything-but takes one operator: {dict(operand)}")
        ((operator, inner),) = operand.items()
        if operator in ("prefix", "suffix"):
            options = inner if isinstance(inner, list) else [inner]
            return isinstance(value, str) and not any(_affix(operator, option, value) for option in options)
        if operator == "equals-ignore-case":
            options = inner if isinstance(inner, list) else [inner]
            return isinstance(value, str) and all(value.casefold() != str(o).casefold() for o in options)
        if operator == "wildcard":
            options = inner if isinstance(inner, list) else [inner]
            return isinstance(value, str) and not any(_wildcard_regex(o).fullmatch(value) for o in options)
        raise InvalidEventPatternError(f"unsupported anything-but operator {operator!r}")
    excluded = operand if isinstance(operand, list) else [operand]
    return not any(_equal(option, value) for option in excluded)


def _numeric(operand: Any, value: Any) -> bool:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        raise InvalidEventPatternError(f"numeric takes [op, number] or [op, number, op, number]: {operand!r}")
    if not _is_number(value):
        return False
    for index in range(0, len(operand), 2):
        operator, bound = operand[index], operand[index + 1]
        if operator not in _NUMERIC_OPERATORS or not _is_number(bound):
            raise InvalidEventPatternError(f"bad numeric comparison {operator!r} {bound!r}")
        if not _NUMERIC_OPERATORS[operator](float(value), float(bound)):
            return False
    return True


def _wildcard_regex(operand: Any) -> re.Pattern[str]:
    if not isinstance(operand, str):
        raise InvalidEventPatternError(f"wildcard needs a string: {operand!r}")
    parts = re.split(r"(?<!\\)\*", operand)
    return re.compile(".*".join(re.escape(part.replace("\\*", "*")) for part in parts), re.DOTALL)


def _in_cidr(operand: Any, value: Any) -> bool:
    """``cidr`` matcher: an IP address string inside the network."""
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(str(operand), strict=False)
    except ValueError:
        return False


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "equals-ignore-case": _equals_ignore_case,
    "anything-but": _anything_but,
    "numeric": _numeric,
    "wildcard": _wildcard,
    "cidr": _in_cidr,
}
