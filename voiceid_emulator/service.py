"""The Voice ID operations the emulator implements, on already-validated request parameters."""

from __future__ import annotations

import base64
import binascii
import copy
import json
from typing import Any

from emulator_core.service import EmulatorService, Handler
from voiceid_emulator.errors import VoiceIdError, conflict, not_found, quota_exceeded, validation_error
from voiceid_emulator.faults import FaultController
from voiceid_emulator.jobs import JobEngine
from voiceid_emulator.store import AccountState, Domain, Job, JobKind, Quotas, Watchlist, new_resource_id

SUPPORTED_OPERATIONS = (
    "CreateDomain",
    "DescribeDomain",
    "ListDomains",
    "CreateWatchlist",
    "ListWatchlists",
    "StartFraudsterRegistrationJob",
    "DescribeFraudsterRegistrationJob",
    "ListFraudsterRegistrationJobs",
    "StartSpeakerEnrollmentJob",
    "DescribeSpeakerEnrollmentJob",
    "ListSpeakerEnrollmentJobs",
)


class VoiceIdService(EmulatorService[AccountState, JobEngine, FaultController, Quotas]):
    def _handlers(self) -> dict[str, Handler]:
        return {
            "CreateDomain": self.create_domain,
            "DescribeDomain": self.describe_domain,
            "ListDomains": self.list_domains,
            "CreateWatchlist": self.create_watchlist,
            "ListWatchlists": self.list_watchlists,
            "StartFraudsterRegistrationJob": lambda p: self.start_job(JobKind.FRAUDSTER_REGISTRATION, p),
            "DescribeFraudsterRegistrationJob": lambda p: self.describe_job(JobKind.FRAUDSTER_REGISTRATION, p),
            "ListFraudsterRegistrationJobs": lambda p: self.list_jobs(JobKind.FRAUDSTER_REGISTRATION, p),
            "StartSpeakerEnrollmentJob": lambda p: self.start_job(JobKind.SPEAKER_ENROLLMENT, p),
            "DescribeSpeakerEnrollmentJob": lambda p: self.describe_job(JobKind.SPEAKER_ENROLLMENT, p),
            "ListSpeakerEnrollmentJobs": lambda p: self.list_jobs(JobKind.SPEAKER_ENROLLMENT, p),
        }

    # --- helpers -------------------------------------------------------------------------------------------

    def _domain(self, domain_id: str) -> Domain:
        domain = self.state.domains.get(domain_id)
        if domain is None:
            raise not_found("DOMAIN", f"The domain {domain_id} does not exist")
        return domain

    def _idempotent(self, operation: str, params: dict[str, Any]) -> str | None:
        """The resource id an earlier call with this ClientToken created, if any; a mismatch is a conflict."""
        token = params.get("ClientToken")
        if token is None:
            return None
        previous = self.state.client_tokens.get((operation, token))
        if previous is None:
            return None
        previous_params, resource_id = previous
        if previous_params != _without_token(params):
            raise conflict(
                f"The ClientToken {token} was already used with different parameters for {operation}; "
                "use a new ClientToken for a different request"
            )
        return resource_id

    def _remember_token(self, operation: str, params: dict[str, Any], resource_id: str) -> None:
        token = params.get("ClientToken")
        if token is not None:
            self.state.client_tokens[(operation, token)] = (_without_token(params), resource_id)

    # --- domains and watchlists ----------------------------------------------------------------------------

    def create_domain(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            existing = self._idempotent("CreateDomain", params)
            if existing is not None and existing in self.state.domains:
                return {"Domain": self.state.domains[existing].to_api()}
            if len(self.state.domains) >= self.quotas.domains_per_account:
                raise quota_exceeded(
                    f"The account already has {len(self.state.domains)} domains; "
                    f"the quota is {self.quotas.domains_per_account} domains per account"
                )
            domain = self.add_domain(
                name=params["Name"],
                kms_key_id=params["ServerSideEncryptionConfiguration"]["KmsKeyId"],
                description=params.get("Description"),
                tags=list(params.get("Tags", [])),
            )
            domain_id = domain.domain_id
            self._remember_token("CreateDomain", params, domain_id)
            return {"Domain": domain.to_api()}

    def add_domain(
        self,
        *,
        name: str,
        kms_key_id: str,
        description: str | None = None,
        tags: list[dict[str, str]] | None = None,
        domain_id: str | None = None,
    ) -> Domain:
        """Create a domain with its default watchlist; `domain_id` is chosen by the caller only when seeding
        a domain that already exists elsewhere (the admin API), never through CreateDomain."""
        with self.state.lock:
            now = self.clock.now()
            domain_id = domain_id or new_resource_id()
            default_watchlist = Watchlist(new_resource_id(), domain_id, "Default", "Default watchlist", True, now, now)
            domain = Domain(
                domain_id=domain_id,
                arn=f"arn:aws:voiceid:{self.region}:{self.account_id}:domain/{domain_id}",
                name=name,
                description=description,
                kms_key_id=kms_key_id,
                created_at=now,
                updated_at=now,
                default_watchlist_id=default_watchlist.watchlist_id,
                tags=list(tags or []),
            )
            domain.watchlists[default_watchlist.watchlist_id] = default_watchlist
            self.state.domains[domain_id] = domain
            return domain

    def describe_domain(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            return {"Domain": self._domain(params["DomainId"]).to_api()}

    def list_domains(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            items = list(enumerate(d.to_api() for d in self.state.domains.values()))
        page, token = _paginate("ListDomains", items, params, default_max=10)
        return _with_token({"DomainSummaries": page}, token)

    def create_watchlist(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            domain = self._domain(params["DomainId"])
            existing = self._idempotent("CreateWatchlist", params)
            if existing is not None and existing in domain.watchlists:
                return {"Watchlist": domain.watchlists[existing].to_api()}
            if len(domain.watchlists) >= self.quotas.watchlists_per_domain:
                raise quota_exceeded(
                    f"The domain already has {len(domain.watchlists)} watchlists; "
                    f"the quota is {self.quotas.watchlists_per_domain} per domain, including the default"
                )
            if any(w.name == params["Name"] for w in domain.watchlists.values()):
                raise conflict(f"A watchlist named {params['Name']} already exists in the domain")
            now = self.clock.now()
            watchlist = Watchlist(
                new_resource_id(),
                domain.domain_id,
                params["Name"],
                params.get("Description"),
                False,
                now,
                now,
            )
            domain.watchlists[watchlist.watchlist_id] = watchlist
            self._remember_token("CreateWatchlist", params, watchlist.watchlist_id)
            return {"Watchlist": watchlist.to_api()}

    def list_watchlists(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            domain = self._domain(params["DomainId"])
            items = list(enumerate(w.to_api() for w in domain.watchlists.values()))
        page, token = _paginate(f"ListWatchlists:{domain.domain_id}", items, params, default_max=100)
        return _with_token({"WatchlistSummaries": page}, token)

    # --- batch jobs ----------------------------------------------------------------------------------------

    def start_job(self, kind: JobKind, params: dict[str, Any]) -> dict[str, Any]:
        operation = (
            "StartFraudsterRegistrationJob" if kind is JobKind.FRAUDSTER_REGISTRATION else "StartSpeakerEnrollmentJob"
        )
        with self.state.lock:
            domain = self._domain(params["DomainId"])
            existing = self._idempotent(operation, params)
            if existing is not None and existing in domain.jobs:
                return {"Job": domain.jobs[existing].describe()}
            job_params = _with_config_defaults(kind, _without_token(params))
            for watchlist_id in _watchlist_ids(kind, job_params):
                if watchlist_id not in domain.watchlists:
                    raise not_found("WATCHLIST", f"The watchlist {watchlist_id} does not exist in the domain")
            active = [j for j in domain.jobs.values() if j.kind is kind and j.active]
            if len(active) >= self.quotas.active_jobs_per_domain_per_kind:
                raise quota_exceeded(
                    f"The domain already has an active {kind.label} ({active[0].job_id}); "
                    f"the quota is {self.quotas.active_jobs_per_domain_per_kind} per domain"
                )
            now = self.clock.now()
            job = Job(
                kind=kind,
                job_id=new_resource_id(),
                domain_id=domain.domain_id,
                params=job_params,
                created_at=now,
                next_due=now + self.engine.pacing.submitted_seconds,
                paced_from=now,
            )
            domain.jobs[job.job_id] = job
            self._remember_token(operation, params, job.job_id)
            self.faults.take_next_job_failure(job.job_id)
            response = {"Job": job.describe()}
        self.engine.job_submitted(job, domain.arn)
        return response

    def _job(self, kind: JobKind, domain: Domain, job_id: str) -> Job:
        job = domain.jobs.get(job_id)
        if job is None or job.kind is not kind:
            raise not_found("BATCH_JOB", f"The {kind.label} {job_id} does not exist in domain {domain.domain_id}")
        return job

    def describe_job(self, kind: JobKind, params: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            domain = self._domain(params["DomainId"])
            return {"Job": self._job(kind, domain, params["JobId"]).describe()}

    def list_jobs(self, kind: JobKind, params: dict[str, Any]) -> dict[str, Any]:
        status = params.get("JobStatus")
        with self.state.lock:
            domain = self._domain(params["DomainId"])
            # Positions count every job of the domain, so a page boundary stays put when jobs before it change
            # status (leave or enter the JobStatus filter) between pages.
            items = [
                (position, job.summary())
                for position, job in enumerate(domain.jobs.values())
                if job.kind is kind and (status is None or job.status == status)
            ]
        scope = f"{kind.value}:{domain.domain_id}:{status or '*'}"
        page, token = _paginate(scope, items, params, default_max=100)
        return _with_token({"JobSummaries": page}, token)


def _without_token(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if key != "ClientToken"}


def _with_config_defaults(kind: JobKind, params: dict[str, Any]) -> dict[str, Any]:
    """Fill in the defaults the API documents, so Describe and events show what the job actually does."""
    out = copy.deepcopy(params)
    if kind is JobKind.FRAUDSTER_REGISTRATION:
        config = out.setdefault("RegistrationConfig", {})
        config.setdefault("DuplicateRegistrationAction", "SKIP")
    else:
        config = out.setdefault("EnrollmentConfig", {})
        config.setdefault("ExistingEnrollmentAction", "SKIP")
        fraud = config.setdefault("FraudDetectionConfig", {})
        fraud.setdefault("FraudDetectionAction", "FAIL")
    return out


def _watchlist_ids(kind: JobKind, params: dict[str, Any]) -> list[str]:
    if kind is JobKind.FRAUDSTER_REGISTRATION:
        return list(params.get("RegistrationConfig", {}).get("WatchlistIds", []))
    return list(params.get("EnrollmentConfig", {}).get("FraudDetectionConfig", {}).get("WatchlistIds", []))


def _with_token(body: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token is not None:
        body["NextToken"] = token
    return body


def _paginate(
    scope: str, items: list[tuple[int, dict[str, Any]]], params: dict[str, Any], default_max: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Cursor pagination in creation order over (creation position, item) pairs, positions ascending.

    The token holds the position after the last item returned, not an offset into the (filtered) list, so
    every item that matches throughout a listing is returned exactly once even if others enter or leave the
    filter between pages. The token is bound to the listing (scope) it came from."""
    start = 0
    token = params.get("NextToken")
    if token:
        start = _decode_token(token, scope)
    limit = params.get("MaxResults") or default_max
    remaining = [(position, item) for position, item in items if position >= start]
    page = remaining[:limit]
    if len(remaining) <= limit:
        return [item for _, item in page], None
    payload = json.dumps({"scope": scope, "start": page[-1][0] + 1}).encode()
    return [item for _, item in page], base64.urlsafe_b64encode(payload).decode()


def _decode_token(token: str, scope: str) -> int:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise validation_error("The NextToken is invalid") from exc
    if not isinstance(decoded, dict) or decoded.get("scope") != scope:
        raise validation_error("The NextToken is invalid or belongs to a different listing")
    start = decoded.get("start")
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise validation_error("The NextToken is invalid")
    return start


def operation_error(operation: str) -> VoiceIdError:
    return VoiceIdError(
        "UnknownOperationException",
        f"The Voice ID emulator does not implement {operation}; it supports {', '.join(SUPPORTED_OPERATIONS)}",
        status=400,
    )
