"""Automatic retries (issue 24): pools, batch retry jobs, on-demand runs and each record's lineage, on moto's
DynamoDB and S3, the original jobs recorded by the record step itself. Bedrock's job API and bedrock-runtime are
fakes at the dispatcher's interfaces (the e2e tests run them on the local Bedrock)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from job_tracker.adapters.bedrock import to_description
from job_tracker.adapters.dynamodb import DynamoDbFailureStore
from job_tracker.adapters.retry_services import S3ObjectWriter
from job_tracker.adapters.retry_store import DynamoDbRetryStore
from job_tracker.adapters.s3 import S3ObjectReader
from job_tracker.bedrock_retries import (
    FINAL,
    POOLED,
    SUBMITTED,
    SUCCEEDED,
    RetryDispatcher,
    RetrySettings,
    RuntimeRecordError,
    RuntimeThrottled,
)
from job_tracker.kinds import JOB_KINDS
from job_tracker.models import JobRef, S3Location, job_to_payload
from job_tracker.retry_policy import parse_retry_policy
from job_tracker.tracking import record_job
from tests.unit.conftest import OUTPUT_BUCKET, REGION, TABLE

BEDROCK = JOB_KINDS["BEDROCK_BATCH_INFERENCE"]
ACCOUNT = "123456789012"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/BedrockBatch"
START = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def policy(**changes: Any) -> Any:
    return parse_retry_policy(
        {
            "retryCodes": [429, 500, 503, "UNPROCESSED"],
            "maxAttempts": 3,
            "poolWaitSeconds": 60,
            "maxJobsInFlightPerModel": 2,
            "maxRecordsPerDay": 1000,
            **changes,
        }
    )


def line(record_id: str, prompt: str = "hi") -> dict[str, Any]:
    return {"recordId": record_id, "modelInput": {"messages": [{"role": "user", "content": prompt}]}}


def answer(job_id: str, status: str, name: str = "tracked-nightly", input_key: str | None = None) -> dict[str, Any]:
    return {
        "jobArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/{job_id}",
        "jobName": name,
        "modelId": MODEL,
        "roleArn": ROLE,
        "status": status,
        "submitTime": START,
        "endTime": START,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{OUTPUT_BUCKET}/{input_key or f'in/{job_id}/'}"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{OUTPUT_BUCKET}/out/"}},
        "timeoutDurationInHours": 24,
    }


@dataclass
class FakeBedrock:
    """Bedrock's job API as the dispatcher uses it: the same job for the same clientRequestToken."""

    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_next_create: bool = False

    def describe(self, job_id: str) -> dict[str, Any]:
        return self.answers[job_id]

    def create(self, request: dict[str, Any]) -> str:
        if self.fail_next_create:
            self.fail_next_create = False
            raise RuntimeError("the Lambda stopped here")
        job_id = hashlib.sha256(request["clientRequestToken"].encode()).hexdigest()[:12]
        self.created.setdefault(job_id, request)
        return f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/{job_id}"


