"""Load a synthesized CloudFormation template and resolve its intrinsic functions locally.

Physical names follow CloudFormation: an explicit name property wins (``TableName``, ``FunctionName``...),
otherwise a deterministic ``<stack>-<logicalId>-<SUFFIX>`` is generated (lower-case for buckets). ``Ref``
and ``Fn::GetAtt`` return what CloudFormation documents per type (e.g. ``Ref`` of a state machine is its
ARN, of a KMS key its key id).

Every resource type is classified: :data:`LOCAL_RESOURCE_TYPES` get a local counterpart,
:data:`NO_LOCAL_EFFECT_TYPES` are accepted with a stated reason, and anything else is reported by logical
id and type (:meth:`StackTemplate.resource_report`, :class:`UnsupportedResourceError`) - never skipped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Types the local cloud creates something for (the provisioner maps each to DynamoDB Local, moto,
# the Lambda runtime or the event router).
LOCAL_RESOURCE_TYPES: frozenset[str] = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::Lambda::Function",
        "AWS::Lambda::LayerVersion",  # its asset's python/ goes on the sys.path of the functions using it
        "AWS::StepFunctions::StateMachine",
        "AWS::Events::Rule",
        "AWS::S3::Bucket",
        "AWS::KMS::Key",
        "AWS::KMS::Alias",
        "AWS::SQS::Queue",
        "AWS::Scheduler::ScheduleGroup",
        "AWS::Scheduler::Schedule",
    }
)

# Types accepted without a local counterpart, and why that is safe.
NO_LOCAL_EFFECT_TYPES: Mapping[str, str] = {
    "AWS::CDK::Metadata": "CDK usage metadata, no runtime behaviour",
    "AWS::IAM::Role": "nothing to create; the gateway holds the role's calls to its policies (local_cloud/iam.py)",
    "AWS::IAM::Policy": "nothing to create; the gateway evaluates it for the roles it names (local_cloud/iam.py)",
    "AWS::IAM::ManagedPolicy": "nothing to create; the gateway evaluates it for its roles (local_cloud/iam.py)",
    "AWS::Lambda::Permission": "resource policies are not enforced locally",
    "AWS::S3::BucketPolicy": "resource policies are not enforced locally",
    "AWS::SQS::QueuePolicy": "resource policies are not enforced locally",
    "AWS::Logs::LogGroup": "function logs go to the local cloud's console/log file",
    "AWS::CloudWatch::Alarm": "no metrics locally",
    "AWS::CloudWatch::Dashboard": "no metrics locally",
    "AWS::Lambda::EventInvokeConfig": "the local scheduler invokes the sweep and logs its function errors itself "
    "(local_cloud/scheduler.py); there is no on-failure destination locally",
}

PSEUDO_PARAMETER_NAMES = frozenset(
    {
        "AWS::Region",
        "AWS::AccountId",
        "AWS::Partition",
        "AWS::URLSuffix",
        "AWS::StackName",
        "AWS::StackId",
        "AWS::NotificationARNs",
        "AWS::NoValue",
    }
)

# Property holding a user-chosen physical name, per type.
_NAME_PROPERTIES: Mapping[str, str] = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Events::Rule": "Name",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::Policy": "PolicyName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::KMS::Alias": "AliasName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Scheduler::ScheduleGroup": "Name",
    "AWS::Scheduler::Schedule": "Name",
}
# Types whose names CloudFormation generates within 64 characters (the others: 80).
_64_CHARACTER_NAMES = frozenset(
    {
        "AWS::Lambda::Function",
        "AWS::Events::Rule",
        "AWS::IAM::Role",
        "AWS::Scheduler::ScheduleGroup",
        "AWS::Scheduler::Schedule",
    }
)
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class TemplateError(ValueError):
    """The template cannot be resolved locally; the message names the resource or intrinsic."""


class UnsupportedResourceError(TemplateError):
    """Resources of types the local cloud does not know; ``unknown`` lists (logical id, type)."""

    def __init__(self, unknown: list[tuple[str, str]]) -> None:
        listed = ", ".join(f"{logical_id} ({resource_type})" for logical_id, resource_type in unknown)
        super().__init__(f"resource types without a local counterpart: {listed}")
        self.unknown = unknown


class _NoValue:
    """``Ref: AWS::NoValue`` - removes the enclosing property or list element."""


NO_VALUE = _NoValue()


@dataclass(frozen=True)
class ResourceReport:
    local: list[tuple[str, str]] = field(default_factory=list)
    no_local_effect: list[tuple[str, str, str]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)

    def raise_for_unknown(self) -> None:
        if self.unknown:
            raise UnsupportedResourceError(self.unknown)


class StackTemplate:
    """A CloudFormation template plus the deployment context needed to resolve it."""

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        stack_name: str,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        self.template = template
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.resources: Mapping[str, Mapping[str, Any]] = template.get("Resources", {})
        self._parameter_values = dict(parameters or {})
        self._names: dict[str, str] = {}
        self._resolving_names: set[str] = set()
        self._conditions: dict[str, bool] = {}

    @classmethod
    def load(cls, path: Path, **kwargs: Any) -> StackTemplate:
        """Load ``<cdk.out>/<Stack>.template.json``; the stack name defaults to the file's stem."""
        kwargs.setdefault("stack_name", path.name.removesuffix(".template.json"))
        return cls(json.loads(path.read_text(encoding="utf-8")), **kwargs)

    # -- inventory -------------------------------------------------------------------------------------
    def resource_type(self, logical_id: str) -> str:
        return str(self._resource(logical_id)["Type"])

    def resource_ids(self, resource_type: str) -> list[str]:
        return [logical_id for logical_id, r in self.resources.items() if r.get("Type") == resource_type]

    def resource_report(self) -> ResourceReport:
        report = ResourceReport()
        for logical_id, resource in self.resources.items():
            resource_type = str(resource.get("Type"))
            if resource_type in LOCAL_RESOURCE_TYPES:
                report.local.append((logical_id, resource_type))
            elif resource_type in NO_LOCAL_EFFECT_TYPES:
                report.no_local_effect.append((logical_id, resource_type, NO_LOCAL_EFFECT_TYPES[resource_type]))
            else:
                report.unknown.append((logical_id, resource_type))
        return report

    def is_created(self, logical_id: str) -> bool:
        """False when the resource's ``Condition`` is false (CloudFormation would not create it)."""
        condition = self._resource(logical_id).get("Condition")
        return condition is None or self.condition(str(condition))

    def _resource(self, logical_id: str) -> Mapping[str, Any]:
        try:
            return self.resources[logical_id]
        except KeyError:
            raise TemplateError(f"no resource {logical_id!r} in stack {self.stack_name}") from None

    # -- physical identifiers --------------------------------------------------------------------------
    def physical_name(self, logical_id: str) -> str:
        """The resource's name: its explicit name property, else a CloudFormation-style generated name."""
        if logical_id in self._names:
            return self._names[logical_id]
        if logical_id in self._resolving_names:
            raise TemplateError(f"circular reference while naming {logical_id}")
        self._resolving_names.add(logical_id)
        try:
            resource = self._resource(logical_id)
            resource_type = str(resource["Type"])
            name_property = _NAME_PROPERTIES.get(resource_type)
            explicit = (resource.get("Properties") or {}).get(name_property) if name_property else None
            name = str(self.resolve(explicit)) if explicit is not None else self._generated_name(logical_id)
        finally:
            self._resolving_names.discard(logical_id)
        self._names[logical_id] = name
        return name

    def _generated_name(self, logical_id: str) -> str:
        resource_type = self.resource_type(logical_id)
        digest = hashlib.sha256(f"{self.stack_name}/{logical_id}".encode()).hexdigest()
        if resource_type == "AWS::KMS::Key":
            return str(uuid.UUID(digest[:32]))  # key ids are UUIDs
        suffix = digest[:12].upper()
        if resource_type == "AWS::S3::Bucket":
            return f"{self.stack_name}-{logical_id}-{suffix}".lower()[:63]
        limit = 64 if resource_type in _64_CHARACTER_NAMES else 80
        prefix = f"{self.stack_name}-{logical_id}"[: limit - len(suffix) - 1]
        return f"{prefix}-{suffix}"

    def arn(self, logical_id: str) -> str:
        resource_type = self.resource_type(logical_id)
        name, partition, region, account = self.physical_name(logical_id), "aws", self.region, self.account_id
        formats: Mapping[str, str] = {
            "AWS::DynamoDB::Table": f"arn:{partition}:dynamodb:{region}:{account}:table/{name}",
            "AWS::Lambda::Function": f"arn:{partition}:lambda:{region}:{account}:function:{name}",
            "AWS::S3::Bucket": f"arn:{partition}:s3:::{name}",
            "AWS::KMS::Key": f"arn:{partition}:kms:{region}:{account}:key/{name}",
            "AWS::KMS::Alias": f"arn:{partition}:kms:{region}:{account}:{name}",
            "AWS::IAM::Role": f"arn:{partition}:iam::{account}:role/{name}",
            "AWS::IAM::ManagedPolicy": f"arn:{partition}:iam::{account}:policy/{name}",
            "AWS::StepFunctions::StateMachine": (f"arn:{partition}:states:{region}:{account}:stateMachine:{name}"),
            "AWS::Events::Rule": f"arn:{partition}:events:{region}:{account}:rule/{name}",
            "AWS::Logs::LogGroup": f"arn:{partition}:logs:{region}:{account}:log-group:{name}:*",
            "AWS::SQS::Queue": f"arn:{partition}:sqs:{region}:{account}:{name}",
            "AWS::Scheduler::ScheduleGroup": f"arn:{partition}:scheduler:{region}:{account}:schedule-group/{name}",
        }
        if resource_type == "AWS::Scheduler::Schedule":
            group = self.schedule_group_name(logical_id)
            return f"arn:{partition}:scheduler:{region}:{account}:schedule/{group}/{name}"
        if resource_type not in formats:
            raise TemplateError(f"no local ARN for {logical_id} ({resource_type})")
        return formats[resource_type]

    def ref(self, name: str) -> Any:
        """``Ref``: a pseudo parameter, a template parameter or a resource's documented Ref value."""
        if name in PSEUDO_PARAMETER_NAMES:
            return self._pseudo_parameter(name)
        if name in self.template.get("Parameters", {}):
            return self._parameter(name)
        resource_type = self.resource_type(name)
        if resource_type in ("AWS::StepFunctions::StateMachine", "AWS::IAM::ManagedPolicy"):
            return self.arn(name)
        if resource_type == "AWS::SQS::Queue":
            return self._queue_url(name)
        return self.physical_name(name)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource_type = self.resource_type(logical_id)
        name = self.physical_name(logical_id)
        if attribute == "Arn":
            return self.arn(logical_id)
        attributes: Mapping[tuple[str, str], Callable[[], Any]] = {
            ("AWS::DynamoDB::Table", "StreamArn"): lambda: f"{self.arn(logical_id)}/stream/1970-01-01T00:00:00.000",
            ("AWS::S3::Bucket", "DomainName"): lambda: f"{name}.s3.amazonaws.com",
            ("AWS::S3::Bucket", "RegionalDomainName"): lambda: f"{name}.s3.{self.region}.amazonaws.com",
            ("AWS::S3::Bucket", "WebsiteURL"): lambda: f"http://{name}.s3-website-{self.region}.amazonaws.com",
            ("AWS::KMS::Key", "KeyId"): lambda: name,
            ("AWS::IAM::Role", "RoleId"): lambda: "AROA" + hashlib.sha256(name.encode()).hexdigest()[:17].upper(),
            ("AWS::StepFunctions::StateMachine", "Name"): lambda: name,
            ("AWS::Lambda::Function", "SnapStartResponse.ApplyOn"): lambda: "None",
            ("AWS::SQS::Queue", "QueueName"): lambda: name,
            ("AWS::SQS::Queue", "QueueUrl"): lambda: self._queue_url(logical_id),
        }
        getter = attributes.get((resource_type, attribute))
        if getter is None:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} ({resource_type}) is not supported locally")
        return getter()

    def _queue_url(self, logical_id: str) -> str:
        return f"https://sqs.{self.region}.amazonaws.com/{self.account_id}/{self.physical_name(logical_id)}"

    def _pseudo_parameter(self, name: str) -> Any:
        values: Mapping[str, Any] = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/"
            + str(uuid.uuid5(uuid.NAMESPACE_URL, self.stack_name)),
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        return values[name]

    def _parameter(self, name: str) -> Any:
        if name in self._parameter_values:
            return self._parameter_values[name]
        declaration = self.template["Parameters"][name]
        if "Default" not in declaration:
            raise TemplateError(f"parameter {name} has no value and no default")
        value = declaration["Default"]
        if str(declaration.get("Type", "")).startswith("List<") or declaration.get("Type") == "CommaDelimitedList":
            return [item.strip() for item in str(value).split(",")]
        return value

    # -- conditions ------------------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            try:
                expression = self.template["Conditions"][name]
            except KeyError:
                raise TemplateError(f"no condition {name!r}") from None
            self._conditions[name] = bool(self.resolve(expression))
        return self._conditions[name]

    # -- intrinsic functions ---------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function evaluated and ``AWS::NoValue`` entries removed."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            function = self._functions().get(key)
            if function is not None:
                return function(argument)
            if key.startswith("Fn::"):
                raise TemplateError(f"intrinsic function {key} is not supported locally")
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def resolved_properties(self, logical_id: str) -> dict[str, Any]:
        properties = self.resolve(self._resource(logical_id).get("Properties") or {})
        assert isinstance(properties, dict)
        return properties

    def _functions(self) -> Mapping[str, Callable[[Any], Any]]:
        return {
            "Ref": lambda name: self.ref(str(name)),
            "Fn::GetAtt": self._fn_get_att,
            "Fn::Join": self._fn_join,
            "Fn::Sub": self._fn_sub,
            "Fn::Select": self._fn_select,
            "Fn::Split": self._fn_split,
            "Fn::If": self._fn_if,
            "Fn::Equals": lambda args: self._list(args, 2, "Fn::Equals")[0] == self._list(args, 2, "Fn::Equals")[1],
            "Fn::And": lambda args: all(self._list(args, None, "Fn::And")),
            "Fn::Or": lambda args: any(self._list(args, None, "Fn::Or")),
            "Fn::Not": lambda args: not self._list(args, 1, "Fn::Not")[0],
            "Condition": lambda name: self.condition(str(name)),
            "Fn::FindInMap": self._fn_find_in_map,
            "Fn::Base64": lambda text: base64.b64encode(str(self.resolve(text)).encode()).decode(),
            "Fn::GetAZs": lambda _region: [f"{self.region}{zone}" for zone in "abc"],
        }

    def _list(self, arguments: Any, length: int | None, function: str) -> list[Any]:
        resolved = self.resolve(arguments)
        if not isinstance(resolved, list) or (length is not None and len(resolved) != length):
            raise TemplateError(f"{function} expects a list of {length or 'n'} arguments, got {arguments!r}")
        return resolved

    def _fn_get_att(self, arguments: Any) -> Any:
        if isinstance(arguments, str):
            logical_id, _, attribute = arguments.partition(".")
        else:
            logical_id, attribute = self._list(arguments, 2, "Fn::GetAtt")
        return self.get_att(str(logical_id), str(attribute))

    def _fn_join(self, arguments: Any) -> str:
        delimiter, items = self._list(arguments, 2, "Fn::Join")
        if not isinstance(items, list):
            raise TemplateError(f"Fn::Join expects a list of values, got {items!r}")
        return str(delimiter).join(str(item) for item in items)

    def _fn_select(self, arguments: Any) -> Any:
        index, items = self._list(arguments, 2, "Fn::Select")
        if not isinstance(items, list) or not 0 <= int(index) < len(items):
            raise TemplateError(f"Fn::Select index {index} out of range for {items!r}")
        return items[int(index)]

    def _fn_split(self, arguments: Any) -> list[str]:
        delimiter, text = self._list(arguments, 2, "Fn::Split")
        return str(text).split(str(delimiter))

    def _fn_if(self, arguments: Any) -> Any:
        if not isinstance(arguments, list) or len(arguments) != 3:
            raise TemplateError(f"Fn::If expects [condition, then, else], got {arguments!r}")
        condition, when_true, when_false = arguments
        return self.resolve(when_true if self.condition(str(condition)) else when_false)

    def _fn_find_in_map(self, arguments: Any) -> Any:
        map_name, top_key, second_key = self._list(arguments, 3, "Fn::FindInMap")
        try:
            return self.template["Mappings"][map_name][top_key][second_key]
        except KeyError:
            raise TemplateError(f"Fn::FindInMap {map_name}/{top_key}/{second_key} not found") from None

    def _fn_sub(self, arguments: Any) -> str:
        if isinstance(arguments, str):
            text, variables = arguments, {}
        elif isinstance(arguments, list) and len(arguments) == 2 and isinstance(arguments[0], str):
            text, variables = arguments[0], self.resolve(arguments[1])
        else:
            raise TemplateError(f"Fn::Sub expects a string or [string, variables], got {arguments!r}")

        def substitute(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"  # ${!Literal} stays literal, minus the "!"
            if expression in variables:
                return str(variables[expression])
            if "." in expression and expression.split(".", 1)[0] in self.resources:
                logical_id, attribute = expression.split(".", 1)
                return str(self.get_att(logical_id, attribute))
            return str(self.ref(expression))

        return _SUB_VARIABLE.sub(substitute, text)

    # -- helpers for specific resource types -----------------------------------------------------------
    def schedule_group_name(self, logical_id: str) -> str:
        """The ``GroupName`` of an ``AWS::Scheduler::Schedule``; without one, the account's ``default`` group."""
        group = (self._resource(logical_id).get("Properties") or {}).get("GroupName")
        return str(self.resolve(group)) if group is not None else "default"

    def state_machine_definition(self, logical_id: str) -> dict[str, Any]:
        """The ASL definition (``DefinitionString`` or ``Definition``) with ``DefinitionSubstitutions``."""
        properties = self.resolved_properties(logical_id)
        definition = properties.get("DefinitionString", properties.get("Definition"))
        if definition is None:
            raise TemplateError(f"state machine {logical_id} has no inline definition (S3 definitions unsupported)")
        text = definition if isinstance(definition, str) else json.dumps(definition)
        for key, value in (properties.get("DefinitionSubstitutions") or {}).items():
            text = text.replace("${" + key + "}", str(value))
        parsed = json.loads(text)
        assert isinstance(parsed, dict)
        return parsed
