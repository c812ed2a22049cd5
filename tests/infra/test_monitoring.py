"""Alarms (each pointing at the runbook) and the dashboard, in the synthesized template."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.infra.conftest import definition, only


def alarms(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template_json["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


ALARMS = {
    "FailedExecutions",
    "UndeliveredEvents",
    "MissedSweeps",
    "FailedSweeps",
    "SweepHeartbeat",
    "LambdaErrors",
    "LambdaThrottles",
}


def alarm(template_json: dict[str, Any], name: str) -> dict[str, Any]:
    (properties,) = [p for logical_id, p in alarms(template_json).items() if name in logical_id]
    return properties


def test_every_alarm_points_at_its_own_runbook_section(template_json: dict[str, Any]) -> None:
    found = alarms(template_json)
    assert len(found) == len(ALARMS)
    runbook = (Path(__file__).parents[2] / "docs" / "runbook.md").read_text()
    headings = re.findall(r"^## Alarm `(\w+)`", runbook, flags=re.MULTILINE)
    # One section per alarm, and no section for a missing alarm (but those of a configuration key's alarms,
    # checked on their own template: RetryRecordsOverdue in test_bedrock_retries_infra.py).
    assert sorted(set(headings) - {"RetryRecordsOverdue"}) == sorted(ALARMS)
    for name in ALARMS:
        assert f"docs/runbook.md, section {name}." in alarm(template_json, name)["AlarmDescription"]


def evaluate(expression: str, values: dict[str, float]) -> float:
    """CloudWatch's metric math for the sums used here: FILL(m, 0) terms joined by + and -."""
    total = 0.0
    for sign, name, fill in re.findall(r"([+-]?)\s*FILL\((\w+), (\d+)\)", expression):
        value = values.get(name, float(fill))
        total += -value if sign == "-" else value
    return total