@dataclass
class FakeRuntime:
    """bedrock-runtime: records listed in `failing` fail with their code that many times, then answer."""

    failing: dict[str, list[int]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def run(self, model_id: str, invocation_type: str, model_input: dict[str, Any], record_id: str) -> Any:
        self.calls.append(record_id)
        codes = self.failing.get(record_id)
        if codes:
            code = codes.pop(0)
            if code == 429:
                raise RuntimeThrottled("Too many requests")
            raise RuntimeRecordError(code, f"error {code}")
        return {"content": [{"type": "text", "text": f"answer to {record_id}"}]}


@dataclass
class Events:
    sent: list[dict[str, Any]] = field(default_factory=list)

    def settled(self, detail: Any) -> None:
        self.sent.append(dict(detail))


class World:
    def __init__(self, s3: Any, dynamodb: Any, **policy_changes: Any) -> None:
        self.s3 = s3
        self.dynamodb = dynamodb
        self.now = START
        self.bedrock = FakeBedrock()
        self.runtime = FakeRuntime()
        self.events = Events()
        self.store = DynamoDbRetryStore(dynamodb, TABLE)
        self.min_records = policy_changes.pop("min_records", 3)
        self.settings = RetrySettings(
            policy=policy(**policy_changes),
            retry_input=S3Location(OUTPUT_BUCKET, "retries/"),
            job_name_prefixes=("tracked-",),
            min_records_per_job=self.min_records,
        )
        self.dispatcher = self.make_dispatcher()

    def make_dispatcher(self) -> RetryDispatcher:
        return RetryDispatcher(
            self.settings,
            self.store,
            jobs=self.bedrock,
            runtime=self.runtime,
            reader=S3ObjectReader(self.s3),
            writer=S3ObjectWriter(self.s3),
            events=self.events,
            clock=lambda: self.now,
            sleep=lambda _seconds: None,
        )

    def put(self, key: str, rows: list[dict[str, Any]]) -> None:
        body = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
        self.s3.put_object(Bucket=OUTPUT_BUCKET, Key=key, Body=body)

    def record(self, job_id: str, status: str, **extra: Any) -> None:
        raw = answer(job_id, status, **extra)
        self.bedrock.answers[job_id] = raw
        job = to_description(JobRef(ACCOUNT, job_id), BEDROCK, raw)
        request = {"DomainId": ACCOUNT, "JobId": job_id, "Job": job_to_payload(job)}
        record_job(request, S3ObjectReader(self.s3), DynamoDbFailureStore(self.dynamodb, TABLE))

    def original(
        self,
        job_id: str,
        ok: list[str],
        failed: dict[str, int],
        unprocessed: tuple[str, ...] | list[str] = (),
        name: str = "tracked-nightly",
    ) -> None:
        """A job whose input holds every record, and whose output answers `ok` and fails `failed` (id -> code)."""
        ids = [*ok, *failed, *unprocessed]
        self.put(f"in/{job_id}/records.jsonl", [line(record_id, f"prompt {record_id}") for record_id in ids])
        out = [{**line(record_id), "modelOutput": {"content": []}} for record_id in ok]
        out += [
            {**line(record_id), "error": {"errorCode": code, "errorMessage": f"error {code}"}}
            for record_id, code in failed.items()
        ]
        self.put(f"out/{job_id}/records.jsonl.out", out)
        self.record(job_id, "Stopped" if unprocessed else "Completed", name=name)

    def lineage(self, job_id: str) -> dict[str, dict[str, Any]]:
        return {item["RecordId"]: item for item in self.store.lineage(ACCOUNT, job_id)}

    def summary(self, job_id: str) -> dict[str, Any]:
        summary = self.store.summary(ACCOUNT, job_id)
        assert summary is not None
        return summary

    def failure_states(self, job_id: str) -> dict[str, Any]:
        return {item["RequestId"]: item.get("RetryState") for item in self.store.failures(ACCOUNT, job_id)}

    def finish_retry_job(self, job_id: str, outcomes: dict[str, int | None]) -> None:
        """Bedrock runs the retry job (each record: None answered, a code failed, absent unprocessed), and the
        tracker records it."""
        request = self.bedrock.created[job_id]
        input_key = S3Location.parse(request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]).key
        rows = []
        for record_id, code in outcomes.items():
            rows.append(
                {**line(record_id), "modelOutput": {"content": []}}
                if code is None
                else {**line(record_id), "error": {"errorCode": code, "errorMessage": f"again {code}"}}
            )
        self.put(f"out/{job_id}/{input_key.rsplit('/', 1)[-1]}.out", rows)
        self.record(job_id, "Completed" if len(outcomes) == len(rows) else "PartiallyCompleted", input_key=input_key)
        self.dispatcher.on_job_recorded(ACCOUNT, job_id)


@pytest.fixture
def world(s3: Any, dynamodb: Any) -> World:
    return World(s3, dynamodb)


def test_a_recorded_job_pools_its_retryable_records_and_a_400_is_final_at_once(world: World) -> None:
    world.original("job000000001", ok=["a"], failed={"t1": 429, "bad": 400, "m": 424}, unprocessed=["u1"])
    report = world.dispatcher.on_job_recorded(ACCOUNT, "job000000001")
    assert (report.pooled, report.final_at_once) == (2, 2)
    lineage = world.lineage("job000000001")
    assert {record: item["RetryState"] for record, item in lineage.items()} == {
        "t1": POOLED,
        "u1": POOLED,
        "bad": FINAL,
        "m": FINAL,
    }
    assert lineage["bad"]["FinalReason"] == "error 400 is final at once: the record itself is invalid"
    assert lineage["m"]["FinalReason"] == "error 424 is not among the policy's retryCodes"
    # Where each record's line is, and its first attempt, travel with it.
    assert lineage["u1"]["InputFile"] == f"s3://{OUTPUT_BUCKET}/in/job000000001/records.jsonl"
    assert lineage["t1"]["Attempts"] == [
        {
            "Attempt": 1,
            "RunBy": "job000000001",
            "ErrorCode": 429,
            "ErrorMessage": "error 429",
            "OutputFile": f"s3://{OUTPUT_BUCKET}/out/job000000001/records.jsonl.out",
            "LineNumber": 2,
        }
    ]
    assert world.failure_states("job000000001") == {"t1": POOLED, "u1": POOLED, "bad": FINAL, "m": FINAL}
    summary = world.summary("job000000001")
    assert (summary["RetryPendingCount"], summary["FinalFailedCount"], summary["RetrySucceededCount"]) == (2, 2, 0)
    assert "RetrySettledAt" not in summary and world.events.sent == []
    # The same event again, or a re-record (which rewrites the failure items without RetryState), pools nothing
    # twice and puts the states back.
    world.record("job000000001", "Stopped")
    again = world.dispatcher.on_job_recorded(ACCOUNT, "job000000001")
    assert (again.pooled, again.final_at_once) == (0, 0)
    assert world.failure_states("job000000001") == {"t1": POOLED, "u1": POOLED, "bad": FINAL, "m": FINAL}
    (pool,) = world.store.pools()
    assert len(world.store.members(pool["PoolKey"])) == 2


