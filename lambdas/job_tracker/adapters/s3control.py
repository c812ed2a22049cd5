"""Amazon S3 Batch Operations: S3 Control's DescribeJob and ListJobs, mapped onto the tracker's models.

Every call names the account (`AccountId`, the job's "domain"); the SDK sends it as a header and as the host's
prefix. DescribeJob gives the job's status, its `ProgressSummary` (the task counts, and so the progress), its
`FailureReasons` (empty when only tasks failed: `NumberOfTasksFailed` tells such a job apart) and its report
configuration, from which the report's folder follows: `<Prefix>/job-<JobId>/` in the report bucket
(s3batch_report.py reads it).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from job_tracker.adapters.transient import THROTTLING_CODES, TRANSIENT_EXCEPTIONS, is_transient
from job_tracker.errors import (
    AccessDenied,
    InvalidJobRequest,
    JobNotFound,
    S3BatchThrottled,
    S3BatchUnavailable,
    UnexpectedJobStatus,
)
from job_tracker.kinds import JobKind
from job_tracker.kinds.s3_batch_operations import FAILED_TASKS, PROGRESS_COUNTS, SUCCEEDED_TASKS, TOTAL_TASKS
from job_tracker.models import FailureDetails, JobDescription, JobRef, JobStatus, S3Location
from job_tracker.sweep import ListedJob

if TYPE_CHECKING:
    from mypy_boto3_s3control import S3ControlClient

logger = logging.getLogger(__name__)

# Statuses after which a job's StatusUpdateReason (the reason given to UpdateJobStatus, e.g. a cancel's) says
# why it ended, beside its FailureReasons.
ENDED_BY_REASON = frozenset({"Cancelled", "Failed"})
# The model's error codes (fact sheet §1.8), and the user guide's names for the same cases.
NOT_FOUND_CODES = frozenset({"NotFoundException", "NoSuchJob", "NoSuchJobException"})
REFUSED_CODES = frozenset({"BadRequestException", "InvalidRequestException", "InvalidNextTokenException"})
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _progress_counts(job: dict[str, Any]) -> dict[str, int] | None:
    summary = job.get("ProgressSummary") or {}
    counts = {
        name: summary[name]
        for name in PROGRESS_COUNTS
        if isinstance(summary.get(name), int) and not isinstance(summary.get(name), bool)
    }
    return counts or None


def _percent(counts: dict[str, int] | None) -> int:
    if not counts or not counts.get(TOTAL_TASKS):
        return 0
    done = counts.get(SUCCEEDED_TASKS, 0) + counts.get(FAILED_TASKS, 0)
    return max(0, min(100, done * 100 // counts[TOTAL_TASKS]))


def bucket_name(bucket: str) -> str:
    """`arn:aws:s3:::<bucket>` (JobReport.Bucket, an ARN by the model) as a bucket name; a bare name stays."""
    return bucket.split(":::", 1)[1] if ":::" in bucket else bucket


def report_folder(report: dict[str, Any], job_id: str) -> S3Location | None:
    """Where an enabled report is written: `<Prefix>/job-<JobId>/`, or `job-<JobId>/` without a prefix (fact
    sheet §4; the prefix's surrounding slashes are dropped, as the local service does: AWS's handling of a
    trailing slash is not documented). None when the job's report is disabled."""
    if not report.get("Enabled") or not report.get("Bucket"):
        return None
    prefix = str(report.get("Prefix") or "").strip("/")
    folder = f"{prefix}/job-{job_id}/" if prefix else f"job-{job_id}/"
    return S3Location.parse(f"s3://{bucket_name(str(report['Bucket']))}/{folder}")


def object_location(object_arn: str | None) -> S3Location | None:
    """`arn:aws:s3:::<bucket>/<key>` (a manifest's ObjectArn) as an S3 location, None when not of that form."""
    if not object_arn or ":::" not in object_arn:
        return None
    bucket, _, key = object_arn.split(":::", 1)[1].partition("/")
    return S3Location.parse(f"s3://{bucket}/{key}") if bucket and key else None


def _failure_details(job: dict[str, Any], service_status: str) -> FailureDetails | None:
    """FailureReasons as one message, `FailureCode: FailureReason` each; a cancel's or failure's
    StatusUpdateReason after them."""
    said = [
        ": ".join(str(part) for part in (reason.get("FailureCode"), reason.get("FailureReason")) if part)
        for reason in job.get("FailureReasons") or []
    ]
    update_reason = job.get("StatusUpdateReason")
    if update_reason and service_status in ENDED_BY_REASON:
        said.append(f"StatusUpdateReason: {update_reason}")
    message = "; ".join(part for part in said if part)
    return FailureDetails(status_code=None, message=message) if message else None


