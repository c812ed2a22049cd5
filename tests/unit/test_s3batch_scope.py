"""Which S3 Batch Operations jobs a stack follows: the functions' environment, the execution input (an event's
JobArn or DomainId and JobId), the described job's description and report location, and the sweep's filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from job_tracker.adapters.s3control import S3BatchJobLister
from job_tracker.errors import ConfigurationError, InvalidJobRequest
from job_tracker.execution_input import STARTED_BY_EVENT, JobNotFollowed, normalize_execution_input
from job_tracker.kinds import JOB_KINDS
from job_tracker.models import JobDescription, JobRef, JobStatus, S3Location
from job_tracker.scopes import S3BatchScope
from job_tracker.settings import tracked_jobs

S3BATCH = JOB_KINDS["S3_BATCH_OPERATIONS"]
ACCOUNT = "123456789012"
REGION = "us-east-1"
JOB_ID = "93735294-df46-44d5-8638-6356f335324e"
ENV = {
    "S3BATCH_JOB_DESCRIPTION_PREFIXES": "tracked-,nightly ",
    "S3BATCH_REPORT_LOCATIONS": "s3://reports/batch/,s3://other-reports/",
    "S3BATCH_ACCOUNT_ID": ACCOUNT,
    "AWS_REGION": REGION,
}


def scope() -> S3BatchScope:
    found = tracked_jobs(ENV).scopes["s3"]
    assert isinstance(found, S3BatchScope)
    return found


def test_the_environment_names_the_scope_and_s3_batch_alone_is_a_stack() -> None:
    tracked = tracked_jobs(ENV)
    assert set(tracked.scopes) == {"s3"} and [kind.name for kind in tracked.kinds] == ["S3_BATCH_OPERATIONS"]
    assert scope() == S3BatchScope(
        account_id=ACCOUNT,
        region=REGION,
        description_prefixes=("tracked-", "nightly "),
        report_locations=(S3Location("reports", "batch/"), S3Location("other-reports", "")),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"S3BATCH_ACCOUNT_ID": ""}, "S3BATCH_ACCOUNT_ID is not set"),
        ({"S3BATCH_ACCOUNT_ID": "12345"}, "S3BATCH_ACCOUNT_ID must be 12 digits"),
        ({"S3BATCH_REPORT_LOCATIONS": ""}, "S3BATCH_REPORT_LOCATIONS is not set"),
        ({"S3BATCH_REPORT_LOCATIONS": "reports/batch"}, "S3BATCH_REPORT_LOCATIONS: not an S3 URI"),
        ({"S3BATCH_JOB_DESCRIPTION_PREFIXES": ""}, "S3BATCH_JOB_DESCRIPTION_PREFIXES is set: the stack would follow"),
    ],
)
def test_a_bad_environment_names_the_variable(change: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        tracked_jobs(ENV | change)


def test_an_event_s_job_arn_or_an_operator_s_account_and_id_name_the_job() -> None:
    tracked = tracked_jobs(ENV)
    by_arn = scope().ref_from_input({"JobArn": f"arn:aws:s3:{REGION}:{ACCOUNT}:job/{JOB_ID}"}, S3BATCH)
    by_id = scope().ref_from_input({"DomainId": ACCOUNT, "JobId": JOB_ID}, S3BATCH)
    assert by_arn == by_id == JobRef(ACCOUNT, JOB_ID)
    with pytest.raises(InvalidJobRequest, match="names Region eu-west-1; this stack follows us-east-1 only"):
        scope().ref_from_input({"JobArn": f"arn:aws:s3:eu-west-1:{ACCOUNT}:job/{JOB_ID}"}, S3BATCH)
    with pytest.raises(InvalidJobRequest, match="JobArn must be an S3 Batch Operations job ARN"):
        scope().ref_from_input({"JobArn": f"arn:aws:s3:{REGION}:{ACCOUNT}:job/not-a-uuid"}, S3BATCH)
    assert "follows S3 Batch Operations jobs of 123456789012 only" in str(
        scope().problem_with_ref(JobRef("210987654321", JOB_ID))
    )
    assert tracked.scope_of(S3BATCH) == scope()


def described(description: str | None, report: str | None) -> JobDescription:
    return JobDescription(
        ref=JobRef(ACCOUNT, JOB_ID),
        kind=S3BATCH,
        status=JobStatus.IN_PROGRESS,
        percent_complete=0,
        created_at=None,
        ended_at=None,
        failure_details=None,
        job_name=description,
        output=S3Location.parse(report) if report else None,
    )


@pytest.mark.parametrize(
    ("description", "report", "problem"),
    [
        ("tracked-copy", f"s3://reports/batch/job-{JOB_ID}/", None),
        ("nightly tagging", f"s3://other-reports/anywhere/job-{JOB_ID}/", None),
        # A disabled report: the job is recorded from DescribeJob alone, nothing to read elsewhere.
        ("tracked-copy", None, None),
        ("someone else's copy", f"s3://reports/batch/job-{JOB_ID}/", "starts with none of the configured prefixes"),
        (None, f"s3://reports/batch/job-{JOB_ID}/", "its description None starts with none"),
        ("tracked-copy", f"s3://reports/elsewhere/job-{JOB_ID}/", "its report 's3://reports/elsewhere/job-"),
        ("tracked-copy", f"s3://reports-2/batch/job-{JOB_ID}/", "is under none of the configured locations"),
    ],
)
def test_a_job_is_followed_by_its_description_and_report_location(
    description: str | None, report: str | None, problem: str | None
) -> None:
    found = scope().problem_with_job(described(description, report))
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found and "outside this stack's configuration" in found


class OneJob:
    def __init__(self, job: JobDescription) -> None:
        self.job = job
        self.described: list[JobRef] = []

    def describe(self, ref: JobRef, kind: Any) -> JobDescription:
        self.described.append(ref)
        return self.job


def test_validate_input_refuses_a_job_outside_the_configuration_after_one_describe() -> None:
    arn = f"arn:aws:s3:{REGION}:{ACCOUNT}:job/{JOB_ID}"
    inside = OneJob(described("tracked-copy", f"s3://reports/batch/job-{JOB_ID}/"))
    assert normalize_execution_input({"JobArn": arn, "JobKind": S3BATCH.name}, tracked_jobs(ENV), inside) == {
        "DomainId": ACCOUNT,
        "JobId": JOB_ID,
        "JobKind": "S3_BATCH_OPERATIONS",
        "Rerecord": False,
    }
    outside = OneJob(described("ad hoc", f"s3://reports/batch/job-{JOB_ID}/"))
    with pytest.raises(InvalidJobRequest, match="description 'ad hoc' starts with none of the configured prefixes"):
        normalize_execution_input({"JobArn": arn, "JobKind": S3BATCH.name}, tracked_jobs(ENV), outside)
    assert outside.described == [JobRef(ACCOUNT, JOB_ID)]


def test_an_event_s_job_of_another_description_is_not_followed_but_a_report_elsewhere_is_refused() -> None:
    arn = f"arn:aws:s3:{REGION}:{ACCOUNT}:job/{JOB_ID}"
    from_event = {"JobArn": arn, "JobKind": S3BATCH.name, "StartedBy": STARTED_BY_EVENT}
    other = OneJob(described("ad hoc", f"s3://reports/batch/job-{JOB_ID}/"))
    with pytest.raises(JobNotFollowed, match="description 'ad hoc' starts with none"):
        normalize_execution_input(from_event, tracked_jobs(ENV), other)
    # Started by an operator or the sweep, the same job is refused as before: a failure that says why.
    for started_by in ("operator", "sweep"):
        with pytest.raises(InvalidJobRequest) as refused:
            normalize_execution_input(from_event | {"StartedBy": started_by}, tracked_jobs(ENV), other)
        assert not isinstance(refused.value, JobNotFollowed)
    # A followed description whose report the stack may not read is a configuration to fix, from an event too.
    elsewhere = OneJob(described("tracked-copy", f"s3://reports/elsewhere/job-{JOB_ID}/"))
    with pytest.raises(InvalidJobRequest, match="s3BatchReportLocations") as refused:
        normalize_execution_input(from_event, tracked_jobs(ENV), elsewhere)
    assert not isinstance(refused.value, JobNotFollowed)


def test_the_sweep_lists_only_jobs_whose_description_the_configuration_follows() -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    make_client: Any = boto3.client
    client = make_client("s3control", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")

    def entry(job_id: str, description: str | None) -> dict[str, Any]:
        listed: dict[str, Any] = {"JobId": job_id, "Status": "Active", "CreationTime": now - timedelta(hours=1)}
        return listed | ({"Description": description} if description is not None else {})

    followed, other, undescribed = (f"{n}{JOB_ID[1:]}" for n in "123")
    with Stubber(client) as stub:
        stub.add_response(
            "list_jobs",
            {"Jobs": [entry(followed, "tracked-copy"), entry(other, "ad hoc"), entry(undescribed, None)]},
            {"AccountId": ACCOUNT, "MaxResults": 1000},
        )
        lister = S3BatchJobLister(
            client,
            timedelta(days=7),
            lambda: now,
            followed=lambda description: scope().problem_with_description(description) is None,
        )
        listed = list(lister.list_jobs(ACCOUNT, S3BATCH))
    assert [job.ref.job_id for job in listed] == [followed]
