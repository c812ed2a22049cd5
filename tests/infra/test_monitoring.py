"""Alarms (each pointing at the runbook) and the dashboard, in the synthesized template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.infra.conftest import definition, only


def alarms(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template_json["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def test_every_alarm_points_at_its_runbook_section(template_json: dict[str, Any]) -> None:
    found = alarms(template_json)
    names = {"FailedExecutions", "UndeliveredEvents", "MissedSweeps", "LambdaErrors", "LambdaThrottles"}
    for name in names:
        (properties,) = [p for logical_id, p in found.items() if name in logical_id]
        assert f"docs/runbook.md, section {name}" in properties["AlarmDescription"]
    runbook = (Path(__file__).parents[2] / "docs" / "runbook.md").read_text()
    for name in names:
        assert f"`{name}`" in runbook, name


def test_lambda_errors_and_throttles_are_summed_over_the_functions(template_json: dict[str, Any]) -> None:
    functions = [r for r in template_json["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    # validate-input's errors are rejected inputs (FailedExecutions reports them), so not Lambda errors.
    for name, metric, counted in (
        ("LambdaErrors", "Errors", len(functions) - 1),
        ("LambdaThrottles", "Throttles", len(functions)),
    ):
        (properties,) = [p for logical_id, p in alarms(template_json).items() if name in logical_id]
        queries = properties["Metrics"]
        (summed,) = [q for q in queries if "Expression" in q]
        # Every operand FILLed: an idle function has no datapoint, which would leave the sum empty.
        assert summed["Expression"].count("FILL(") == counted
        assert summed["Expression"].count("+") == counted - 1
        inputs = [q["MetricStat"]["Metric"] for q in queries if "MetricStat" in q]
        assert {m["MetricName"] for m in inputs} == {metric}
        assert len(inputs) == counted


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
        "Failed requests recorded, by kind",
        "Describes per recorded job",
        "Waits: woken by an event against timed out",
        "Reconciliation sweep",
        "Lambda errors",
        "Lambda duration (p90)",
        "Lambda throttles",
        "Dead-letter queues",
    ):
        assert title in body, title
    for metric in ("ExecutionsStarted", "JobsRecorded", "FailedRequestsRecorded", "JobPolls", "WaitsWoken",
                   "WaitsTimedOut", "SweepJobsFound", "ApproximateNumberOfMessagesVisible"):  # fmt: skip
        assert metric in body, metric
    for kind in ("FRAUDSTER_REGISTRATION", "SPEAKER_ENROLLMENT"):
        assert kind in body


def test_a_recorded_job_is_announced_and_a_failed_announcement_keeps_the_record(template_json: dict[str, Any]) -> None:
    states = definition(template_json)["States"]
    assert states["Mark job recorded"]["Next"] == "Announce job recorded"
    announce = states["Announce job recorded"]
    assert announce["Resource"].endswith(":states:::events:putEvents")
    (entry,) = announce["Parameters"]["Entries"]
    assert (entry["Source"], entry["DetailType"]) == ("voiceid.job-tracker", "Voice ID Job Recorded")
    assert entry["Detail"]["JobKind.$"] == "$.Record.JobKind"
    assert entry["Detail"]["Items.$"] == "$.Record.Items"
    assert announce["Next"] == "Job recorded"
    assert announce["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.AnnounceError", "Next": "Job recorded"}
    ]