def to_description(ref: JobRef, kind: JobKind, job: dict[str, Any]) -> JobDescription:
    """A DescribeJob `Job` (JobDescriptor) as the tracker's JobDescription."""
    service_status = str(job.get("Status") or "New")
    tracker_status = kind.tracker_status(service_status)
    if tracker_status is None:
        raise UnexpectedJobStatus(
            f"S3 Batch Operations reported status {service_status!r} for job {ref.job_id}, which the tracker does "
            "not know"
        )
    counts = _progress_counts(job)
    status = JobStatus(tracker_status)
    # FailureReasons stays empty when only tasks fail (fact sheet §1.5): the count says so.
    if status is JobStatus.COMPLETED and counts and counts.get(FAILED_TASKS, 0) > 0:
        status = JobStatus.COMPLETED_WITH_ERRORS
    report = job.get("Report") or {}
    output = report_folder(report, ref.job_id)
    manifest = (job.get("Manifest") or {}).get("Location") or (
        (job.get("GeneratedManifestDescriptor") or {}).get("Location") or {}
    )
    return JobDescription(
        ref=ref,
        kind=kind,
        status=status,
        percent_complete=100 if status.is_terminal else _percent(counts),
        job_name=job.get("Description"),
        created_at=_iso(job.get("CreationTime")),
        ended_at=_iso(job.get("TerminationDate")),
        failure_details=_failure_details(job, service_status),
        output=output,
        input=object_location(manifest.get("ObjectArn")),
        service_status=service_status if service_status != status.value else None,
        record_counts=counts,
        output_scope=str(report["ReportScope"]) if output is not None and report.get("ReportScope") else None,
    )


class S3BatchJobDescriber:
    """Reads one job with DescribeJob. Throttling is retried by the client's retry configuration first; what is
    left is raised as S3BatchThrottled for the state machine's slower backoff."""

    def __init__(self, client: S3ControlClient) -> None:
        self._client = client

    def describe(self, ref: JobRef, kind: JobKind) -> JobDescription:
        where = f"{kind.noun} job {ref.job_id} in account {ref.domain_id}"
        try:
            job: Any = self._client.describe_job(AccountId=ref.domain_id, JobId=ref.job_id)["Job"]
        except ClientError as error:
            raise _translate(error, where, kind.describe_api) from error
        except TRANSIENT_EXCEPTIONS as error:
            raise S3BatchUnavailable(f"could not reach S3 Batch Operations describing {where}: {error}") from error
        return to_description(ref, kind, job)


# A page as large as the API allows (MaxResults 0-1000).
LIST_PAGE_SIZE = 1000


class S3BatchJobLister:
    """Lists the account's jobs created within the lookback, one ListJobs page at a time (NextToken). ListJobs
    has no time filter and documents no order, so every page is read and the older jobs are dropped here; with
    `followed` (the stack's scope: S3BatchScope.problem_with_description), so are the jobs whose Description the
    configuration does not follow. Their report location is not listed: validate-input checks it."""

    def __init__(
        self,
        client: S3ControlClient,
        lookback: timedelta,
        clock: Callable[[], datetime],
        followed: Callable[[str | None], bool] | None = None,
    ) -> None:
        self._client = client
        self._lookback = lookback
        self._clock = clock
        self._followed = followed

    def list_jobs(self, domain_id: str, kind: JobKind) -> Iterator[ListedJob]:
        """Every page's jobs in one stream."""
        return itertools.chain.from_iterable(self.list_job_pages(domain_id, kind))

    def list_job_pages(self, domain_id: str, kind: JobKind) -> Iterator[list[ListedJob]]:
        created_after = self._clock() - self._lookback
        seen: set[str] = set()
        token: str | None = None
        try:
            while True:
                request: dict[str, Any] = {
                    "AccountId": domain_id,
                    "MaxResults": LIST_PAGE_SIZE,
                    **({"NextToken": token} if token else {}),
                }
                response: Any = self._client.list_jobs(**request)
                page: list[ListedJob] = []
                for entry in response.get("Jobs", []):
                    job_id, created_at = entry.get("JobId"), entry.get("CreationTime")
                    if not isinstance(job_id, str) or job_id in seen or not isinstance(created_at, datetime):
                        continue
                    if not kind.service.job_id.fullmatch(job_id):
                        # The tracker could not take such an id as its input (kinds/services.py says why).
                        logger.warning("Skipped a listed job whose id is not a UUID", extra={"job_id": job_id})
                        continue
                    seen.add(job_id)
                    if created_at < created_after:
                        continue
                    if self._followed is not None and not self._followed(entry.get("Description")):
                        continue
                    page.append(
                        ListedJob(
                            ref=JobRef(domain_id=domain_id, job_id=job_id),
                            kind=kind,
                            status=str(entry.get("Status", "")),
                            created_at=created_at,
                        )
                    )
                yield page
                token = response.get("NextToken")
                if not token:
                    return
        except ClientError as error:
            raise _translate(error, f"{kind.noun} jobs of account {domain_id}", kind.list_api) from error
        except TRANSIENT_EXCEPTIONS as error:
            raise S3BatchUnavailable(
                f"could not reach S3 Batch Operations listing jobs of account {domain_id}: {error}"
            ) from error


def _translate(error: ClientError, where: str, operation: str) -> Exception:
    """S3 Control's error as the tracker error the state machine tells apart; `where` names the job or account.
    Throttling and 5xx are those transient.py names for every service."""
    code = str(error.response.get("Error", {}).get("Code", ""))
    message = error.response.get("Error", {}).get("Message", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in NOT_FOUND_CODES or (status == 404 and not code):
        return JobNotFound(f"S3 Batch Operations has no {where}: {message}")
    if code in REFUSED_CODES:
        return InvalidJobRequest(f"S3 Batch Operations rejected the request for {where} ({code}): {message}")
    if code in DENIED_CODES or status == 403:
        return AccessDenied(f"not allowed to call {operation} for {where}: {message}")
    if code in THROTTLING_CODES or status == 429:
        return S3BatchThrottled(f"S3 Batch Operations throttled {operation} for {where} ({code}): {message}")
    if code == "InternalServiceException" or is_transient(error):
        return S3BatchUnavailable(f"S3 Batch Operations failed internally in {operation} for {where}: {message}")
    return error
