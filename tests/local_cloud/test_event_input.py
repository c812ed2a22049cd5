"""Target input: InputPath and InputTransformer (examples from the EventBridge user guide)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local_cloud.event_input import (
    InvalidInputPathError,
    is_missing,
    predefined_variables,
    render_input_template,
    resolve_path,
    transformed_input,
)

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING", "count": 2, "tags": {"a": "b"}},
}
PATHS = {
    "timestamp": "$.time",
    "instance": "$.detail.instance-id",
    "state": "$.detail.state",
    "count": "$.detail.count",
    "tags": "$.detail.tags",
    "first": "$.resources[0]",
    "missing": "$.detail.nope",
}
PREDEFINED = predefined_variables(EVENT, "example", "arn:aws:events:us-east-1:123456789012:rule/example", "now")


def _transform(template: str) -> str:
    return transformed_input(PATHS, template, EVENT, PREDEFINED)


def test_resolve_path() -> None:
    assert resolve_path(EVENT, "$.detail.instance-id") == "i-0123456789"
    assert resolve_path(EVENT, "$.resources[0]").endswith("i-abcd1111")
    assert resolve_path(EVENT, "$") is EVENT
    assert is_missing(resolve_path(EVENT, "$.detail.nope.deeper"))
    assert is_missing(resolve_path(EVENT, "$.resources[5]"))
    with pytest.raises(InvalidInputPathError):
        resolve_path(EVENT, "detail.state")


def test_simple_json_template_quotes_strings_outside_quotes() -> None:
    assert json.loads(_transform('{"instance" : <instance>, "state": <state>}')) == {
        "instance": "i-0123456789",
        "state": "RUNNING",
    }


def test_placeholders_inside_json_strings_are_inserted_raw() -> None:
    template = '{"instance": <instance>, "state": "<state>", "status": "instance \\"<instance>\\" is in <state>"}'
    assert json.loads(_transform(template)) == {
        "instance": "i-0123456789",
        "state": "RUNNING",
        "status": 'instance "i-0123456789" is in RUNNING',
    }


def test_non_string_values_keep_their_json_type() -> None:
    assert json.loads(_transform('{"count": <count>, "tags": <tags>, "mixed": [9, <state>, true]}')) == {
        "count": 2,
        "tags": {"a": "b"},
        "mixed": [9, "RUNNING", True],
    }


def test_string_template_and_predefined_variables() -> None:
    assert _transform('"instance <instance> is in <state>"') == '"instance i-0123456789 is in RUNNING"'
    assert _transform('"<aws.events.rule-name> triggered"') == '"example triggered"'
    result = json.loads(_transform('{"rule": <aws.events.rule-arn>, "original": <aws.events.event>}'))
    assert result["rule"].endswith(":rule/example")
    assert "detail" not in result["original"]
    assert json.loads(_transform("<aws.events.event.json>")) == EVENT


def test_output_is_minified_json() -> None:
    assert _transform('{ "a" :  <count> }') == '{"a":2}'


def test_missing_paths_and_unknown_placeholders() -> None:
    assert json.loads(_transform('{"m": <missing>, "s": "[<missing>]"}')) == {"m": None, "s": "[]"}
    # <b> names no variable and stays; <state> is outside a JSON string, so it is inserted as JSON.
    assert render_input_template("<b>bold</b> <state>", {"state": "ok"}) == '<b>bold</b> "ok"'
