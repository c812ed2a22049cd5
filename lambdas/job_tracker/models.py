"""Value objects passed between the adapters, the domain logic and the handlers."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from job_tracker.errors import InvalidJobRequest
from job_tracker.ids import S3_URI, shown
from job_tracker.kinds import JobKind, job_kind
from job_tracker.kinds.base import TRACKER_TERMINAL_STATUSES
from job_tracker.table_schema import job_partition_key


class JobStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self.value in TRACKER_TERMINAL_STATUSES


@dataclass(frozen=True)
class JobRef:
    domain_id: str
    job_id: str

    @classmethod
    def parse(cls, payload: dict[str, Any], kind: JobKind | None = None) -> JobRef:
        """Read `{"DomainId", "JobId"}` from an execution's state, validating both identifiers in the format
        of `kind`'s service (the payload's own JobKind when not given)."""
        service = (kind or job_kind(payload.get("JobKind"))).service
        domain_id, job_id = payload.get("DomainId"), payload.get("JobId")
        if not isinstance(domain_id, str) or not service.scope_id.fullmatch(domain_id):
            raise InvalidJobRequest(f"DomainId must be {service.scope_id_shape}, got {shown(domain_id)}")
        if not isinstance(job_id, str) or not service.job_id.fullmatch(job_id):
            raise InvalidJobRequest(f"JobId must be {service.job_id_shape}, got {shown(job_id)}")
        return cls(domain_id=domain_id, job_id=job_id)

    @property
    def partition_key(self) -> str:
        return job_partition_key(self.domain_id, self.job_id)


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        match = S3_URI.fullmatch(uri)
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


def bedrock_output_folder(output_uri: str, job_id: str) -> S3Location:
    """`<outputS3Uri>/<jobId>/`: where Bedrock writes a job's `.jsonl.out` files and its `manifest.json.out`
    (docs/bedrock-jobs.md; the folder is in AWS's samples' code). A trailing slash on the URI is ignored."""
    folder = S3Location.parse(output_uri.rstrip("/"))
    return S3Location(folder.bucket, "/".join(part for part in (folder.key, job_id) if part) + "/")


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
    """The job's input manifest (InputDataConfig.S3Uri); for Bedrock, its input file or prefix."""
    service_status: str | None = None
    """The status in the service's own words (Bedrock's `PartiallyCompleted`); None when it is `status`."""
    record_counts: dict[str, int] | None = None
    """The counts the service reports for the job (Bedrock's totalRecordCount, processedRecordCount,
    successRecordCount, errorRecordCount; S3 Batch Operations' ProgressSummary), None when its API (or the SDK in
    use) reports none."""
    output_scope: str | None = None
    """Which entries the output lists, when the job chooses: S3 Batch Operations' ReportScope (`AllTasks`,
    `FailedTasksOnly`); None when the output lists every entry."""

    @property
    def reported_status(self) -> str:
        """The status an operator reads on the summary and the outcome event: the service's own word."""
        return self.service_status or self.status.value

    @property
    def status_attributes(self) -> dict[str, str]:
        """The summary's two words for the job's status, whatever its RecordState: `JobStatus`, the service's own
        (Bedrock's `Stopped`), and `TrackerJobStatus`, the tracker's (`COMPLETED_WITH_ERRORS`, what the state
        machine's loop reads). Voice ID's words are the tracker's: both hold the same word."""
        return {"JobStatus": self.reported_status, "TrackerJobStatus": self.status.value}


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
        "ServiceJobStatus": job.reported_status,
        "RecordCounts": job.record_counts,
        "OutputScope": job.output_scope,
    }


def job_from_payload(payload: dict[str, Any]) -> JobDescription:
    """Rebuild a JobDescription from `job_to_payload` output, rejecting anything else."""
    try:
        status = JobStatus(payload["JobStatus"])
        details = payload.get("FailureDetails")
        output_uri = payload.get("OutputUri")
        input_uri = payload.get("InputUri")
        counts = payload.get("RecordCounts")
        kind = job_kind(payload.get("JobKind"))
        service_status = payload.get("ServiceJobStatus")
        return JobDescription(
            ref=JobRef.parse(payload, kind),
            kind=kind,
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
            service_status=service_status if service_status and service_status != status.value else None,
            record_counts=(
                {str(name): int(value) for name, value in counts.items()} if isinstance(counts, dict) else None
            ),
            output_scope=str(payload["OutputScope"]) if payload.get("OutputScope") else None,
        )
    except (KeyError, ValueError, TypeError) as error:
        raise InvalidJobRequest(f"the job payload from the describe step is not usable: {error!r}") from error
