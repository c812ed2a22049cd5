"""`tracker:bedrockRetryPolicy`: off unless set, validated at synth with messages naming what is wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import ConfigError, load_config
from job_tracker.retry_policy import parse_retry_policy
from tests.infra.test_config import Context

POLICY = {
    "retryCodes": [429, 500, 503, "UNPROCESSED"],
    "maxAttempts": 3,
    "poolWaitSeconds": 900,
    "maxJobsInFlightPerModel": 5,
    "maxRecordsPerDay": 10_000,
}


def test_off_unless_configured() -> None:
    config = load_config(Context(bedrockRetryPolicy=None))
    assert config.bedrock is not None and config.bedrock.retry_policy is None


def test_a_policy_from_cdk_json_or_the_command_line_is_the_same() -> None:
    from_json = load_config(Context(bedrockRetryPolicy=POLICY)).bedrock
    from_cli = load_config(Context(bedrockRetryPolicy=json.dumps(POLICY))).bedrock
    assert from_json is not None and from_cli is not None
    policy = from_json.retry_policy
    assert policy is not None and policy == from_cli.retry_policy
    assert policy.retry_codes == {429, 500, 503, "UNPROCESSED"}
    assert policy.on_demand_per_second == 5  # the default
    # What the dispatcher reads back from its environment is what was validated.
    assert parse_retry_policy(policy.to_json()) == policy


def test_codes_are_read_as_failure_items_hold_them() -> None:
    policy = parse_retry_policy(POLICY)
    assert policy.is_retryable(429) and policy.is_retryable("429") and policy.is_retryable("UNPROCESSED")
    assert not policy.is_retryable(400) and not policy.is_retryable(424) and not policy.is_retryable(True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"retryCodes": [429, 400]}, "lists 400, which is always final"),
        ({"retryCodes": []}, "retryCodes must be a non-empty list"),
        ({"retryCodes": ["THROTTLED"]}, "'THROTTLED' is neither an HTTP error status"),
        ({"maxAttempts": 1}, "maxAttempts must be a whole number from 2 to 10"),
        ({"maxJobsInFlightPerModel": 11}, "maxJobsInFlightPerModel must be a whole number from 1 to 10"),
        ({"poolWaitSeconds": 0}, "poolWaitSeconds must be a whole number from 1"),
        ({"maxRecordsPerDay": "lots"}, "maxRecordsPerDay must be a whole number"),
        ({"retryEverything": True}, "unknown field(s) retryEverything"),
    ],
)
def test_bad_policies_name_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="tracker:bedrockRetryPolicy") as raised:
        load_config(Context(bedrockRetryPolicy={**POLICY, **change}))
    assert message in str(raised.value)


def test_a_policy_needs_the_retry_input_location() -> None:
    with pytest.raises(ConfigError, match="bedrockRetryInputLocation is not"):
        load_config(Context(bedrockRetryPolicy=POLICY, bedrockRetryInputLocation=None))


def test_not_json_is_named() -> None:
    with pytest.raises(ConfigError, match="is not a JSON object"):
        load_config(Context(bedrockRetryPolicy="{retryCodes"))
