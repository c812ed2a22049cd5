"""Every function's worst-case SDK call (all attempts at their full timeouts, the longest backoffs) ends
well within the function's timeout in the template: a slow or failing service ends in an error the state
machine retries, never in a Lambda timeout. Computed from the clients' configurations
(lambdas/job_tracker/clients.py), which a check here ties to the handlers that make the clients."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import boto3
import pytest

from job_tracker import clients
from job_tracker.clients import FUNCTION_CLIENTS
from job_tracker.recording import DEADLINE_RESERVE_SECONDS

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"


def function_timeouts(template_json: dict[str, Any]) -> dict[str, int]:
    """Function package (from its handler, `<package>.handler.lambda_handler`) -> Timeout in seconds."""
    return {
        resource["Properties"]["Handler"].split(".", 1)[0]: resource["Properties"]["Timeout"]
        for resource in template_json["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function" and "Handler" in resource["Properties"]
    }


# Functions the template holds only when a configuration key asks for them; test_bedrock_retries_infra.py runs
# these checks on a template that has them.
OPTIONAL_FUNCTIONS = {"retry_dispatcher": "tracker:bedrockRetryPolicy"}


def test_every_function_of_the_template_has_its_clients_listed(template_json: dict[str, Any]) -> None:
    present = set(function_timeouts(template_json))
    assert present <= set(FUNCTION_CLIENTS)
    assert set(FUNCTION_CLIENTS) - present <= set(OPTIONAL_FUNCTIONS)


@pytest.mark.parametrize("function", sorted(FUNCTION_CLIENTS))
def test_each_handler_makes_its_clients_with_the_listed_configurations(function: str) -> None:
    tree = ast.parse((LAMBDAS / function / "handler.py").read_text(encoding="utf-8"))
    # config=<NAME>.config() in each boto3.client(...) call.
    used = {
        keyword.value.func.value.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "config"
        and isinstance(keyword.value, ast.Call)
        and isinstance(keyword.value.func, ast.Attribute)
        and isinstance(keyword.value.func.value, ast.Name)
    }
    clients_made = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "client"
    ]
    assert all(any(keyword.arg == "config" for keyword in made.keywords) for made in clients_made)
    listed = {name for name in dir(clients) if any(getattr(clients, name) is c for c in FUNCTION_CLIENTS[function])}
    assert used == listed


@pytest.mark.parametrize("function", sorted(FUNCTION_CLIENTS))
def test_the_worst_sdk_call_ends_well_within_the_function_timeout(function: str, template_json: dict[str, Any]) -> None:
    if function in OPTIONAL_FUNCTIONS and function not in function_timeouts(template_json):
        pytest.skip(f"{function} is in the template only with {OPTIONAL_FUNCTIONS[function]}")
    timeout = function_timeouts(template_json)[function]
    for settings in FUNCTION_CLIENTS[function]:
        # Well within: the function still has time to say what failed (and the record step to mark it).
        assert settings.worst_case_call_seconds() < 0.75 * timeout, (function, settings)


def test_the_attempts_are_counted_as_botocore_counts_them() -> None:
    for settings in {s for configured in FUNCTION_CLIENTS.values() for s in configured}:
        make_client: Any = boto3.client
        client = make_client("dynamodb", region_name="us-east-1", config=settings.config())
        assert client.meta.config.retries["total_max_attempts"] == settings.attempts
        assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (
            settings.connect_timeout,
            settings.read_timeout,
        )


def test_the_worst_case_of_one_configuration_by_hand() -> None:
    # 5 attempts of 3 s + 10 s; backoffs after attempts 1-4 of at most 1, 2, 4 and 8 s, each + 5 s retry-after.
    assert clients.RECORD_DYNAMODB.worst_case_call_seconds() == 5 * 13 + (1 + 2 + 4 + 8) + 4 * 5


def test_the_record_step_stops_in_time_to_finish_its_last_call_and_say_so(template_json: dict[str, Any]) -> None:
    timeout = function_timeouts(template_json)["record_failures"]
    in_flight = max(clients.RECORD_DYNAMODB.worst_case_call_seconds(), clients.RECORD_S3.read_timeout)
    mark_failed = clients.RECORD_DYNAMODB.worst_case_call_seconds()
    assert in_flight + mark_failed <= DEADLINE_RESERVE_SECONDS
    # And most of the function's time is still for recording.
    assert timeout / 3 > DEADLINE_RESERVE_SECONDS
