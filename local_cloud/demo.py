"""`make demo`: one Voice ID fraudster registration job, tracked end to end on the local cloud.

The demo acts only as a Voice ID user: it uploads audio and a manifest and starts the job with boto3.
From then on only the deployed mechanics act: Voice ID's event starts an execution through the EventBridge
rule, the state machine polls with the describe Lambda, and the record Lambda writes failures to DynamoDB
Local. The demo watches and, at the end, reads the record back.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from local_cloud.driver import AudioRequest, TrackedJob, TrackerDriver, recorded_by
from local_cloud.environment import DEFAULT_STATE_DIR, DEFAULT_TEMPLATE, LocalEnvironment

DEADLINE_SECONDS = 90.0

# Most audio is good; one clip is mostly silence, one object was never uploaded, and one repeats an
# earlier request's audio, so Voice ID skips it as a duplicate fraudster.
DEMO_REQUESTS = [
    AudioRequest("caller-0142", seed=142),
    AudioRequest("caller-0157", seed=157),
    AudioRequest("caller-0163", seed=163),
    AudioRequest("caller-0171", seed=171),
    AudioRequest("caller-0188", seed=188),
    AudioRequest("caller-0190-short", seconds_speech=0.6, seconds_silence=5.0, seed=190),
    AudioRequest("caller-0204-missing", missing=True),
    AudioRequest("caller-0157-again", seed=157),
]
EXPECTED_FAILED = {"caller-0190-short", "caller-0204-missing"}


class DemoFailed(Exception):
    """Something in the chain did not do its part; the message says what."""


def say(text: str) -> None:
    print(text, flush=True)


def watch(driver: TrackerDriver, job: TrackedJob) -> list[dict[str, Any]]:
    """Print the job's progress and each state the tracking execution enters, until it ends."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    last_progress: tuple[str, int] | None = None
    seen_states: dict[str, int] = {}
    fully_shown: set[str] = set()  # finished executions whose every state is printed
    while time.monotonic() < deadline:
        progress = driver.job_progress(job)
        if progress != last_progress:
            say(f"  Voice ID   job {progress[0]:<22} {progress[1]:>3}% complete")
            last_progress = progress
        executions = driver.executions(job)
        for execution in executions:
            name = execution["name"]
            if name in fully_shown:
                continue
            states = list(driver.state_names(execution["executionArn"]))
            for state in states[seen_states.get(name, 0) :]:
                say(f"  Tracker    {name[:26]:<26} -> {state}")
            seen_states[name] = len(states)
            if execution["status"] != "RUNNING":
                fully_shown.add(name)
        if executions and len(fully_shown) == len(executions) and progress[0] not in ("SUBMITTED", "IN_PROGRESS"):
            return executions
        time.sleep(0.3)
    raise DemoFailed(
        f"nothing finished within {DEADLINE_SECONDS:.0f} s: job {job.job_id} is {last_progress}, "
        f"executions seen: {sorted(seen_states) or 'none (did the EventBridge rule start one?)'}"
    )


def report(driver: TrackerDriver, job: TrackedJob, executions: list[dict[str, Any]]) -> None:
    tracking = recorded_by(executions)
    failed = [e for e in executions if e["status"] != "SUCCEEDED"]
    say("")
    say(f"Executions for job {job.job_id}: {len(executions)} started by Voice ID's events")
    for execution in executions:
        outcome = "recorded the job" if execution in tracking else "saw the job lock and stopped"
        if execution in failed:
            outcome = f"{execution.get('error')}: {execution.get('cause')}"
        say(f"  {execution['name']:<40} {execution['status']:<10} {outcome}")
    if failed:
        raise DemoFailed(f"{len(failed)} execution(s) did not succeed; see above and the logs")
    if len(tracking) != 1:
        raise DemoFailed(f"expected exactly one execution to record the job, found {len(tracking)}")

    failures = driver.failures(job)
    say("")
    say(f"Failed requests in DynamoDB table {driver.local.table_name} (pk = {job.partition_key}):")
    say(f"  {'RequestId':<22} {'ErrorCode':<9} ErrorMessage")
    for request_id, item in sorted(failures.items()):
        say(f"  {request_id:<22} {item['ErrorCode']:<9} {item['ErrorMessage']}")
    summary = driver.items(job).get("SUMMARY")
    if summary is None:
        raise DemoFailed("no summary item was written")
    say("")
    say("Job summary item:")
    for key in ("JobStatus", "RecordState", "FailedRequestCount", "RegisteredRequestCount",
                "DuplicateSkippedRequestCount", "OutputUri"):  # fmt: skip
        say(f"  {key:<29} {summary.get(key)}")
    say("")
    say(f"Execution output: {tracking[0]['output']}")
    if set(failures) != EXPECTED_FAILED:
        raise DemoFailed(f"expected failures for {sorted(EXPECTED_FAILED)}, DynamoDB has {sorted(failures)}")
    if summary.get("RecordState") != "COMPLETE" or summary.get("DuplicateSkippedRequestCount") != 1:
        raise DemoFailed(f"the summary does not describe a complete record: {summary}")


def run(local: LocalEnvironment) -> None:
    driver = TrackerDriver(local)
    say("1. Uploading 8 fraudster recordings and a manifest for the configured Voice ID domain")
    domain_id = local.domain_ids[0]
    manifest = driver.upload_manifest(DEMO_REQUESTS, name="nightly-fraudsters")
    say(f"   domain {domain_id}, manifest {manifest}")
    say("2. Starting the fraudster registration job with boto3, as a user would")
    job = driver.start_job(domain_id, manifest, job_name="nightly-fraudsters")
    say(f"   job {job.job_id}; from here on only the deployed tracker acts")
    say("3. Watching the job and the tracker's state machine")
    executions = watch(driver, job)
    report(driver, job, executions)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m local_cloud.demo", description=__doc__)
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s")
    started = time.monotonic()
    say("Starting the local cloud: DynamoDB Local, moto (S3, KMS, SQS, Step Functions), the Lambda runtime,")
    say("the EventBridge router and the Voice ID emulator; deploying the synthesized stack...")
    try:
        # Function logs go to the log file only, so the demo's own output stays readable.
        with LocalEnvironment(template_path=args.template, state_dir=args.state_dir, log_sink=lambda *_: None) as local:
            say(f"   up; endpoints and names in {local.outputs_path}")
            run(local)
    except DemoFailed as failure:
        say(f"\nDEMO FAILED: {failure}\nLogs: {args.state_dir / 'run' / 'logs'}")
        return 1
    say(f"\nDemo finished in {time.monotonic() - started:.0f} s. Function logs: {args.state_dir / 'run' / 'logs'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