def test_a_small_pool_runs_on_demand_after_the_wait_and_the_job_settles(world: World) -> None:
    world.original("job000000002", ok=["a", "b"], failed={"t1": 429, "t2": 503})
    world.dispatcher.on_job_recorded(ACCOUNT, "job000000002")
    world.runtime.failing = {"t2": [429, 429]}  # throttled twice, answered on the third call
    assert world.dispatcher.run().on_demand_records == 0  # under the minimum, within the wait
    world.now += timedelta(seconds=61)
    report = world.dispatcher.run()
    assert report.on_demand_records == 2 and report.jobs_submitted == []
    assert world.runtime.calls == ["t1", "t2", "t2", "t2"]
    lineage = world.lineage("job000000002")
    assert {record: item["RetryState"] for record, item in lineage.items()} == {"t1": SUCCEEDED, "t2": SUCCEEDED}
    out_file = lineage["t1"]["SucceededOutputFile"]
    assert out_file.startswith(f"s3://{OUTPUT_BUCKET}/out/on-demand-") and out_file.endswith(".jsonl.out")
    assert lineage["t1"]["RetriedBy"] == "on-demand" and lineage["t1"]["Attempt"] == 2
    # The answers are Bedrock's batch format, at the line the lineage names.
    written = world.s3.get_object(Bucket=OUTPUT_BUCKET, Key=S3Location.parse(out_file).key)["Body"].read()
    rows = [json.loads(row) for row in written.splitlines()]
    assert rows[lineage["t2"]["SucceededLineNumber"] - 1]["recordId"] == "t2"
    assert rows[0]["modelInput"] == {"messages": [{"role": "user", "content": "prompt t1"}]}
    assert rows[0]["modelOutput"] == {"content": [{"type": "text", "text": "answer to t1"}]}
    summary = world.summary("job000000002")
    assert (summary["RetrySucceededCount"], summary["RetryPendingCount"], summary["FinalFailedCount"]) == (2, 0, 0)
    assert summary["SucceededRecordCount"] + summary["RetrySucceededCount"] == 4
    assert [event["JobId"] for event in world.events.sent] == ["job000000002"]
    assert world.events.sent[0]["RetrySucceededCount"] == 2
    # Nothing is left to run, and no second event comes.
    world.now += timedelta(seconds=120)
    assert world.dispatcher.run().on_demand_records == 0
    world.dispatcher.on_job_recorded(ACCOUNT, "job000000002")
    assert len(world.events.sent) == 1 and world.store.batches() == []


