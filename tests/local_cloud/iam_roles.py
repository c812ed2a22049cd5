"""Roles for the gateway's IAM tests: load roles with given statements into the cloud's enforcer, and SDK
clients that sign as them (the `roles` fixture in conftest.py yields one `Roles`)."""

from __future__ import annotations

import uuid
from typing import Any

from local_cloud.cloud import LocalCloud
from local_cloud.iam import PolicyStatement, RolePolicies


def allow(action: str | list[str], resource: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def client_as(cloud: LocalCloud, service: str, role_arn: str, session_name: str = "test-session", **kwargs: Any) -> Any:
    """A boto3 client for the cloud's gateway that signs as `role_arn`; `kwargs` go to boto3.client."""
    return cloud.client_as(service, role_arn, session_name, **kwargs)


class Roles:
    """Load roles with the given statements into the cloud's enforcer, and clients that sign as them."""

    def __init__(self, cloud: LocalCloud, name_prefix: str = "test") -> None:
        self.cloud = cloud
        self.name_prefix = name_prefix
        self._roles: dict[str, RolePolicies] = {}

    def add(self, *statements: dict[str, Any]) -> str:
        arn = f"arn:aws:iam::{self.cloud.account_id}:role/{self.name_prefix}-{uuid.uuid4().hex[:8]}"
        self._roles[arn] = RolePolicies(
            role_arn=arn,
            logical_id=arn.rsplit("/", 1)[-1],
            statements=tuple(PolicyStatement(f"test[{n}]", statement) for n, statement in enumerate(statements)),
        )
        self.cloud.iam.replace(self._roles.values())
        return arn

    def client(self, service: str, role_arn: str, **kwargs: Any) -> Any:
        return client_as(self.cloud, service, role_arn, **kwargs)
