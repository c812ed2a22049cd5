"""checkov skips, each attached to the resource it concerns with the reason the check does not apply there.

checkov reads `Metadata.checkov.skip` of every resource in the synthesized template; `make test` runs it
(`tests/infra/test_template_checks.py`) and requires 0 failed checks and a reason on every skip.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnResource
from constructs import IConstruct

Skip = tuple[str, str]  # (check id, why it does not apply to this resource)

LOG_GROUP_KMS: Skip = (
    "CKV_AWS_158",
    "CloudWatch Logs encrypts every log group at rest. These logs hold job and request ids, S3 URIs and Voice "
    "ID's error messages, which can name a customer's speaker id - no audio or credentials. They are kept "
    "tracker:logRetentionDays (90 by default, as long as the table keeps its items) and reading them is "
    "governed by IAM on the log group; a customer managed key would add a key policy for the logs service "
    "without narrowing access.",
)


def skip_checks(construct: IConstruct, *skips: Skip) -> None:
    """Add checkov skips to `construct` (a CfnResource, or an L2 construct whose default child is one)."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} is not a CloudFormation resource")
    existing: dict[str, Any] = resource.get_metadata("checkov") or {}
    listed = list(existing.get("skip", []))
    listed += [{"id": check_id, "comment": reason} for check_id, reason in skips]
    resource.add_metadata("checkov", {"skip": listed})
