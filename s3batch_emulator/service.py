"""The job operations of S3 Control, on request parameters already validated against botocore's model."""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

from botocore.model import StructureShape

from emulator_core import model
from emulator_core.service import EmulatorService, Handler
from s3batch_emulator import manifest
from s3batch_emulator.errors import (
    SERVICE_NAME,
    S3BatchError,
    bad_request,
    idempotency_error,
    invalid_next_token,
    job_status_error,
    not_found,
    too_many_tags,
)
from s3batch_emulator.faults import S3BatchFaults
from s3batch_emulator.jobs import JobEngine
from s3batch_emulator.store import (
    READY,
    RETENTION_SECONDS,
    SUPPORTED_OPERATIONS,
    TERMINAL_STATUSES,
    AccountState,
    Job,
    Quotas,
    new_job_id,
)

# ListJobs without MaxResults: the model's maximum (AWS's default page size is [unconfirmed]).
DEFAULT_MAX_RESULTS = 1000
# Create members that make two requests with the same ClientRequestToken the same request.
_IDEMPOTENT_MEMBERS = (
    "ConfirmationRequired",
    "Operation",
    "Report",
    "Manifest",
    "Description",
    "Priority",
    "RoleArn",
    "Tags",
    "ManifestGenerator",
)


class S3BatchService(EmulatorService[AccountState, JobEngine, S3BatchFaults, Callable[[], Quotas]]):
    def _handlers(self) -> dict[str, Handler]:
        return {
            "CreateJob": self.create_job,
            "DescribeJob": self.describe_job,
            "ListJobs": self.list_jobs,
            "UpdateJobStatus": self.update_job_status,
            "UpdateJobPriority": self.update_job_priority,
            "GetJobTagging": self.get_job_tagging,
            "PutJobTagging": self.put_job_tagging,
            "DeleteJobTagging": self.delete_job_tagging,
        }

    def _check_account(self, params: dict[str, Any]) -> None:
        if params["AccountId"] != self.account_id:
            # Another account's jobs are not this one's to see [unconfirmed wording].
            raise S3BatchError("AccessDenied", f"Access Denied for account {params['AccountId']}", 403)

    def _job(self, params: dict[str, Any]) -> Job:
        self._check_account(params)
        job = self.state.find_job(params["JobId"])
        if job is None or self._expired(job):
            raise not_found(params["JobId"])
        return job

    def _expired(self, job: Job) -> bool:
        return job.termination_date is not None and self.clock.now() - job.termination_date > RETENTION_SECONDS

    # --- Create ------------------------------------------------------------------------------------------

    def create_job(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check_account(params)
        _check_create(params, self.quotas())
        token = params["ClientRequestToken"]
        fingerprint = _fingerprint(params)
        with self.state.lock:
            known = self.state.client_tokens.get(token)
            if known is not None:
                if self.state.jobs[known].fingerprint != fingerprint:
                    raise idempotency_error(
                        f"The ClientRequestToken {token} was already used for a different CreateJob request"
                    )
                return {"JobId": known}
            job_id = new_job_id()
            stored = copy.deepcopy({key: value for key, value in params.items() if key != "AccountId"})
            job = Job(
                job_id=job_id,
                arn=f"arn:aws:s3:{self.region}:{self.account_id}:job/{job_id}",
                params=stored,
                role_arn=params["RoleArn"],
                priority=params["Priority"],
                creation_time=self.clock.now(),
                # Omitted: the user guide says a job made without --no-confirmation-required waits in Suspended
                # (s3batch-facts §1.2, the service's default is [unconfirmed]); pass False to run at once.
                confirmation_required=params.get("ConfirmationRequired", True),
                client_token=token,
                fingerprint=fingerprint,
                tags=list(params.get("Tags") or []),
                forced=self.faults.take_next_outcome(),
            )
            self.state.jobs[job_id] = job
            self.state.client_tokens[token] = job_id
        self.engine.created(job)
        return {"JobId": job_id}

    # --- Describe / List ---------------------------------------------------------------------------------

    def describe_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            return {"Job": copy.deepcopy(self._job(params).describe(self.clock.now()))}

    def list_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        """Newest first (AWS's order is [unconfirmed]); ended jobs older than 90 days are gone."""
        self._check_account(params)
        statuses = set(params.get("JobStatuses") or [])
        listing = hashlib.sha256(json.dumps(sorted(statuses)).encode()).hexdigest()[:16]
        limit = int(params.get("MaxResults", DEFAULT_MAX_RESULTS)) or DEFAULT_MAX_RESULTS
        now = self.clock.now()
        with self.state.lock:
            ordered = sorted(
                ((job.creation_time, seq, job) for seq, job in enumerate(self.state.jobs.values())),
                key=lambda item: (item[0], item[1]),
                reverse=True,
            )
            after = _decode_token(params["NextToken"], listing) if "NextToken" in params else None
            selected: list[Job] = []
            last: tuple[float, int] | None = None
            more = False
            for created, seq, job in ordered:
                if after is not None and not (created, seq) < after:
                    continue
                if (statuses and job.status not in statuses) or self._expired(job):
                    continue
                if len(selected) == limit:
                    more = True
                    break
                selected.append(job)
                last = (created, seq)
            response: dict[str, Any] = {"Jobs": [job.list_entry(now) for job in selected]}
        if more and last is not None:
            response["NextToken"] = _encode_token(last, listing)
        return response

    # --- Update ------------------------------------------------------------------------------------------

    def update_job_status(self, params: dict[str, Any]) -> dict[str, Any]:
        """Ready confirms a Suspended job; Cancelled stops a job that has not ended (s3batch-facts §1.7).
        Anything else is a JobStatusException naming the job's status [unconfirmed triggers]."""
        with self.state.lock:
            job = self._job(params)
        requested = params["RequestedJobStatus"]
        reason = params.get("StatusUpdateReason")
        if requested == READY:
            try:
                self.engine.confirm(job, reason)
            except ValueError:
                raise job_status_error(
                    f"Job {job.job_id} is {job.status}: only a Suspended job can be confirmed with Ready"
                ) from None
        else:
            try:
                self.engine.request_cancel(job, reason)
            except ValueError:
                raise job_status_error(f"Job {job.job_id} is {job.status} and can no longer be cancelled") from None
        with self.state.lock:
            response = {"JobId": job.job_id, "Status": job.status}
            if job.status_update_reason:
                response["StatusUpdateReason"] = job.status_update_reason
            return response

    def update_job_priority(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            job = self._job(params)
            if job.status in TERMINAL_STATUSES:
                raise bad_request(f"Job {job.job_id} is {job.status}: the priority of an ended job cannot change")
            job.priority = params["Priority"]
        self.engine.wake()
        return {"JobId": job.job_id, "Priority": job.priority}

    # --- Tagging -----------------------------------------------------------------------------------------

    def get_job_tagging(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            return {"Tags": copy.deepcopy(self._job(params).tags)}

    def put_job_tagging(self, params: dict[str, Any]) -> dict[str, Any]:
        tags = list(params["Tags"])
        limit = self.quotas().max_tags_per_job
        if len(tags) > limit:
            raise too_many_tags(f"A job can have at most {limit} tags; the request has {len(tags)}")
        if len({tag["Key"] for tag in tags}) != len(tags):
            raise bad_request("Tag keys must be unique")
        with self.state.lock:
            self._job(params).tags = copy.deepcopy(tags)
        return {}

    def delete_job_tagging(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            self._job(params).tags = []
        return {}


def _check_create(params: dict[str, Any], quotas: Quotas) -> None:  # noqa: PLR0912 - one check a rule
    """What the model cannot say (s3batch-facts §1.2-1.4, §9), each a BadRequestException naming the member."""
    has_manifest = params.get("Manifest") is not None
    if has_manifest == (params.get("ManifestGenerator") is not None):
        raise bad_request("A job must be created with either a Manifest or a ManifestGenerator, but not both")
    if not has_manifest:
        raise bad_request(
            "ManifestGenerator is not supported by this emulator: create the job with a Manifest (CSV or S3 "
            "Inventory report)"
        )
    chosen = [name for name, value in params["Operation"].items() if value is not None]
    if len(chosen) != 1:
        raise bad_request(f"Operation must name exactly one operation, got {chosen or 'none'}")
    if chosen[0] not in SUPPORTED_OPERATIONS:
        raise bad_request(
            f"Operation {chosen[0]} is not supported by this emulator; it runs {', '.join(SUPPORTED_OPERATIONS)}"
        )
    spec = params["Manifest"]["Spec"]
    if spec["Format"] == manifest.CSV_FORMAT:
        fields = spec.get("Fields") or list(manifest.DEFAULT_FIELDS)
        if "Bucket" not in fields or "Key" not in fields:
            raise bad_request("Manifest.Spec.Fields must name the Bucket and Key columns")
    elif spec.get("Fields"):
        raise bad_request("Manifest.Spec.Fields applies to the CSV format only")
    report = params["Report"]
    if report.get("Enabled"):
        missing = [name for name in ("Bucket", "Format") if not report.get(name)]
        if missing:
            raise bad_request(f"Report.{' and Report.'.join(missing)} required when the report is enabled")
    lambda_invoke = params["Operation"].get("LambdaInvoke")
    if lambda_invoke is not None:
        schema = lambda_invoke.get("InvocationSchemaVersion", "1.0")
        if schema not in ("1.0", "2.0"):
            raise bad_request(f"InvocationSchemaVersion must be 1.0 or 2.0, got {schema}")
        if lambda_invoke.get("UserArguments") and schema != "2.0":
            raise bad_request("UserArguments require InvocationSchemaVersion 2.0")
        _check_map_size(lambda_invoke.get("UserArguments"), "LambdaInvokeOperation", "UserArguments")
    copy_operation = params["Operation"].get("S3PutObjectCopy")
    if copy_operation is not None and not copy_operation.get("TargetResource"):
        raise bad_request("Operation.S3PutObjectCopy.TargetResource is required")
    tags = params.get("Tags") or []
    if len(tags) > quotas.max_tags_per_job:
        raise bad_request(f"A job can have at most {quotas.max_tags_per_job} tags; the request has {len(tags)}")


def _check_map_size(value: dict[str, Any] | None, structure: str, member: str) -> None:
    """A map's entry count against the model's min/max (emulator_core.model checks lists and strings, not maps)."""
    if value is None:
        return
    owner = model.service_model(SERVICE_NAME).shape_for(structure)
    assert isinstance(owner, StructureShape)
    high = owner.members[member].metadata.get("max")
    if high is not None and len(value) > high:
        raise bad_request(
            f"1 validation error detected: Value at 'Operation.LambdaInvoke.{member}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {high}"
        )


def _fingerprint(params: dict[str, Any]) -> str:
    relevant = {key: params.get(key) for key in _IDEMPOTENT_MEMBERS}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


def _encode_token(position: tuple[float, int], listing: str) -> str:
    raw = json.dumps({"after": list(position), "listing": listing}).encode()
    return base64.b64encode(raw).decode()


def _decode_token(token: str, listing: str) -> tuple[float, int]:
    try:
        decoded = json.loads(base64.b64decode(token, validate=True))
        position = decoded["after"]
        if decoded["listing"] != listing:
            raise ValueError("token of another listing")
        return float(position[0]), int(position[1])
    except (binascii.Error, ValueError, KeyError, TypeError, IndexError):
        raise invalid_next_token(
            "The NextToken is invalid: pass the NextToken of a previous ListJobs call with the same JobStatuses"
        ) from None