def test_lambda_errors_leave_out_voice_id_throttles_and_throttles_are_their_own_alarm(
    template_json: dict[str, Any],
) -> None:
    functions = [r for r in template_json["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    # validate-input's errors are rejected inputs (FailedExecutions reports them), so not Lambda errors.
    for name, metric, counted in (
        ("LambdaErrors", "Errors", len(functions) - 1),
        ("LambdaThrottles", "Throttles", len(functions)),
    ):
        queries = alarm(template_json, name)["Metrics"]
        (summed,) = [q for q in queries if "Expression" in q]
        inputs = {q["Id"]: q["MetricStat"]["Metric"] for q in queries if "MetricStat" in q}
        lambda_inputs = [i for i, m in inputs.items() if m["MetricName"] == metric]
        assert len(lambda_inputs) == counted
        # Every operand FILLed: an idle function has no datapoint, which would leave the sum empty.
        assert evaluate(summed["Expression"], {}) == 0
        assert evaluate(summed["Expression"], {lambda_inputs[0]: 2, lambda_inputs[-1]: 1}) == 3
    errors = alarm(template_json, "LambdaErrors")
    inputs = {q["Id"]: q["MetricStat"]["Metric"] for q in errors["Metrics"] if "MetricStat" in q}
    (voice_id,) = [i for i, m in inputs.items() if m["MetricName"] == "VoiceIdThrottles"]
    (bedrock,) = [i for i, m in inputs.items() if m["MetricName"] == "BedrockThrottles"]
    (s3batch,) = [i for i, m in inputs.items() if m["MetricName"] == "S3BatchThrottles"]
    assert "other than a throttle of Voice ID, Amazon Bedrock or S3 Batch Operations" in errors["AlarmDescription"]
    assert inputs[voice_id]["Namespace"] == inputs[bedrock]["Namespace"] == "VoiceIdJobTracker"
    expression = next(q["Expression"] for q in errors["Metrics"] if "Expression" in q)
    describe_errors = [i for i, m in inputs.items() if m["MetricName"] == "Errors"]
    # Describes throttled by either service (each a Lambda error the state machine retries): no alarm.
    assert evaluate(expression, {describe_errors[0]: 6, voice_id: 3, bedrock: 2, s3batch: 1}) < errors["Threshold"]
    # One more error of any other kind: the alarm.
    throttled_and_one_more: dict[str, float] = {describe_errors[0]: 5, describe_errors[1]: 1, voice_id: 3, bedrock: 2}
    assert evaluate(expression, throttled_and_one_more) >= errors["Threshold"]


def test_the_sweep_heartbeat_alarms_when_no_sweep_completes_in_two_intervals(template_json: dict[str, Any]) -> None:
    heartbeat = alarm(template_json, "SweepHeartbeat")
    assert heartbeat["MetricName"] == "SweepsCompleted" and heartbeat["Statistic"] == "Sum"
    assert heartbeat["Period"] == 2 * 15 * 60  # cdk.json's sweepMinutes: 15
    assert (heartbeat["ComparisonOperator"], heartbeat["Threshold"]) == ("LessThanThreshold", 1)
    assert heartbeat["TreatMissingData"] == "breaching"  # a sweep that never runs emits nothing


def test_failed_sweeps_go_to_an_alarmed_on_failure_queue(template_json: dict[str, Any]) -> None:
    (config,) = [r for r in template_json["Resources"].values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    destination = config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
    queue_id = destination["Fn::GetAtt"][0]
    assert "FailedSweepsQueue" in queue_id
    assert "Sweep" in config["Properties"]["FunctionName"]["Ref"]
    failed = alarm(template_json, "FailedSweeps")
    assert failed["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert failed["Dimensions"][0]["Value"] == {"Fn::GetAtt": [queue_id, "QueueName"]}
    queue = template_json["Resources"][queue_id]["Properties"]
    assert "KmsMasterKeyId" in queue


def dashboard_widgets(template_json: dict[str, Any]) -> list[dict[str, Any]]:
    """The dashboard body's widgets, with every CloudFormation reference in it as the string "REF"."""
    _, dashboard = only(template_json, "AWS::CloudWatch::Dashboard")
    _, parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"]
    body = "".join(part if isinstance(part, str) else "REF" for part in parts)
    widgets: list[dict[str, Any]] = json.loads(body)["widgets"]
    return widgets


def test_describes_per_job_is_charted_from_its_own_metric_as_average_and_p90(template_json: dict[str, Any]) -> None:
    (widget,) = [w for w in dashboard_widgets(template_json) if "Describes per" in w["properties"]["title"]]
    # (A metric without "stat" is charted as its Average, CloudWatch's default for a graph.)
    charted = {
        (metric[1], metric[metric.index("JobKind") + 1], metric[-1].get("stat", "Average"))
        for metric in widget["properties"]["metrics"]
    }
    assert charted == {
        ("DescribesPerJob", kind, statistic)
        for kind in ("FRAUDSTER_REGISTRATION", "SPEAKER_ENROLLMENT", "BEDROCK_BATCH_INFERENCE", "S3_BATCH_OPERATIONS")
        for statistic in ("Average", "p90")
    }
    assert "expression" not in json.dumps(widget)  # no longer a window's polls divided by its recorded jobs


def test_failed_executions_sums_filled_metrics(template_json: dict[str, Any]) -> None:
    (properties,) = [p for logical_id, p in alarms(template_json).items() if "FailedExecutions" in logical_id]
    (summed,) = [q for q in properties["Metrics"] if "Expression" in q]
    assert summed["Expression"] == "FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)"


def test_the_dashboard_shows_executions_records_by_kind_polls_wake_ups_sweeps_lambdas_and_queues(
    template_json: dict[str, Any],
) -> None:
    _, dashboard = only(template_json, "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for title in (
        "Tracker executions",
        "Jobs recorded, by kind",
        "Failures recorded (requests, records, tasks), by kind",
        "Describes per recorded job (average and p90)",
        "Waits: woken by an event against timed out",
        "Reconciliation sweep",
        "Lambda errors",
        "Lambda duration (p90)",
        "Lambda throttles",
        "Dead-letter queues",
    ):
        assert title in body, title
    for metric in ("ExecutionsStarted", "JobsRecorded", "FailedRequestsRecorded", "DescribesPerJob", "WaitsWoken",
                   "WaitsTimedOut", "SweepJobsFound", "ApproximateNumberOfMessagesVisible"):  # fmt: skip
        assert metric in body, metric
    for kind in ("FRAUDSTER_REGISTRATION", "SPEAKER_ENROLLMENT", "BEDROCK_BATCH_INFERENCE", "S3_BATCH_OPERATIONS"):
        assert kind in body
    assert "S3 Batch Operations describes throttled" in body


def test_a_recorded_job_is_announced_and_a_failed_announcement_keeps_the_record(template_json: dict[str, Any]) -> None:
    states = definition(template_json)["States"]
    assert states["Mark job recorded"]["Next"] == "Name the outcome event"
    announce = states["Announce job recorded"]
    assert announce["Resource"].endswith(":states:::events:putEvents")
    (entry,) = announce["Parameters"]["Entries"]
    assert (entry["Source"], entry["DetailType.$"]) == ("voiceid.job-tracker", "$.OutcomeEvent.DetailType")
    assert entry["Detail"]["JobKind.$"] == "$.Record.JobKind"
    assert entry["Detail"]["Items.$"] == "$.Record.Items"
    assert announce["Next"] == "Job recorded"
    assert announce["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.AnnounceError", "Next": "Job recorded"}
    ]


def test_the_outcome_event_is_named_after_the_jobs_service(template_json: dict[str, Any]) -> None:
    """Voice ID's jobs keep the detail-type every job had before Bedrock, so that rules written then keep
    matching; Bedrock's and S3 Batch Operations' jobs are announced as what they are, batch jobs."""
    states = definition(template_json)["States"]
    choice = states["Name the outcome event"]
    detail_type_of = {
        state_name: states[state_name]["Result"]["DetailType"]
        for state_name in ("Announce as Voice ID Job Recorded", "Announce as Batch Job Recorded")
    }
    assert all(states[state_name]["ResultPath"] == "$.OutcomeEvent" for state_name in detail_type_of)
    (voice_id,) = choice["Choices"]
    assert voice_id["Next"] == "Announce as Voice ID Job Recorded"
    assert {condition["StringEquals"] for condition in voice_id["Or"]} == {
        "FRAUDSTER_REGISTRATION",
        "SPEAKER_ENROLLMENT",
    }
    assert all(condition["Variable"] == "$.Record.JobKind" for condition in voice_id["Or"])
    assert choice["Default"] == "Announce as Batch Job Recorded"
    assert detail_type_of == {
        "Announce as Voice ID Job Recorded": "Voice ID Job Recorded",
        "Announce as Batch Job Recorded": "Batch Job Recorded",
    }
