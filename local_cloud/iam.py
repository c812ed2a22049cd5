"""IAM in the local cloud: who makes a call, and whether the template's policies let that role make it.

**Identity** (:mod:`local_cloud.identity`): a call carries the role that makes it in its access key id.
:class:`IamEnforcer` holds to the policies only calls whose key names a role of the template; any other key
(``local`` of the demo and the tests, the Voice ID emulator's) is a user's and is not restricted.

**Policies.** :func:`role_policies` collects, per role the template defines, the statements of the
``AWS::IAM::Policy`` and ``AWS::IAM::ManagedPolicy`` resources attached to it and of the role's inline
``Policies``, resolved with :class:`~local_cloud.template.StackTemplate`. A resource that stands for another
locally (the configured KMS key ARN and the local key moto created, ``Deployment.kms_keys``) is substituted
in ``Resource``. What the evaluator could not judge faithfully stops the load (:class:`IamPolicyError`)
instead of silently allowing or denying: ``NotResource``, ``Principal``, policy variables, and condition
operators other than ``StringEquals`` and ``StringLike``.

**Evaluation** is moto's own (``moto.iam.access_control.IAMPolicy.is_action_permitted``, moto 5.2.5), one
statement at a time, combined as AWS does: an explicit Deny wins, else any Allow, else the implicit deny.
Statement by statement, because moto's own combination has quirks this adapter must not inherit:

* moto turns ``*`` into ``.*`` and hands the rest of a pattern to ``re`` unescaped, so a ``.`` in an ARN
  matched any character and ``?`` was a regex quantifier: every pattern is escaped first
  (:func:`_moto_pattern`), and actions are compared lower-cased, as IAM compares them.
* A statement whose condition fails answers DENIED, even an Allow, and ``IAMPolicy`` stops at the first
  DENIED: so the match (Action and Resource, conditions removed) and the condition (a probe statement that
  only carries it) are asked separately, and a statement applies when both hold.
* moto's ``StringEquals`` passes when the request lacks the key, and aligns values by position: so a
  condition applies only when every key it names is in the request's context (AWS: an absent key fails
  ``StringEquals``), and then moto compares.
* Only ``StringEquals`` is evaluated by moto (any other operator passes). ``StringLike`` (``*`` and ``?``
  wildcards; a key absent from the request fails it, as on AWS) is evaluated here; others stop the load.

Condition keys are compared case-insensitively (lower-cased on both sides), as IAM does.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from moto.iam.access_control import IAMPolicy, PermissionResult

from local_cloud.identity import RoleSession, role_session
from local_cloud.template import StackTemplate, TemplateError

logger = logging.getLogger(__name__)

# moto 5.2.5's condition evaluation (moto/iam/policy_conditions.py) knows StringEquals only; StringLike is
# evaluated by this adapter (Statement.applies).
SUPPORTED_CONDITION_OPERATORS = frozenset({"StringEquals", "StringLike"})
_CONDITION_PROBE_ACTION = "local-cloud:conditionprobe"


class IamPolicyError(TemplateError):
    """A policy statement the local evaluator cannot judge faithfully; the message names it."""


# -- decisions -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    """The outcome for one (action, resource): allowed, or why not, with the statement that decided."""

    allowed: bool
    explicit_deny: bool = False
    statement: str = ""

    def reason(self, action: str) -> str:
        """The end of AWS's AccessDenied message for this decision."""
        if self.explicit_deny:
            return "with an explicit deny in an identity-based policy"
        return f"because no identity-based policy allows the {action} action"


def denial_message(session: RoleSession, action: str, resource: str, decision: Decision) -> str:
    """AWS's wording: ``User: <assumed-role ARN> is not authorized to perform: <action> on resource: <arn> ...``."""
    return (
        f"User: {session.assumed_role_arn} is not authorized to perform: {action} on resource: {resource} "
        f"{decision.reason(action)}"
    )


