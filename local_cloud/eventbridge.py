"""A local EventBridge: rules from ``AWS::Events::Rule`` resources, PutEvents, delivery to targets.

Delivery is synchronous inside PutEvents (deterministic for tests; AWS delivers asynchronously and
retries). Step Functions targets get StartExecution with an explicit execution name derived from the
event id and target id (moto requires a name). Lambda targets are invoked asynchronously (``Event``),
as EventBridge does. Every delivery attempt is kept in :attr:`EventRouter.deliveries`, and every event
put on a bus in :attr:`EventRouter.received`.

Unlike AWS, PutEvents accepts ``aws.*`` sources, so emulators (Voice ID) can publish service events.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from local_cloud.event_input import is_missing, predefined_variables, resolve_path, transformed_input
from local_cloud.event_patterns import InvalidEventPatternError, matches_pattern, validate_pattern

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

    from local_cloud.lambda_runtime import LambdaRuntime

_log = logging.getLogger("local_cloud.eventbridge")
_MAX_ENTRIES = 10
RECEIVED_EVENTS_KEPT = 10_000
_EXECUTION_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class InputTransformer:
    input_paths_map: dict[str, str]
    input_template: str


@dataclass(frozen=True)
class EventTarget:
    id: str
    arn: str
    role_arn: str | None = None
    input: str | None = None
    input_path: str | None = None
    input_transformer: InputTransformer | None = None

    @classmethod
    def from_cloudformation(cls, properties: Mapping[str, Any]) -> EventTarget:
        """From a resolved ``Targets`` entry of ``AWS::Events::Rule``."""
        transformer = properties.get("InputTransformer")
        return cls(
            id=str(properties["Id"]),
            arn=str(properties["Arn"]),
            role_arn=properties.get("RoleArn"),
            input=properties.get("Input"),
            input_path=properties.get("InputPath"),
            input_transformer=InputTransformer(
                input_paths_map=dict(transformer.get("InputPathsMap") or {}),
                input_template=str(transformer["InputTemplate"]),
            )
            if transformer
            else None,
        )


@dataclass(frozen=True)
class EventRule:
    name: str
    arn: str
    event_pattern: dict[str, Any] | None
    targets: tuple[EventTarget, ...]
    state: str = "ENABLED"
    event_bus_name: str = "default"

    @classmethod
    def from_cloudformation(
        cls, name: str, properties: Mapping[str, Any], *, region: str, account_id: str
    ) -> EventRule:
        """From the resolved properties of an ``AWS::Events::Rule`` whose physical name is ``name``."""
        if properties.get("ScheduleExpression"):
            raise InvalidEventPatternError(f"rule {name}: scheduled rules are not supported by the local router")
        pattern = properties.get("EventPattern")
        if isinstance(pattern, str):  # CloudFormation accepts the pattern as JSON text too
            pattern = json.loads(pattern)
        bus = _bus_name(properties.get("EventBusName"))
        rule_path = name if bus == "default" else f"{bus}/{name}"
        rule = cls(
            name=name,
            arn=f"arn:aws:events:{region}:{account_id}:rule/{rule_path}",
            event_pattern=pattern,
            targets=tuple(EventTarget.from_cloudformation(t) for t in properties.get("Targets") or []),
            state=str(properties.get("State") or "ENABLED"),
            event_bus_name=bus,
        )
        if pattern is not None:
            validate_pattern(pattern)  # unsupported operators fail at load time, not on some later event
        return rule


def _bus_name(name_or_arn: str | None) -> str:
    if not name_or_arn:
        return "default"
    return name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn


@dataclass(frozen=True)
class Delivery:
    """One attempt to hand an event to a target; ``result`` is e.g. the execution ARN or the error."""

    event_id: str
    rule_name: str
    target_id: str
    target_arn: str
    input: str
    ok: bool
    result: str


# (target, input text, event envelope) -> a short result description (e.g. execution ARN); raise on failure
TargetDispatcher = Callable[[EventTarget, str, Mapping[str, Any]], str]


def execution_name(event_id: str, target_id: str) -> str:
    """A StartExecution name that is unique per (event, target) and valid (<= 80 chars, [A-Za-z0-9_-])."""
    return _EXECUTION_NAME_UNSAFE.sub("-", f"{event_id}_{target_id}")[:80]


class StepFunctionsDispatcher:
    """Delivers to ``arn:aws:states:...:stateMachine:...`` targets with StartExecution."""

    def __init__(self, client: SFNClient) -> None:
        self._client = client

    def __call__(self, target: EventTarget, input_text: str, event: Mapping[str, Any]) -> str:
        response = self._client.start_execution(
            stateMachineArn=target.arn, name=execution_name(str(event["id"]), target.id), input=input_text
        )
        return response["executionArn"]


class LambdaDispatcher:
    """Delivers to Lambda targets as an asynchronous invocation (the result goes to the logs)."""

    def __init__(self, runtime: LambdaRuntime) -> None:
        self._runtime = runtime

    def __call__(self, target: EventTarget, input_text: str, event: Mapping[str, Any]) -> str:
        self._runtime.get_config(target.arn)  # unknown function: fail the delivery now
        threading.Thread(
            target=self._runtime.invoke,
            args=(target.arn, input_text.encode()),
            name="event-lambda",
            daemon=True,
        ).start()
        return "invoked asynchronously"


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_time(value: Any) -> str:
    """PutEvents' Time: epoch seconds in the JSON protocol; an ISO string is accepted too."""
    if value is None:
        return _now_iso()
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


