"""Amazon Bedrock: GetModelInvocationJob and ListModelInvocationJobs, mapped onto the tracker's models.

The record counts (`totalRecordCount`, `processedRecordCount`, ...) arrived in botocore 1.42.81. Lambda's
Python runtime bundles a boto3 of its own, which may be older, and the tracker deliberately does not ship
boto3 in its layer (docs/bedrock-jobs.md, "Which boto3"): so every count is optional here. Without them the
poll planner sees 0 % until the end (it backs off as for a job that reports no progress), and the record
step counts from the output files and `manifest.json.out` alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from job_tracker.errors import (
    AccessDenied,
    BedrockThrottled,
    BedrockUnavailable,
    InvalidJobRequest,
    JobNotFound,
    UnexpectedJobStatus,
)
from job_tracker.kinds import JobKind
from job_tracker.models import FailureDetails, JobDescription, JobRef, JobStatus, S3Location, bedrock_output_folder
from job_tracker.scopes import BedrockScope
from job_tracker.sweep import ListedJob

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient

RECORD_COUNTS = ("totalRecordCount", "processedRecordCount", "successRecordCount", "errorRecordCount")
JOB_ARN_PREFIX = ":model-invocation-job/"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _percent(counts: dict[str, int] | None) -> int:
    if not counts or not counts.get("totalRecordCount"):
        return 0
    return max(0, min(100, counts.get("processedRecordCount", 0) * 100 // counts["totalRecordCount"]))


def to_description(ref: JobRef, kind: JobKind, job: dict[str, Any]) -> JobDescription:
    service_status = str(job.get("status") or "Submitted")
    tracker_status = kind.tracker_status(service_status)
    if tracker_status is None:
        raise UnexpectedJobStatus(
            f"Bedrock reported status {service_status!r} for job {ref.job_id}, which the tracker does not know"
        )
    present = {name: job[name] for name in RECORD_COUNTS if isinstance(job.get(name), int)}
    counts = present or None
    status = JobStatus(tracker_status)
    if status is JobStatus.COMPLETED and counts and counts.get("errorRecordCount", 0) > 0:
        status = JobStatus.COMPLETED_WITH_ERRORS
    output_uri = job.get("outputDataConfig", {}).get("s3OutputDataConfig", {}).get("s3Uri")
    input_uri = job.get("inputDataConfig", {}).get("s3InputDataConfig", {}).get("s3Uri")
    message = job.get("message")
    return JobDescription(
        ref=ref,
        kind=kind,
        status=status,
        percent_complete=100 if status.is_terminal else _percent(counts),
        job_name=job.get("jobName"),
        created_at=_iso(job.get("submitTime")),
        ended_at=_iso(job.get("endTime")),
        failure_details=FailureDetails(status_code=None, message=message) if message else None,
        output=bedrock_output_folder(output_uri, ref.job_id) if output_uri else None,
        input=S3Location.parse(input_uri) if input_uri else None,
        service_status=service_status if service_status != status.value else None,
        record_counts=counts,
    )


def job_id_of(job_arn: str) -> str:
    return job_arn.rsplit("/", 1)[-1]


def account_of(job_arn: str) -> str | None:
    """The account of `arn:<partition>:bedrock:<region>:<account>:model-invocation-job/<id>`."""
    parts = job_arn.split(":")
    return parts[4] if len(parts) == 6 else None


class BedrockJobDescriber:
    """Reads one model invocation job. Throttling is retried by the client's retry configuration first;
    what is left is raised as BedrockThrottled for the state machine's slower backoff."""

    def __init__(self, client: BedrockClient) -> None:
        self._client = client

    def describe(self, ref: JobRef, kind: JobKind) -> JobDescription:
        try:
            job: Any = self._client.get_model_invocation_job(jobIdentifier=ref.job_id)
        except ClientError as error:
            raise _translate(error, f"{kind.noun} job {ref.job_id}", kind.describe_api) from error
        except BotoCoreError as error:
            raise BedrockUnavailable(f"could not reach Bedrock describing job {ref.job_id}: {error}") from error
        account = account_of(str(job.get("jobArn", "")))
        if account is not None and account != ref.domain_id:
            raise InvalidJobRequest(f"job {ref.job_id} belongs to account {account}, not {ref.domain_id}")
        return to_description(ref, kind, job)


