"""`make demo`: a Voice ID fraudster registration job, a speaker enrollment job, a Bedrock batch inference
job and an S3 Batch Operations copy job, tracked end to end at the same time on the local cloud, then read
and retried with the `batch-job-tracker` CLI.

With `make local` running, the demo runs its jobs on that cloud (found through its `outputs.json`, which it
leaves as it is), so `batch-job-tracker --local` explores them afterwards; each run there uses its own
speakers and recordings. Without one, it starts a local cloud of its own for the run.

The demo acts only as a Voice ID, Bedrock and S3 Batch Operations user: it uploads audio, manifests, JSONL
input and objects, and starts the jobs with boto3 (S3 Control through the gateway, from outputs.json's
`s3batch` section, as any user's SDK). From then on only the deployed mechanics act: the services' events
start executions through the EventBridge rules, the state machine polls with the describe Lambda (and is
woken by the job's end event), and the record Lambda reads the output (SSE-KMS, or the completion report) and
writes failures to DynamoDB Local. The demo watches, reads the records back, and ends as an operator would:
`batch-job-tracker failures` and `retry`.

On a stack with automatic retries (`tracker:bedrockRetryPolicy`, which the Makefile's local synth sets), the
demo also injects a fault: through the local Bedrock's admin API, three of the Bedrock job's good prompts are
refused once with a 429. The retry dispatcher pools them when the job is recorded and, past the pool wait, runs
them on demand through bedrock-runtime; the seven empty prompts' 400s are final at once. The demo waits for
the job to settle, invoking the dispatcher with `{}` every few seconds as an operator may (its schedule runs it
only every minute), and shows it with `batch-job-tracker show` and `lineage`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import posixpath
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bedrock_emulator.testing import claude_input
from local_cloud.driver import (
    BEDROCK_BATCH_INFERENCE,
    FRAUDSTER_REGISTRATION,
    S3_BATCH_OPERATIONS,
    SPEAKER_ENROLLMENT,
    AudioRequest,
    TrackedJob,
    TrackerDriver,
    recorded_by,
)
from local_cloud.environment import DEFAULT_STATE_DIR, DEFAULT_TEMPLATE, OUTPUTS_FILE_NAME, LocalEnvironment
from local_cloud.running import RunningEnvironment, running_cloud_outputs
from local_cloud.s3batch import job_progress, user_client
from s3batch_emulator.testing import csv_manifest, put_manifest

DEADLINE_SECONDS = 90.0
# The demo drives a cloud this process runs, or one `make local` runs.
DemoDriver = TrackerDriver[LocalEnvironment | RunningEnvironment]

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
# Speakers: most enroll; one has opted out (409), one clip is mostly silence, one was never uploaded.
OPTED_OUT_SPEAKER = "customer-7731"
ENROLLMENT_REQUESTS = [
    AudioRequest("enroll-0001", seed=1001, speaker_id="customer-7701"),
    AudioRequest("enroll-0002", seed=1002, speaker_id="customer-7702"),
    AudioRequest("enroll-0003", seed=1003, speaker_id="customer-7703"),
    AudioRequest("enroll-0004-opted-out", seed=1004, speaker_id=OPTED_OUT_SPEAKER),
    AudioRequest("enroll-0005-short", seconds_speech=0.5, seconds_silence=4.0, seed=1005, speaker_id="customer-7705"),
    AudioRequest("enroll-0006-missing", missing=True, speaker_id="customer-7706"),
]


# A Bedrock job of 120 prompts in two files (Bedrock's minimum is 100 records per job); seven have an empty
# prompt, which the model refuses with a 400, so they are spread over both output files.
BEDROCK_FILES = {
    "support-tickets-a.jsonl": ("a", 60, (7, 19, 33, 58)),
    "support-tickets-b.jsonl": ("b", 60, (0, 41, 42)),
}


# Fault injection for the automatic retries (issue 24): the local Bedrock refuses these good prompts once with a
# 429 (its admin API's forced record errors, `times: 1`), so the retry dispatcher runs them again on demand.
BEDROCK_THROTTLED_ONCE = ("a0011", "a0042", "b0025")
# The stack output naming the retry dispatcher; a stack without a retry policy has none.
RETRY_DISPATCHER_OUTPUT = "RetryDispatcherFunctionName"
SETTLE_DEADLINE_SECONDS = 90.0
DISPATCH_EVERY_SECONDS = 3.0


def bedrock_input() -> dict[str, list[dict[str, Any]]]:
    return {
        name: [
            {"recordId": f"{prefix}{n:04d}", "modelInput": claude_input("" if n in bad else f"Summarise ticket {n}.")}
            for n in range(count)
        ]
        for name, (prefix, count, bad) in BEDROCK_FILES.items()
    }


# An S3 Batch Operations copy job of 8 objects: 5 are copied; 2 were never uploaded (NoSuchKey: one with
# spaces and parentheses, which the manifest URL-encodes), and 1 lies in a bucket the job's role may not read
# (AccessDenied). The stack follows it by its description's tracked prefix (cdk.json's
# tracker:s3BatchJobDescriptionPrefixes) and reads its report in tracker:s3BatchReportLocations.
S3BATCH_PRESENT = [f"photo-000{n}.jpg" for n in range(1, 6)]
S3BATCH_MISSING = ["photo-0006-missing.jpg", "photo 0007 (missing).jpg"]
S3BATCH_FORBIDDEN_BUCKET = "s3batch-demo-archive"
S3BATCH_FORBIDDEN = "passport-7731.jpg"


class S3BatchUser:
    """An S3 Batch Operations user of the local cloud, from outputs.json's `s3batch` section alone: S3 Control
    through the gateway as the SDK's proxy, the local job role, input and report buckets (docs/local-cloud.md)."""

    def __init__(self, local: LocalEnvironment | RunningEnvironment, s3: Any) -> None:
        self.section: dict[str, Any] = json.loads(local.outputs_path.read_text(encoding="utf-8"))["s3batch"]
        self.s3 = s3
        self.control: Any = user_client(self.section["endpointUrl"], self.section["proxyUrl"], local.cloud.region)

    @property
    def account(self) -> str:
        return str(self.section["accountId"])

    def start_copy_job(self, description: str, folder: str) -> TrackedJob:
        """Put the present objects and the forbidden one, a CSV manifest of all 8, and CreateJob."""
        bucket = self.section["inputBucket"]
        objects = f"{self.section['objectsPrefix']}{folder}/"
        for name in S3BATCH_PRESENT:
            self.s3.put_object(Bucket=bucket, Key=f"{objects}{name}", Body=b"a photo")
        with contextlib.suppress(self.s3.exceptions.BucketAlreadyOwnedByYou):  # a second demo on one cloud
            self.s3.create_bucket(Bucket=S3BATCH_FORBIDDEN_BUCKET)
        scan = f"scans/{folder}/{S3BATCH_FORBIDDEN}"
        self.s3.put_object(Bucket=S3BATCH_FORBIDDEN_BUCKET, Key=scan, Body=b"a scan")
        rows = [(bucket, f"{objects}{name}") for name in [*S3BATCH_PRESENT, *S3BATCH_MISSING]]
        rows.append((S3BATCH_FORBIDDEN_BUCKET, scan))
        manifest = put_manifest(self.s3, bucket, f"{self.section['manifestPrefix']}{folder}.csv", csv_manifest(rows))
        job_id: str = self.control.create_job(
            AccountId=self.account,
            ConfirmationRequired=False,
            Operation={
                "S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{bucket}", "TargetKeyPrefix": f"{objects}copies/"}
            },
            Manifest=manifest,
            Report={
                "Bucket": self.section["reportBucketArn"],
                "Format": "Report_CSV_20180820",
                "Enabled": True,
                "Prefix": self.section["reportPrefix"],
                "ReportScope": "AllTasks",
            },
            Priority=10,
            RoleArn=self.section["roleArn"],
            ClientRequestToken=uuid.uuid4().hex,
            Description=description,
        )["JobId"]
        return TrackedJob(domain_id=self.account, job_id=job_id, kind=S3_BATCH_OPERATIONS)

    def progress(self, job: TrackedJob) -> tuple[str, int]:
        """DescribeJob's status and (succeeded + failed) / total tasks."""
        return job_progress(self.control.describe_job(AccountId=job.domain_id, JobId=job.job_id)["Job"])

    def manifest_rows(self, uri: str) -> list[str]:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        body: bytes = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body.decode().splitlines()


