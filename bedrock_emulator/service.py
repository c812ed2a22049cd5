"""The four model-invocation-job operations, on request parameters already validated against botocore's model."""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
from typing import Any

from bedrock_emulator import formats
from bedrock_emulator.errors import access_denied, conflict, not_found, quota_exceeded, validation_error
from bedrock_emulator.faults import BedrockFaults
from bedrock_emulator.jobs import JobEngine
from bedrock_emulator.store import DEFAULT_TIMEOUT_HOURS, AccountState, Job, Quotas, new_job_id
from emulator_core.service import EmulatorService, Handler

# ListModelInvocationJobs without maxResults: the model's maximum (the default is undocumented: bedrock-facts §1).
DEFAULT_MAX_RESULTS = 1000
# Create members that make two requests with the same clientRequestToken the same request.
_IDEMPOTENT_MEMBERS = (
    "jobName",
    "roleArn",
    "modelId",
    "inputDataConfig",
    "outputDataConfig",
    "vpcConfig",
    "timeoutDurationInHours",
    "tags",
    "modelInvocationType",
)


class BedrockService(EmulatorService[AccountState, JobEngine, BedrockFaults, Quotas]):
    def _handlers(self) -> dict[str, Handler]:
        return {
            "CreateModelInvocationJob": self.create_job,
            "GetModelInvocationJob": self.get_job,
            "ListModelInvocationJobs": self.list_jobs,
            "StopModelInvocationJob": self.stop_job,
        }

    def _job(self, identifier: str) -> Job:
        job = self.state.find_job(identifier)
        if job is None:
            raise not_found(f"The specified model invocation job {identifier} could not be found.")
        return job

    # --- Create ----------------------------------------------------------------------------------------------

    def create_job(self, params: dict[str, Any]) -> dict[str, Any]:
        role_arn, model_id = params["roleArn"], params["modelId"]
        if self.faults.role_denied(role_arn):
            raise access_denied(
                f"User is not authorized to perform: iam:PassRole on resource: {role_arn} "
                "(denied through the Bedrock emulator's admin API)"
            )
        token = params.get("clientRequestToken")
        fingerprint = _fingerprint(params)
        family = formats.family_for(model_id, params.get("modelInvocationType", "InvokeModel"))
        with self.state.lock:
            if token is not None and token in self.state.client_tokens:
                known, job_id = self.state.client_tokens[token]
                if known != fingerprint:
                    raise conflict(
                        f"The clientRequestToken {token} was already used for a different CreateModelInvocationJob "
                        "request; use a new token for a new job"
                    )
                return {"jobArn": self.state.jobs[job_id].arn}
            if model_id.startswith("arn:") and not model_arn_reachable(model_id, self.account_id):
                raise not_found(
                    f"The model {model_id} could not be found: this account has no custom models, and an inference "
                    "profile must be one of this account's"
                )
            if family is None:
                raise validation_error(
                    f"The model {model_id} does not support batch inference in this emulator: use an Anthropic "
                    "Claude (anthropic.claude*) or Amazon Nova (amazon.nova*) model"
                )
            quota = self.quotas.for_model(model_id)
            unfinished = sum(1 for job in self.state.active_jobs() if job.model_id == model_id)
            if unfinished >= quota.max_unfinished_jobs:
                raise quota_exceeded(
                    f"You have reached the maximum of {quota.max_unfinished_jobs} unfinished batch inference jobs "
                    f"for model {model_id}; wait for one to end or stop one"
                )
            now = self.clock.now()
            job_id = new_job_id()
            while job_id in self.state.jobs:
                job_id = new_job_id()
            stored = copy.deepcopy(params)
            stored["inputDataConfig"]["s3InputDataConfig"].setdefault("s3InputFormat", "JSONL")
            job = Job(
                job_id=job_id,
                arn=f"arn:aws:bedrock:{self.region}:{self.account_id}:model-invocation-job/{job_id}",
                name=params["jobName"],
                model_id=model_id,
                role_arn=role_arn,
                params=stored,
                submit_time=now,
                last_modified=now,
                timeout_hours=int(params.get("timeoutDurationInHours", DEFAULT_TIMEOUT_HOURS)),
                client_token=token,
                forced=self.faults.take_next_outcome(),
                timeout_counted_from=self.engine.timeout_counted_from,
            )
            self.state.jobs[job_id] = job
            if token is not None:
                self.state.client_tokens[token] = (fingerprint, job_id)
        self.engine.submitted(job)
        return {"jobArn": job.arn}

    # --- Get / Stop --------------------------------------------------------------------------------------------

    def get_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            return copy.deepcopy(self._job(params["jobIdentifier"]).to_api())

    def stop_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            job = self._job(params["jobIdentifier"])
        if not self.engine.request_stop(job):
            raise conflict(f"The job {job.arn} is {job.status} and can no longer be stopped")
        return {}

    # --- List --------------------------------------------------------------------------------------------------

    def list_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        descending = params.get("sortOrder", "Descending") == "Descending"
        filters = {
            key: params[key]
            for key in ("submitTimeAfter", "submitTimeBefore", "statusEquals", "nameContains", "sortOrder")
            if key in params
        }
        listing = hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:16]
        limit = int(params.get("maxResults", DEFAULT_MAX_RESULTS))
        with self.state.lock:
            ordered = sorted(
                ((job.submit_time, seq, job) for seq, job in enumerate(self.state.jobs.values())),
                key=lambda item: (item[0], item[1]),
                reverse=descending,
            )
            after = _decode_token(params["nextToken"], listing) if "nextToken" in params else None
            selected: list[Job] = []
            last: tuple[float, int] | None = None
            more = False
            for submit, seq, job in ordered:
                if after is not None and not _beyond((submit, seq), after, descending):
                    continue
                if not _matches(job, params):
                    continue
                if len(selected) == limit:
                    more = True
                    break
                selected.append(job)
                last = (submit, seq)
            response: dict[str, Any] = {"invocationJobSummaries": [copy.deepcopy(job.to_api()) for job in selected]}
        if more and last is not None:
            response["nextToken"] = _encode_token(last, listing)
        return response


