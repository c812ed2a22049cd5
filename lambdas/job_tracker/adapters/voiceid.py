"""Voice ID: DescribeFraudsterRegistrationJob, mapped onto the tracker's own errors and models."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from job_tracker.errors import (
    AccessDenied,
    InvalidJobRequest,
    JobNotFound,
    UnexpectedJobStatus,
    VoiceIdThrottled,
    VoiceIdUnavailable,
)
from job_tracker.models import FailureDetails, JobDescription, JobRef, JobStatus, output_location

if TYPE_CHECKING:
    from mypy_boto3_voice_id import VoiceIDClient
    from mypy_boto3_voice_id.type_defs import FraudsterRegistrationJobTypeDef


class JobDescriber(Protocol):
    def describe(self, ref: JobRef) -> JobDescription: ...


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class VoiceIdJobDescriber:
    """Reads one fraudster registration job. Throttling is retried by the client's botocore retry config
    first; what is left is raised as VoiceIdThrottled for the state machine's slower backoff."""

    def __init__(self, client: VoiceIDClient) -> None:
        self._client = client

    def describe(self, ref: JobRef) -> JobDescription:
        try:
            job = self._client.describe_fraudster_registration_job(DomainId=ref.domain_id, JobId=ref.job_id)["Job"]
        except ClientError as error:
            raise _translate(error, ref) from error
        except BotoCoreError as error:
            # Connection failures and read timeouts that outlasted the SDK's retries.
            raise VoiceIdUnavailable(f"could not reach Voice ID describing job {ref.job_id}: {error}") from error
        return _to_description(ref, job)


def _translate(error: ClientError, ref: JobRef) -> Exception:
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    where = f"job {ref.job_id} in Voice ID domain {ref.domain_id}"
    if code == "ResourceNotFoundException":
        return JobNotFound(f"Voice ID has no fraudster registration {where}: {message}")
    if code == "ValidationException":
        return InvalidJobRequest(f"Voice ID rejected the request for {where}: {message}")
    if code == "AccessDeniedException":
        return AccessDenied(f"not allowed to describe {where}; check the tracker's configured domains: {message}")
    if code == "ThrottlingException":
        return VoiceIdThrottled(f"Voice ID throttled DescribeFraudsterRegistrationJob for {where}: {message}")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code == "InternalServerException" or status >= 500:
        return VoiceIdUnavailable(f"Voice ID failed internally describing {where}: {message}")
    return error


def _to_description(ref: JobRef, job: FraudsterRegistrationJobTypeDef) -> JobDescription:
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
        status=status,
        percent_complete=job.get("JobProgress", {}).get("PercentComplete", 0),
        job_name=job.get("JobName"),
        created_at=_iso(job.get("CreatedAt")),
        ended_at=_iso(job.get("EndedAt")),
        failure_details=(
            FailureDetails(status_code=details.get("StatusCode"), message=details.get("Message")) if details else None
        ),
        output=(output_location(output_folder, ref.job_id, input_uri) if output_folder and input_uri else None),
    )