def test_three_stopped_jobs_pool_into_one_tracked_retry_job_and_all_settle(world: World) -> None:
    world.min_records = 6
    world.settings = RetrySettings(**{**world.settings.__dict__, "min_records_per_job": 6})
    world.dispatcher = world.make_dispatcher()
    for number in (1, 2, 3):
        job_id = f"stopped0000{number}"
        world.original(job_id, ok=[f"{number}-ok"], failed={}, unprocessed=[f"{number}-u1", f"{number}-u2"])
        world.dispatcher.on_job_recorded(ACCOUNT, job_id)
    report = world.dispatcher.run()
    (retry_job,) = report.jobs_submitted
    request = world.bedrock.created[retry_job]
    assert request["jobName"].startswith("tracked-") and len(request["jobName"]) <= 63
    assert request["modelId"] == MODEL and request["roleArn"] == ROLE and request["timeoutDurationInHours"] == 24
    input_uri = request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
    assert input_uri.startswith(f"s3://{OUTPUT_BUCKET}/retries/auto/")
    body = world.s3.get_object(Bucket=OUTPUT_BUCKET, Key=S3Location.parse(input_uri).key)["Body"].read()
    # The records' own lines, byte for byte.
    assert sorted(json.loads(row)["recordId"] for row in body.splitlines()) == sorted(
        f"{n}-u{i}" for n in (1, 2, 3) for i in (1, 2)
    )
    assert json.loads(body.splitlines()[0])["modelInput"]["messages"][0]["content"].startswith("prompt ")
    assert world.lineage("stopped00001")["1-u1"]["RetryState"] == SUBMITTED
    assert world.lineage("stopped00001")["1-u1"]["RetriedBy"] == retry_job
    # Running again starts no second job while this one is in flight.
    assert world.dispatcher.run().jobs_submitted == []
    outcomes: dict[str, int | None] = {f"{n}-u{i}": None for n in (1, 2, 3) for i in (1, 2)}
    world.finish_retry_job(retry_job, outcomes)
    for number in (1, 2, 3):
        summary = world.summary(f"stopped0000{number}")
        assert (summary["RetrySucceededCount"], summary["RetryPendingCount"], summary["FinalFailedCount"]) == (2, 0, 0)
        lineage = world.lineage(f"stopped0000{number}")[f"{number}-u2"]
        assert lineage["SucceededOutputFile"].startswith(f"s3://{OUTPUT_BUCKET}/out/{retry_job}/")
        assert lineage["SucceededLineNumber"] >= 1
    assert sorted(event["JobId"] for event in world.events.sent) == [f"stopped0000{n}" for n in (1, 2, 3)]
    # The retry job's own records are never pooled as a job of their own.
    assert world.store.lineage(ACCOUNT, retry_job) == [] and world.store.batches() == []


def test_a_500_every_time_is_final_after_max_attempts_with_each_attempt_in_its_lineage(world: World) -> None:
    world.original("job000000003", ok=["a"], failed={"bad": 500})
    world.dispatcher.on_job_recorded(ACCOUNT, "job000000003")
    world.runtime.failing = {"bad": [500] * 10}
    for _ in range(4):
        world.now += timedelta(seconds=61)
        world.dispatcher.run()
    lineage = world.lineage("job000000003")["bad"]
    assert lineage["RetryState"] == FINAL and lineage["Attempt"] == 3
    assert lineage["FinalReason"] == "failed 3 attempt(s), the policy's maxAttempts"
    assert [attempt["RunBy"] for attempt in lineage["Attempts"]] == ["job000000003", "on-demand", "on-demand"]
    assert [attempt["ErrorCode"] for attempt in lineage["Attempts"]] == [500, 500, 500]
    assert world.runtime.calls == ["bad", "bad"]
    summary = world.summary("job000000003")
    assert (summary["FinalFailedCount"], summary["RetryPendingCount"]) == (1, 0) and "RetrySettledAt" in summary


def test_the_daily_cap_stops_retries_and_says_so(s3: Any, dynamodb: Any) -> None:
    world = World(s3, dynamodb, maxRecordsPerDay=2)
    world.original("job000000004", ok=[], failed={"t1": 429, "t2": 429, "t3": 429})
    world.dispatcher.on_job_recorded(ACCOUNT, "job000000004")
    world.now += timedelta(seconds=61)
    report = world.dispatcher.run()
    assert report.on_demand_records == 2 and len(world.runtime.calls) == 2
    assert report.held_by_cap is not None and "daily cap of 2 records retried (maxRecordsPerDay)" in report.held_by_cap
    summary = world.summary("job000000004")
    assert "daily cap of 2" in summary["RetryHeldReason"] and summary["RetryPendingCount"] == 1
    # The next UTC day the last record runs.
    world.now += timedelta(days=1)
    assert world.dispatcher.run().on_demand_records == 1
    summary = world.summary("job000000004")
    assert summary["RetrySucceededCount"] == 3 and "RetryHeldReason" not in summary


def test_the_in_flight_limit_makes_a_pool_wait_never_fail(s3: Any, dynamodb: Any) -> None:
    world = World(s3, dynamodb, maxJobsInFlightPerModel=1, min_records=2)
    world.original("job000000005", ok=[], failed={"a1": 500, "a2": 500})
    world.original("job000000006", ok=[], failed={"b1": 500, "b2": 500}, name="tracked-other")
    world.bedrock.answers["job000000006"]["roleArn"] = f"{ROLE}2"  # another pool of the same model
    world.dispatcher.on_job_recorded(ACCOUNT, "job000000005")
    world.dispatcher.on_job_recorded(ACCOUNT, "job000000006")
    report = world.dispatcher.run()
    assert len(report.jobs_submitted) == 1 and report.waiting_for_slot == 1


