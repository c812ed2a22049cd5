"""Names and ARNs fixed ahead of deployment, so resources can refer to the tracker without a reference cycle.

The state machine invokes the Lambdas, so their policies (and the sweep's environment) cannot reference
the state machine resource itself; its name is fixed instead and its ARNs are built from it.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack


def state_machine_name(stack_name: str) -> str:
    return f"{stack_name}-Tracker"


def state_machine_arn(stack: Stack) -> str:
    return stack.format_arn(
        service="states",
        resource="stateMachine",
        resource_name=state_machine_name(stack.stack_name),
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def tracker_execution_arn_pattern(stack: Stack) -> str:
    """Every execution of the tracker state machine (their names are chosen when they start)."""
    return stack.format_arn(
        service="states",
        resource="execution",
        resource_name=f"{state_machine_name(stack.stack_name)}:*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def stack_event_rules_arn_pattern(stack: Stack) -> str:
    """Every EventBridge rule of the stack: CloudFormation names them `<stack name>-<logical id>-<suffix>`."""
    return stack.format_arn(service="events", resource="rule", resource_name=f"{stack.stack_name}-*")
