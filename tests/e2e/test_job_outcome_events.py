"""When a job is recorded, the state machine announces it on the default bus: subscribers route the event
to chat, tickets or mail. The local EventBridge keeps every event put on a bus, so the test sees it."""

from __future__ import annotations

import json

from local_cloud.driver import AudioRequest, TrackerDriver, recorded_by

SOURCE = "voiceid.job-tracker"
DETAIL_TYPE = "Voice ID Job Recorded"


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
        for event in driver.local.cloud.events.events_received(source=SOURCE, detail_type=DETAIL_TYPE)
        if event["detail"]["JobId"] == job.job_id
    ]
    assert len(announced) == 1
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
