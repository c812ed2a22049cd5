"""Helpers for tests and demos that drive a running :class:`~local_cloud.cloud.LocalCloud`."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from local_cloud.cloud import LocalCloud

DEFAULT_POLL_DEADLINE_SECONDS = 60.0


def wait_for_execution(
    sfn: Any, execution_arn: str, *, deadline_seconds: float = DEFAULT_POLL_DEADLINE_SECONDS
) -> dict[str, Any]:
    """Poll DescribeExecution until the execution leaves RUNNING or the deadline passes.

    Returns the last description either way, so callers assert on ``status`` rather than on time.
    """
    deadline = time.monotonic() + deadline_seconds
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.1)


def create_state_machine(cloud: LocalCloud, definition: dict[str, Any], *, name: str | None = None) -> str:
    """Create a STANDARD state machine in moto from an ASL definition; returns its ARN."""
    created = cloud.client("stepfunctions").create_state_machine(
        name=name or f"sm-{uuid.uuid4().hex[:12]}",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{cloud.account_id}:role/local-cloud",
    )
    arn: str = created["stateMachineArn"]
    return arn