def model_arn_reachable(model_arn: str, account_id: str) -> bool:
    """A foundation-model ARN (no account) or an inference profile of this account; never a custom model (the
    emulator has none)."""
    parts = model_arn.split(":", 5)
    if len(parts) < 6 or parts[5].startswith("custom-model/"):
        return False
    return parts[4] in ("", account_id)


def _fingerprint(params: dict[str, Any]) -> str:
    relevant = {key: params.get(key) for key in _IDEMPOTENT_MEMBERS}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


def _matches(job: Job, params: dict[str, Any]) -> bool:
    if "statusEquals" in params and job.status != params["statusEquals"]:
        return False
    if "nameContains" in params and params["nameContains"] not in job.name:
        return False
    if "submitTimeAfter" in params and not job.submit_time > params["submitTimeAfter"]:
        return False
    return not ("submitTimeBefore" in params and not job.submit_time < params["submitTimeBefore"])


def _beyond(position: tuple[float, int], after: tuple[float, int], descending: bool) -> bool:
    return position < after if descending else position > after


def _encode_token(position: tuple[float, int], listing: str) -> str:
    raw = json.dumps({"after": list(position), "listing": listing}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, listing: str) -> tuple[float, int]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        position = decoded["after"]
        if decoded["listing"] != listing:
            raise ValueError("token of another listing")
        return float(position[0]), int(position[1])
    except (binascii.Error, ValueError, KeyError, TypeError, IndexError):
        raise validation_error(
            "The nextToken is invalid: pass the nextToken of a previous ListModelInvocationJobs call with the "
            "same filters and sort order"
        ) from None