@dataclass(frozen=True)
class DemoRun:
    """What makes one run's Voice ID data its own: a cloud that already ran the demo knows its speakers
    and fraudsters, and would skip them as duplicates."""

    tag: str = ""
    seed_offset: int = 0

    @classmethod
    def unique(cls) -> DemoRun:
        stamp = int(time.time())
        return cls(tag=f"-{stamp % 1_000_000:06d}", seed_offset=1_000_000 * (1 + stamp % 100_000))

    def requests(self, requests: list[AudioRequest]) -> list[AudioRequest]:
        return [
            replace(
                request,
                seed=request.seed + self.seed_offset,
                speaker_id=f"{request.speaker_id}{self.tag}" if request.speaker_id else None,
            )
            for request in requests
        ]


@dataclass(frozen=True)
class Expected:
    """What a correct record of a demo job holds, and how the demo names the job."""

    service: str
    label: str
    failed: frozenset[str]
    counts: dict[str, int]
    named: Callable[[Mapping[str, Any]], str] = field(default=lambda item: str(item["RequestId"]))
    """What names a failure item in `failed` (its RequestId; an S3 task's, its object's name)."""


EXPECTED = {
    FRAUDSTER_REGISTRATION: Expected(
        "Voice ID",
        "fraudsters",
        frozenset({"caller-0190-short", "caller-0204-missing"}),
        {"FailedRequestCount": 2, "RegisteredRequestCount": 5, "DuplicateSkippedRequestCount": 1},
    ),
    SPEAKER_ENROLLMENT: Expected(
        "Voice ID",
        "speakers",
        frozenset({"enroll-0004-opted-out", "enroll-0005-short", "enroll-0006-missing"}),
        {
            "FailedRequestCount": 3,
            "NewEnrollmentCount": 3,
            "OverwrittenEnrollmentCount": 0,
            "DuplicateSkippedRequestCount": 0,
        },
    ),
    BEDROCK_BATCH_INFERENCE: Expected(
        "Bedrock",
        "inference",
        frozenset(f"{prefix}{n:04d}" for prefix, _, bad in BEDROCK_FILES.values() for n in bad),
        {"FailedRecordCount": 7, "SucceededRecordCount": 113, "UnprocessedRecordCount": 0, "OutputFileCount": 2},
    ),
    S3_BATCH_OPERATIONS: Expected(
        "S3 Batch",
        "photo copy",
        frozenset([*S3BATCH_MISSING, S3BATCH_FORBIDDEN]),
        {"FailedTaskCount": 3, "SucceededTaskCount": 5, "UnnamedFailedTaskCount": 0, "TotalTaskCount": 8},
        named=lambda item: posixpath.basename(str(item["Key"])),
    ),
}


