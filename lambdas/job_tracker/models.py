"""Value objects passed between the adapters, the domain logic and the handlers."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from job_tracker.errors import InvalidJobRequest
from job_tracker.ids import require_resource_id
from job_tracker.kinds import JobKind, job_kind

_S3_URI = re.compile(r"s3://(?P<bucket>[a-z0-9][.\-a-z0-9]{1,61}[a-z0-9])(?:/(?P<key>.*))?")


class JobStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.COMPLETED_WITH_ERRORS, JobStatus.FAILED)


@dataclass(frozen=True)
class JobRef:
    domain_id: str
    job_id: str

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> JobRef:
        """Read `{"DomainId", "JobId"}` from an execution's state, validating both identifiers."""
        return cls(
            domain_id=require_resource_id("DomainId", payload.get("DomainId")),
            job_id=require_resource_id("JobId", payload.get("JobId")),
        )

    @property
    def partition_key(self) -> str:
        return f"JOB#{self.domain_id}#{self.job_id}"


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        match = _S3_URI.fullmatch(uri)
        if not match:
            raise InvalidJobRequest(f"not an S3 URI: {uri!r}")
        return cls(bucket=match["bucket"], key=match["key"] or "")


def output_location(output_folder_uri: str, job_id: str, input_uri: str) -> S3Location:
    """Where Voice ID writes a job's results.

    The rule is documented on `OutputDataConfig.S3Uri`:
    `s3://output-bucket/output-folder/<JobId>/<input file name>.out`. A trailing slash on the folder is not
    documented; it is stripped so that `s3://b/f/` and `s3://b/f` name the same object.
    """
    folder = S3Location.parse(output_folder_uri.rstrip("/"))
    input_name = posixpath.basename(S3Location.parse(input_uri).key)
    if not input_name:
        raise InvalidJobRequest(f"the job's input S3Uri names no file: {input_uri!r}")
    key = "/".join(part for part in (folder.key, job_id, f"{input_name}.out") if part)
    return S3Location(bucket=folder.bucket, key=key)


@dataclass(frozen=True)
class FailureDetails:
    status_code: int | None
    message: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"StatusCode": self.status_code, "Message": self.message}


@dataclass(frozen=True)
class JobDescription:
    """The part of a Describe*Job answer the tracker acts on."""

    ref: JobRef
    kind: JobKind
    status: JobStatus
    percent_complete: int
    job_name: str | None
    created_at: str | None
    ended_at: str | None
    failure_details: FailureDetails | None
    output: S3Location | None
    """Where the `.out` is (or will be); None when the job carries no output configuration."""
    input: S3Location | None = None
    """The job's input manifest (InputDataConfig.S3Uri)."""


def job_to_payload(job: JobDescription) -> dict[str, Any]:
    """The job as it travels through the execution's state (and back into the record Lambda)."""
    return {
        "DomainId": job.ref.domain_id,
        "JobId": job.ref.job_id,
        "JobKind": job.kind.name,
        "JobName": job.job_name,
        "JobStatus": job.status.value,
        "PercentComplete": job.percent_complete,
        "CreatedAt": job.created_at,
        "EndedAt": job.ended_at,
        "FailureDetails": job.failure_details.to_dict() if job.failure_details else None,
        "OutputUri": job.output.uri if job.output else None,
        "InputUri": job.input.uri if job.input else None,
    }


def job_from_payload(payload: dict[str, Any]) -> JobDescription:
    """Rebuild a JobDescription from `job_to_payload` output, rejecting anything else."""
    try:
        status = JobStatus(payload["JobStatus"])
        details = payload.get("FailureDetails")
        output_uri = payload.get("OutputUri")
        input_uri = payload.get("InputUri")
        return JobDescription(
            ref=JobRef.parse(payload),
            kind=job_kind(payload.get("JobKind")),
            status=status,
            percent_complete=int(payload.get("PercentComplete") or 0),
            job_name=payload.get("JobName"),
            created_at=payload.get("CreatedAt"),
            ended_at=payload.get("EndedAt"),
            failure_details=(
                FailureDetails(status_code=details.get("StatusCode"), message=details.get("Message"))
                if isinstance(details, dict)
                else None
            ),
            output=S3Location.parse(output_uri) if output_uri else None,
            input=S3Location.parse(input_uri) if input_uri else None,
        )
    except (KeyError, ValueError, TypeError) as error:
        raise InvalidJobRequest(f"the job payload from the describe step is not usable: {error!r}") from error
