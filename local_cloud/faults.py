"""Faults on demand in every service the gateway routes: the local cloud's answer to "what if AWS fails?".

A rule says which calls fail (service, optionally one operation and one role's calls), how (an error code
and HTTP status, sent in the service's own wire format so botocore raises what it raises on AWS; or
``ConnectionReset``: the connection is closed without an answer), how often (``fraction``), for how long
(``seconds``), and how slowly (``latencySeconds`` before the answer; with no ``error`` the call then goes on
to the service, late). Deleting a rule releases the calls it is holding at once, so a test can hold a call
for as long as it needs to force an interleaving. The gateway asks :meth:`FaultInjector.decide` about each
call after IAM has allowed it.

Admin API on the gateway (``docs/faults.md``)::

    POST   /_local/faults        a rule (JSON, below) -> 201 {"id": ...}
    GET    /_local/faults        -> {"rules": [rule + {"id", "injected", "remainingSeconds"}]}
    DELETE /_local/faults/<id>   -> 204; DELETE /_local/faults removes every rule

    {"service": "dynamodb", "operation": "BatchWriteItem", "error": "ProvisionedThroughputExceededException",
     "status": 400, "fraction": 1.0, "seconds": 60, "latencySeconds": 0, "role": "*"}

``role``: absent, every caller's calls; ``"*"``, the calls of any role (the stack's functions and state
machine, not the test's own clients or the Voice ID emulator's); otherwise one role's name or ARN.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from local_cloud.iam_requests import AwsRequest, ServiceError, service_error_response
from local_cloud.identity import role_session

FAULTS_PATH = "/_local/faults"
ANY_ROLE = "*"
CONNECTION_RESET = "ConnectionReset"
"""The one error name that is not AWS's: the gateway closes the connection without answering."""

# The services a rule may name: the IAM prefixes the gateway routes (AwsRequest.service).
SERVICES = frozenset({"dynamodb", "s3", "kms", "states", "lambda", "events", "voiceid", "bedrock", "sqs", "sts"})
# What each service answers for a 500 when the rule names no error (their models' internal errors).
_INTERNAL_ERRORS: Mapping[str, str] = {
    "dynamodb": "InternalServerError",
    "s3": "InternalError",
    "kms": "KMSInternalException",
    "states": "InternalFailure",
    "lambda": "ServiceException",
    "events": "InternalException",
    "voiceid": "InternalServerException",
    "bedrock": "InternalServerException",
}
MAX_LATENCY_SECONDS = 300.0
_RULE_MEMBERS = frozenset({"service", "operation", "error", "status", "fraction", "seconds", "latencySeconds", "role"})


class FaultRuleError(ValueError):
    """A rule the admin API refuses; the message names the member and what it takes."""


