"""Benchmark the automatic retries' loop (issue 24) on the local cloud: from an original Bedrock job's end to its
records settled, for 20 records retried on demand, against the configured pool wait.

The local cloud runs the stack of the Makefile's local synth (`tracker:bedrockRetryPolicy` on; its pool wait is
read from the synthesized template, the retry dispatcher's BEDROCK_RETRY_POLICY). Each round starts a 100-record
Bedrock job (the local Bedrock's minimum per job) of which 20 records are refused once with a 429 (forced record
errors through the local Bedrock's admin API, `times: 1`). From then on only the deployed mechanics act: the
tracker records the job, its job-recorded event makes the retry dispatcher pool the 20 (fewer than the model's
minimum), and the dispatcher's EventBridge Scheduler schedule (every minute) runs them on demand through
bedrock-runtime once the pool wait is over; nothing here invokes the dispatcher. The figure is the time from the
job's `endTime` (GetModelInvocationJob) to the original summary's `RetrySettledAt`, and its excess over the pool
wait: the target is settled within the wait plus 60 s (the schedule's period), with no record run twice, counted
per record in the local Bedrock's admin state (`recordInvocations`: on-demand calls that reached the model).

Run with `make bench` (after the local synth); `BENCH_RETRY_ROUNDS` (default 2) sets the rounds, each a new job
at whatever point of the schedule's minute it ends.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from bedrock_emulator.testing import claude_input
from local_cloud.driver import TrackedJob, TrackerDriver
from local_cloud.environment import DEFAULT_TEMPLATE, LocalEnvironment

RECORDS = 100
REFUSED = 20
ROUNDS = int(os.environ.get("BENCH_RETRY_ROUNDS", "2"))
TARGET_EXCESS_SECONDS = 60.0
POLICY_VARIABLE = "BEDROCK_RETRY_POLICY"
RUN_TWICE = "run more than once on demand"
Found = TypeVar("Found")


def configured_policy(template: Path) -> dict[str, Any]:
    """The retry policy the template gives its retry dispatcher (SystemExit when the stack has none)."""
    resources = json.loads(template.read_text(encoding="utf-8"))["Resources"]
    for resource in resources.values():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        if resource["Type"] == "AWS::Lambda::Function" and isinstance(variables.get(POLICY_VARIABLE), str):
            policy: dict[str, Any] = json.loads(variables[POLICY_VARIABLE])
            return policy
    raise SystemExit(f"{template} has no retry dispatcher: synthesize it with tracker:bedrockRetryPolicy (make local)")


def wait_for(what: str, check: Callable[[], Found | None], deadline_seconds: float) -> Found:
    deadline = time.monotonic() + deadline_seconds
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} not seen within {deadline_seconds:.0f} s")
        time.sleep(0.25)


def job_end(driver: TrackerDriver, job: TrackedJob) -> datetime | None:
    found = driver.bedrock.get_model_invocation_job(jobIdentifier=job.job_arn or job.job_id)
    end: datetime | None = found.get("endTime")
    return end


def settled_summary(driver: TrackerDriver, job: TrackedJob) -> dict[str, Any] | None:
    summary = driver.items(job).get("SUMMARY", {})
    return summary if summary.get("RetrySettledAt") else None


def one_round(driver: TrackerDriver, local: LocalEnvironment, number: int, wait: float) -> tuple[float, list[str]]:
    """Seconds from the job's end to settled, and what went wrong (records run twice, counts) if anything."""
    prefix = f"bench{number}-{uuid.uuid4().hex[:4]}-"
    rows = [
        {"recordId": f"{prefix}{n:03d}", "modelInput": claude_input(f"Summarise item {n}.")} for n in range(RECORDS)
    ]
    refused = [str(row["recordId"]) for row in rows[:: RECORDS // REFUSED]][:REFUSED]
    local.bedrock.admin.add_record_error_rules(
        [{"recordId": record_id, "errorCode": 429, "times": 1} for record_id in refused]
    )
    folder = driver.upload_bedrock_input({"records.jsonl": rows}, label=f"bench-retry-{number}")
    job = driver.start_bedrock_job(f"tracked-bench-retry-{prefix}{number}", folder)
    ended = wait_for(f"job {job.job_id}'s end", lambda: job_end(driver, job), 120.0)
    summary = wait_for(
        f"job {job.job_id} settled", lambda: settled_summary(driver, job), wait + TARGET_EXCESS_SECONDS + 120.0
    )
    seconds = (datetime.fromisoformat(str(summary["RetrySettledAt"])) - ended).total_seconds()
    problems: list[str] = []
    calls = local.bedrock.admin.state()["recordInvocations"]
    ran = {str(row["recordId"]): int(calls.get(row["recordId"], 0)) for row in rows}
    twice = sorted(record_id for record_id, count in ran.items() if count > 1)
    if twice:
        problems.append(f"{RUN_TWICE}: {twice}")
    if sorted(record_id for record_id, count in ran.items() if count == 1) != sorted(refused):
        problems.append(f"on-demand calls {ran}, expected one for each of {refused}")
    counts = (summary.get("RetrySucceededCount"), summary.get("RetryPendingCount"), summary.get("FinalFailedCount"))
    if counts != (REFUSED, 0, 0):
        problems.append(f"settled with (succeeded, pending, final) {counts}, expected ({REFUSED}, 0, 0)")
    return seconds, problems


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s")
    template = Path(os.environ.get("BENCH_RETRY_TEMPLATE", str(DEFAULT_TEMPLATE)))
    policy = configured_policy(template)
    wait = float(policy["poolWaitSeconds"])
    rounds: list[float] = []
    problems: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-retry-") as state_dir,
        LocalEnvironment(template_path=template, state_dir=Path(state_dir), log_sink=lambda *_: None) as local,
    ):
        driver = TrackerDriver(local)
        for number in range(ROUNDS):
            seconds, found = one_round(driver, local, number, wait)
            rounds.append(seconds)
            problems.extend(found)
    worst = max(rounds)
    twice = [problem for problem in problems if problem.startswith(RUN_TWICE)]
    print(
        f"Automatic retries, a Bedrock job's end -> settled: {RECORDS} records, {REFUSED} refused once with a 429 and "
        f"run on demand, pool wait {wait:.0f} s (the dispatcher's schedule: every minute), {ROUNDS} rounds:"
    )
    for number, seconds in enumerate(rounds, 1):
        print(f"  round {number}: {seconds:.0f} s = the wait + {seconds - wait:.0f} s ({seconds / wait:.1f}x the wait)")
    met = worst <= wait + TARGET_EXCESS_SECONDS
    excess = f"the wait + {worst - wait:.0f} s (target: the wait + {TARGET_EXCESS_SECONDS:.0f} s)"
    print(f"  -> worst {worst:.0f} s = {excess}: {'met' if met else 'MISSED'}")
    print(
        f"  on-demand calls per record (the local Bedrock's admin state): "
        f"{'SOME RUN TWICE' if twice else f'{REFUSED} per round, one each, none run twice'}"
    )
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    if problems or not met:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
