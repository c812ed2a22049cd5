"""Voice ID: Describe*Job and List*Jobs of each job kind, mapped onto the tracker's own errors and models."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from job_tracker.errors import (
    AccessDenied,
    InvalidJobRequest,
    JobNotFound,
    UnexpectedJobStatus,
    VoiceIdThrottled,
    VoiceIdUnavailable,
)
from job_tracker.kinds import JobKind
from job_tracker.models import FailureDetails, JobDescription, JobRef, JobStatus, S3Location, output_location
from job_tracker.sweep import ListedJob

if TYPE_CHECKING:
    from mypy_boto3_voice_id import VoiceIDClient


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class VoiceIdJobDescriber:
    """Reads one job of a kind. Throttling is retried by the client's botocore retry config first; what is
    left is raised as VoiceIdThrottled for the state machine's slower backoff."""

    def __init__(self, client: VoiceIDClient) -> None:
        self._client = client

    def describe(self, ref: JobRef, kind: JobKind) -> JobDescription:
        # Both kinds answer with the same Job shape apart from their config; the kind names the call.
        describe: Any = getattr(self._client, kind.describe_method)
        try:
            job = describe(DomainId=ref.domain_id, JobId=ref.job_id)["Job"]
        except ClientError as error:
            raise _translate(
                error, f"{kind.noun} job {ref.job_id} in Voice ID domain {ref.domain_id}", kind.describe_api
            ) from error
        except BotoCoreError as error:
            # Connection failures and read timeouts that outlasted the SDK's retries.
            raise VoiceIdUnavailable(f"could not reach Voice ID describing job {ref.job_id}: {error}") from error
        return _to_description(ref, kind, job)


# A page as large as the API allows: fewer calls against the shared 2 TPS.
LIST_PAGE_SIZE = 100


class VoiceIdJobLister:
    """Lists a domain's jobs of a kind, every page. The client's retry configuration (adaptive mode) spaces
    the calls out when Voice ID throttles; what throttling is left raises VoiceIdThrottled."""

    def __init__(self, client: VoiceIDClient) -> None:
        self._client = client

    def list_jobs(self, domain_id: str, kind: JobKind) -> Iterator[ListedJob]:
        """Every page's jobs in one stream."""
        return itertools.chain.from_iterable(self.list_job_pages(domain_id, kind))

    def list_job_pages(self, domain_id: str, kind: JobKind) -> Iterator[list[ListedJob]]:
        try:
            # The paginator fetches each page as the loop asks for it.
            paginator: Any = self._client.get_paginator(kind.list_method)  # type: ignore[call-overload]
            for page in paginator.paginate(DomainId=domain_id, PaginationConfig={"PageSize": LIST_PAGE_SIZE}):
                yield [
                    ListedJob(
                        ref=JobRef(domain_id=domain_id, job_id=summary["JobId"]),
                        kind=kind,
                        status=summary["JobStatus"],
                        created_at=summary["CreatedAt"],
                    )
                    for summary in page.get("JobSummaries", [])
                ]
        except ClientError as error:
            raise _translate(error, f"Voice ID domain {domain_id}", kind.list_api) from error
        except BotoCoreError as error:
            raise VoiceIdUnavailable(f"could not reach Voice ID listing jobs of domain {domain_id}: {error}") from error


def _translate(error: ClientError, where: str, operation: str) -> Exception:
    """Voice ID's error, as the tracker error the state machine tells apart. `where` names the job or domain."""
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    if code == "ResourceNotFoundException":
        return JobNotFound(f"Voice ID has no {where}: {message}")
    if code == "ValidationException":
        return InvalidJobRequest(f"Voice ID rejected the request for {where}: {message}")
    if code == "AccessDeniedException":
        return AccessDenied(
            f"not allowed to call {operation} for {where}; check the tracker's configured domains: {message}"
        )
    if code == "ThrottlingException":
        return VoiceIdThrottled(f"Voice ID throttled {operation} for {where}: {message}")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code == "InternalServerException" or status >= 500:
        return VoiceIdUnavailable(f"Voice ID failed internally in {operation} for {where}: {message}")
    return error


def _to_description(ref: JobRef, kind: JobKind, job: dict[str, Any]) -> JobDescription:
    try:
        status = JobStatus(job["JobStatus"])
    except ValueError:
        raise UnexpectedJobStatus(
            f"Voice ID reported JobStatus {job['JobStatus']!r} for job {ref.job_id}, which the tracker does not know"
        ) from None
    details = job.get("FailureDetails")
    output_folder = job.get("OutputDataConfig", {}).get("S3Uri")
    input_uri = job.get("InputDataConfig", {}).get("S3Uri")
    return JobDescription(
        ref=ref,
        kind=kind,
        status=status,
        percent_complete=job.get("JobProgress", {}).get("PercentComplete", 0),
        job_name=job.get("JobName"),
        created_at=_iso(job.get("CreatedAt")),
        ended_at=_iso(job.get("EndedAt")),
        failure_details=(
            FailureDetails(status_code=details.get("StatusCode"), message=details.get("Message")) if details else None
        ),
        output=(output_location(output_folder, ref.job_id, input_uri) if output_folder and input_uri else None),
        input=S3Location.parse(input_uri) if input_uri else None,
    )