# A page as large as the API allows.
LIST_PAGE_SIZE = 1000


class BedrockJobLister:
    """Lists the account's model invocation jobs submitted within the lookback whose name starts with a
    configured prefix and whose output lies in a configured location: exactly the jobs the stack follows."""

    def __init__(
        self, client: BedrockClient, scope: BedrockScope, lookback: timedelta, clock: Callable[[], datetime]
    ) -> None:
        self._client = client
        self._scope = scope
        self._lookback = lookback
        self._clock = clock

    def list_jobs(self, domain_id: str, kind: JobKind) -> Iterator[ListedJob]:
        """Every page's jobs in one stream."""
        return itertools.chain.from_iterable(self.list_job_pages(domain_id, kind))

    def list_job_pages(self, domain_id: str, kind: JobKind) -> Iterator[list[ListedJob]]:
        """One list per ListModelInvocationJobs page (of each prefix in turn), fetched as the caller asks."""
        seen: set[str] = set()
        for prefix in self._scope.job_name_prefixes:
            for summaries in self._pages(prefix, kind):
                page: list[ListedJob] = []
                for summary in summaries:
                    job_id = job_id_of(summary["jobArn"])
                    output_uri = summary.get("outputDataConfig", {}).get("s3OutputDataConfig", {}).get("s3Uri")
                    output = bedrock_output_folder(output_uri, job_id) if output_uri else None
                    if job_id in seen or self._scope.problem_with(summary.get("jobName"), output) is not None:
                        continue
                    seen.add(job_id)
                    page.append(
                        ListedJob(
                            ref=JobRef(domain_id=domain_id, job_id=job_id),
                            kind=kind,
                            status=str(summary.get("status", "")),
                            created_at=summary["submitTime"],
                        )
                    )
                yield page

    def _pages(self, prefix: str, kind: JobKind) -> Iterator[list[dict[str, Any]]]:
        token: str | None = None
        # One window for every page: a next page's request must repeat the first one's filters.
        submitted_after = self._clock() - self._lookback
        try:
            while True:
                request: dict[str, Any] = {
                    "submitTimeAfter": submitted_after,
                    # nameContains is a substring match; the prefix is checked on each summary.
                    "nameContains": prefix,
                    "maxResults": LIST_PAGE_SIZE,
                    **({"nextToken": token} if token else {}),
                }
                response: Any = self._client.list_model_invocation_jobs(**request)
                yield list(response.get("invocationJobSummaries", []))
                token = response.get("nextToken")
                if not token:
                    return
        except ClientError as error:
            raise _translate(error, f"Bedrock jobs named {prefix}*", kind.list_api) from error
        except BotoCoreError as error:
            raise BedrockUnavailable(f"could not reach Bedrock listing jobs named {prefix}*: {error}") from error


def _translate(error: ClientError, where: str, operation: str) -> Exception:
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    if code == "ResourceNotFoundException":
        return JobNotFound(f"Bedrock has no {where}: {message}")
    if code == "ValidationException":
        return InvalidJobRequest(f"Bedrock rejected the request for {where}: {message}")
    if code == "AccessDeniedException":
        return AccessDenied(f"not allowed to call {operation} for {where}: {message}")
    if code == "ThrottlingException":
        return BedrockThrottled(f"Bedrock throttled {operation} for {where}: {message}")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in ("InternalServerException", "ServiceUnavailableException") or status >= 500:
        return BedrockUnavailable(f"Bedrock failed internally in {operation} for {where}: {message}")
    return error