def with_retries(expected: Expected) -> Expected:
    """The Bedrock job's record when its three throttled prompts were refused once: ten failure items."""
    throttled = len(BEDROCK_THROTTLED_ONCE)
    return replace(
        expected,
        failed=expected.failed | frozenset(BEDROCK_THROTTLED_ONCE),
        counts={
            **expected.counts,
            "FailedRecordCount": expected.counts["FailedRecordCount"] + throttled,
            "SucceededRecordCount": expected.counts["SucceededRecordCount"] - throttled,
        },
    )


# Job statuses from which a job moves no more (Voice ID's, Bedrock's and S3 Batch Operations').
ENDED_STATUSES = frozenset(
    {"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"}
    | {"Complete", "Cancelled"}
)


class DemoFailed(Exception):
    """Something in the chain did not do its part; the message says what."""


def say(text: str) -> None:
    print(text, flush=True)


def label(job: TrackedJob) -> str:
    return EXPECTED[job.kind].label


def watch(
    driver: DemoDriver, jobs: list[TrackedJob], progress_of: Mapping[str, Callable[[TrackedJob], tuple[str, int]]]
) -> dict[str, list[dict[str, Any]]]:
    """Print each job's progress (read by `progress_of` the job's kind, else by the driver) and each state its
    tracking executions enter, until all have ended."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    last_progress: dict[str, tuple[str, int]] = {}
    seen_states: dict[str, int] = {}
    fully_shown: set[str] = set()  # finished executions whose every state is printed
    done: dict[str, list[dict[str, Any]]] = {}
    while time.monotonic() < deadline:
        for job in jobs:
            if job.job_id in done:
                continue
            progress = progress_of.get(job.kind, driver.job_progress)(job)
            if progress != last_progress.get(job.job_id):
                service = EXPECTED[job.kind].service
                say(f"  {service:<10} {label(job):<10} job {progress[0]:<22} {progress[1]:>3}% complete")
                last_progress[job.job_id] = progress
            executions = driver.executions(job)
            for execution in executions:
                name = execution["name"]
                if name in fully_shown:
                    continue
                states = list(driver.state_names(execution["executionArn"]))
                for state in states[seen_states.get(name, 0) :]:
                    say(f"  Tracker    {label(job):<10} {name[:18]:<18} -> {state}")
                seen_states[name] = len(states)
                if execution["status"] != "RUNNING":
                    fully_shown.add(name)
            finished = all(execution["name"] in fully_shown for execution in executions)
            if executions and finished and progress[0] in ENDED_STATUSES:
                done[job.job_id] = executions
        if len(done) == len(jobs):
            return done
        time.sleep(0.3)
    raise DemoFailed(
        f"not everything finished within {DEADLINE_SECONDS:.0f} s: jobs {last_progress}, "
        f"executions seen: {sorted(seen_states) or 'none (did the EventBridge rules start any?)'}"
    )


def report(driver: DemoDriver, job: TrackedJob, executions: list[dict[str, Any]], expected: Expected) -> None:
    tracking = recorded_by(executions)
    failed = [e for e in executions if e["status"] != "SUCCEEDED"]
    say("")
    say(f"{job.kind} job {job.job_id}: {len(executions)} executions started by {expected.service}'s events")
    for execution in executions:
        outcome = "recorded the job" if execution in tracking else "woke the tracker, saw the job lock and stopped"
        if execution in failed:
            outcome = f"{execution.get('error')}: {execution.get('cause')}"
        say(f"  {execution['name']:<40} {execution['status']:<10} {outcome}")
    if failed:
        raise DemoFailed(f"{len(failed)} execution(s) did not succeed; see above and the logs")
    if len(tracking) != 1:
        raise DemoFailed(f"expected exactly one execution to record the job, found {len(tracking)}")

    failures = driver.failures(job)
    summary = driver.items(job).get("SUMMARY")
    if summary is None:
        raise DemoFailed(f"no summary item was written for job {job.job_id}")
    say("Job summary item:")
    for key in ("JobKind", "JobStatus", "RecordState", *expected.counts, "OutputUri"):
        say(f"  {key:<29} {summary.get(key)}")
    named = {expected.named(item) for item in failures.values()}
    if named != expected.failed:
        raise DemoFailed(f"expected failures for {sorted(expected.failed)}, DynamoDB has {sorted(named)}")
    counts = {key: summary.get(key) for key in expected.counts}
    if summary.get("RecordState") != "COMPLETE" or counts != expected.counts or summary.get("CountMismatches"):
        raise DemoFailed(f"the summary does not describe a complete record: {summary}")


def operator(local: LocalEnvironment | RunningEnvironment, *args: str) -> list[str]:
    """Run `batch-job-tracker --local ...` as an operator would, show what it printed, and return its lines."""
    cli = shutil.which("batch-job-tracker") or str(Path(sys.executable).parent / "batch-job-tracker")
    say(f"$ batch-job-tracker --local {' '.join(args)}")
    environment = {
        **os.environ,
        "BATCH_JOB_TRACKER_LOCAL_OUTPUTS": str(local.outputs_path),
        "COLUMNS": "150",  # the jobs table has eight columns
        "PYTHONUNBUFFERED": "1",  # its messages (stderr) and results (stdout) in the order it wrote them
    }
    done = subprocess.run(
        [cli, "--local", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
        check=False,
    )
    for line in done.stdout.rstrip().splitlines():
        say(f"  {line}")
    if done.returncode != 0:
        raise DemoFailed(f"batch-job-tracker {args[0]} exited {done.returncode}")
    return done.stdout.rstrip().splitlines()


class BedrockAdmin:
    """The local Bedrock's admin API (outputs.json's `endpoints.bedrock`), which the demo uses only to inject a
    fault: forced record errors (bedrock_emulator/README.md, "Faults on demand")."""

    def __init__(self, local: LocalEnvironment | RunningEnvironment) -> None:
        outputs = json.loads(local.outputs_path.read_text(encoding="utf-8"))
        self.url = f"{str(outputs['endpoints']['bedrock']).rstrip('/')}/_bedrock/admin/"

    def refuse_once(self, record_ids: tuple[str, ...], error_code: int) -> None:
        rules = [{"recordId": record_id, "errorCode": error_code, "times": 1} for record_id in record_ids]
        request = urllib.request.Request(  # noqa: S310 - the emulator's own http://127.0.0.1 URL
            f"{self.url}record-error-rules",
            data=json.dumps({"rules": rules}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()


def retry_lineage(driver: DemoDriver, job: TrackedJob) -> dict[str, dict[str, Any]]:
    """The job's records in the automatic retries (its `RETRY#<recordId>` items), by recordId."""
    return {key.removeprefix("RETRY#"): item for key, item in driver.items(job).items() if key.startswith("RETRY#")}


