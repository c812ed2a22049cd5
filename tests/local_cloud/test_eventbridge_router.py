"""The event router without servers: PutEvents envelopes, rule selection, dispatch and the delivery log."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from local_cloud.eventbridge import EventRouter, EventRule, EventTarget, execution_name

REGION, ACCOUNT = "us-east-1", "123456789012"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:tracker"


class RecordingDispatcher:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, target: EventTarget, input_text: str, event: Mapping[str, Any]) -> str:
        self.calls.append((target.arn, input_text))
        return f"started {execution_name(str(event['id']), target.id)}"


def _rule(name: str = "jobs", **overrides: Any) -> EventRule:
    fields: dict[str, Any] = {
        "name": name,
        "arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}",
        "event_pattern": {"source": ["aws.voiceid"]},
        "targets": (EventTarget(id="Target0", arn=MACHINE, input_path="$.detail"),),
    }
    fields.update(overrides)
    return EventRule(**fields)


def _router(*rules: EventRule) -> tuple[EventRouter, RecordingDispatcher]:
    dispatcher = RecordingDispatcher()
    return EventRouter(
        region=REGION, account_id=ACCOUNT, rules=list(rules), dispatchers={"states": dispatcher}
    ), dispatcher


def _entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Source": "aws.voiceid",
        "DetailType": "Job",
        "Detail": json.dumps({"jobId": "j1"}),
    }
    entry.update(overrides)
    return entry


def test_put_events_builds_the_envelope_and_delivers() -> None:
    router, dispatcher = _router(_rule())
    response = router.put_events({"Entries": [_entry(Resources=["arn:x"], Time=1_700_000_000)]})
    assert response["FailedEntryCount"] == 0
    event_id = response["Entries"][0]["EventId"]
    assert dispatcher.calls == [(MACHINE, '{"jobId":"j1"}')]
    (delivery,) = router.delivery_log()
    assert (delivery.event_id, delivery.ok, delivery.result) == (
        event_id,
        True,
        f"started {event_id}_Target0",
    )


def test_envelope_fields() -> None:
    router, _ = _router()
    event = router.envelope(_entry(Resources=["arn:x"], Time=0))
    assert event["version"] == "0"
    assert (event["source"], event["detail-type"], event["detail"]) == ("aws.voiceid", "Job", {"jobId": "j1"})
    assert (event["account"], event["region"], event["resources"]) == (ACCOUNT, REGION, ["arn:x"])
    assert event["time"] == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "entry",
    [
        _entry(Detail="not json"),
        _entry(Detail="[1]"),
        {"Source": "aws.voiceid", "Detail": "{}"},
    ],
)
def test_invalid_entries_are_reported_per_entry(entry: dict[str, Any]) -> None:
    router, dispatcher = _router(_rule())
    response = router.put_events({"Entries": [entry, _entry()]})
    assert response["FailedEntryCount"] == 1
    assert response["Entries"][0]["ErrorCode"] == "InvalidArgument"
    assert "EventId" in response["Entries"][1]
    assert len(dispatcher.calls) == 1


def test_put_events_requires_one_to_ten_entries() -> None:
    router, _ = _router()
    with pytest.raises(ValueError, match="1 to 10"):
        router.put_events({"Entries": [_entry()] * 11})


def test_disabled_rules_other_buses_and_non_matching_events_are_skipped() -> None:
    router, dispatcher = _router(
        _rule("disabled", state="DISABLED"),
        _rule("custom-bus", event_bus_name="custom"),
        _rule("other-source", event_pattern={"source": ["aws.s3"]}),
    )
    router.put_events({"Entries": [_entry()]})
    assert dispatcher.calls == []
    router.put_events({"Entries": [_entry(EventBusName=f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/custom")]})
    assert len(dispatcher.calls) == 1


def test_constant_input_and_default_whole_event() -> None:
    targets = (
        EventTarget(id="Constant", arn=MACHINE, input='{"fixed": true}'),
        EventTarget(id="Whole", arn=MACHINE),
    )
    router, dispatcher = _router(_rule(targets=targets))
    router.put_events({"Entries": [_entry()]})
    assert dispatcher.calls[0][1] == '{"fixed": true}'
    assert json.loads(dispatcher.calls[1][1])["detail"] == {"jobId": "j1"}


def test_failed_deliveries_are_logged_not_raised() -> None:
    def failing(target: EventTarget, input_text: str, event: Mapping[str, Any]) -> str:
        raise RuntimeError("ExecutionAlreadyExists")

    targets = (EventTarget(id="T", arn=MACHINE), EventTarget(id="Q", arn="arn:aws:sqs:us-east-1:1:q"))
    router = EventRouter(
        region=REGION, account_id=ACCOUNT, rules=[_rule(targets=targets)], dispatchers={"states": failing}
    )
    assert router.put_events({"Entries": [_entry()]})["FailedEntryCount"] == 0
    results = [(d.target_id, d.ok, d.result) for d in router.delivery_log()]
    assert results == [
        ("T", False, "RuntimeError: ExecutionAlreadyExists"),
        ("Q", False, "no local dispatcher for 'sqs' targets"),
    ]


def test_execution_names_are_valid_and_bounded() -> None:
    name = execution_name("6a7e8feb-b491-4cf7-a9f1-bf3703467718", "Target0:with spaces/and" + "x" * 80)
    assert len(name) <= 80
    assert all(ch.isalnum() or ch in "-_" for ch in name)


def test_rule_from_cloudformation_rejects_unsupported_pattern_operators_at_load() -> None:
    from local_cloud.event_patterns import InvalidEventPatternError

    with pytest.raises(InvalidEventPatternError):
        EventRule.from_cloudformation(
            "r",
            {"EventPattern": {"source": [{"regex": "x"}]}, "Targets": []},
            region=REGION,
            account_id=ACCOUNT,
        )
    rule = EventRule.from_cloudformation(
        "r",
        {"EventPattern": json.dumps({"source": ["a"]}), "EventBusName": "custom"},
        region=REGION,
        account_id=ACCOUNT,
    )
    assert (rule.event_pattern, rule.event_bus_name, rule.arn) == (
        {"source": ["a"]},
        "custom",
        f"arn:aws:events:{REGION}:{ACCOUNT}:rule/custom/r",
    )
