"""Which jobs a stack follows, per service: Voice ID domains, Bedrock jobs by name prefix and output, and S3
Batch Operations jobs by description prefix and report location.

The execution input check (`execution_input.py`) and the sweep read these instead of branching on a kind:
each service's scope says how an execution input names a job, whether a job is inside the configuration,
and which scopes (`DomainId`s) the sweep lists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from job_tracker.errors import InvalidJobRequest
from job_tracker.ids import shown
from job_tracker.kinds import SERVICES, JobKind, kinds_of
from job_tracker.kinds.services import AWS_ACCOUNT_ID, BEDROCK, S3_BATCH_SERVICE
from job_tracker.models import JobDescription, JobRef, S3Location

# botocore's bedrock model, ModelInvocationJobArn.
BEDROCK_JOB_ARN = re.compile(
    r"arn:aws(?:-[^:]+)?:bedrock:(?P<region>[a-z0-9-]{1,20}):"
    rf"(?P<account>{AWS_ACCOUNT_ID.pattern}):model-invocation-job/(?P<job_id>{BEDROCK.job_id.pattern})"
)


def _ref_from_job_arn(
    raw: Mapping[str, Any], kind: JobKind, arn_pattern: re.Pattern[str], arn_shape: str, region: str
) -> JobRef:
    """`JobArn` (what the EventBridge rule passes), or `DomainId` (the account) and `JobId`: the input of a
    service whose jobs are named by an ARN of `arn_pattern` (groups region, account, job_id) in this Region."""
    arn = raw.get("JobArn")
    if arn is None:
        return JobRef.parse(dict(raw), kind)
    match = arn_pattern.fullmatch(arn) if isinstance(arn, str) else None
    if match is None:
        raise InvalidJobRequest(f"JobArn must be {arn_shape}, got {shown(arn)}")
    if match["region"] != region:
        raise InvalidJobRequest(f"JobArn names Region {match['region']}; this stack follows {region} only")
    return JobRef(domain_id=match["account"], job_id=match["job_id"])


class ServiceScope(Protocol):
    @property
    def service_key(self) -> str: ...
    @property
    def needs_description(self) -> bool:
        """Whether `problem_with_job` needs the described job (a service call before anything is written)."""
        ...

    def ref_from_input(self, raw: Mapping[str, Any], kind: JobKind) -> JobRef: ...
    def problem_with_ref(self, ref: JobRef) -> str | None: ...
    def problem_with_job(self, job: JobDescription) -> str | None: ...
    def names(self, job: JobDescription) -> bool:
        """Whether the configuration names the job at all (it may still be refused, e.g. for where it writes):
        an event of a job it does not name ends its execution quietly (execution_input.JobNotFollowed)."""
        ...

    def sweep_domains(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class VoiceIdScope:
    domain_ids: tuple[str, ...]
    service_key: str = "voiceid"
    needs_description: bool = False

    def ref_from_input(self, raw: Mapping[str, Any], kind: JobKind) -> JobRef:
        return JobRef.parse(dict(raw), kind)

    def problem_with_ref(self, ref: JobRef) -> str | None:
        if ref.domain_id in self.domain_ids:
            return None
        return (
            f"DomainId {ref.domain_id} is not a domain this stack tracks ({', '.join(sorted(self.domain_ids))}); "
            "add it to tracker:voiceIdDomainIds and deploy to track its jobs"
        )

    def problem_with_job(self, job: JobDescription) -> str | None:
        return None

    def names(self, job: JobDescription) -> bool:
        return True

    def sweep_domains(self) -> tuple[str, ...]:
        return self.domain_ids


@dataclass(frozen=True)
class BedrockScope:
    """Bedrock jobs of this account and Region whose name starts with a configured prefix and whose output
    lies under a configured location (tracker:bedrockJobNamePrefixes, tracker:bedrockOutputLocations)."""

    account_id: str
    region: str
    job_name_prefixes: tuple[str, ...]
    output_prefixes: tuple[S3Location, ...]
    service_key: str = "bedrock"
    needs_description: bool = True

    def ref_from_input(self, raw: Mapping[str, Any], kind: JobKind) -> JobRef:
        return _ref_from_job_arn(
            raw,
            kind,
            BEDROCK_JOB_ARN,
            "a model invocation job ARN, "
            "arn:aws:bedrock:<region>:<account>:model-invocation-job/<12 lowercase letters or digits>",
            self.region,
        )

    def problem_with_ref(self, ref: JobRef) -> str | None:
        if ref.domain_id == self.account_id:
            return None
        return f"the job is in account {ref.domain_id}; this stack follows Bedrock jobs of {self.account_id} only"

    def problem_with_job(self, job: JobDescription) -> str | None:
        problem = self.problem_with(job.job_name, job.output)
        return (
            None
            if problem is None
            else f"Bedrock job {job.ref.job_id} is outside this stack's configuration: {problem}"
        )

    def names(self, job: JobDescription) -> bool:
        # The rule matches the configured name prefixes: an event names a job the configuration names.
        return True

    def problem_with(self, job_name: str | None, output: S3Location | None) -> str | None:
        """Why a job is outside this configuration, or None when it is inside."""
        if not job_name or not any(job_name.startswith(prefix) for prefix in self.job_name_prefixes):
            return (
                f"its name {job_name!r} starts with none of the configured prefixes "
                f"({', '.join(self.job_name_prefixes)}; tracker:bedrockJobNamePrefixes)"
            )
        if output is None or not any(
            output.bucket == allowed.bucket and output.key.startswith(allowed.key) for allowed in self.output_prefixes
        ):
            return (
                f"its output {output.uri if output else None!r} is under none of the configured locations "
                f"({', '.join(location.uri for location in self.output_prefixes)}; tracker:bedrockOutputLocations)"
            )
        return None

    def sweep_domains(self) -> tuple[str, ...]:
        return (self.account_id,)


# botocore's s3control model: JobArn `arn:[^:]+:s3:[a-zA-Z0-9\-]+:\d{12}:job\/.*`; the id is the UUID S3 hands out.
S3BATCH_JOB_ARN = re.compile(
    r"arn:aws(?:-[^:]+)?:s3:(?P<region>[a-z0-9-]{1,20}):"
    rf"(?P<account>{AWS_ACCOUNT_ID.pattern}):job/(?P<job_id>{S3_BATCH_SERVICE.job_id.pattern})"
)


@dataclass(frozen=True)
class S3BatchScope:
    """S3 Batch Operations jobs of this account and Region whose Description starts with a configured prefix
    and whose completion report, when enabled, lies under a configured location
    (tracker:s3BatchJobDescriptionPrefixes, tracker:s3BatchReportLocations).

    The CloudTrail events carry neither the description nor the report (only jobId, jobArn and status), so the
    EventBridge rule matches every job of the account and this check, on the described job, is what keeps a
    job out; ListJobs gives the Description, so the sweep filters by prefix before starting anything."""

    account_id: str
    region: str
    description_prefixes: tuple[str, ...]
    report_locations: tuple[S3Location, ...]
    service_key: str = "s3"
    needs_description: bool = True

    def ref_from_input(self, raw: Mapping[str, Any], kind: JobKind) -> JobRef:
        return _ref_from_job_arn(
            raw,
            kind,
            S3BATCH_JOB_ARN,
            "an S3 Batch Operations job ARN, arn:aws:s3:<region>:<account>:job/<UUID>",
            self.region,
        )

    def problem_with_ref(self, ref: JobRef) -> str | None:
        if ref.domain_id == self.account_id:
            return None
        return (
            f"the job is in account {ref.domain_id}; this stack follows S3 Batch Operations jobs of "
            f"{self.account_id} only"
        )

    def problem_with_job(self, job: JobDescription) -> str | None:
        problem = self.problem_with_description(job.job_name) or self.problem_with_report(job.output)
        return (
            None
            if problem is None
            else f"S3 Batch Operations job {job.ref.job_id} is outside this stack's configuration: {problem}"
        )

    def names(self, job: JobDescription) -> bool:
        """By its description: the account's other jobs are not the stack's. A job whose description is
        followed but whose report lies elsewhere is named, and refused: a configuration to fix."""
        return self.problem_with_description(job.job_name) is None

    def problem_with_description(self, description: str | None) -> str | None:
        """Why a job's Description puts it outside this configuration (the sweep's filter), or None."""
        if description and any(description.startswith(prefix) for prefix in self.description_prefixes):
            return None
        return (
            f"its description {description!r} starts with none of the configured prefixes "
            f"({', '.join(self.description_prefixes)}; tracker:s3BatchJobDescriptionPrefixes)"
        )

    def problem_with_report(self, report_folder: S3Location | None) -> str | None:
        """A report outside the configured locations is one the record step may not read. A job without a
        report (disabled) is recorded from DescribeJob alone, so it is inside."""
        if report_folder is None or any(
            report_folder.bucket == allowed.bucket and report_folder.key.startswith(allowed.key)
            for allowed in self.report_locations
        ):
            return None
        return (
            f"its report {report_folder.uri!r} is under none of the configured locations "
            f"({', '.join(location.uri for location in self.report_locations)}; tracker:s3BatchReportLocations)"
        )

    def sweep_domains(self) -> tuple[str, ...]:
        return (self.account_id,)


@dataclass(frozen=True)
class TrackedJobs:
    """The services a stack follows, and within each, which jobs."""

    scopes: Mapping[str, ServiceScope]
    """By JobService.key; only the configured services."""

    @property
    def kinds(self) -> tuple[JobKind, ...]:
        return kinds_of(set(self.scopes))

    def scope_of(self, kind: JobKind) -> ServiceScope:
        scope = self.scopes.get(kind.service.key)
        if scope is None:
            followed = ", ".join(SERVICES[key].name for key in self.scopes) or "no service"
            raise InvalidJobRequest(
                f"this stack does not follow {kind.service.name} jobs (JobKind {kind.name}); it follows {followed}"
            )
        return scope