def settle(driver: DemoDriver, job: TrackedJob, dispatcher: str) -> dict[str, Any]:
    """Wait until the Bedrock job's retried records settle, printing each record's state as it changes. The
    dispatcher runs every minute on its schedule; so as not to wait for it, the demo invokes it with `{}` every
    few seconds, as an operator may (`aws lambda invoke`): a run before the pool wait is over does nothing."""
    deadline = time.monotonic() + SETTLE_DEADLINE_SECONDS
    shown: dict[str, str] = {}
    next_dispatch = 0.0
    while time.monotonic() < deadline:
        for record_id, item in sorted(retry_lineage(driver, job).items()):
            state = f"{item.get('RetryState')} (attempt {item.get('Attempt')})"
            if shown.get(record_id) != state:
                why = item.get("FinalReason") or item.get("RetriedBy") or f"error {item.get('ErrorCode')}"
                say(f"  Retries    {record_id}  {state:<22} {why}")
                shown[record_id] = state
        summary = driver.items(job).get("SUMMARY", {})
        if summary.get("RetrySettledAt"):
            return summary
        if time.monotonic() >= next_dispatch:
            driver.lambdas.invoke(FunctionName=dispatcher, Payload=b"{}")
            next_dispatch = time.monotonic() + DISPATCH_EVERY_SECONDS
        time.sleep(0.5)
    raise DemoFailed(
        f"job {job.job_id}'s retried records did not settle within {SETTLE_DEADLINE_SECONDS:.0f} s: "
        f"{ {record_id: item.get('RetryState') for record_id, item in retry_lineage(driver, job).items()} }"
    )