def test_a_run_killed_mid_batch_is_resumed_once_its_lease_is_past(world: World) -> None:
    world.original("job000000008", ok=[], failed={f"k{n}": 503 for n in range(3)})
    world.dispatcher.on_job_recorded(ACCOUNT, "job000000008")
    (pool,) = world.store.pools()
    members = world.store.members(pool["PoolKey"])
    # As a run killed after opening the batch and claiming its records leaves them (no error to release it).
    batch = {"BatchId": "killed", "PoolKey": pool["PoolKey"], "Mode": "JOB", "BatchState": "OPEN", "RecordCount": 3}
    batch.update(ModelId=MODEL, DomainId=ACCOUNT, Digest="d" * 64, SourceJobs=[f"{ACCOUNT}#job000000008"])
    batch.update(pool)
    batch["LeaseUntil"] = (world.now + timedelta(minutes=15)).isoformat(timespec="seconds")
    assert world.store.open_batch(batch, world.now.date().isoformat(), 1000)
    assert all(world.store.claim(member, "killed") for member in members)
    assert world.dispatcher.run().jobs_submitted == [] and world.bedrock.created == {}
    world.now += timedelta(minutes=16)
    (retry_job,) = world.dispatcher.run().jobs_submitted
    assert world.lineage("job000000008")["k0"]["RetriedBy"] == retry_job


def test_a_crash_between_pooling_and_submitting_loses_and_duplicates_nothing(world: World) -> None:
    world.original("job000000007", ok=[], failed={f"r{n}": 503 for n in range(4)})
    world.dispatcher.on_job_recorded(ACCOUNT, "job000000007")
    world.bedrock.fail_next_create = True
    with pytest.raises(RuntimeError, match="stopped here"):
        world.dispatcher.run()
    (batch,) = world.store.batches()
    assert batch["BatchState"] == "OPEN"
    # A new Lambda (a restart) resumes the open batch: one job, every record in it once.
    world.dispatcher = world.make_dispatcher()
    report = world.dispatcher.run()
    (retry_job,) = report.jobs_submitted
    assert list(world.bedrock.created) == [retry_job]
    body = world.s3.get_object(
        Bucket=OUTPUT_BUCKET,
        Key=S3Location.parse(world.bedrock.created[retry_job]["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]).key,
    )["Body"].read()
    assert sorted(json.loads(row)["recordId"] for row in body.splitlines()) == ["r0", "r1", "r2", "r3"]
    assert world.dispatcher.run().jobs_submitted == []
    # The retry job's event arrives twice: the outcomes are counted once.
    world.finish_retry_job(retry_job, {"r0": None, "r1": None, "r2": 503})
    world.dispatcher.on_job_recorded(ACCOUNT, retry_job)
    lineage = world.lineage("job000000007")
    assert {record: item["RetryState"] for record, item in lineage.items()} == {
        "r0": SUCCEEDED,
        "r1": SUCCEEDED,
        "r2": POOLED,
        "r3": POOLED,
    }
    assert lineage["r3"]["ErrorCode"] == "UNPROCESSED" and lineage["r3"]["Attempt"] == 2
    assert [attempt["Attempt"] for attempt in lineage["r2"]["Attempts"]] == [1, 2]
    (pool,) = world.store.pools()
    members = world.store.members(pool["PoolKey"])
    assert sorted(member["RecordId"] for member in members) == ["r2", "r3"]
    assert all("BatchId" not in member and member["Attempt"] == 2 for member in members)


def test_a_job_whose_summary_is_gone_is_counted_on_nothing(world: World) -> None:
    world.original("job000000009", ok=[], failed={"g1": 429})
    world.dispatcher.on_job_recorded(ACCOUNT, "job000000009")
    world.dynamodb.delete_item(
        TableName=TABLE, Key={"pk": {"S": f"JOB#{ACCOUNT}#job000000009"}, "sk": {"S": "SUMMARY"}}
    )
    world.now += timedelta(seconds=61)
    assert world.dispatcher.run().on_demand_records == 1  # the record still settles; no summary is recreated
    assert world.store.summary(ACCOUNT, "job000000009") is None
    assert world.lineage("job000000009")["g1"]["RetryState"] == SUCCEEDED