@dataclass(frozen=True)
class FaultRule:
    service: str
    operation: str | None
    error: str | None
    status: int
    fraction: float
    seconds: float | None
    latency_seconds: float
    role: str | None

    @classmethod
    def parse(cls, raw: object) -> FaultRule:
        if not isinstance(raw, dict):
            raise FaultRuleError("a fault rule is a JSON object")
        unknown = set(raw) - _RULE_MEMBERS
        if unknown:
            raise FaultRuleError(f"unknown member(s) {sorted(unknown)}")
        service = raw.get("service")
        if service not in SERVICES:
            raise FaultRuleError(f"service must be one of {sorted(SERVICES)}, got {service!r}")
        operation = _optional_text(raw, "operation")
        error = _optional_text(raw, "error")
        status = raw.get("status", 500)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise FaultRuleError(f"status must be an HTTP error status (400-599), got {status!r}")
        fraction = _number(raw, "fraction", 1.0, 0.0, 1.0)
        seconds = None if raw.get("seconds") is None else _number(raw, "seconds", 0.0, 0.0, float("inf"))
        latency = _number(raw, "latencySeconds", 0.0, 0.0, MAX_LATENCY_SECONDS)
        if error is None and "status" in raw:
            error = _INTERNAL_ERRORS.get(service) if status >= 500 else None
            if error is None:
                raise FaultRuleError(f"error is required for status {status} of {service}")
        if error is None and latency == 0:
            raise FaultRuleError("a rule needs an error, a status or latencySeconds: otherwise it does nothing")
        return cls(service, operation, error, status, fraction, seconds, latency, _optional_text(raw, "role"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "operation": self.operation,
            "error": self.error,
            "status": self.status,
            "fraction": self.fraction,
            "seconds": self.seconds,
            "latencySeconds": self.latency_seconds,
            "role": self.role,
        }

    def matches(self, service: str, operation: str | None, role_arn: str | None) -> bool:
        if service != self.service:
            return False
        if self.operation is not None and operation != self.operation:
            return False
        if self.role is None:
            return True
        if role_arn is None:
            return False
        return self.role in (ANY_ROLE, role_arn, role_arn.rsplit("/", 1)[-1])


def _optional_text(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise FaultRuleError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _number(raw: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise FaultRuleError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


@dataclass
class _ActiveRule:
    rule: FaultRule
    expires_at: float | None
    injected: int = 0


@dataclass(frozen=True)
class Fault:
    """What the gateway does to one call: wait ``latency_seconds``, then answer ``error`` (None: forward the
    call), or close the connection (``reset``)."""

    rule_id: str
    latency_seconds: float
    error: ServiceError | None = None
    reset: bool = False


@dataclass
class FaultInjector:
    """The rules in force; thread-safe. ``clock`` is monotonic seconds; ``rng`` picks the failing fraction."""

    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    _rules: dict[str, _ActiveRule] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, rule: FaultRule) -> str:
        rule_id = uuid.uuid4().hex[:12]
        expires = None if rule.seconds is None else self.clock() + rule.seconds
        with self._lock:
            self._rules[rule_id] = _ActiveRule(rule, expires)
        return rule_id

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            return self._rules.pop(rule_id, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        now = self.clock()
        with self._lock:
            return [
                {
                    "id": rule_id,
                    **active.rule.to_dict(),
                    "injected": active.injected,
                    "remainingSeconds": None if active.expires_at is None else max(0.0, active.expires_at - now),
                }
                for rule_id, active in self._rules.items()
            ]

    def decide(self, request: AwsRequest) -> Fault | None:
        """The fault for this call, if a rule in force picks it (the first matching rule decides)."""
        with self._lock:
            if not self._rules:
                return None
        service = request.service
        operation = operation_name(request)
        session = role_session(request.access_key_id or "")
        role_arn = session.role_arn if session else None
        picked = self._pick(service, operation, role_arn)
        if picked is None:
            return None
        rule_id, rule = picked
        if rule.error is None:
            return Fault(rule_id, rule.latency_seconds)
        if rule.error == CONNECTION_RESET:
            return Fault(rule_id, rule.latency_seconds, reset=True)
        message = f"Injected by the local cloud's fault rule {rule_id} ({FAULTS_PATH})"
        return Fault(rule_id, rule.latency_seconds, service_error_response(request, rule.status, rule.error, message))

    def delay(self, fault: Fault, sleep: Callable[[float], None] = time.sleep) -> None:
        """Wait the fault's latency, or until its rule is deleted (a test releases calls it holds)."""
        end = self.clock() + fault.latency_seconds
        while (left := end - self.clock()) > 0:
            with self._lock:
                if fault.rule_id not in self._rules:
                    return
            sleep(min(left, 0.05))

    def _pick(self, service: str, operation: str | None, role_arn: str | None) -> tuple[str, FaultRule] | None:
        now = self.clock()
        with self._lock:
            for rule_id, active in self._rules.items():
                in_force = active.expires_at is None or now < active.expires_at
                if not in_force or not active.rule.matches(service, operation, role_arn):
                    continue
                if active.rule.fraction < 1.0 and self.rng.random() >= active.rule.fraction:
                    continue
                active.injected += 1
                return rule_id, active.rule
        return None

    # -- the admin API -------------------------------------------------------------------------------------
    def admin(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any] | None]:
        """Answer a request to ``/_local/faults[/<id>]``: (HTTP status, JSON body or None)."""
        rest = path[len(FAULTS_PATH) :].strip("/")
        if method == "GET" and not rest:
            return 200, {"rules": self.rules()}
        if method == "POST" and not rest:
            return self._admin_add(body)
        if method == "DELETE":
            return self._admin_delete(urllib.parse.unquote(rest))
        return 405, {"message": f"{method} {path} is not part of the fault API (GET, POST, DELETE {FAULTS_PATH})"}

    def _admin_add(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            rule = FaultRule.parse(json.loads(body or b"null"))
        except (ValueError, FaultRuleError) as error:
            return 400, {"message": f"invalid fault rule: {error}"}
        return 201, {"id": self.add(rule)}

    def _admin_delete(self, rule_id: str) -> tuple[int, dict[str, Any] | None]:
        if not rule_id:
            self.clear()
            return 204, None
        if self.remove(rule_id):
            return 204, None
        return 404, {"message": f"no fault rule {rule_id!r}"}


# -- which operation a call is -----------------------------------------------------------------------------------
_NONE: frozenset[str] = frozenset()
# (method, sub-resources) -> operation, for calls on an object and on a bucket.
_S3_OBJECT_OPERATIONS: Mapping[tuple[str, frozenset[str]], str] = {
    ("GET", _NONE): "GetObject",
    ("HEAD", _NONE): "HeadObject",
    ("PUT", _NONE): "PutObject",
    ("DELETE", _NONE): "DeleteObject",
    ("POST", frozenset({"uploads"})): "CreateMultipartUpload",
    ("PUT", frozenset({"partNumber", "uploadId"})): "UploadPart",
    ("POST", frozenset({"uploadId"})): "CompleteMultipartUpload",
}
_S3_LIST_PARAMETERS = frozenset(
    {
        "list-type",
        "prefix",
        "delimiter",
        "max-keys",
        "marker",
        "continuation-token",
        "start-after",
        "encoding-type",
        "fetch-owner",
    }
)
_S3_BUCKET_OPERATIONS: Mapping[tuple[str, frozenset[str]], str] = {
    ("HEAD", _NONE): "HeadBucket",
    ("PUT", _NONE): "CreateBucket",
    ("DELETE", _NONE): "DeleteBucket",
    ("POST", frozenset({"delete"})): "DeleteObjects",
}


def operation_name(request: AwsRequest) -> str | None:
    """The API operation of a call, as botocore names it, where the gateway can tell it cheaply: the
    X-Amz-Target of JSON protocols, Lambda's Invoke, and S3's everyday object and bucket calls."""
    if request.target:
        return request.target.rsplit(".", 1)[-1]
    service = request.service
    if service == "lambda":
        return "Invoke" if request.path.endswith("/invocations") else None
    if service == "s3":
        return _s3_operation(request)
    return None


def _s3_operation(request: AwsRequest) -> str | None:
    parts = request.path.lstrip("/").split("/", 1)
    has_key = len(parts) == 2 and parts[1] != ""
    subresources = frozenset(request.query) - {"x-id", "versionId"}
    if has_key and request.method == "PUT" and "x-amz-copy-source" in request.headers:
        return "CopyObject"
    if has_key:
        return _S3_OBJECT_OPERATIONS.get((request.method, subresources))
    if request.method == "GET" and not subresources - _S3_LIST_PARAMETERS:
        return "ListObjectsV2" if request.query.get("list-type") == ["2"] else "ListObjects"
    return _S3_BUCKET_OPERATIONS.get((request.method, subresources))


class FaultsAdmin:
    """The admin API over HTTP, as a test or a developer drives it (``LocalCloud.faults_admin``)."""

    def __init__(self, endpoint_url: str, timeout: float = 10.0) -> None:
        self._url = endpoint_url.rstrip("/") + FAULTS_PATH
        self._timeout = timeout

    def _call(self, method: str, path: str = "", rule: Mapping[str, Any] | None = None) -> Any:
        data = None if rule is None else json.dumps(rule).encode()
        request = urllib.request.Request(  # noqa: S310 - the local cloud's own http://127.0.0.1 endpoint
            self._url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310 - as above
                payload = response.read()
        except urllib.error.HTTPError as error:
            raise FaultRuleError(error.read().decode(errors="replace")) from None
        return json.loads(payload) if payload else None

    def add(self, **rule: Any) -> str:
        """Put a rule in force (members as in the module docstring, in their JSON spelling); returns its id."""
        rule_id: str = self._call("POST", rule=rule)["id"]
        return rule_id

    def remove(self, rule_id: str) -> None:
        self._call("DELETE", "/" + urllib.parse.quote(rule_id, safe=""))

    def rules(self) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = self._call("GET")["rules"]
        return rules

    def rule(self, rule_id: str) -> dict[str, Any]:
        (found,) = [rule for rule in self.rules() if rule["id"] == rule_id]
        return found

    def clear(self) -> None:
        self._call("DELETE")