def check_settled(summary: Mapping[str, Any]) -> None:
    counts = {key: summary.get(key) for key in ("RetrySucceededCount", "RetryPendingCount", "FinalFailedCount")}
    expected = {"RetrySucceededCount": len(BEDROCK_THROTTLED_ONCE), "RetryPendingCount": 0, "FinalFailedCount": 7}
    if counts != expected:
        raise DemoFailed(f"the settled Bedrock job counts {counts}, expected {expected}")


def inject_throttling(local: LocalEnvironment | RunningEnvironment) -> str | None:
    """On a stack with automatic retries, have the local Bedrock refuse BEDROCK_THROTTLED_ONCE once with a 429;
    the retry dispatcher's name, or None (no retry policy: nothing injected)."""
    dispatcher = local.stack.outputs.get(RETRY_DISPATCHER_OUTPUT)
    if not dispatcher:
        say("   (this stack has no tracker:bedrockRetryPolicy: no automatic retries, no fault injected)")
        return None
    BedrockAdmin(local).refuse_once(BEDROCK_THROTTLED_ONCE, 429)
    say(f"   FAULT INJECTION: the local Bedrock's admin API will refuse {', '.join(BEDROCK_THROTTLED_ONCE)} once")
    say("   with a 429 (throttled), so that the stack's automatic retries run them again")
    return dispatcher


