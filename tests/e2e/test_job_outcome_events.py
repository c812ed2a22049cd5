"""When a job is recorded, the state machine announces it on the default bus: subscribers route the event
to chat, tickets or mail. The local EventBridge keeps every event put on a bus, so the test sees it. A Voice
ID job's event keeps the detail-type from before Bedrock; other jobs are announced as batch jobs."""

from __future__ import annotations

import json
import uuid

from bedrock_emulator.testing import claude_input
from local_cloud.driver import BEDROCK_BATCH_INFERENCE, AudioRequest, TrackerDriver, recorded_by
from tests.e2e.test_bedrock_end_to_end import settle

SOURCE = "voiceid.job-tracker"
DETAIL_TYPE = "Voice ID Job Recorded"
BATCH_DETAIL_TYPE = "Batch Job Recorded"


def test_a_recorded_job_is_announced_once_with_its_outcome(driver: TrackerDriver, domain_id: str) -> None:
    requests = [
        AudioRequest("outcome-good", seed=810_001),
        AudioRequest("outcome-missing", missing=True),
    ]
    job = driver.start_job(domain_id, driver.upload_manifest(requests))
    executions = driver.wait_until_settled(job, expected_executions=2)
    (recorder,) = recorded_by(executions)
    announced = [
        event
        for event in driver.local.cloud.events.events_received(source=SOURCE)
        if event["detail"]["JobId"] == job.job_id
    ]
    assert [event["detail-type"] for event in announced] == [DETAIL_TYPE]
    detail = announced[0]["detail"]
    assert announced[0]["bus"] == "default"
    assert {key: detail[key] for key in ("JobKind", "DomainId", "JobStatus", "RecordState", "FailedRequests")} == {
        "JobKind": "FRAUDSTER_REGISTRATION",
        "DomainId": domain_id,
        "JobStatus": "COMPLETED_WITH_ERRORS",
        "RecordState": "COMPLETE",
        "FailedRequests": 1,
    }
    assert detail["Items"] == {"TableName": driver.local.table_name, "pk": job.partition_key}
    assert detail["Record"]["RegisteredRequests"] == 1
    assert detail["ExecutionArn"] == recorder["executionArn"]
    assert detail["Record"] == json.loads(recorder["output"])


def test_a_bedrock_job_is_announced_as_a_batch_job(driver: TrackerDriver) -> None:
    admin = driver.local.bedrock.admin
    admin.set_quota(min_records_per_job=1)  # the local Bedrock's default minimum is 100 records, as Bedrock's
    try:
        records = [
            # An empty prompt is answered with a 400: one failed record.
            {"recordId": f"outcome{n}", "modelInput": claude_input("" if n == 1 else f"Summarise item {n}.")}
            for n in range(3)
        ]
        folder = driver.upload_bedrock_input({"in.jsonl": records}, label="outcome-event")
        job = driver.start_bedrock_job(f"tracked-outcome-{uuid.uuid4().hex[:8]}", folder)
        settle(driver, job)
    finally:
        admin.reset_quotas()
    (recorder,) = recorded_by(driver.executions(job))
    announced = [
        event
        for event in driver.local.cloud.events.events_received(source=SOURCE)
        if event["detail"]["JobId"] == job.job_id
    ]
    assert [event["detail-type"] for event in announced] == [BATCH_DETAIL_TYPE]
    detail = announced[0]["detail"]
    assert (detail["JobKind"], detail["DomainId"], detail["JobStatus"]) == (
        BEDROCK_BATCH_INFERENCE,
        job.domain_id,
        "Completed",
    )
    assert detail["FailedRequests"] == 1
    assert detail["Record"] == json.loads(recorder["output"])