@dataclass
class EventRouter:
    """Routes events on the buses of one account/region to the targets of matching rules.

    ``dispatchers`` maps the service part of a target ARN (``states``, ``lambda``) to a dispatcher.
    """

    region: str
    account_id: str
    rules: list[EventRule] = field(default_factory=list)
    dispatchers: dict[str, TargetDispatcher] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    received: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECEIVED_EVENTS_KEPT))
    """Every event put on a bus, matched by a rule or not (the latest RECEIVED_EVENTS_KEPT), so tests and
    tools can see what the stack announced."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def events_received(self, *, source: str | None = None, detail_type: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            events = list(self.received)
        return [
            event
            for event in events
            if (source is None or event["source"] == source)
            and (detail_type is None or event["detail-type"] == detail_type)
        ]

    def add_rules(self, rules: Iterable[EventRule]) -> None:
        with self._lock:
            self.rules.extend(rules)

    def delivery_log(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    # -- API -------------------------------------------------------------------------------------------
    def put_events(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The PutEvents API: ``{"Entries": [...]}`` in, ``{"FailedEntryCount", "Entries"}`` out."""
        entries = request.get("Entries") or []
        if not 1 <= len(entries) <= _MAX_ENTRIES:
            raise ValueError(f"PutEvents takes 1 to {_MAX_ENTRIES} entries, got {len(entries)}")
        results: list[dict[str, str]] = []
        for entry in entries:
            try:
                event = self.envelope(entry)
            except ValueError as error:
                results.append({"ErrorCode": "InvalidArgument", "ErrorMessage": str(error)})
                continue
            self.publish(event, event_bus_name=_bus_name(entry.get("EventBusName")))
            results.append({"EventId": event["id"]})
        failed = sum(1 for result in results if "ErrorCode" in result)
        return {"FailedEntryCount": failed, "Entries": results}

    def envelope(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """The event EventBridge builds from one PutEvents entry."""
        for required in ("Source", "DetailType", "Detail"):
            if not entry.get(required):
                raise ValueError(f"Parameter {required} is not valid. Reason: {required} is a required argument.")
        try:
            detail = json.loads(entry["Detail"])
        except ValueError:
            raise ValueError("Detail is malformed.") from None
        if not isinstance(detail, dict):
            raise ValueError("Detail is malformed.")
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": self.account_id,
            "time": _iso_time(entry.get("Time")),
            "region": self.region,
            "resources": list(entry.get("Resources") or []),
            "detail": detail,
        }

    # -- routing ---------------------------------------------------------------------------------------
    def publish(self, event: Mapping[str, Any], *, event_bus_name: str = "default") -> list[Delivery]:
        """Deliver a complete event envelope to every target of every enabled matching rule."""
        ingestion_time = _now_iso()
        with self._lock:
            self.received.append({**event, "bus": event_bus_name})
            rules = list(self.rules)
        made: list[Delivery] = []
        for rule in rules:
            if rule.state != "ENABLED" or rule.event_bus_name != event_bus_name or rule.event_pattern is None:
                continue
            if not matches_pattern(rule.event_pattern, event):
                continue
            for target in rule.targets:
                made.append(self._deliver(rule, target, event, ingestion_time))
        with self._lock:
            self.deliveries.extend(made)
        return made

    def _deliver(self, rule: EventRule, target: EventTarget, event: Mapping[str, Any], ingestion_time: str) -> Delivery:
        def attempt(ok: bool, input_text: str, result: str) -> Delivery:
            if not ok:
                _log.warning("rule %s target %s: delivery failed: %s", rule.name, target.id, result)
            return Delivery(str(event["id"]), rule.name, target.id, target.arn, input_text, ok, result)

        try:
            input_text = self.target_input(rule, target, event, ingestion_time)
        except ValueError as error:
            return attempt(False, "", f"input: {error}")
        service = target.arn.split(":")[2] if target.arn.count(":") >= 2 else ""
        dispatcher = self.dispatchers.get(service)
        if dispatcher is None:
            return attempt(False, input_text, f"no local dispatcher for {service or target.arn!r} targets")
        try:
            return attempt(True, input_text, dispatcher(target, input_text, event))
        except Exception as error:  # a failed delivery must not fail PutEvents; it is logged and kept
            return attempt(False, input_text, f"{type(error).__name__}: {error}")

    @staticmethod
    def target_input(rule: EventRule, target: EventTarget, event: Mapping[str, Any], ingestion_time: str) -> str:
        if target.input is not None:
            return target.input
        if target.input_path is not None:
            value = resolve_path(event, target.input_path)
            return "null" if is_missing(value) else json.dumps(value, separators=(",", ":"))
        if target.input_transformer is not None:
            predefined = predefined_variables(event, rule.name, rule.arn, ingestion_time)
            transformer = target.input_transformer
            return transformed_input(transformer.input_paths_map, transformer.input_template, event, predefined)
        return json.dumps(event, separators=(",", ":"))