def show_retries(
    local: LocalEnvironment | RunningEnvironment, driver: DemoDriver, job: TrackedJob, dispatcher: str
) -> None:
    say("")
    say("5. Automatic retries: the Bedrock job's 3 throttled records were pooled when the job was recorded;")
    say("   past the pool wait they run on demand through bedrock-runtime. The 7 empty prompts' 400s are final.")
    check_settled(settle(driver, job, dispatcher))
    operator(local, "show", job.job_id)
    operator(local, "lineage", job.job_id, BEDROCK_THROTTLED_ONCE[0])


def run(local: LocalEnvironment | RunningEnvironment, demo: DemoRun | None = None) -> list[TrackedJob]:
    demo = demo or DemoRun()
    driver = TrackerDriver(local)
    domain_id = local.domain_ids[0]
    opted_out = f"{OPTED_OUT_SPEAKER}{demo.tag}"
    say("1. Uploading recordings and manifests for the configured Voice ID domain, and prompts for Bedrock")
    fraudsters = driver.upload_manifest(demo.requests(DEMO_REQUESTS), name=f"nightly-fraudsters{demo.tag}")
    speakers = driver.upload_manifest(
        demo.requests(ENROLLMENT_REQUESTS), name=f"new-customers{demo.tag}", kind=SPEAKER_ENROLLMENT
    )
    local.voice_id.admin.opt_out_speaker(domain_id, opted_out)
    say(f"   domain {domain_id}: 8 fraudster recordings, {fraudsters}")
    say(f"   and 6 speakers (customer {opted_out} opted out of Voice ID), {speakers}")
    bedrock_folder = driver.upload_bedrock_input(bedrock_input(), label=f"support-tickets{demo.tag}")
    say(f"   and 120 prompts for Bedrock in two JSONL files (7 with an empty prompt), {bedrock_folder}")
    dispatcher = inject_throttling(local)
    s3batch = S3BatchUser(local, driver.s3)
    say("   and 5 photos for S3 Batch Operations to copy, in a manifest of 8 (2 never uploaded, 1 in a bucket")
    say(f"   the job's role may not read, {S3BATCH_FORBIDDEN_BUCKET})")
    say("2. Starting a fraudster registration job, a speaker enrollment job, a Bedrock batch inference job and an")
    say("   S3 Batch Operations copy job at once, with boto3 (Bedrock's output SSE-KMS encrypted)")
    jobs = [
        driver.start_job(domain_id, fraudsters, job_name="nightly-fraudsters"),
        driver.start_job(domain_id, speakers, job_name="new-customers", kind=SPEAKER_ENROLLMENT),
        driver.start_bedrock_job(f"tracked-support-tickets{demo.tag}", bedrock_folder),
        s3batch.start_copy_job(f"tracked-photo-copy{demo.tag}", f"demo-photos{demo.tag or '-1'}"),
    ]
    say(f"   jobs {', '.join(job.job_id for job in jobs)}; from here on only the deployed tracker acts")
    say("3. Watching the jobs and the tracker's state machine")
    executions = watch(driver, jobs, {S3_BATCH_OPERATIONS: s3batch.progress})
    expectations = dict(EXPECTED)
    if dispatcher:
        expectations[BEDROCK_BATCH_INFERENCE] = with_retries(EXPECTED[BEDROCK_BATCH_INFERENCE])
    for job in jobs:
        report(driver, job, executions[job.job_id], expectations[job.kind])
    say("")
    say("4. An operator lists the jobs, reads them and their failures, and builds retries, with the CLI")
    operator(local, "jobs", "--limit", "5")
    operator(local, "show", jobs[0].job_id)
    operator(local, "failures", jobs[1].job_id)
    operator(local, "retry", jobs[0].job_id, "--code", "400")
    operator(local, "failures", jobs[2].job_id)
    operator(local, "retry", jobs[2].job_id, "--code", "400")
    operator(local, "failures", jobs[3].job_id)
    printed = operator(local, "retry", jobs[3].job_id, "--code", "NoSuchKey")
    manifest_uri = next(line for line in printed if line.startswith("s3://"))
    say("  (the retry manifest, keys URL-encoded as S3 Batch Operations reads them:)")
    for row in s3batch.manifest_rows(manifest_uri):
        say(f"    {row}")
    if dispatcher:
        show_retries(local, driver, jobs[2], dispatcher)
    return jobs


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m local_cloud.demo", description=__doc__)
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s")
    started = time.monotonic()
    outputs_path = args.state_dir / OUTPUTS_FILE_NAME
    running = running_cloud_outputs(outputs_path)
    if running is not None:
        # A second cloud would overwrite this one's outputs.json and leave the CLI pointed at a stopped cloud.
        say(f"A local cloud is already running (`make local`, {outputs_path}): running the demo's jobs on it.")
        try:
            jobs = run(RunningEnvironment.from_outputs(outputs_path, running), DemoRun.unique())
        except DemoFailed as failure:
            say(f"\nDEMO FAILED: {failure}\nLogs: {running.get('logs')}")
            return 1
        say(f"\nDemo finished in {time.monotonic() - started:.0f} s. The jobs stay on the running cloud: explore them")
        say(f"with `batch-job-tracker --local jobs`, `show {jobs[0].job_id}`, `failures {jobs[1].job_id}`.")
        return 0
    if not args.template.is_file():
        say(f"No local cloud is running and there is no synthesized template at {args.template}: run `make demo`.")
        return 1
    say("Starting the local cloud: DynamoDB Local, moto (S3, KMS, SQS, Step Functions), the Lambda runtime,")
    say("the EventBridge router and the Voice ID, Bedrock and S3 Batch Operations emulators; deploying the")
    say("synthesized stack...")
    try:
        # Function logs go to the log file only, so the demo's own output stays readable.
        with LocalEnvironment(template_path=args.template, state_dir=args.state_dir, log_sink=lambda *_: None) as local:
            say(f"   up; endpoints and names in {local.outputs_path}")
            run(local)
    except DemoFailed as failure:
        say(f"\nDEMO FAILED: {failure}\nLogs: {args.state_dir / 'run' / 'logs'}")
        return 1
    say(f"\nDemo finished in {time.monotonic() - started:.0f} s. Function logs: {args.state_dir / 'run' / 'logs'}")
    say("Its local cloud stops now. To explore jobs with `batch-job-tracker --local` afterwards, start `make local`")
    say("in another terminal and run `make demo` again: it runs its jobs on that cloud.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