# -- statements ----------------------------------------------------------------------------------------------
def _moto_pattern(pattern: str) -> str:
    """``pattern`` as moto's matcher must receive it to match as IAM does.

    moto replaces ``*`` with ``.*`` and gives the rest to ``re`` as is; so every other character is escaped,
    and IAM's one-character wildcard ``?`` becomes ``.``. (``re.escape`` never produces a bare ``*``.)
    """
    return "".join("*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class PolicyStatement:
    """One resolved statement of an identity policy, ready for moto's evaluator.

    ``source`` names it for people (``<policy logical id>[<index>]`` and its Sid); ``statement`` is the
    resolved statement as written in the template (after local resource substitution).
    """

    source: str
    statement: Mapping[str, Any]
    effect: Literal["Allow", "Deny"] = field(init=False)
    _match: IAMPolicy = field(init=False, repr=False, compare=False)
    _condition: IAMPolicy | None = field(init=False, repr=False, compare=False)
    _condition_keys: frozenset[str] = field(init=False, repr=False, compare=False)
    _like: dict[str, list[re.Pattern[str]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        statement = self.statement
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise IamPolicyError(f"{self.source}: Effect must be Allow or Deny, not {effect!r}")
        for unsupported in ("NotResource", "Principal", "NotPrincipal"):
            if unsupported in statement:
                raise IamPolicyError(
                    f"{self.source}: {unsupported} is not evaluated by the local cloud's IAM (moto's evaluator "
                    "ignores it); set LOCAL_CLOUD_IAM=off to run without enforcement"
                )
        if ("Action" in statement) == ("NotAction" in statement):
            raise IamPolicyError(f"{self.source}: a statement needs exactly one of Action and NotAction")
        if "Resource" not in statement:
            raise IamPolicyError(f"{self.source}: an identity-policy statement needs a Resource")
        action_key = "Action" if "Action" in statement else "NotAction"
        actions = [str(action).lower() for action in _as_list(statement[action_key])]
        resources = [str(resource) for resource in _as_list(statement["Resource"])]
        for resource in resources:
            if "${" in resource:
                raise IamPolicyError(f"{self.source}: policy variables ({resource}) are not evaluated locally")
        match = {
            "Effect": effect,
            action_key: [_moto_pattern(action) for action in actions],
            "Resource": [_moto_pattern(resource) for resource in resources],
        }
        condition = self._lower_cased_condition(statement.get("Condition") or {})
        like = condition.pop("StringLike", {})
        object.__setattr__(
            self, "_like", {key: [_like_pattern(value) for value in values] for key, values in like.items()}
        )
        object.__setattr__(self, "effect", effect)
        object.__setattr__(self, "_match", _policy(match))
        object.__setattr__(
            self,
            "_condition",
            _policy({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}) if condition else None,
        )
        object.__setattr__(
            self, "_condition_keys", frozenset([*(key for keys in condition.values() for key in keys), *like])
        )

    def _lower_cased_condition(self, condition: Any) -> dict[str, dict[str, list[str]]]:
        if not isinstance(condition, Mapping):
            raise IamPolicyError(f"{self.source}: Condition must be an object")
        lowered: dict[str, dict[str, list[str]]] = {}
        for operator, keys in condition.items():
            if operator not in SUPPORTED_CONDITION_OPERATORS:
                raise IamPolicyError(
                    f"{self.source}: condition operator {operator} is not evaluated by the local cloud's IAM "
                    f"(moto's evaluator knows {', '.join(sorted(SUPPORTED_CONDITION_OPERATORS))} only and lets "
                    "any other pass); set LOCAL_CLOUD_IAM=off to run without enforcement"
                )
            if not isinstance(keys, Mapping):
                raise IamPolicyError(f"{self.source}: condition {operator} must map keys to values")
            lowered[operator] = {
                str(key).lower(): [_condition_value(value) for value in _as_list(values)]
                for key, values in keys.items()
            }
        return lowered

    def applies(self, action: str, resource: str, context: Mapping[str, str]) -> bool:
        """Whether this statement speaks for (action, resource) in this request context.

        ``context`` has lower-cased condition keys.
        """
        matched = self._match.is_action_permitted(action.lower(), resource)
        if matched is not (PermissionResult.PERMITTED if self.effect == "Allow" else PermissionResult.DENIED):
            return False
        if self._condition is None and not self._like:
            return True
        if not self._condition_keys <= context.keys():
            return False  # moto would let a StringEquals on an absent key pass; AWS does not
        for key, patterns in self._like.items():
            if not any(pattern.fullmatch(context[key]) for pattern in patterns):
                return False
        if self._condition is None:
            return True
        verdict = self._condition.is_action_permitted(
            _CONDITION_PROBE_ACTION, "*", incoming_condition_values=dict(context)
        )
        return bool(verdict is PermissionResult.PERMITTED)


def _like_pattern(value: str) -> re.Pattern[str]:
    """StringLike's pattern: `*` any run of characters, `?` one character, all else literal (case-sensitive,
    as IAM compares condition values)."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value), re.DOTALL)


def _condition_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _policy(statement: Mapping[str, Any]) -> IAMPolicy:
    return IAMPolicy(json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


@dataclass(frozen=True)
class RolePolicies:
    """Every identity-policy statement attached to one role of the template."""

    role_arn: str
    logical_id: str
    statements: tuple[PolicyStatement, ...] = ()
    unevaluated_policy_arns: tuple[str, ...] = ()
    """Managed policies attached by ARN that the template does not define (AWS managed ones): they have no
    local copy and grant nothing here."""

    def evaluate(self, action: str, resource: str, context: Mapping[str, str] | None = None) -> Decision:
        """AWS's order for one identity: an explicit Deny wins, else any Allow, else the implicit deny."""
        lowered = {key.lower(): value for key, value in (context or {}).items()}
        allowed_by = ""
        for statement in self.statements:
            if not statement.applies(action, resource, lowered):
                continue
            if statement.effect == "Deny":
                return Decision(allowed=False, explicit_deny=True, statement=statement.source)
            allowed_by = allowed_by or statement.source
        return Decision(allowed=bool(allowed_by), statement=allowed_by)


# -- the template's roles and their policies --------------------------------------------------------------------
def _substitute(value: Any, aliases: Mapping[str, str]) -> Any:
    if isinstance(value, list):
        return [aliases.get(item, item) if isinstance(item, str) else item for item in value]
    return aliases.get(value, value) if isinstance(value, str) else value


def _statements(document: Any, source: str, aliases: Mapping[str, str]) -> list[PolicyStatement]:
    if isinstance(document, str):
        document = json.loads(document)
    if not isinstance(document, Mapping):
        raise IamPolicyError(f"{source}: the policy document is not an object")
    found = []
    for index, statement in enumerate(_as_list(document.get("Statement") or [])):
        if not isinstance(statement, Mapping):
            raise IamPolicyError(f"{source}[{index}]: a statement must be an object")
        local = dict(statement)
        if "Resource" in local:
            local["Resource"] = _substitute(local["Resource"], aliases)
        sid = f" ({local['Sid']})" if local.get("Sid") else ""
        found.append(PolicyStatement(f"{source}[{index}]{sid}", local))
    return found


def role_policies(
    stack: StackTemplate, *, resource_aliases: Mapping[str, str] | None = None
) -> dict[str, RolePolicies]:
    """Per role ARN of every ``AWS::IAM::Role`` the stack creates, its identity-policy statements.

    Sources: the role's inline ``Policies``; ``AWS::IAM::Policy`` and ``AWS::IAM::ManagedPolicy`` resources
    naming it in ``Roles``; managed policies of the template in its ``ManagedPolicyArns``. ``resource_aliases``
    maps a resource ARN as the template writes it to the ARN it has locally.
    """
    aliases = dict(resource_aliases or {})
    roles = {
        logical_id: stack.arn(logical_id)
        for logical_id in stack.resource_ids("AWS::IAM::Role")
        if stack.is_created(logical_id)
    }
    by_name = {stack.physical_name(logical_id): arn for logical_id, arn in roles.items()}
    statements: dict[str, list[PolicyStatement]] = {arn: [] for arn in roles.values()}
    unevaluated: dict[str, list[str]] = {arn: [] for arn in roles.values()}
    managed = {
        stack.arn(logical_id): logical_id
        for logical_id in stack.resource_ids("AWS::IAM::ManagedPolicy")
        if stack.is_created(logical_id)
    }

    for logical_id, role_arn in roles.items():
        properties = stack.resolved_properties(logical_id)
        for policy in properties.get("Policies") or []:
            source = f"{logical_id}/{policy.get('PolicyName', '?')}"
            statements[role_arn] += _statements(policy.get("PolicyDocument"), source, aliases)
        for policy_arn in properties.get("ManagedPolicyArns") or []:
            if policy_arn in managed:
                document = stack.resolved_properties(managed[policy_arn]).get("PolicyDocument")
                statements[role_arn] += _statements(document, managed[policy_arn], aliases)
            else:
                unevaluated[role_arn].append(str(policy_arn))

    for policy_type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for logical_id in stack.resource_ids(policy_type):
            if not stack.is_created(logical_id):
                continue
            properties = stack.resolved_properties(logical_id)
            attached = [by_name[name] for name in properties.get("Roles") or [] if name in by_name]
            if not attached:
                continue  # users, groups or roles of other stacks: not calls this stack makes
            # A managed policy also listed in a role's ManagedPolicyArns is then counted twice for it, which
            # changes no decision.
            document_statements = _statements(properties.get("PolicyDocument"), logical_id, aliases)
            for role_arn in attached:
                statements[role_arn] += document_statements

    return {
        arn: RolePolicies(
            role_arn=arn,
            logical_id=_logical_id(roles, arn),
            statements=tuple(statements[arn]),
            unevaluated_policy_arns=tuple(unevaluated[arn]),
        )
        for arn in roles.values()
    }


def _logical_id(roles: Mapping[str, str], arn: str) -> str:
    return next(logical_id for logical_id, role_arn in roles.items() if role_arn == arn)


# -- the gateway's view ------------------------------------------------------------------------------------------
class IamEnforcer:
    """The policies the gateway evaluates, swappable at run time (tests reload them from a changed template).

    With no policies loaded (the default, and ``LOCAL_CLOUD_IAM=off``) nothing is restricted. Once loaded, a
    call is restricted when its access key names a role of the template; a role the template does not
    define (a state machine a test created with a made-up role ARN) is not the stack's, and its calls are
    not restricted, like a user's.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._roles: dict[str, RolePolicies] = {}
        self._enforced = False
        # Roles the local cloud itself defines, beside the template's (the S3 Batch Operations job role):
        # kept when a template is (re)loaded, enforced while any policies are.
        self._defined: dict[str, RolePolicies] = {}

    @property
    def enforced(self) -> bool:
        with self._lock:
            return self._enforced

    @property
    def roles(self) -> dict[str, RolePolicies]:
        with self._lock:
            return dict(self._roles)

    def load(self, stack: StackTemplate, *, resource_aliases: Mapping[str, str] | None = None) -> None:
        """Evaluate from now on the policies of ``stack`` (everything is checked before anything changes)."""
        roles = role_policies(stack, resource_aliases=resource_aliases)
        for policies in roles.values():
            for arn in policies.unevaluated_policy_arns:
                logger.warning(
                    "Managed policy %s attached to %s has no local copy; it grants nothing locally",
                    arn,
                    policies.logical_id,
                )
        self.replace(roles.values())

    def replace(self, roles: Iterable[RolePolicies]) -> None:
        with self._lock:
            self._roles = {**self._defined, **{policies.role_arn: policies for policies in roles}}
            self._enforced = True

    def define_role(self, role_arn: str, name: str, document: Mapping[str, Any]) -> None:
        """A role outside the template, held to this identity policy from now on (replacing its earlier one),
        and across template reloads; IamPolicyError for a malformed document."""
        policies = RolePolicies(role_arn=role_arn, logical_id=name, statements=tuple(_statements(document, name, {})))
        with self._lock:
            self._defined[role_arn] = policies
            if self._enforced:
                self._roles[role_arn] = policies

    def clear(self) -> None:
        """Stop enforcing: every call is accepted again."""
        with self._lock:
            self._roles = {}
            self._enforced = False

    def restricted_session(self, access_key_id: str | None) -> RoleSession | None:
        """The role session whose policies a call signed with ``access_key_id`` is held to, if any."""
        if not access_key_id:
            return None
        session = role_session(access_key_id)
        if session is None:
            return None
        with self._lock:
            return session if self._enforced and session.role_arn in self._roles else None

    def evaluate(self, role_arn: str, action: str, resource: str, context: Mapping[str, str] | None = None) -> Decision:
        """The decision for one (action, resource) of a role; a role without policies is denied everything."""
        with self._lock:
            policies = self._roles.get(role_arn)
        if policies is None:
            return Decision(allowed=False)
        return policies.evaluate(action, resource, context)
